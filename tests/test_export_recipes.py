"""The README's "Export" recipes, read from the README and run as they are written: its
shell lines export a recording (zstandard, in data/2026-12-03/) as tardis csv and as
Parquet (and as csv for nautilus_trader's own loader, with --tardis-exchange), then the
pandas, polars, DuckDB and nautilus_trader recipes load the files, and
what they get is checked against the replay with Python's Decimal. nautilus_trader is
not in the test extra (a 190 MB wheel, CPython 3.12 and later only): its recipe runs
where it is installed, and is skipped elsewhere."""
from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import zstandard
from conftest import SAMPLES, clean_env, coinsuper_command
from test_export import ENV, replayed

README = Path(__file__).parent.parent / "README.md"
DAY = 1_796_256_001_000_000_000  # 2026-12-03 00:00:01 UTC


def section(name: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {name}\n")
    return text[start:text.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section("Export"), re.S)


def recipe(name: str) -> str:
    """The python block of the Export section whose first line is `# NAME: ...`."""
    [found] = [code for code in blocks("python") if code.startswith(f"# {name}:")]
    return found


def trade(symbol: str, i: int) -> dict:
    return {"symbol": symbol.replace("_", "/"), "action": "BUY" if i % 3 else "SELL",
            "price": f"{6000 + (i * 37) % 1000 / 100:.2f}" if symbol == "BTC_USD" else
            f"{200 + (i * 11) % 500 / 1000:.3f}",
            "quantity": f"{((i * 13) % 97 + 1) / 10000:.4f}",
            "timestamp": 1_796_256_000_000 + i}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder where the README's export lines have run on a recording of trades of
    two symbols (each push repeating the last trades, as the exchange's do) and books."""
    here = tmp_path_factory.mktemp("recipes")
    lines = [{"recv_ns": DAY, "event": "start", "format": 1}]
    for i in range(300):
        for symbol in ("BTC_USD", "ETH_USD"):
            payload = [trade(symbol, n) for n in range(i, max(i - 3, -1), -1)]
            lines.append({"recv_ns": DAY + i * 1000 + len(lines), "topic":
                          ENV + f"tickers/{symbol}", "payload": json.dumps(payload)})
        if i % 50 == 0:
            lines.append({"recv_ns": DAY + i * 1000 + len(lines), "topic":
                          ENV + "orderBook/BTC_USD/0.01",
                          "payload": (SAMPLES / "orderbook.json").read_text()})
    rec = here / "data" / "2026-12-03" / "rec.jsonl.zst"
    rec.parent.mkdir(parents=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    rec.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    [commands] = blocks("sh")
    for line in commands.splitlines():
        args = shlex.split(line)
        assert args[0] == "coinsuper"
        result = subprocess.run(coinsuper_command() + args[1:], cwd=here, timeout=60,
                                capture_output=True, text=True, env=clean_env())
        assert result.returncode == 0, result.stderr
    return here


def expected(folder: Path) -> dict[str, tuple[Decimal, Decimal, int]]:
    """(notional, volume, trades) of each symbol, from the replay, with Decimal."""
    found: dict[str, tuple[Decimal, Decimal, int]] = {}
    for t in replayed(folder / "data" / "2026-12-03" / "rec.jsonl.zst", "trade"):
        notional, volume, count = found.get(t["symbol"], (Decimal(0), Decimal(0), 0))
        price, qty = Decimal(t["price"]), Decimal(t["qty"])
        found[t["symbol"]] = (notional + price * qty, volume + qty, count + 1)
    return found


def run(folder: Path, name: str, monkeypatch) -> dict:
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(compile(recipe(name), f"README.md: {name} recipe", "exec"), scope)
    return scope


def test_pandas_reads_exact_decimals_from_csv_and_parquet(folder, monkeypatch):
    scope = run(folder, "pandas", monkeypatch)
    trades, book = scope["trades"], scope["book"]
    notional, volume, count = expected(folder)["BTC_USD"]
    assert len(trades) == count == 300
    assert all(type(p) is Decimal for p in trades["price"])
    assert sum(trades["price"] * trades["amount"]) == notional
    assert sum(trades["amount"]) == volume
    assert str(trades["timestamp"].iloc[0]) == "2026-12-03 00:00:00+00:00"
    assert len(book) == 6 and book["asks[0].price"].iloc[0] == Decimal(
        json.loads((SAMPLES / "orderbook.json").read_text())["asks"][0]["limitPrice"])


def test_polars_vwap_over_parquet_is_the_decimal_one(folder, monkeypatch):
    import polars as pl

    scope = run(folder, "polars", monkeypatch)
    assert scope["trades"].schema["price"] == pl.Decimal(30, 12)
    for symbol, (notional, volume, _) in expected(folder).items():
        [vwap] = scope["vwap"].filter(pl.col("symbol") == symbol)["vwap"].to_list()
        # polars divides decimals as decimals, to a scale of its own (12 here): the
        # Decimal quotient rounded to that scale
        last_place = Decimal(1).scaleb(vwap.as_tuple().exponent)
        assert last_place <= Decimal("1e-8")
        assert abs(vwap - notional / volume) <= last_place / 2, (vwap, notional / volume)


def test_duckdb_gets_the_decimal_vwap_from_parquet_and_from_csv(folder, monkeypatch):
    scope = run(folder, "DuckDB", monkeypatch)
    want = expected(folder)
    for found in (scope["from_parquet"], scope["from_csv"]):
        assert {symbol: (notional, volume) for symbol, notional, volume, _ in found} == {
            symbol: (notional, volume) for symbol, (notional, volume, _) in want.items()}
        for symbol, notional, volume, vwap in found:
            assert math.isclose(vwap, notional / volume, rel_tol=1e-15)
            assert vwap == pytest.approx(float(want[symbol][0] / want[symbol][1]),
                                         rel=1e-15)
    import duckdb

    types = dict(duckdb.sql("DESCRIBE SELECT price, amount, timestamp FROM read_parquet("
                            "'parquet/coinsuper_trades_*.parquet')").fetchall()[i][:2]
                 for i in range(3))
    assert types == {"price": "DECIMAL(30,12)", "amount": "DECIMAL(30,12)",
                     "timestamp": "TIMESTAMP WITH TIME ZONE"}


def test_nautilus_trader_gets_trade_ticks(folder, monkeypatch):
    pytest.importorskip("nautilus_trader", reason="nautilus_trader is not installed "
                                                  "(not in the test extra: see the module)")
    scope = run(folder, "nautilus_trader", monkeypatch)
    ticks, trades = scope["ticks"], replayed(
        folder / "data" / "2026-12-03" / "rec.jsonl.zst", "trade")
    btc = [t for t in trades if t["symbol"] == "BTC_USD"]
    assert len(ticks) == len(btc) == 300
    for tick, want in zip(ticks, btc):
        assert str(tick.instrument_id) == "BTC_USD.COINSUPER"
        assert (str(tick.price), str(tick.size)) == (want["price"], want["qty"])
        assert tick.ts_event == want["ts"] * 1_000_000
        assert tick.aggressor_side.name == ("BUYER" if want["side"] == "buy" else "SELLER")
