"""csv and tsv from a hostile broker: the text fields of the private channels (order_no,
state, symbol, deal_no, order_type, currency) holding quotes, delimiters, line breaks,
backslashes and formulas. Every row reads back whole with Python's csv module and with
`awk -F'\\t'`, and no text field can start a spreadsheet formula; numbers, a negative
sign included, and jsonl are left as they are."""
import csv
import io
import json
import shutil
import subprocess
from decimal import Decimal

import pytest
from conftest import SAMPLES, Streamer, clean_env
from test_output import deliver, feed
from test_scripting import RECV, RECV_NS, read_table, spreadsheet_safe

from coinsuper_cli.api.records import Trade
from coinsuper_cli.api.stream import Message
from coinsuper_cli.output import shape
from coinsuper_cli.output.sinks import JsonlSink, TableSink

TABLES = {"csv": ",", "tsv": "\t"}
HOSTILE = ['=HYPERLINK("http://x.invalid","a")', "+1\r2", '-2,"3"', "@SUM(A1)",
           "\ta\tb", "\r\n", "x\ny", 'q"uo"te', "back\\slash\\t", "é\u2028✓", ""]
ENV = "exchange_ha_prod_hk"
TOPICS = {"orders": "/ws/personal/v1/order/change/demo@example.com",
          "fills": "/ws/personal/v1/trade/change/demo@example.com",
          "assets": "/api/ws/personal/v1/asset/change/demo@example.com"}


def hostile_payloads(channel: str) -> list[bytes]:
    """The sample push of `channel` with each text field in turn set to each hostile text
    that the parser lets through."""
    name, keys = {
        "order": ("order_change.constructed.json", ("symbol", "orderNo", "state")),
        "fill": ("trade_change.json", ("symbol", "dealNo", "orderNo", "orderType")),
        "asset": ("asset_change.json", ("currency",)),
    }[channel]
    sample = json.loads((SAMPLES / name).read_bytes())
    payloads = []
    for key in keys:
        for text in HOSTILE:
            data = json.loads(json.dumps(sample))
            if channel == "asset":
                data["asset"][0][key] = text
            else:
                data[key] = text
            if channel == "order":  # a new change each, not a repeat the parser drops
                data["utcUpdate"] += len(payloads)
            payload = json.dumps(data).encode()
            try:
                feed(channel).parse(payload)
            except Exception:  # the parser refuses it: it never reaches a table
                continue
            payloads.append(payload)
    assert len(payloads) >= len(keys) * (len(HOSTILE) - 2)
    return payloads


def table(channel: str, fmt: str, payloads: list[bytes]) -> str:
    out = io.BytesIO()
    sink = TableSink(out, shape.Rows(channel, None), delimiter=TABLES[fmt],
                     warn=pytest.fail)
    deliver(sink, *[(feed(channel), payload) for payload in payloads])
    return out.getvalue().decode()


def expected_rows(channel: str, payloads: list[bytes]) -> list[list[str]]:
    """The rows built from the jsonl values, text fields behind a `'` where they could
    start a formula."""
    out = io.BytesIO()
    deliver(JsonlSink(out, warn=pytest.fail), *[(feed(channel), p) for p in payloads])
    texts = {name for name, kind in _hints(channel).items() if kind is str}
    rows = [list(shape.columns(channel))]
    for line in out.getvalue().decode().split("\n")[:-1]:  # not at U+2028
        obj = json.loads(line)
        rows.append([spreadsheet_safe(value) if key in texts else str(value)
                     for key, value in obj.items()])
    return rows


def _hints(channel):
    from typing import get_type_hints

    from coinsuper_cli.api import channels
    return get_type_hints(channels.get(channel).record)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@pytest.mark.parametrize("channel", ["order", "fill", "asset"])
def test_hostile_text_fields_read_back_whole_and_safe(channel, fmt):
    payloads = hostile_payloads(channel)
    text = table(channel, fmt, payloads)
    rows = read_table(text, TABLES[fmt])
    assert rows == expected_rows(channel, payloads)
    assert {len(row) for row in rows} == {len(shape.columns(channel))}
    if fmt == "tsv":
        assert len(text.split("\n")) == len(rows) + 1 and "\r" not in text


