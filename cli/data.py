"""`pipai data generate|import|list`: the local market-data store from the shell.

A thin shell over `engine/marketdata/cli_ops.py`: it resolves the store
directory (--data-dir, else `<PIPAI_DATA_DIR>/market` or PIPAI_MARKET_DIR, the
same directory the engine workers read), calls the operation and prints a rich
table, or the raw JSON with --json. Errors print a message and exit with 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from engine.timeframes import TIMEFRAMES

data_app = typer.Typer(help="Market data: synthetic generation, Binance kline import, listing.",
                       no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="market-data directory [default: <PIPAI_DATA_DIR>/market]",
    show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="print the raw JSON")]


def _market_dir(data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    from pipai.settings import Settings

    return Settings.from_env().market_dir


def _time(ms: object) -> str:
    if not isinstance(ms, int):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data))


def _store_table(infos: list[dict[str, Any]], *, with_seconds: bool = False) -> Table:
    table = Table(box=None, caption="times in UTC", pad_edge=False, header_style="bold")
    for name in ("symbol", "source", "bars", "first bar", "last bar"):
        table.add_column(name, no_wrap=True, justify="right" if name == "bars" else "left")
    table.add_column("timeframes", min_width=9)
    if with_seconds:
        table.add_column("seconds", justify="right")
    for info in infos:
        rows = info.get("bars")
        row = [info["symbol"], str(info.get("source") or ""),
               f"{rows:,} {info.get('base_timeframe')}" if isinstance(rows, int)
               else "not generated yet",
               _time(info.get("first_open_ms")), _time(info.get("last_open_ms")),
               " ".join(info.get("timeframes") or [])]
        if with_seconds:
            row.append(f"{info.get('seconds', 0):.2f}")
        table.add_row(*row)
    return table


@data_app.command("generate")
def generate(
    symbols: Annotated[list[str] | None, typer.Argument(
        help="synthetic symbols [default: all of them]", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="regenerate files already stored")] = False,
    timeframes: Annotated[str, typer.Option(
        help="comma-separated timeframes to build (1m is always built)")] = ",".join(TIMEFRAMES),
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Generate the deterministic synthetic 1m bars (and resampled timeframes)."""
    from engine.marketdata.cli_ops import generate as generate_op

    wanted = tuple(dict.fromkeys(["1m", *(t.strip() for t in timeframes.split(",") if t.strip())]))
    unknown = [t for t in wanted if t not in TIMEFRAMES]
    if unknown:
        err.print(f"[red]unknown timeframe(s)[/red]: {', '.join(unknown)}; "
                  f"one of {', '.join(TIMEFRAMES)}")
        raise typer.Exit(1)
    try:
        with err.status("generating synthetic market data..."):
            infos = generate_op(_market_dir(data_dir), [s.upper() for s in symbols or []] or None,
                                force=force, timeframes=wanted)
    except KeyError as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        _print_json(infos)
    else:
        out.print(_store_table(infos, with_seconds=True))


@data_app.command("import")
def import_(
    symbol: Annotated[str, typer.Argument(help="the symbol to store the bars as, e.g. BTCUSDT")],
    files: Annotated[list[Path], typer.Argument(
        help="Binance kline files (.csv or .zip, any interval the engine runs), or "
             "Binance funding-rate CSVs", exists=True, dir_okay=False)],
    replace: Annotated[bool, typer.Option(
        "--replace", help="replace the stored bars instead of merging with them")] = False,
    interval: Annotated[str | None, typer.Option(
        "--interval", help="the bars' interval, when neither the file names nor the "
                           "spacing say it (e.g. a file of one bar)")] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Import Binance public kline files (or funding-rate files) into the store."""
    from engine.marketdata.binance_import import KlineImportError
    from engine.marketdata.cli_ops import import_files

    try:
        report: dict[str, Any] = import_files(_market_dir(data_dir), symbol.upper(), list(files),
                                              replace=replace, interval=interval)
    except KlineImportError as exc:
        err.print(f"[red]import failed[/red]: {exc}")
        raise typer.Exit(1) from None
    if as_json:
        _print_json(report)
        return
    if report["kind"] == "funding":
        out.print(f"funding rates of {report['symbol']}: {report['funding_points']:,} "
                  "stored")
        return
    table = Table("field", "value", title=f"import {report['symbol']}", box=box.SIMPLE_HEAD)
    for key in ("interval", "rows_read", "rows_stored", "duplicates_dropped",
                "rows_out_of_order", "gap_count", "missing_bars", "merged_with_existing"):
        table.add_row(key, str(report[key]))
    table.add_row("first bar", _time(report.get("first_open_ms")))
    table.add_row("last bar", _time(report.get("last_open_ms")))
    largest = report.get("largest_gap")
    if largest:
        table.add_row("largest gap", f"{largest['missing_bars']:,} bar(s) after "
                                     f"{_time(largest['after_open_ms'])}")
    out.print(table)
    gaps = report.get("gaps") or []
    for gap in gaps[:10]:
        out.print(f"  gap after {_time(gap['after_open_ms'])}: "
                  f"{gap['missing_bars']:,} missing {report['interval']} bar(s) until "
                  f"{_time(gap['next_open_ms'])}")
    if report["gap_count"] > 10:
        out.print(f"  ... {report['gap_count'] - 10:,} more gap(s) (--json lists {len(gaps)})")


@data_app.command("list")
def list_(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Every symbol the engine can serve, and what is stored for it."""
    from engine.marketdata.cli_ops import list_data

    infos = list_data(_market_dir(data_dir))
    if as_json:
        _print_json(infos)
    else:
        out.print(_store_table(infos))
