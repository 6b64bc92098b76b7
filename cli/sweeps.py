"""`pipai sweep submit|get|watch|best|leaderboard|list|cancel|walk-forward`: parameter
sweeps from the shell, via the SDK (docs/api.md, "Sweeps").

Credentials, URL and errors work as for the job commands (cli/jobs.py). A sweep's
children are ordinary jobs, so `pipai get|result|plot bt_…_000042` work on any of them.
The table builders below are pure (dicts in, rich renderables or strings out), so they
are tested without a server (tests/cli/test_sweep_cli.py).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cli.jobs import ApiKey, ApiSecret, ApiUrl, AsJson, _client, _print_json, err, out, sparkline
from pipai.client import Client

Json = dict[str, Any]

sweep_app = typer.Typer(help="Parameter sweeps: many backtests from one request, ranked.",
                        no_args_is_help=True)

TOP = 10  # rows of the live leaderboard in `watch`
REFRESH_S = 1.0  # how often `watch` asks again: two light GETs (weights 1 and 5)
TABLE_METRICS = ("sharpe", "max_drawdown", "total_trades")


# ---- pure: parsing and formatting --------------------------------------------------------

def parse_request(text: str) -> Json:
    """The Create Sweep body from a file's text; ValueError saying what is wrong (the
    server checks the rest, naming the field)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("must be a JSON object (base, grid or random, objective, ...)")
    if "base" not in body or not ("grid" in body or "random" in body):
        raise ValueError("needs `base` and one of `grid` or `random` (docs/api.md, Sweeps)")
    return body


def varied_paths(config: Json) -> list[str]:
    """The config paths a sweep varies, in the order it gives them (its columns)."""
    space = config.get("grid") or (config.get("random") or {}).get("space") or {}
    return list(space)


