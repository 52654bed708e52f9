# Full topics back into what they name, as the sandbox reads them on SUBSCRIBE.
from __future__ import annotations

import pytest

from coinsuper_cli.api import channels
from coinsuper_cli.sandbox.topics import TopicParser, TopicRef

ENV = "exchange_ha_prod_hk"
parser = TopicParser(ENV, ("BTC_USD", "ETH_BTC"))


def topic(name: str, **fields: str) -> str:
    return channels.get(name).topic(ENV, **fields)


@pytest.mark.parametrize("full, ref", [
    (topic("depth", symbol="BTC_USD"), TopicRef("depth", "BTC_USD")),
    (topic("trade", symbol="ETH_BTC"), TopicRef("trade", "ETH_BTC")),
    (topic("book", symbol="BTC_USD", step="1.0"), TopicRef("book", "BTC_USD", step="1.0")),
    (topic("book", symbol="ETH_BTC", step="0.00000001"),
     TopicRef("book", "ETH_BTC", step="0.00000001")),
    (topic("kline", symbol="BTC_USD", range="604800000"),
     TopicRef("kline", "BTC_USD", range_ms=604_800_000)),
    (topic("asset", email="a@b.c"), TopicRef("asset", email="a@b.c")),
    (topic("order", email="a@b.c"), TopicRef("order", email="a@b.c")),
    (topic("fill", email="a@b.c"), TopicRef("fill", email="a@b.c")),
])
def test_every_channel_parses(full, ref):
    assert parser.parse(full) == ref
    assert ref.private == (ref.channel in channels.PRIVATE)


def test_the_cases_above_cover_the_registry():
    assert set(channels.PUBLIC) == {"depth", "trade", "book", "kline"}
    assert set(channels.PRIVATE) == {"asset", "order", "fill"}


@pytest.mark.parametrize("full", [
    topic("depth", symbol="LTC_USD"),  # not served here
    topic("kline", symbol="LTC_USD", range="60000"),  # the symbol check, on every channel
    topic("book", symbol="BTC_USD", step="1"),  # the topic carries the step's text
    topic("book", symbol="ETH_BTC", step="0.01"),  # a fiat step on a crypto quote
    topic("kline", symbol="BTC_USD", range="060000"),
    topic("kline", symbol="BTC_USD", range="61000"),
    topic("kline", symbol="BTC_USD", range="1m"),
    topic("depth", symbol="BTC_USD") + "/extra",
    topic("order", email="a@b.c/d"),
    topic("order", email="+"),
    ENV + "/api/ws/v1/market/depth/#",
    ENV + "/api/ws/v1/market/nothing/BTC_USD",
    "exchange_ha_prod_hkX" + channels.get("depth").subtopic.format(symbol="BTC_USD"),
    channels.get("depth").subtopic.format(symbol="BTC_USD"),  # no env prefix
    "",
])
def test_unknown_topics_refused(full):
    assert parser.parse(full) is None


def test_private_topic_round_trip():
    full = parser.private_topic("fill", "me@x.y")
    assert full == ENV + "/ws/personal/v1/trade/change/me@x.y"
    assert parser.parse(full) == TopicRef("fill", email="me@x.y")


def test_an_unknown_channel_fails_loudly():
    with pytest.raises(channels.UnknownChannel):
        TopicRef("candles", "BTC_USD").private
    with pytest.raises(channels.UnknownChannel):
        parser.private_topic("orders", "me@x.y")