@pytest.mark.skipif(not shutil.which("awk"), reason="awk is not installed")
@pytest.mark.parametrize("channel", ["order", "fill", "asset"])
def test_awk_sees_the_same_number_of_fields_in_every_tsv_row(channel):
    """The README's own recipe: a field holding a tab or a newline used to shift the
    columns awk sees."""
    text = table(channel, "tsv", hostile_payloads(channel))
    counts = subprocess.run(["awk", "-F\t", "{print NF}"], input=text.encode(),
                            capture_output=True, check=True, timeout=30).stdout.split()
    assert set(counts) == {str(len(shape.columns(channel))).encode()}
    assert len(counts) == text.count("\n")


def test_a_bare_carriage_return_is_quoted_in_csv():
    """Python 3.12's csv module leaves it bare, and its own reader then splits the row."""
    trade = Trade("A\rB", 1, Decimal("1"), Decimal("2"), "buy")
    text = table_of_records([trade], "csv")
    assert text == f'trade,{RECV},"A\rB",1,1,2,buy\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["trade", str(RECV), "A\rB", "1", "1", "2", "buy"]]


def table_of_records(records, fmt, fields=None) -> str:
    out = io.BytesIO()
    sink = TableSink(out, shape.Rows(records[0].channel, fields), delimiter=TABLES[fmt],
                     header=False, warn=pytest.fail)
    sink.write(Message(feed(records[0].channel), b"", RECV_NS), records)
    return out.getvalue().decode()


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_formula_text_gets_a_quote_and_numbers_keep_their_sign(fmt):
    """The rule: a text field (a str in the record type) that begins with = + - @ tab or
    CR gets a leading `'`; a number (Decimal, int) never does, so -1.5 stays -1.5."""
    trades = [Trade("=1+1", 1, Decimal("-1.5"), Decimal("-0.00"), "-buy"),
              Trade("@A1", 2, Decimal("1E+2"), Decimal("2"), "+sell"),
              Trade("BTC_USD", 3, Decimal("1"), Decimal("2"), "buy=")]
    delimiter = TABLES[fmt]
    lines = table_of_records(trades, fmt).split("\n")[:-1]
    assert [line.split(delimiter)[2:] for line in lines] == [
        ["'=1+1", "1", "-1.5", "-0.00", "'-buy"],
        ["'@A1", "2", "100", "2", "'+sell"],
        ["BTC_USD", "3", "1", "2", "buy="]]


def test_jsonl_keeps_the_text_byte_for_byte():
    out = io.BytesIO()
    trade = Trade("=1+1", 1, Decimal("-1.5"), Decimal("2"), "@x")
    JsonlSink(out, warn=pytest.fail).write(Message(feed("trade"), b"", RECV_NS), [trade])
    obj = json.loads(out.getvalue())
    assert (obj["symbol"], obj["price"], obj["side"]) == ("=1+1", "-1.5", "@x")


@pytest.mark.skipif(not shutil.which("awk"), reason="awk is not installed")
def test_the_command_writes_hostile_orders_as_one_line_each_in_tsv(mosquitto):
    """End to end: hostile order pushes through a real broker to `coinsuper orders
    --format tsv`, read by real awk and by the csv module in csv."""
    payloads = hostile_payloads("order")
    env = clean_env(COINSUPER_EMAIL="demo@example.com", COINSUPER_ACCESS_KEY="AK",
                    COINSUPER_SECRET_KEY="SK")
    for fmt in ("tsv", "csv"):
        streamer = Streamer(["orders", "--url", mosquitto.ws_url, "--format", fmt,
                             "--count", str(len(payloads)), "--timeout", "30"], env=env)
        streamer.wait_subscribed()
        for payload in payloads:
            mosquitto.publish(ENV + TOPICS["orders"], payload, qos=1)
        code, out, err = streamer.finish(timeout=40)
        assert code == 0, err
        rows = read_table(out.decode(), TABLES[fmt])
        expected = expected_rows("order", payloads)
        assert [row[:1] + row[2:] for row in rows] == [row[:1] + row[2:] for row in expected]
        if fmt == "tsv":
            counts = subprocess.run(["awk", "-F\t", "{print NF}"], input=out,
                                    capture_output=True, check=True, timeout=30).stdout
            assert set(counts.split()) == {str(len(shape.columns("order"))).encode()}