def format_value(value: Any) -> str:
    """A varied value or metric as a cell: strings bare, lists comma-joined, null blank."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(format_value(v) for v in value)
    return json.dumps(value)


def _column(path: str) -> str:
    return path.removeprefix("params.")


def counts_line(sweep: Json) -> str:
    """One line: status, how far, and every count (they add up to total)."""
    counts = sweep["counts"]
    finished = counts["done"] + counts["failed"] + counts["cancelled"]
    line = (f"{sweep['id']} {sweep['status']}: {finished}/{counts['total']} finished "
            f"({sweep['progress']:.0%}); queued {counts['queued']}, running "
            f"{counts['running']}, done {counts['done']}, failed {counts['failed']}, "
            f"cancelled {counts['cancelled']}")
    return line + (" (stopped early)" if sweep.get("stopped_early") else "")


def leaderboard_rows(page: Json, paths: list[str], limit: int = TOP) -> list[list[str]]:
    """The cells of the first `limit` rows: rank, job id, the varied values, the
    objective, then TABLE_METRICS."""
    rows = []
    for row in page["data"][:limit]:
        values = row.get("values") or {}
        metrics = row.get("metrics") or {}
        rows.append([str(row["rank"]), row["job_id"],
                     *(format_value(values.get(p)) for p in paths),
                     format_value(row.get("objective")),
                     *(format_value(metrics.get(m)) for m in TABLE_METRICS)])
    return rows


def leaderboard_table(page: Json, paths: list[str], limit: int = TOP) -> Table:
    """The leaderboard page as a table; the objective column is headed by its metric."""
    objective = page.get("objective") or {}
    heading = f"{objective.get('metric', 'objective')} ({str(objective.get('goal', '?'))[:3]})"
    table = Table("rank", "job id", *(_column(p) for p in paths), heading, *TABLE_METRICS,
                  title="leaderboard")
    for cells in leaderboard_rows(page, paths, limit):
        table.add_row(*cells)
    if not page["data"]:
        table.caption = "no done child within the constraints yet"
    return table


def watch_view(sweep: Json, page: Json) -> Group:
    """What `watch` shows: the counts, a progress bar, the top of the leaderboard."""
    counts = sweep["counts"]
    finished = counts["done"] + counts["failed"] + counts["cancelled"]
    bar = ProgressBar(total=float(counts["total"] or 1), completed=float(finished))
    return Group(Text(counts_line(sweep)), bar,
                 leaderboard_table(page, varied_paths(sweep["config"])))


def best_table(sweep: Json) -> Table | None:
    """The best child: its values, the objective, its ten metrics (None: no best yet)."""
    best = sweep.get("best")
    if best is None:
        return None
    objective = sweep["config"].get("objective") or {}
    table = Table("field", "value", title=f"best of {sweep['id']}: {best['job_id']}")
    for path, value in (best.get("values") or {}).items():
        table.add_row(path, format_value(value))
    table.add_row(f"objective: {objective.get('metric')} ({objective.get('goal')})",
                  format_value(best.get("objective")), end_section=True)
    for name, value in (best.get("metrics") or {}).items():
        table.add_row(name, format_value(value))
    return table


def walk_forward_table(report: Json) -> Table:
    """One row per window: its spans, status, chosen values, the objective in and out of
    sample; the caption is the stitched out-of-sample curve and its headline metrics."""
    metric = (report.get("objective") or {}).get("metric", "objective")
    windows = report["windows"]
    paths = next((list(w["chosen"]["values"]) for w in windows if w.get("chosen")), [])
    table = Table("window", "train", "test", "status", *(_column(p) for p in paths),
                  f"in-sample {metric}", f"out-of-sample {metric}", title="walk-forward")
    for w in windows:
        chosen = w.get("chosen") or {}
        values = chosen.get("values") or {}
        table.add_row(str(w["window"]), _span(w["train"]), _span(w["test"]), w["status"],
                      *(format_value(values.get(p)) for p in paths),
                      format_value((w.get("in_sample") or {}).get(metric)),
                      format_value((w.get("out_of_sample") or {}).get(metric)))
    oos = report["out_of_sample"]
    if oos["metrics"] is None:
        table.caption = "no window tested yet"
    else:
        m = oos["metrics"]
        curve = [float(p["equity"]) for p in oos["equity_curve"]]
        table.caption = (f"out of sample, {len(oos['windows'])} windows stitched: "
                         f"{sparkline(curve)}\n{metric} {format_value(m.get(metric))}, "
                         f"cagr {format_value(m.get('cagr'))}, max_drawdown "
                         f"{format_value(m.get('max_drawdown'))}, trades {m['total_trades']}")
    return table


def _span(span: Json) -> str:
    return f"{span['start'][:10]}..{span['end'][:10]}"


def sweeps_table(sweeps: list[Json]) -> Table:
    table = Table("id", "status", "template", "children", "progress", "best", "submitted_at")
    for sweep in sweeps:
        best = sweep.get("best") or {}
        table.add_row(sweep["id"], sweep["status"], sweep["config"]["base"]["template_id"],
                      str(sweep["counts"]["total"]), f"{sweep['progress']:.0%}",
                      format_value(best.get("objective")), sweep["submitted_at"])
    return table


# ---- commands ------------------------------------------------------------------------------

@sweep_app.command()
def submit(
    request: Annotated[Path, typer.Argument(help="Create Sweep body, JSON ('-' for stdin)")],
    idempotency_key: Annotated[str | None, typer.Option(
        help="the same key and body give the same sweep; default: a fresh key for this "
             "submit, reused on its retries")] = None,
    watch_it: Annotated[bool, typer.Option("--watch", help="follow it until it ends")] = False,
    as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
    api_secret: ApiSecret = None,
) -> None:
    """Create a sweep (see examples/sweep_grid.json and examples/sweep_random.json)."""
    try:
        body = parse_request(sys.stdin.read() if str(request) == "-" else request.read_text())
    except (OSError, ValueError) as exc:
        err.print(f"[red]{request}[/red]: {exc}")
        raise typer.Exit(1) from None
    with _client(api_url, api_key, api_secret) as api:
        sweep = api.create_sweep(body, idempotency_key=idempotency_key)
        if as_json:
            _print_json(sweep)
        else:
            out.print(f"submitted [bold]{sweep['id']}[/bold]: "
                      f"{sweep['counts']['total']} children")
        if watch_it:
            _watch(api, sweep["id"])


@sweep_app.command()
def get(sweep_id: str, as_json: AsJson = False, api_url: ApiUrl = None,
        api_key: ApiKey = None, api_secret: ApiSecret = None) -> None:
    """One sweep: its counts and best child."""
    with _client(api_url, api_key, api_secret) as api:
        sweep = api.get_sweep(sweep_id)
    if as_json:
        _print_json(sweep)
        return
    out.print(counts_line(sweep))
    table = best_table(sweep)
    if table is not None:
        out.print(table)


@sweep_app.command()
def watch(sweep_id: str, api_url: ApiUrl = None, api_key: ApiKey = None,
          api_secret: ApiSecret = None) -> None:
    """Live progress and top-10 leaderboard until the sweep ends.

    Ctrl-C stops watching, not the sweep."""
    with _client(api_url, api_key, api_secret) as api:
        _watch(api, sweep_id)


def _watch(api: Client, sweep_id: str) -> None:
    """Poll the sweep and its leaderboard every REFRESH_S until finished_at is set."""
    try:
        sweep = api.get_sweep(sweep_id)
        with Live(watch_view(sweep, api.leaderboard(sweep_id, limit=TOP)), console=out,
                  auto_refresh=False) as live:
            while sweep.get("finished_at") is None:
                time.sleep(REFRESH_S)
                sweep = api.get_sweep(sweep_id)
                live.update(watch_view(sweep, api.leaderboard(sweep_id, limit=TOP)),
                            refresh=True)
    except KeyboardInterrupt:
        err.print(f"stopped watching; {sweep_id} goes on (pipai sweep cancel {sweep_id} "
                  "to stop it)")


@sweep_app.command()
def best(sweep_id: str, as_json: AsJson = False, api_url: ApiUrl = None,
         api_key: ApiKey = None, api_secret: ApiSecret = None) -> None:
    """The best child so far: its varied values, the objective and its ten metrics."""
    with _client(api_url, api_key, api_secret) as api:
        sweep = api.get_sweep(sweep_id)
    if as_json:
        _print_json(sweep.get("best"))
        return
    table = best_table(sweep)
    if table is None:
        err.print(f"{sweep_id} has no best child yet (none done within the constraints)")
        raise typer.Exit(1)
    out.print(table)


@sweep_app.command()
def leaderboard(
    sweep_id: str,
    limit: Annotated[int, typer.Option(help="rows to show (pages are fetched as needed)")] = 20,
    as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
    api_secret: ApiSecret = None,
) -> None:
    """The done children within the constraints, best first."""
    with _client(api_url, api_key, api_secret) as api:
        sweep = api.get_sweep(sweep_id)
        rows: list[Json] = []
        for row in api.iter_leaderboard(sweep_id, page_size=min(max(limit, 1), 100)):
            rows.append(row)
            if len(rows) >= limit:
                break
    if as_json:
        _print_json(rows)
        return
    page = {"objective": sweep["config"].get("objective"), "data": rows}
    out.print(leaderboard_table(page, varied_paths(sweep["config"]), limit))


@sweep_app.command("list")
def list_sweeps(
    status: Annotated[str | None, typer.Option(help="queued|running|done|failed|cancelled")]
    = None,
    template: Annotated[str | None, typer.Option(help="the base's template id")] = None,
    limit: Annotated[int, typer.Option(help="sweeps to show")] = 20,
    as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
    api_secret: ApiSecret = None,
) -> None:
    """Recent sweeps, newest first."""
    with _client(api_url, api_key, api_secret) as api:
        sweeps: list[Json] = []
        for sweep in api.iter_sweeps(status=status, template_id=template,
                                     page_size=min(max(limit, 1), 100)):
            sweeps.append(sweep)
            if len(sweeps) >= limit:
                break
    if as_json:
        _print_json(sweeps)
    else:
        out.print(sweeps_table(sweeps))


@sweep_app.command()
def cancel(sweep_id: str,
           reason: Annotated[str | None, typer.Option(help="recorded for audit")] = None,
           as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None,
           api_secret: ApiSecret = None) -> None:
    """Cancel a sweep and every child not yet terminal (409 INVALID_STATE if it ended)."""
    with _client(api_url, api_key, api_secret) as api:
        sweep = api.cancel_sweep(sweep_id, reason)
    if as_json:
        _print_json(sweep)
    else:
        out.print(counts_line(sweep))


@sweep_app.command("walk-forward")
def walk_forward(sweep_id: str, as_json: AsJson = False, api_url: ApiUrl = None,
                 api_key: ApiKey = None, api_secret: ApiSecret = None) -> None:
    """A walk-forward sweep's windows (chosen values, in- and out-of-sample objective)
    and its stitched out-of-sample curve."""
    with _client(api_url, api_key, api_secret) as api:
        report = api.walk_forward(sweep_id)
    if as_json:
        _print_json(report)
    else:
        out.print(walk_forward_table(report))
