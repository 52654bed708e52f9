"""The channel registry: topics as the spec writes them, one entry per channel, and an
unknown channel refused everywhere instead of being drawn as some other channel."""
import dataclasses
import io
from decimal import Decimal

import pytest
from rich.console import Console

from coinsuper_cli.api import channels
from coinsuper_cli.api.channels import UnknownChannel
from coinsuper_cli.api.records import Trade
from coinsuper_cli.cli import streaming
from coinsuper_cli.cli.core import Environment
from coinsuper_cli.cli.options import App
from coinsuper_cli.live import views
from coinsuper_cli.live.dashboard import Dashboard
from coinsuper_cli.live.model import LiveModel
from coinsuper_cli.net.plans import Target, public_plan
from coinsuper_cli.sandbox.topics import TopicRef

ENV = "exchange_ha_prod_hk"


@pytest.mark.parametrize("name, fields, topic", [
    ("depth", {"symbol": "BTC_USD"}, "/api/ws/v1/market/depth/BTC_USD"),
    ("book", {"symbol": "BTC_USD", "step": "0.01"}, "/api/ws/v1/market/orderBook/BTC_USD/0.01"),
    ("kline", {"symbol": "ETC_BTC", "range": "300000"},
     "/api/ws/v1/market/kline/ETC_BTC/300000"),
    ("trade", {"symbol": "BTC_USD"}, "/api/ws/v1/market/tickers/BTC_USD"),
    ("asset", {"email": "a@b.c"}, "/api/ws/personal/v1/asset/change/a@b.c"),
    # The private order and fill topics have no /api prefix.
    ("order", {"email": "a@b.c"}, "/ws/personal/v1/order/change/a@b.c"),
    ("fill", {"email": "a@b.c"}, "/ws/personal/v1/trade/change/a@b.c"),
])
def test_topics_follow_the_spec(name, fields, topic):
    assert channels.get(name).topic(ENV, **fields) == ENV + topic


def test_public_and_private_and_cadence():
    assert channels.PUBLIC == ("depth", "book", "kline", "trade")
    assert channels.PRIVATE == ("asset", "order", "fill")
    assert all(channels.get(n).cadence for n in channels.PUBLIC)
    assert not any(channels.get(n).cadence for n in channels.PRIVATE)
    assert all(channels.get(n).record.channel == n for n in channels.CHANNELS)


def test_an_unknown_channel_fails_loudly_everywhere():
    with pytest.raises(UnknownChannel, match="no channel named 'ticker24'"):
        channels.get("ticker24")
    with pytest.raises(UnknownChannel):
        channels.new_parser("ticker24")
    with pytest.raises(UnknownChannel):
        public_plan(Target("ws://h/mqtt"), "ticker24", "BTC_USD")
    for call in (lambda: views.empty_state("ticker24"), lambda: views.min_width("ticker24"),
                 lambda: views.draw("ticker24", None, 0)):
        with pytest.raises(UnknownChannel):
            call()
    with pytest.raises(UnknownChannel):
        TopicRef("ticker24").private


def test_an_eighth_channel_is_one_registry_entry(monkeypatch):
    """A hypothetical channel of last prices, parsed and drawn as trades: one entry, and
    the plan, the parser, the live view and its command all follow."""
    def parse_last(payload: bytes):
        price = payload.decode()
        return [Trade("BTC_USD", 1, Decimal(price), Decimal(1), "buy")]

    entry = channels.Channel(
        "last", "/api/ws/v1/market/last/{symbol}", Trade, lambda fields: parse_last,
        cadence=1.0,
        view=channels.View("state:TapeState", "state:reduce_trades", "tape:TradeTape",
                           "Last", 38),
        when=lambda record: record.ts, command="last", help="Last prices, as they change.")
    monkeypatch.setitem(channels.CHANNELS, "last", entry)
    plan = public_plan(Target("ws://h/mqtt"), "last", "BTC_USD")
    feed = plan.feeds[0]
    assert feed.topic == ENV + "/api/ws/v1/market/last/BTC_USD"
    model = LiveModel([plan], url="ws://h/mqtt", sandbox=False)
    model.apply(feed, feed.parse(b"6674.49"), recv_ms=5)
    console = Console(file=io.StringIO(), width=60, height=12, color_system=None)
    console.print(Dashboard(model.snapshot(), now_ms=5, now=0.0))
    screen = console.file.getvalue()
    assert "Last BTC_USD" in screen and "6674.49" in screen

    # `coinsuper last BTC_USD`: the command, its help, and the topic it would subscribe.
    command = next(c for c in streaming.channel_commands() if c.name == "last")
    assert command.get_short_help_str() == "Last prices, as they change."
    out = io.BytesIO()
    env = Environment(io.StringIO(), out, io.StringIO(), False, False, lambda prompt: "")
    command.main(["BTC_USD", "--url", "ws://h/mqtt"], obj=App(env, dry_run=True),
                 standalone_mode=False)
    assert f"{ENV}/api/ws/v1/market/last/BTC_USD" in out.getvalue().decode()


def test_a_topic_field_becomes_its_option_and_a_new_kind_of_field_is_named():
    book = streaming.channel_command(channels.get("book"))
    assert [p.name for p in book.params][:2] == ["symbols", "step"]
    odd = dataclasses.replace(channels.get("book"), name="odd",
                              subtopic="/api/ws/v1/market/odd/{symbol}/{depth}")
    with pytest.raises(LookupError, match="'depth' field of channel 'odd'"):
        streaming.channel_command(odd)
