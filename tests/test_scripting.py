"""Output for scripts, below the command line: csv/tsv rows, --fields, --template, --time,
--since and the checks that refuse what cannot be done (PRODUCT.md, "Output for
scripts"). The installed command is tested in test_scripting_e2e.py."""
import csv
import io
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st
from test_output import SAMPLE_CHANNELS, SAMPLES, deliver, feed

from coinsuper_cli.api.records import Book, Kline, Trade
from coinsuper_cli.api.stream import Limits, ListSource, Message, pump
from coinsuper_cli.errors import CountNotReached, Finished, UsageError
from coinsuper_cli.output import shape
from coinsuper_cli.output.options import OutputOptions, choose_format, resolve, since_filter
from coinsuper_cli.output.sinks import JsonlSink, TableSink, TemplateSink
from coinsuper_cli.output.times import iso_ms, parse_since, seconds_text

RECV_NS = 1_700_000_000_123_456_789
RECV = 1_700_000_000_123


def sample_records(channel, name):
    return feed(channel).parse((SAMPLES / name).read_bytes())


def jsonl_of(channel, name, **kwargs):
    out = io.BytesIO()
    deliver(JsonlSink(out, warn=pytest.fail, **kwargs), (feed(channel), (SAMPLES / name)
                                                         .read_bytes()))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def table_of(channel, name, fmt="csv", fields=None, time="ms", header=True):
    out = io.BytesIO()
    rows = shape.Rows(channel, fields, time)
    deliver(TableSink(out, rows, delimiter={"csv": ",", "tsv": "\t"}[fmt], header=header,
                      warn=pytest.fail), (feed(channel), (SAMPLES / name).read_bytes()))
    text = out.getvalue().decode()
    return list(csv.reader(io.StringIO(text), delimiter={"csv": ",", "tsv": "\t"}[fmt]))


def as_rows(jsonl):
    """What csv should hold, built from the jsonl: levels one row each."""
    rows = []
    for obj in jsonl:
        base = [str(value) for key, value in obj.items() if key not in ("asks", "bids")]
        if "asks" in obj:
            rows += [base + [side, str(i), price, qty]
                     for key, side in (("asks", "ask"), ("bids", "bid"))
                     for i, (price, qty) in enumerate(obj[key])]
        else:
            rows.append(base)
    return rows


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@pytest.mark.parametrize("name, channel", SAMPLE_CHANNELS)
def test_csv_and_tsv_read_back_to_the_jsonl_values_digit_for_digit(name, channel, fmt):
    table = table_of(channel, name, fmt)
    assert tuple(table[0]) == shape.columns(channel)
    assert table[1:] == as_rows(jsonl_of(channel, name))
    assert len(table) > 1


def test_book_and_depth_columns_put_a_level_in_place_of_asks_and_bids():
    assert shape.columns("book") == ("channel", "recv", "symbol", "ts", "step", "side",
                                     "level", "price", "quantity")
    assert shape.columns("depth")[-4:] == shape.LEVEL_KEYS
    assert shape.columns("trade") == shape.keys("trade")
    table = table_of("book", "orderbook.json")
    sides = [row[5] for row in table[1:]]
    assert sides == sorted(sides) and {"ask", "bid"} == set(sides)  # asks, then bids
    assert [row[6] for row in table[1:] if row[5] == "bid"][:3] == ["0", "1", "2"]


def test_fields_choose_and_order_columns_and_keys():
    table = table_of("book", "orderbook.json", fields=("price", "side", "ts"))
    assert table[0] == ["price", "side", "ts"]
    assert all(len(row) == 3 for row in table)
    one = table_of("trade", "tickers.json", fields=("price",))
    assert one[0] == ["price"] and all(len(row) == 1 for row in one)
    jsonl = jsonl_of("trade", "tickers.json", keys=("side", "price"))
    assert all(list(obj) == ["side", "price"] for obj in jsonl)


def test_no_header():
    assert table_of("trade", "tickers.json", header=False)[0][0] == "trade"


@pytest.mark.parametrize("time, expected", [("ms", 1_700_000_000_123),
                                            ("s", 1700000000.123),
                                            ("iso", "2023-11-14T22:13:20.123Z")])
def test_time_formats_in_jsonl(time, expected):
    [obj, *_] = jsonl_of("trade", "tickers.json", time=time)
    assert obj["recv"] == expected
    assert type(obj["ts"]) is type(expected)


def test_time_formats_in_csv_and_seconds_keep_exact_digits():
    table = table_of("trade", "tickers.json", time="s", fields=("recv",))
    assert table[1] == ["1700000000.123"]
    table = table_of("trade", "tickers.json", time="iso", fields=("recv", "ts"))
    assert table[1][0] == "2023-11-14T22:13:20.123Z" and table[1][1].endswith("Z")


