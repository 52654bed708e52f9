"""`coinsuper export`: a sandbox recording into tardis-format csv.gz files and into
Parquet, each value equal, digit for digit, to what `replay` prints of it (csv: the same
text; Parquet: the same decimal, read back by pyarrow); one file per data type, symbol
and UTC day; files complete under their names or absent; bad usage is exit 2."""
from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import SAMPLES, run_coinsuper

from coinsuper_cli.errors import UsageError
from coinsuper_cli.recordings.export import COLUMNS, ExportOptions, export

ENV = "exchange_ha_prod_hk/api/ws/v1/market/"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "watch.jsonl.gz"
    result = run_coinsuper(["watch", "BTC_USD", "--sandbox", "--format", "jsonl",
                            "--count", "300", "--record", str(path)], timeout=60)
    assert result.returncode == 0, result.stderr
    return path


def table(path: Path) -> list[dict]:
    """A file's rows: csv as text; Parquet read back by pyarrow, decimals as Decimal and
    times as integers (microseconds since the epoch), as the values they hold."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        read = pq.read_table(path)
        columns = [read.column(i).cast(pa.int64()) if pa.types.is_timestamp(field.type)
                   else read.column(i) for i, field in enumerate(read.schema)]
        return pa.Table.from_arrays(columns, names=read.schema.names).to_pylist()
    with gzip.open(path, "rt", newline="") as text:
        return list(csv.DictReader(text))


def same(path: Path):
    """What a cell of `path` holds for the text replay printed: csv keeps the text
    itself, Parquet its exact decimal (an empty cell: null). Times compare as ints."""
    if path.suffix == ".parquet":
        return lambda text: Decimal(text) if text else None
    return lambda text: text


def text_of(path: Path):
    """What a text cell holds for `text`: Parquet writes an empty one as null."""
    if path.suffix == ".parquet":
        return lambda text: text or None
    return lambda text: text


def replayed(path: Path, channel: str) -> list[dict]:
    result = run_coinsuper(["replay", str(path), "--channel", channel, "--format", "jsonl"])
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module", params=["tardis", "parquet"])
def exported(recorded, tmp_path_factory, request) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("out")
    result = run_coinsuper(["export", str(recorded), "--out", str(out), "--format",
                            request.param])
    assert result.returncode == 0, result.stderr
    files = {path.name.split("_20")[0].removeprefix("coinsuper_"): path
             for path in out.iterdir()}
    # candles: only if the recording happened to span a minute's end (see below)
    assert result.stderr.decode().startswith(f"coinsuper: exported {len(files)} files, ")
    return files


def test_the_files_are_named_and_headed_as_tardis_does(exported):
    assert set(exported) >= set(COLUMNS) - {"candles"}
    for kind, path in exported.items():
        assert path.name.startswith(f"coinsuper_{kind}_20") and path.name.endswith(
            ("_BTC_USD.csv.gz", "_BTC_USD.parquet"))
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            header = pq.read_schema(path).names
        else:
            with gzip.open(path, "rt", newline="") as text:
                header = next(csv.reader(text))
        assert tuple(header) == COLUMNS[kind]
    assert COLUMNS["book_snapshot_5"][4:8] == ("asks[0].price", "asks[0].amount",
                                               "bids[0].price", "bids[0].amount")


def test_trades_equal_the_replay_digit_for_digit(recorded, exported):
    path = exported["trades"]
    rows, num, text = table(path), same(path), text_of(path)
    want = replayed(recorded, "trade")
    assert len(rows) == len(want) > 0
    for row, trade in zip(rows, want):
        assert (row["exchange"], row["symbol"], row["id"]) == ("coinsuper", "BTC_USD",
                                                               text(""))
        assert int(row["timestamp"]) == trade["ts"] * 1000  # microseconds
        assert int(row["local_timestamp"]) // 1000 == trade["recv"]
        assert (row["side"], row["price"], row["amount"]) == (
            trade["side"], num(trade["price"]), num(trade["qty"]))


def test_book_snapshots_and_quotes_equal_the_books_levels(recorded, exported):
    books = replayed(recorded, "book")
    num = same(exported["quotes"])
    fifteen, five = table(exported["book_snapshot_15"]), table(exported["book_snapshot_5"])
    assert len(fifteen) == len(five) == len(books) > 0
    for row, short, book in zip(fifteen, five, books):
        assert int(row["timestamp"]) == book["ts"] * 1000
        assert int(row["local_timestamp"]) // 1000 == book["recv"]
        for i in range(15):
            for side in ("asks", "bids"):
                level = [num(v) for v in (book[side][i] if i < len(book[side]) else
                                          ["", ""])]
                assert [row[f"{side}[{i}].price"], row[f"{side}[{i}].amount"]] == level
                if i < 5:
                    assert [short[f"{side}[{i}].price"], short[f"{side}[{i}].amount"]
                            ] == level
    quotes = [q for q in table(exported["quotes"]) if q["timestamp"]]  # from the book
    assert [(int(q["timestamp"]), q["ask_price"], q["ask_amount"], q["bid_price"],
             q["bid_amount"]) for q in quotes] == [
        (b["ts"] * 1000, *map(num, (b["asks"][0][0], b["asks"][0][1], b["bids"][0][0],
                                    b["bids"][0][1]))) for b in books]
    depths = replayed(recorded, "depth")
    from_depth = [q for q in table(exported["quotes"]) if not q["timestamp"]]
    assert [(int(q["local_timestamp"]) // 1000, q["ask_price"], q["bid_price"],
             q["ask_amount"], q["bid_amount"]) for q in from_depth] == [
        (d["recv"], num(d["best_ask"]), num(d["best_bid"]), num(""), num(""))
        for d in depths]  # no amount: it sends none


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_each_closed_candle_once_as_last_seen(tmp_path, fmt):
    sample = json.loads((SAMPLES / "kline.json").read_bytes())
    minute = sample["timestamp"] - sample["timestamp"] % 60_000

    def candle(ts: int, last: str) -> bytes:
        return json.dumps({**sample, "timestamp": ts, "last": last}).encode()
    topic, at = ENV + "kline/BTC_USD/60000", (minute + 30_000) * 1_000_000
    rec = tmp_path / "candles.jsonl"
    write_recording(rec, [
        (at, topic, candle(minute, "6616.41")),
        (at + 1, topic, candle(minute, "6616.42")),  # the same candle, pushed again
        (at + 60 * 10**9, topic, candle(minute + 60_000, "6616.43")),  # the next one
        (at + 61 * 10**9, topic, candle(minute, "6616.99")),  # a late old push: ignored
    ])
    out = tmp_path / "out"
    export(ExportOptions((str(rec),), str(out), fmt=fmt), warn=print)
    [path] = out.iterdir()
    rows, num = table(path), same(path)  # the second candle was open at the end
    assert [(int(r["timestamp"]), int(r["local_timestamp"]), r["interval"], r["close"])
            for r in rows] == [(minute * 1000, (at + 1) // 1000, "1m", num("6616.42"))]
    assert (rows[0]["exchange"], rows[0]["symbol"]) == ("coinsuper", "BTC_USD")
    assert (rows[0]["open"], rows[0]["high"], rows[0]["low"], rows[0]["volume"]) == (
        num(sample["first"]), num(sample["max"]), num(sample["min"]),
        num(sample["quantity"]))


def write_recording(path: Path, lines: list[tuple[int, str, bytes]]) -> None:
    out = [json.dumps({"recv_ns": lines[0][0], "event": "start", "format": 1})]
    out += [json.dumps({"recv_ns": ns, "topic": topic, "payload": payload.decode()})
            for ns, topic, payload in lines]
    path.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("fmt, suffix", [("tardis", ".csv.gz"), ("parquet", ".parquet")])
def test_a_recording_across_midnight_gives_a_file_for_each_utc_day(tmp_path, fmt, suffix):
    trades = (SAMPLES / "tickers.json").read_bytes()
    depth = (SAMPLES / "depth.json").read_bytes()
    before, after = 1_796_255_999_000_000_000, 1_796_256_001_000_000_000  # 23:59:59, 00:00:01
    rec = tmp_path / "midnight.jsonl"
    write_recording(rec, [(before, ENV + "tickers/BTC_USD", trades),
                          (before + 1, ENV + "depth/BTC_USD", depth),
                          (after, ENV + "depth/BTC_USD", depth)])
    out = tmp_path / "out"
    done = export(ExportOptions((str(rec),), str(out), fmt=fmt), warn=print)
    names = sorted(path.name for path in out.iterdir())
    assert names == [f"coinsuper_quotes_2026-12-02_BTC_USD{suffix}",
                     f"coinsuper_quotes_2026-12-03_BTC_USD{suffix}",
                     f"coinsuper_trades_2026-12-02_BTC_USD{suffix}"]
    assert sum(file.rows for file in done) == len(json.loads(trades)) + 2
    assert [len(table(out / name)) for name in names] == [1, 1, len(json.loads(trades))]


def test_an_existing_file_is_refused_unless_overwrite_and_nothing_half_stays(tmp_path):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(1_796_255_999_000_000_000, ENV + "tickers/BTC_USD",
                           (SAMPLES / "tickers.json").read_bytes()),
                          (1_796_255_999_000_000_001, ENV + "depth/BTC_USD",
                           (SAMPLES / "depth.json").read_bytes())])
    out = tmp_path / "out"
    out.mkdir()
    there = out / "coinsuper_quotes_2026-12-02_BTC_USD.csv.gz"
    there.write_bytes(b"mine")
    result = run_coinsuper(["export", str(rec), "--out", str(out)])
    err = result.stderr.decode()
    assert result.returncode == 2 and "exists: give --overwrite" in err, err
    # the trades file begun before the refusal is gone; no temporary file is left
    assert sorted(p.name for p in out.iterdir()) == [there.name]
    assert there.read_bytes() == b"mine"
    result = run_coinsuper(["export", str(rec), "--out", str(out), "--overwrite"])
    assert result.returncode == 0, result.stderr
    assert len(table(there)) == 1 and len(list(out.iterdir())) == 2


@pytest.mark.parametrize("args, says", [
    (["--channel", "order"], "--channel order: export writes the market channels"),
    (["--from", "2026-12-03", "--to", "2026-12-02"], "--to must come after --from"),
    (["--out", "/dev/null/x"], "--out /dev/null/x"),
    (["--out", "/dev/null"], "--out /dev/null: not a folder"),
    (["--out", ""], "--out: give the folder"),
    (["--format", "csv"], "--format"),
])
def test_bad_usage_is_exit_2_in_one_line(tmp_path, args, says):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(1, ENV + "depth/BTC_USD", (SAMPLES / "depth.json").read_bytes())])
    base = ["export", str(rec)] + ([] if "--out" in args else ["--out", str(tmp_path / "o")])
    result = run_coinsuper(base + args)
    err = result.stderr.decode()
    assert result.returncode == 2 and says in err and err.count("\n") == 1, err


def test_a_file_that_is_not_a_recording_is_exit_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "capture.txt"
    bad.write_text("exchange_ha_prod_hk/api/ws/v1/market/depth/BTC_USD {}\n")
    out = tmp_path / "out"
    result = run_coinsuper(["export", str(bad), "--out", str(out)])
    assert result.returncode == 2 and b"not a recording" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_an_export_cut_short_leaves_no_file_under_a_final_name(tmp_path, monkeypatch, fmt):
    from coinsuper_cli.recordings import export as module

    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(1_796_255_999_000_000_000 + i, ENV + "depth/BTC_USD",
                           (SAMPLES / "depth.json").read_bytes()) for i in range(5)])
    calls, original = [], module.rows

    def failing(record, local_us):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle
        return original(record, local_us)
    monkeypatch.setattr(module, "rows", failing)
    with pytest.raises(KeyboardInterrupt):
        export(ExportOptions((str(rec),), str(tmp_path / "out"), fmt=fmt), warn=print)
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(UsageError):
        export(ExportOptions((str(tmp_path / "missing.jsonl"),), str(tmp_path / "o2")),
               warn=print)


@pytest.mark.parametrize("fmt", ["tardis", "parquet"])
def test_tardis_exchange_fills_the_exchange_column_and_nothing_else(tmp_path, fmt):
    """For nautilus_trader's TardisCSVDataLoader, which reads only tardis's exchanges."""
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(1_796_256_001_000_000_000, ENV + "tickers/BTC_USD",
                           (SAMPLES / "tickers.json").read_bytes())])
    plain, renamed = tmp_path / "plain", tmp_path / "renamed"
    export(ExportOptions((str(rec),), str(plain), fmt=fmt), warn=pytest.fail)
    done = export(ExportOptions((str(rec),), str(renamed), fmt=fmt,
                                tardis_exchange="binance"), warn=pytest.fail)
    assert [Path(f.path).name for f in done] == [p.name for p in plain.iterdir()]
    before, after = table(next(plain.iterdir())), table(Path(done[0].path))
    assert {row["exchange"] for row in after} == {"binance"}
    assert [{**row, "exchange": "coinsuper"} for row in after] == before


@pytest.mark.parametrize("name", ["", "Binance", "bin,ance", "bin ance", "../x",
                                  "\x1b[2J", "-x", "a" * 41])
def test_a_tardis_exchange_that_is_no_exchange_name_is_exit_2(tmp_path, name):
    rec = tmp_path / "r.jsonl"
    write_recording(rec, [(1, ENV + "tickers/BTC_USD", (SAMPLES / "tickers.json").read_bytes())])
    result = run_coinsuper(["export", str(rec), "--out", str(tmp_path / "o"),
                            "--tardis-exchange", name])
    assert result.returncode == 2 and b"--tardis-exchange" in result.stderr
    assert result.stderr.count(b"\n") == 1 and b"\x1b" not in result.stderr
    assert not (tmp_path / "o").exists()
