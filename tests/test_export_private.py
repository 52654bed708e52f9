"""`coinsuper export --private`: the account's fills, orders and balances, never without
the flag, each value equal digit for digit to what `replay` prints (csv: the text;
Parquet: the exact decimal, balances' 30 decimals included), text the exchange sends
quoted so that it cannot add a column or a row, and a currency that is no code never
naming a file."""
from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SAMPLES, run_coinsuper
from test_export import replayed, same, table, text_of, write_recording

from coinsuper_cli.errors import UsageError
from coinsuper_cli.recordings.export import ExportOptions, export

PERSONAL = "exchange_ha_prod_hk/ws/personal/v1/"
ASSETS = "exchange_ha_prod_hk/api/ws/personal/v1/asset/change/demo@x.io"
NS = 1_796_300_000_000_000_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "account.jsonl.gz"
    result = run_coinsuper(["account", "--sandbox", "--format", "jsonl", "--count", "30",
                            "--record", str(path)], timeout=60)
    assert result.returncode == 0, result.stderr
    return path


def files_of(out: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(out.iterdir()):
        found.setdefault(path.name.split("_20")[0].removeprefix("coinsuper_"), []
                         ).append(path)
    return found


def test_without_private_nothing_of_the_account_is_written(recorded, tmp_path):
    result = run_coinsuper(["export", str(recorded), "--out", str(tmp_path / "o")])
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "o").iterdir()) == []
    result = run_coinsuper(["export", str(recorded), "--out", str(tmp_path / "p"),
                            "--channel", "fill"])
    assert result.returncode == 2 and b"--private" in result.stderr
    assert result.stderr.count(b"\n") == 1


# Each table's columns and the jsonl key of the replay they hold: text, decimal or time.
CELLS = {
    ("fills", "fill"): [("id", "deal_no", "text"), ("order_id", "order_no", "text"),
                        ("order_type", "order_type", "text"), ("liquidity", "role", "text"),
                        ("side", "side", "text"), ("price", "price", "dec"),
                        ("amount", "qty", "dec"), ("timestamp", "ts", "time")],
    ("orders", "order"): [("symbol", "symbol", "text"), ("id", "order_no", "text"),
                          ("side", "side", "text"), ("state", "state", "text"),
                          ("price", "price", "dec"), ("amount", "qty", "dec"),
                          ("amount_remaining", "qty_remaining", "dec"),
                          ("avg_price", "avg_price", "dec"), ("quote_amount", "amount", "dec"),
                          ("quote_amount_remaining", "amount_remaining", "dec"),
                          ("fee", "fee", "dec"), ("timestamp", "updated", "time"),
                          ("created_timestamp", "created", "time")],
    ("balances", "asset"): [("currency", "currency", "text"), ("total", "total", "dec"),
                            ("available", "available", "dec"),
                            ("timestamp", "updated", "time")],
}


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_every_fill_order_and_balance_equals_the_replay(recorded, tmp_path, fmt):
    out = tmp_path / "o"
    result = run_coinsuper(["export", str(recorded), "--out", str(out), "--private",
                            "--format", fmt])
    assert result.returncode == 0, result.stderr
    files = files_of(out)
    assert set(files) <= {"fills", "orders", "balances"} and "orders" in files
    for (kind, channel), cells in CELLS.items():
        expected = replayed(recorded, channel)
        assert bool(expected) == (kind in files), kind
        if not expected:
            continue
        eq, tx = same(files[kind][0]), text_of(files[kind][0])
        convert = {"text": tx, "dec": eq, "time": lambda ms: int(ms) * 1000}
        # Decimals compare by value (Parquet's scale is 12, the text's 8) and hash so.
        written = Counter(tuple(row[column] if how != "time" else int(row[column])
                                for column, _, how in cells)
                          for path in files[kind] for row in table(path))
        want = Counter(tuple(convert[how](record[key]) for _, key, how in cells)
                       for record in expected)
        assert written == want, kind


def order(order_no: str) -> bytes:
    data = json.loads((SAMPLES / "order_change.constructed.json").read_text())
    return json.dumps({**data, "orderNo": order_no}).encode()


def assets(currency: str, total: str) -> bytes:
    return (f'{{"asset":[{{"available":{total},"currency":{json.dumps(currency)},'
            f'"total":{total},"utcUpdate":1542786801575}}],"email":"demo@x.io",'
            f'"timestamp":1542786802283,"userNo":"1"}}').encode()


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_text_with_commas_quotes_and_line_breaks_stays_one_cell(tmp_path, fmt):
    hostile = 'no,1 "quoted"\nnext line\r'
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(NS, PERSONAL + "order/change/demo@x.io", order(hostile)),
                          (NS + 1, PERSONAL + "order/change/demo@x.io", order("2"))])
    done = export(ExportOptions((str(rec),), str(tmp_path / "o"), fmt=fmt, private=True),
                  warn=pytest.fail)
    [written] = [Path(file.path) for file in done]
    rows = table(written)
    assert [row["id"] for row in rows] == [hostile, "2"]
    assert all(row["symbol"] == "ETC_BTC" for row in rows)


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_balances_keep_all_30_decimals(tmp_path, fmt):
    total = "1.306763122563248000000000000001"
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(NS, ASSETS, assets("BTC", total))])
    done = export(ExportOptions((str(rec),), str(tmp_path / "o"), fmt=fmt, private=True),
                  warn=pytest.fail)
    [row] = table(Path(done[0].path))
    assert str(row["total"]) == total and Decimal(row["available"]) == Decimal(total)


def test_a_currency_that_is_no_code_names_no_file(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(NS, ASSETS, assets("../../escape", "1")),
                          (NS + 1, ASSETS, assets("\u001b]0;x", "1")),
                          (NS + 2, ASSETS, assets("USD", "5"))])
    said: list[str] = []
    out = tmp_path / "deep" / "o"
    done = export(ExportOptions((str(rec),), str(out), private=True), warn=said.append)
    day = time.strftime("%Y-%m-%d", time.gmtime(NS // 10**9))
    assert [Path(file.path).name for file in done] == [f"coinsuper_balances_{day}_USD.csv.gz"]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                  if p.is_file()) == ["deep/o/" + Path(done[0].path).name, "r.jsonl"]
    assert len(said) == 1 and "currency" in said[0] and "\x1b" not in said[0]


def test_private_channels_are_refused_without_the_flag_in_process(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(NS, ASSETS, assets("USD", "5"))])
    with pytest.raises(UsageError, match="--private"):
        export(ExportOptions((str(rec),), str(tmp_path / "o"), channels=("asset",)),
               warn=pytest.fail)
    assert export(ExportOptions((str(rec),), str(tmp_path / "o")), warn=pytest.fail) == []
