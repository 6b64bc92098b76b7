"""`pipai submit|list|get|result|cancel|watch|plot`: the public API from the shell, via the SDK.

Credentials: --api-key/--api-secret, else PIPAI_API_KEY/PIPAI_API_SECRET, else the
demo key file <data_dir>/demo-key.json written by `pipai run`. The URL: --api-url,
else PIPAI_API_URL, else the local API (PIPAI_API_HOST/PIPAI_API_PORT).
Errors print their code and message and exit with status 1. The SDK retries
connection errors, 503 and 429 with backoff, and every submit carries an
Idempotency-Key (docs/api.md), so a retried submit never makes a second job.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipai.client import Client, PipaiError

out = Console()
err = Console(stderr=True)

ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar="PIPAI_API_URL",
                                            help="API base URL", show_default=False)]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="PIPAI_API_KEY",
                                            help="API key", show_default=False)]
ApiSecret = Annotated[str | None, typer.Option("--api-secret", envvar="PIPAI_API_SECRET",
                                               help="API secret", show_default=False,
                                               show_envvar=True)]
AsJson = Annotated[bool, typer.Option("--json", help="print the raw JSON")]

SPARK = "▁▂▃▄▅▆▇█"


@contextmanager
def _client(url: str | None, key: str | None, secret: str | None) -> Iterator[Client]:
    try:
        with Client.from_env(url, key, secret) as client:
            yield client
    except PipaiError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data))


def _jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table("id", "status", "template", "symbols", "submitted_at", "progress", "sharpe")
    for job in jobs:
        metrics = (job.get("result") or {}).get("metrics") or {}
        table.add_row(job["id"], job["status"], job["config"]["template_id"],
                      ",".join(job["config"]["symbols"]), job["submitted_at"],
                      f"{job['progress']:.0%}", str(metrics.get("sharpe", "")))
    return table


def _job_summary(job: dict[str, Any]) -> None:
    out.print(_jobs_table([job]))
    if job.get("error"):
        out.print(f"[red]{job['error']['code']}[/red]: {job['error']['message']}")
    metrics = (job.get("result") or {}).get("metrics")
    if metrics:
        table = Table("metric", "value")
        for name, value in metrics.items():
            table.add_row(name, str(value))
        out.print(table)


def submit(
    config: Annotated[Path, typer.Argument(help="job config JSON file ('-' for stdin)")],
    idempotency_key: Annotated[str | None, typer.Option(
        help="the same key and config give the same job; default: a fresh key for this "
             "submit, reused on its retries")] = None,
    watch_it: Annotated[bool, typer.Option("--watch", help="follow progress until done")] = False,
    as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
    api_secret: ApiSecret = None,
) -> None:
    """Create a backtest job from a config file (the `config` object of the API)."""
    text = sys.stdin.read() if str(config) == "-" else config.read_text()
    with _client(api_url, api_key, api_secret) as api:
        job = api.create_job(json.loads(text), idempotency_key=idempotency_key)
        if as_json:
            _print_json(job)
        else:
            out.print(f"submitted [bold]{job['id']}[/bold] ({job['status']})")
        if watch_it:
            _watch(api, job["id"])


def list_jobs(
    status: Annotated[str | None, typer.Option(help="queued|running|done|failed|cancelled")]
    = None,
    template: Annotated[str | None, typer.Option(help="template id, e.g. tpl_grid")] = None,
    since: Annotated[str | None, typer.Option("--from", help="submitted_at >= (ISO 8601)")]
    = None,
    until: Annotated[str | None, typer.Option("--to", help="submitted_at < (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(help="jobs to show (pages are fetched as needed)")] = 20,
    as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
    api_secret: ApiSecret = None,
) -> None:
    """Recent jobs, newest first."""
    with _client(api_url, api_key, api_secret) as api:
        jobs: list[dict[str, Any]] = []
        for job in api.iter_jobs(status=status, template_id=template, from_=since, to=until,
                                 page_size=min(max(limit, 1), 100)):
            jobs.append(job)
            if len(jobs) >= limit:
                break
        if as_json:
            _print_json(jobs)
        else:
            out.print(_jobs_table(jobs))


def get(job_id: str, as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
        api_secret: ApiSecret = None) -> None:
    """One job."""
    with _client(api_url, api_key, api_secret) as api:
        job = api.get_job(job_id)
        if as_json:
            _print_json(job)
        else:
            _job_summary(job)


def result(job_id: str, as_json: AsJson = False, api_url: ApiUrl = None,
           api_key: ApiKey = None, api_secret: ApiSecret = None) -> None:
    """Metrics, equity curve and trades of a done job."""
    with _client(api_url, api_key, api_secret) as api:
        document = api.get_result(job_id)
        if as_json:
            _print_json(document)
            return
        _job_summary({**api.get_job(job_id), "result": {"metrics": document["metrics"]}})
        curve = [float(p["equity"]) for p in document["equity_curve"]]
        out.print(f"equity  {sparkline(curve)}  {len(document['trades'])} trades")


def cancel(job_id: str, reason: Annotated[str | None, typer.Option(help="recorded for audit")]
           = None, as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
           api_secret: ApiSecret = None) -> None:
    """Cancel a queued or running job."""
    with _client(api_url, api_key, api_secret) as api:
        job = api.cancel_job(job_id, reason)
        if as_json:
            _print_json(job)
        else:
            out.print(f"{job['id']} {job['status']} at {job['progress']:.0%}")


def watch(job_id: str, api_url: ApiUrl = None, api_key: ApiKey = None,
          api_secret: ApiSecret = None) -> None:
    """Live progress bar from the job's event stream (SSE) until it ends."""
    with _client(api_url, api_key, api_secret) as api:
        _watch(api, job_id)


