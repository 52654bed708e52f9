"""`export --format parquet` (export_parquet.py): typed columns (exact decimals, UTC
microsecond timestamps), row groups that keep memory flat, a value too long for the
decimal type left out and said (never rounded), and exit 2 in one line without pyarrow.
Values against replay, digit for digit, are in test_export.py for both formats."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import SAMPLES, clean_env
from test_export import ENV, write_recording

from coinsuper_cli.recordings import export_parquet
from coinsuper_cli.recordings.export import INSTALL_PARQUET, ExportOptions, export

DAY = 1_796_256_001_000_000_000  # 2026-12-03 00:00:01 UTC


def trade_push(i: int, price: str = "6089.34", quantity: str = "0.4337") -> bytes:
    return json.dumps([{"symbol": "BTC/USD", "price": price, "quantity": quantity,
                        "action": "BUY" if i % 2 else "SELL",
                        "timestamp": 1_796_256_000_000 + i}]).encode()


def test_the_columns_are_typed_exact_decimals_and_utc_microseconds(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(DAY, ENV + "tickers/BTC_USD", trade_push(1)),
                          (DAY + 1, ENV + "orderBook/BTC_USD/0.01",
                           (SAMPLES / "orderbook.json").read_bytes())])
    out = tmp_path / "out"
    export(ExportOptions((str(rec),), str(out), fmt="parquet"), warn=print)
    decimal = pa.decimal128(30, 12)
    stamp = pa.timestamp("us", tz="UTC")
    trades = pq.read_schema(out / "coinsuper_trades_2026-12-03_BTC_USD.parquet")
    assert [trades.field(n).type for n in trades.names] == [
        pa.string(), pa.string(), stamp, stamp, pa.string(), pa.string(), decimal, decimal]
    snapshot = pq.read_schema(out / "coinsuper_book_snapshot_15_2026-12-03_BTC_USD.parquet")
    assert all(snapshot.field(n).type == decimal for n in snapshot.names[4:])
    assert len(snapshot.names) == 4 + 15 * 4
    row = pq.read_table(out / "coinsuper_trades_2026-12-03_BTC_USD.parquet").to_pylist()[0]
    assert row["timestamp"].isoformat() == "2026-12-03T00:00:00.001000+00:00"
    assert row["local_timestamp"].timestamp() * 1e6 == DAY // 1000
    assert (row["price"], row["amount"], row["id"]) == (Decimal("6089.34"),
                                                        Decimal("0.4337"), None)


def test_row_groups_are_written_as_rows_come_so_memory_stays_flat(tmp_path, monkeypatch):
    """With a budget of 20 kB of text for all files (a trade row is about 75 bytes, and
    rows are counted CHUNK_ROWS at a time), a file of thousands of rows is written a row
    group at a time; every row is there once, in order."""
    monkeypatch.setattr(export_parquet, "BUFFER_BYTES", 20_000)
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(DAY + i, ENV + "tickers/BTC_USD", trade_push(i, f"{i}.5"))
                          for i in range(3000)])
    out = tmp_path / "out"
    export(ExportOptions((str(rec),), str(out), fmt="parquet"), warn=print)
    found = pq.ParquetFile(out / "coinsuper_trades_2026-12-03_BTC_USD.parquet")
    groups = [found.metadata.row_group(i).num_rows for i in range(found.num_row_groups)]
    most = 20_000 // 70 + export_parquet.CHUNK_ROWS
    assert sum(groups) == 3000 and len(groups) >= 8 and max(groups) <= most, groups
    prices = found.read(columns=["price"]).column(0).to_pylist()
    assert prices == [Decimal(f"{i}.5") for i in range(3000)]


def test_a_value_the_decimal_type_cannot_hold_is_left_out_and_said_never_rounded(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(DAY, ENV + "tickers/BTC_USD", trade_push(1)),
                          (DAY + 1, ENV + "tickers/BTC_USD",
                           trade_push(2, "0.0000000000001")),  # 13 decimals
                          (DAY + 2, ENV + "tickers/BTC_USD",
                           trade_push(3, "1" + "0" * 18)),  # 19 digits before the point
                          (DAY + 3, ENV + "tickers/BTC_USD", trade_push(4, "0.000000000001"))])
    said: list[str] = []
    export(ExportOptions((str(rec),), str(tmp_path / "pq"), fmt="parquet"),
           warn=said.append)
    rows = pq.read_table(tmp_path / "pq" / "coinsuper_trades_2026-12-03_BTC_USD.parquet"
                         ).to_pylist()
    assert [r["price"] for r in rows] == [Decimal("6089.34"), Decimal("0.000000000001")]
    assert len(said) == 1 and "0.0000000000001" in said[0] and "decimal128(30, 12)" in said[0]
    # csv keeps every value as sent
    export(ExportOptions((str(rec),), str(tmp_path / "csv")), warn=said.append)
    text = (tmp_path / "csv" / "coinsuper_trades_2026-12-03_BTC_USD.csv.gz").read_bytes()
    assert b",0.0000000000001," in gzip.decompress(text)


def test_without_pyarrow_parquet_is_exit_2_in_one_line_with_the_install_command(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(DAY, ENV + "tickers/BTC_USD", trade_push(1))])
    # sys.modules[name] = None makes `import name` fail as if it were not installed.
    script = ("import sys; sys.modules['pyarrow'] = None; "
              "from coinsuper_cli.cli.main import main; sys.exit(main(sys.argv[1:]))")
    base = [sys.executable, "-c", script, "export", str(rec), "--out", str(tmp_path / "o")]
    result = subprocess.run(base + ["--format", "parquet"], capture_output=True, text=True,
                            timeout=30, env=clean_env())
    assert result.returncode == 2, result.stderr
    assert result.stderr == ("coinsuper: --format parquet needs pyarrow, which is not "
                             f"installed: {INSTALL_PARQUET}\n")
    assert INSTALL_PARQUET == "pip install 'coinsuper-cli[parquet]'"
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_tardis_imports_neither_pyarrow_nor_rich_off_a_terminal(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(DAY, ENV + "tickers/BTC_USD", trade_push(1))])
    script = ("import sys; from coinsuper_cli.cli.main import main; code = main(sys.argv[1:]); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('pyarrow', 'rich')))")
    result = subprocess.run([sys.executable, "-c", script, "export", str(rec), "--out",
                             str(tmp_path / "o")], capture_output=True, text=True,
                            timeout=30, env=clean_env())
    assert result.returncode == 0 and result.stdout == "[]\n", result.stderr