@given(st.integers(min_value=0, max_value=253402300799999))
def test_iso_and_seconds_round_trip(ms):
    from datetime import datetime

    assert Decimal(seconds_text(ms)) * 1000 == ms
    parsed = datetime.fromisoformat(iso_ms(ms).replace("Z", "+00:00"))
    assert round(parsed.timestamp() * 1000) == ms


def test_a_time_beyond_the_calendar_stays_a_number():
    assert iso_ms(10 ** 20) == str(10 ** 20)
    assert seconds_text(-5) == "-0.005"


def render(template_text, record, channels=("trade",), time="ms", topic="env/t"):
    return shape.Template(template_text, channels, time)(record, RECV, topic)


TRADE = Trade("BTC_USD", 1_700_000_000_000, Decimal("0.00000010"), Decimal("5"), "buy")


def test_template_keys_topic_and_every_time_format():
    assert render("{symbol} {price} {qty} {side}", TRADE) == "BTC_USD 0.00000010 5 buy"
    assert render("{topic}|{channel}", TRADE) == "env/t|trade"
    assert render("{ts}", TRADE) == "1700000000000"
    assert render("{ts:ms} {ts:s} {ts:iso}", TRADE) == \
        "1700000000000 1700000000.000 2023-11-14T22:13:20.000Z"
    assert render("{recv:iso}", TRADE) == "2023-11-14T22:13:20.123Z"
    assert render("{ts}", TRADE, time="iso") == "2023-11-14T22:13:20.000Z"


def test_template_escapes_braces_and_specs():
    assert render("{{{price}}}\\t{side:>5}|\\n\\\\", TRADE) == "{0.00000010}\t  buy|\n\\"


def test_template_values_from_the_network_stay_on_one_line():
    hostile = Trade("A\nB\x1b[2J", 1, Decimal(1), Decimal(1), "\x9b")
    assert render("{symbol} {side}", hostile) == "A\\x0aB\\x1b[2J \\x9b"


def test_template_levels_are_json():
    book = Book("BTC_USD", 1, Decimal("0.01"), ((Decimal("1.10"), Decimal("2")),), ())
    assert render("{asks} {bids}", book, ("book",)) == '[["1.10","2"]] []'


def test_template_keys_of_other_channels_are_empty_for_a_record_without_them():
    assert render("{currency}:{price}", TRADE, ("trade", "asset")) == ":0.00000010"


@pytest.mark.parametrize("text, says", [
    ("{nope}", "no key 'nope' in trade records: use channel, recv"),
    ("{}", "name a key"), ("{0}", "name a key"),
    ("{price!r}", "not a key"), ("{price.real}", "not a key"), ("{asks[0]}", "not a key"),
    ("{ts:xx}", "a time takes :ms, :s, :iso"), ("{price:%%%}", "Invalid format"),
    ("{price:{width}}", "cannot hold"), ("{", "braces"), ("}", "braces"),
    ("{price:>999999999}", "widths go up to 999"),
    ("", "is empty"),
])
def test_bad_templates_are_usage_errors_naming_the_problem(text, says):
    with pytest.raises(UsageError, match="--template") as caught:
        shape.Template(text, ("trade",))
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_fields_are_checked_against_the_channels():
    assert shape.check_fields(("price", "ts"), ("trade",), table=False) == ("price", "ts")
    with pytest.raises(UsageError, match="no key 'price' in book records: use channel"):
        shape.check_fields(("price",), ("book",), table=False)
    assert shape.check_fields(("price",), ("book",), table=True) == ("price",)
    with pytest.raises(UsageError, match="given twice"):
        shape.check_fields(("ts", "ts"), ("trade",), table=False)
    # several channels: a key of any of them
    assert shape.check_fields(("currency", "symbol"), ("asset", "order"), table=False)


def test_jsonl_fields_leave_out_what_a_record_lacks():
    out = io.BytesIO()
    assets = (SAMPLES / "asset_change.json").read_bytes()
    deliver(JsonlSink(out, warn=pytest.fail, keys=("channel", "currency", "symbol")),
            (feed("asset"), assets))
    first = json.loads(out.getvalue().splitlines()[0])
    assert list(first) == ["channel", "currency"]


def test_template_sink_writes_a_line_a_record():
    out = io.BytesIO()
    deliver(TemplateSink(out, shape.Template("{price}", ("trade",)), warn=pytest.fail),
            (feed("trade"), (SAMPLES / "tickers.json").read_bytes()))
    assert len(out.getvalue().splitlines()) == 20


