"""The `pipai` command line: run the stack, manage keys and topics."""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cli.data import data_app
from cli.events import events_app
from cli.jobs import register as register_client_commands
from cli.sweeps import sweep_app
from pipai.settings import Settings

if TYPE_CHECKING:
    from pipai.keys import ApiKey

app = typer.Typer(help="PipAI Backtest: event-sourced backtests on Apache Kafka.",
                  no_args_is_help=True)
keys_app = typer.Typer(help="API keys (secrets live in <data_dir>/keys.json, mode 0600).")
app.add_typer(keys_app, name="keys")
app.add_typer(data_app, name="data")
app.add_typer(sweep_app, name="sweep")
app.add_typer(events_app, name="events")
register_client_commands(app)  # submit, list, get, result, cancel, watch, plot (the SDK)
console = Console(stderr=True)


@app.command()
def run(
    workers: Annotated[int, typer.Option(help="engine worker processes")] = 0,
) -> None:
    """Start broker (unless KAFKA_BOOTSTRAP_SERVERS), orchestrator, engine workers and API."""
    from cli.stack import Stack, demo_key

    settings = Settings.from_env()
    if workers:
        settings = settings.with_(engine_workers=workers)
    stack = Stack(settings, log_dir=settings.data_dir / "logs")
    stopping = _StopRequest()
    signal.signal(signal.SIGTERM, stopping.request)
    signal.signal(signal.SIGINT, stopping.request)
    started = time.monotonic()
    try:
        key = demo_key(settings)
        console.print("[bold]Starting PipAI Backtest[/bold] (logs in "
                      f"{settings.data_dir / 'logs'})")
        stack.start()
        stack.wait_api(key)
        stack.wait_groups()
        _print_ready(settings, key, time.monotonic() - started)
        while not stopping.requested:
            # restarts whatever exited, the local broker too, with backoff (cli.supervisor)
            stack.supervise_once()
            time.sleep(0.2)  # supervision tick
    finally:
        console.print("Stopping...")
        stack.stop()
        console.print("Stopped.")


class _StopRequest:
    """Set by SIGINT/SIGTERM (a plain flag: no lock a signal handler could deadlock on)."""

    requested = False

    def request(self, *_: object) -> None:
        self.requested = True


def _print_ready(settings: Settings, key: ApiKey, took_s: float) -> None:
    base = f"http://{settings.api_host}:{settings.api_port}"
    console.print(f"[green]Ready[/green] in {took_s:.1f}s: {base}/docs")
    console.print(f"Demo API key: [bold]{key.api_key}[/bold] "
                  f"(key and secret in {settings.data_dir / 'demo-key.json'})")
    console.print("Press Ctrl-C to stop.")


@app.command()
def broker() -> None:
    """Run only the local Kafka broker, in the foreground."""
    from pipai.broker import LocalBroker

    settings = Settings.from_env()
    local = LocalBroker(settings.data_dir / "kafka", settings.kafka_port,
                        settings.kafka_controller_port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    local.start()
    console.print(f"Kafka broker on {local.bootstrap}; Ctrl-C to stop.")
    try:
        while local.process is not None and local.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        local.stop()


@app.command("create-topics")
def create_topics() -> None:
    """Create the topics (idempotent)."""
    from pipai.topics import ensure_topics

    topics = ensure_topics(Settings.from_env())
    for name in topics.configs():
        typer.echo(name)


@keys_app.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="the tenant whose jobs the key sees")],
    as_json: Annotated[bool, typer.Option("--json",
                                          help="print {api_key, secret} as JSON")] = False,
) -> None:
    """Create a key; prints the key and its secret (shown here only)."""
    from pipai.keys import KeyStore

    key = KeyStore(Settings.from_env().data_dir / "keys.json").create(owner)
    if as_json:
        typer.echo(json.dumps({"api_key": key.api_key, "secret": key.secret}))
    else:
        typer.echo(f"api_key: {key.api_key}\nsecret:  {key.secret}\nowner:   {key.owner}")


@keys_app.command("revoke")
def keys_revoke(api_key: str) -> None:
    from pipai.keys import KeyStore

    if not KeyStore(Settings.from_env().data_dir / "keys.json").revoke(api_key):
        console.print(f"no such key: {api_key}")
        raise typer.Exit(1)
    typer.echo(f"revoked {api_key}")


