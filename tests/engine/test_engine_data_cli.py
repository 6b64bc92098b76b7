"""`pipai data generate|import|list` (cli/data.py) on a temporary store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.engine.helpers import MIN, T0

runner = CliRunner()
HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,tbb,tbq,ignore\n"


def klines(n: int, start: int = T0) -> str:
    return "".join(
        f"{start + i * MIN},{100 + i},{101 + i},{99 + i},{100.5 + i},2,{start + (i + 1) * MIN - 1},"
        f"200,5,1,100,0\n"
        for i in range(n)
    )


def test_import_then_list(tmp_path: Path) -> None:
    csv = tmp_path / "k.csv"
    csv.write_text(HEADER + klines(3) + klines(2, start=T0 + 10 * MIN))
    store = tmp_path / "market"

    result = runner.invoke(app, ["data", "import", "testusdt", str(csv), "--data-dir", str(store),
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["symbol"] == "TESTUSDT" and report["rows_stored"] == 5
    assert report["gap_count"] == 1 and report["missing_bars"] == 7

    table = runner.invoke(app, ["data", "import", "TESTUSDT", str(csv), "--data-dir", str(store)])
    assert table.exit_code == 0, table.output
    assert "7 missing 1m bar(s)" in table.output

    listed = runner.invoke(app, ["data", "list", "--data-dir", str(store), "--json"])
    assert listed.exit_code == 0, listed.output
    infos = {i["symbol"]: i for i in json.loads(listed.output)}
    tested = infos["TESTUSDT"]
    assert tested["bars"] == 5 and tested["base_timeframe"] == "1m"
    assert tested["source"] == "import"
    assert infos["BTCUSDT"]["stored"] is False  # synthetic: generated on first use

    plain = runner.invoke(app, ["data", "list", "--data-dir", str(store)])
    assert "TESTUSDT" in plain.output and "not generated yet" in plain.output


def test_bad_input_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,kline\n")
    result = runner.invoke(app, ["data", "import", "X", str(bad), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    result = runner.invoke(app, ["data", "generate", "NOPEUSDT", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "not a synthetic symbol" in result.output
    result = runner.invoke(app, ["data", "generate", "--timeframes", "2m",
                                 "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "unknown timeframe" in result.output


def test_generate_one_symbol(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "generate", "xrpusdt", "--timeframes", "1d",
                                 "--data-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    [info] = json.loads(result.output)
    assert info["symbol"] == "XRPUSDT" and info["bars"] == 1_052_640
    assert info["timeframes"] == ["1m", "1d"]