def choose(isatty=False, **options):
    return choose_format(OutputOptions(**options), isatty)


def test_the_default_format_is_live_on_a_terminal_unless_the_output_is_shaped():
    assert choose(isatty=True) == "live"
    assert choose(isatty=False) == "jsonl"
    assert choose(isatty=True, fields=("price",)) == "jsonl"
    assert choose(isatty=True, time="iso") == "jsonl"
    assert choose(isatty=True, template="{price}") == "template"


@pytest.mark.parametrize("options, channels, says", [
    (dict(format="live", fields=("price",)), ("trade",), "--fields does not apply to --format live"),
    (dict(format="live", time="iso"), ("trade",), "--time does not apply"),
    (dict(format="raw", fields=("price",)), ("trade",), "payloads as received"),
    (dict(format="raw", since=5), ("trade",), "--since does not apply to --format raw"),
    (dict(format="jsonl", no_header=True), ("trade",), "--no-header applies to"),
    (dict(no_header=True), ("trade",), "--no-header applies to"),
    (dict(format="csv"), ("depth", "book", "kline", "trade"), "takes one channel"),
    (dict(format="tsv"), ("asset", "order", "fill"), "takes one channel"),
    (dict(format="jsonl", template="{price}"), ("trade",), "leave out --format jsonl"),
    (dict(format="csv", fields=("asks",)), ("book",), "no key 'asks'"),
    (dict(template="{price}", fields=("ts",)), ("trade",), "names its own keys"),
])
def test_options_that_cannot_apply_are_refused(options, channels, says):
    with pytest.raises(UsageError, match=says):
        opts = OutputOptions(**options)
        resolve(opts, channels, choose_format(opts, stdout_isatty=True))


def test_since_now_is_the_command_start():
    output = resolve(OutputOptions(since="now"), ("trade",), "jsonl", now_ms=lambda: 2000)
    keep = output.limits.keep
    assert keep(Trade("X_Y", 2000, Decimal(1), Decimal(1), "buy"))
    assert not keep(Trade("X_Y", 1999, Decimal(1), Decimal(1), "buy"))
    assert parse_since("now") == "now" and parse_since("1000") == 1000
    assert parse_since("1970-01-01T00:00:01Z") == 1000


def test_since_keeps_a_candle_that_is_still_current_and_records_without_a_time():
    candle = Kline("X_Y", "1m", 60_000, *[Decimal(1)] * 5)
    assert since_filter(119_999)(candle)  # open from 60,000 to 119,999 ms
    assert not since_filter(120_000)(candle)
    depth = sample_records("depth", "depth.json")[0]
    assert since_filter(10 ** 15)(depth)


def test_since_drops_records_before_counting_them():
    """The backlog a first push repeats is neither written nor counted; the message
    still reaches the sink, so a recorder would keep it."""
    tickers = (SAMPLES / "tickers.json").read_bytes()
    trades = sample_records("trade", "tickers.json")
    cut = trades[15].ts
    written, seen = [], []

    class Sink(JsonlSink):
        def write(self, message, records):
            seen.append(message)
            written.extend(records)

    keep = since_filter(cut)
    expected = [t for t in trades if t.ts >= cut]
    with pytest.raises(Finished):
        pump(ListSource([[Message(feed("trade"), tickers, RECV_NS)]]),
             Sink(io.BytesIO(), warn=pytest.fail), Limits(count=len(expected), keep=keep))
    assert written == expected and len(seen) == 1


class Never:
    """A source that yields empty batches as time passes, and never a message."""

    def __init__(self, clock):
        self.clock = clock

    def batches(self):
        while True:
            self.clock[0] += 1.0
            yield []


def test_timeout_before_count_is_count_not_reached_and_without_count_a_success():
    clock = [0.0]
    with pytest.raises(CountNotReached) as caught:
        pump(Never(clock), JsonlSink(io.BytesIO(), warn=pytest.fail),
             Limits(count=3, timeout=5), clock=lambda: clock[0])
    assert (caught.value.count, caught.value.written) == (3, 0)
    assert "--timeout 5 passed after 0 of --count 3 records" in str(caught.value)
    clock = [0.0]
    with pytest.raises(Finished):
        pump(Never(clock), JsonlSink(io.BytesIO(), warn=pytest.fail), Limits(timeout=5),
             clock=lambda: clock[0])


def test_exit_status_6_is_count_not_reached():
    from coinsuper_cli.errors import exit_status

    assert exit_status(CountNotReached(3, 1, 2.0)) == 6