@keys_app.command("list")
def keys_list() -> None:
    """Keys and owners (never secrets)."""
    from pipai.keys import KeyStore

    for key in KeyStore(Settings.from_env().data_dir / "keys.json").all():
        typer.echo(f"{key.api_key}\t{key.owner}\t{'revoked' if key.revoked else 'active'}")




projections_app = typer.Typer(help="Read models built from the event log.")
app.add_typer(projections_app, name="projections")


@projections_app.command("rebuild")
def projections_rebuild(
    into: Annotated[str | None, typer.Option(
        help="folder of the new view (default: next to the live one, swapped in with --replace)",
    )] = None,
    replace: Annotated[bool, typer.Option(help="swap the rebuilt view in for the live one "
                                               "(stop the API first)")] = False,
) -> None:
    """Rebuild the jobs view from `events` and `results` alone."""
    import shutil
    from pathlib import Path

    from projections.rebuild import rebuild

    settings = Settings.from_env()
    live = settings.data_dir / "api" / settings.instance / "jobs-view"
    target = Path(into) if into else live.with_name("jobs-view.rebuild")
    if target.exists() and not into:
        shutil.rmtree(target)
    started = time.perf_counter()
    view = rebuild(settings, target)
    view.close()
    console.print(f"rebuilt {target} in {time.perf_counter() - started:.2f}s")
    if replace:
        old = live.with_name("jobs-view.old")
        shutil.rmtree(old, ignore_errors=True)
        if live.exists():
            live.rename(old)
        target.rename(live)
        shutil.rmtree(old, ignore_errors=True)
        console.print(f"replaced {live}")


@app.command()
def replay(
    job: Annotated[str | None, typer.Option(help="print this job's history")] = None,
    verify: Annotated[bool, typer.Option(help="fold the whole log through evolve and report "
                                              "any event the state machine would not produce")]
    = False,
) -> None:
    """Audit replay of the event log."""
    import dataclasses

    from jobs.audit import verify as audit
    from projections.rebuild import log_events

    settings = Settings.from_env()
    if job:
        found = False
        for event in log_events(settings, job):
            found = True
            record = dataclasses.asdict(event)
            typer.echo(json.dumps({"type": type(event).__name__, **record}, default=str))
        if not found:
            console.print(f"no events for job {job}")
            raise typer.Exit(1)
    if verify:
        report = audit(log_events(settings))
        for finding in report.findings:
            typer.echo(f"{finding.kind}\t{finding.job_id}\tseq={finding.seq}\t{finding.detail}")
        console.print(f"{report.events} events, {report.jobs} jobs, "
                      f"{report.duplicates} duplicates, {len(report.findings)} findings")
        if not report.clean:
            raise typer.Exit(2)
    if not job and not verify:
        console.print("give --job ID and/or --verify")
        raise typer.Exit(1)



@app.command()
def chaos(
    seed: Annotated[int, typer.Option(help="the seed of the fault schedule")] = 1,
    iterations: Annotated[int, typer.Option(help="one fault per iteration")] = 10,
    brokers: Annotated[int, typer.Option(envvar="PIPAI_BROKERS",
                                         help="brokers of the chaos stack")] = 1,
    faults: Annotated[str | None, typer.Option(
        help="a comma-separated cycle of faults instead of seeded ones, e.g. "
             "orchestrator-sigkill,engine-sigkill,broker-restart")] = None,
    keep: Annotated[bool, typer.Option(help="keep the data directory and logs "
                                            "(always kept when an iteration fails)")] = False,
) -> None:
    """Seeded chaos: its own stack under load, one fault per iteration, invariants checked
    on the log. Prints one line per iteration, then one JSON line; exit 1 if any failed."""
    from cli.chaos.runner import ChaosOptions, run_chaos
    from cli.chaos.schedule import FAULTS

    if brokers != 1:
        console.print(f"{brokers} brokers: not supported yet (issue 13); the chaos stack runs "
                      "one local broker")
        raise typer.Exit(2)
    cycle = tuple(f.strip() for f in faults.split(",") if f.strip()) if faults else FAULTS
    unknown = [f for f in cycle if f not in FAULTS]
    if unknown or not cycle:
        console.print(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
        raise typer.Exit(2)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # unwinds through the runner, which stops its stack

    signal.signal(signal.SIGTERM, interrupted)
    summary = run_chaos(ChaosOptions(seed=seed, iterations=iterations, faults=cycle, keep=keep),
                        sys.stdout, sys.stderr)
    if not summary.ok:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()