def _watch(api: Client, job_id: str) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(f"{job_id} queued", total=1.0)
        for event in api.stream_events(job_id):
            kind = event["type"]
            if "progress" in event and kind != "JobCancelled":
                bar.update(task, completed=float(event["progress"]))
            label = {"JobStarted": "running", "JobRequeued": "requeued", "JobSucceeded": "done",
                     "JobFailed": "failed", "JobCancelled": "cancelled"}.get(kind)
            if kind == "JobSucceeded":
                bar.update(task, completed=1.0)
            if label:
                bar.update(task, description=f"{job_id} {label}")
    _job_summary(api.get_job(job_id))


def plot(job_id: str, output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="PNG path (needs matplotlib); default: a terminal sparkline")]
         = None, api_url: ApiUrl = None, api_key: ApiKey = None,
         api_secret: ApiSecret = None) -> None:
    """The equity curve: a PNG when matplotlib is installed and --output given, else a sparkline."""
    with _client(api_url, api_key, api_secret) as api:
        curve = api.get_result(job_id)["equity_curve"]
    equity = [float(p["equity"]) for p in curve]
    if output is not None:
        try:
            _png(job_id, [p["time"] for p in curve], equity, output)
            out.print(f"wrote {output}")
            return
        except ImportError:
            err.print("matplotlib is not installed (pip install matplotlib); sparkline instead")
    if not equity:
        out.print("no equity points")
        return
    out.print(f"{job_id}  {equity[0]:,.2f} → {equity[-1]:,.2f}  "
              f"(min {min(equity):,.2f}, max {max(equity):,.2f})")
    out.print(sparkline(equity, width=min(out.width, 120)))


def _png(job_id: str, times: list[str], equity: list[float], output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(range(len(equity)), equity, linewidth=1)
    ticks = list(range(0, len(times), max(1, len(times) // 6)))
    ax.set_xticks(ticks, [times[i][:10] for i in ticks])
    ax.set_title(f"{job_id} equity")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)


def sparkline(values: list[float], width: int = 60) -> str:
    """Values resampled to `width` buckets (last value of each), drawn with block characters."""
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    points = values[step - 1::step] or values[-1:]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(SPARK[int((v - low) / span * (len(SPARK) - 1))] for v in points)


COMMANDS: dict[str, Callable[..., None]] = {
    "submit": submit, "list": list_jobs, "get": get, "result": result, "cancel": cancel,
    "watch": watch, "plot": plot,
}


def register(app: typer.Typer) -> None:
    """Add the API commands to the `pipai` command line."""
    for name, command in COMMANDS.items():
        app.command(name, rich_help_panel="Backtest jobs (API)")(command)