def read_table(text: str, delimiter: str) -> list[list[str]]:
    """csv as Python's csv module reads it; tsv a line a record, its escapes undone."""
    if delimiter == ",":
        return list(csv.reader(io.StringIO(text, newline="")))
    unescape = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    return [[re.sub(r"\\(.)", lambda match: unescape[match[1]], field)
             for field in line.split("\t")] for line in text.split("\n")[:-1]]


def reference_lines(rows, delimiter: str) -> str:
    """What csv and tsv must be, written the plain way: csv by the csv module with a CRLF
    line terminator (so that every version quotes a CR or LF in a field), ended by a LF;
    tsv with its four escapes."""
    out = []
    for row in rows:
        if delimiter == ",":
            line = io.StringIO()
            csv.writer(line, lineterminator="\r\n").writerow(row)
            out.append(line.getvalue()[:-2] + "\n")
        else:
            out.append("\t".join(field.replace("\\", "\\\\").replace("\t", "\\t")
                                  .replace("\n", "\\n").replace("\r", "\\r")
                                  for field in row) + "\n")
    return "".join(out)


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_rows_of_levels_quote_what_needs_quoting_and_read_back(delimiter):
    """The levels' rows are joined onto the quoted or escaped first columns: a symbol
    holding the delimiter, a quote, a backslash and line breaks still reads back whole,
    behind a `'` as it begins with `=`."""
    from coinsuper_cli.api.records import Depth

    symbol = '=A,"B\tC\nD\rE\\n'
    depth = Depth(symbol, Decimal("2"), Decimal("1"), Decimal("0.05"),
                  ((Decimal("2"), Decimal("1.5")), (Decimal("3"), Decimal("4"))),
                  ((Decimal("1"), Decimal("0.25")),))
    out = io.BytesIO()
    sink = TableSink(out, shape.Rows("depth", None), delimiter=delimiter, header=False,
                     warn=pytest.fail)
    sink.write(Message(feed("depth"), b"", RECV_NS), [depth])
    expected = [["depth", str(RECV), "'" + symbol, "2", "1", "0.05", side, level, p, q]
                for side, level, p, q in (("ask", "0", "2", "1.5"), ("ask", "1", "3", "4"),
                                          ("bid", "0", "1", "0.25"))]
    assert out.getvalue().decode() == reference_lines(expected, delimiter)
    assert read_table(out.getvalue().decode(), delimiter) == expected


HOSTILE_TEXT = st.text(",\"\t\r\n\\ x\u2028é=+-@'")


@given(st.lists(st.tuples(HOSTILE_TEXT, HOSTILE_TEXT), min_size=1, max_size=4),
       st.sampled_from([",", "\t"]),
       st.sampled_from([None, ("side", "price", "symbol"), ("symbol",)]))
def test_rows_are_byte_for_byte_the_plain_quoting_and_read_back(texts, delimiter, fields):
    """Rows without anything to quote or escape are joined as they are: the result is the
    same as quoting field by field, whatever the text from the network holds, and reads
    back to the fields (text fields that could start a formula behind a `'`)."""
    trades = [Trade(symbol, 1, Decimal("1.5"), Decimal("2"), side) for symbol, side in texts]
    out = io.BytesIO()
    sink = TableSink(out, shape.Rows("trade", fields), delimiter=delimiter, header=False,
                     warn=pytest.fail)
    sink.write(Message(feed("trade"), b"", RECV_NS), trades)
    columns = shape.columns("trade")
    rows = [dict(zip(columns, ["trade", str(RECV), spreadsheet_safe(t.symbol), "1", "1.5",
                               "2", spreadsheet_safe(t.side)])) for t in trades]
    expected = [[row[key] for key in fields or columns] for row in rows]
    assert out.getvalue().decode() == reference_lines(expected, delimiter)
    assert read_table(out.getvalue().decode(), delimiter) == expected


def test_a_table_skips_another_channels_records_saying_so_once():
    """A replay names its channels from its first lines; a table met by a channel that
    came later skips its records rather than write rows under the wrong header."""
    out, warned = io.BytesIO(), []
    sink = TableSink(out, shape.Rows("trade", None), header=False, warn=warned.append)
    depth = sample_records("depth", "depth.json")
    for _ in range(2):
        sink.write(Message(feed("depth"), b"", RECV_NS), depth)
    sink.write(Message(feed("trade"), b"", RECV_NS), [TRADE])
    assert out.getvalue().decode().splitlines() == [
        f"trade,{RECV},BTC_USD,1700000000000,0.00000010,5,buy"]
    assert warned == ["skipped the depth records: --format csv and tsv take one channel, "
                      "here trade (replay --channel chooses)"]
