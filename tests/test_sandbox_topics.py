# Full topics back into what they name, as the sandbox reads them on SUBSCRIBE.
from __future__ import annotations

import pytest

from coinsuper_cli.exchange import SUBTOPICS, topic
from coinsuper_cli.sandbox.topics import TopicParser, TopicRef

ENV = "exchange_ha_prod_hk"
parser = TopicParser(ENV, ("BTC_USD", "ETH_BTC"))


@pytest.mark.parametrize("full, ref", [
    (topic(ENV, "depth", symbol="BTC_USD"), TopicRef("depth", "BTC_USD")),
    (topic(ENV, "trade", symbol="ETH_BTC"), TopicRef("trade", "ETH_BTC")),
    (topic(ENV, "book", symbol="BTC_USD", step="1.0"), TopicRef("book", "BTC_USD", step="1.0")),
    (topic(ENV, "book", symbol="ETH_BTC", step="0.00000001"),
     TopicRef("book", "ETH_BTC", step="0.00000001")),
    (topic(ENV, "kline", symbol="BTC_USD", range="604800000"),
     TopicRef("kline", "BTC_USD", range_ms=604_800_000)),
    (topic(ENV, "asset", email="a@b.c"), TopicRef("asset", email="a@b.c")),
    (topic(ENV, "order", email="a@b.c"), TopicRef("order", email="a@b.c")),
    (topic(ENV, "fill", email="a@b.c"), TopicRef("fill", email="a@b.c")),
])
def test_every_channel_parses(full, ref):
    assert parser.parse(full) == ref
    assert ref.private == (ref.channel in ("asset", "order", "fill"))


@pytest.mark.parametrize("full", [
    topic(ENV, "depth", symbol="LTC_USD"),  # not served here
    topic(ENV, "book", symbol="BTC_USD", step="1"),  # the topic carries the step's text
    topic(ENV, "book", symbol="ETH_BTC", step="0.01"),  # a fiat step on a crypto quote
    topic(ENV, "kline", symbol="BTC_USD", range="060000"),
    topic(ENV, "kline", symbol="BTC_USD", range="1m"),
    topic(ENV, "depth", symbol="BTC_USD") + "/extra",
    topic(ENV, "order", email="a@b.c/d"),
    topic(ENV, "order", email="+"),
    ENV + "/api/ws/v1/market/depth/#",
    "exchange_ha_prod_hkX" + SUBTOPICS["depth"].format(symbol="BTC_USD"),
    SUBTOPICS["depth"].format(symbol="BTC_USD"),  # no env prefix
    "",
])
def test_unknown_topics_refused(full):
    assert parser.parse(full) is None


def test_private_topic_round_trip():
    full = parser.private_topic("fill", "me@x.y")
    assert full == ENV + "/ws/personal/v1/trade/change/me@x.y"
    assert parser.parse(full) == TopicRef("fill", email="me@x.y")
