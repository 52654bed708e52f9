# The sandbox publisher with a counting stand-in market and a clock the test moves:
# what is computed, how often, and with which simulated time.
from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from coinsuper_cli.api import channels
from coinsuper_cli.api.exchange import (PUBLIC_PASSWORD, PUBLIC_USERNAME, md5_hex,
                                        private_sign_in)
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import Connect, PubAck, Publish, Subscribe
from coinsuper_cli.sandbox.broker import Broker
from coinsuper_cli.sandbox.market import SimulatedExchange
from coinsuper_cli.sandbox.publisher import Publisher, Snapshots, next_tick_at
from coinsuper_cli.sandbox.topics import TopicParser, TopicRef

ENV = "exchange_ha_prod_hk"
START_MS = 1_700_000_000_000


class Account:
    email = "demo@sandbox.test"
    access_key = "k" * 32
    secret_key = "s" * 32


class CountingMarket:
    symbols = ("BTC_USD", "ETH_BTC")
    account = Account()

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.advanced: list[int] = []
        self.private: list[tuple[str, bytes]] = []

    def advance(self, now_ms: int) -> None:
        self.advanced.append(now_ms)

    def _payload(self, *key) -> bytes:
        self.calls[key] += 1
        return repr((key, len(self.advanced))).encode()

    def depth(self, symbol):
        return self._payload("depth", symbol)

    def order_book(self, symbol, step):
        return self._payload("book", symbol, step)

    def kline(self, symbol, range_ms):
        return self._payload("kline", symbol, range_ms)

    def tickers(self, symbol):
        return self._payload("trade", symbol)

    def take_private(self):
        events, self.private = self.private, []
        return events


class Clock:
    now = 50.0

    def __call__(self) -> float:
        return self.now


def make(speed=1.0, market=None):
    market = market or CountingMarket()
    clock = Clock()
    parser = TopicParser(ENV, tuple(market.symbols))
    snapshots = Snapshots(market)
    broker = Broker(parser, market.account, snapshot=snapshots, clock=clock)
    publisher = Publisher(broker, market, snapshots, parser, speed=speed, start_ms=START_MS,
                          clock=clock)
    return market, clock, broker, publisher


def subscriber(broker, client_id, *topics, private=False):
    conn = broker.open(client_id, send=None, close=None, abort=lambda: None)
    if not private:
        # A public client id has the exchange's form: three md5 digests.
        connect = Connect(md5_hex(client_id) * 3, PUBLIC_USERNAME, PUBLIC_PASSWORD.encode())
    else:
        a = broker.account
        s = private_sign_in(access_key=a.access_key, secret_key=a.secret_key, email=a.email)
        connect = Connect(s.client_id, s.username, s.password.encode())
    conn.receive(encode(connect) + encode(Subscribe(1, tuple((t, 1) for t in topics))))
    decoder = Decoder.for_client()

    def received():
        packets = list(decoder.packets(b"".join(conn.take_outgoing())))
        for p in packets:
            if isinstance(p, Publish):
                conn.receive(encode(PubAck(p.packet_id)))
        return [p for p in packets if isinstance(p, Publish)]
    return received


def topic(name: str, **fields: str) -> str:
    return channels.get(name).topic(ENV, **fields)


DEPTH = topic("depth", symbol="BTC_USD")
BOOK = topic("book", symbol="ETH_BTC", step="0.0001")


def test_each_topic_computed_once_per_tick_whatever_the_subscribers():
    market, clock, broker, publisher = make()
    clients = [subscriber(broker, f"c{i}", DEPTH) for i in range(50)]
    assert market.calls[("depth", "BTC_USD")] == 1  # the first subscriber's snapshot, shared
    for c in clients:
        assert len(c()) == 1
    for _ in range(3):
        clock.now += 1
        publisher.tick()
    assert market.calls == Counter({("depth", "BTC_USD"): 4})  # nothing unsubscribed
    assert all(len(c()) == 3 for c in clients)


def test_only_subscribed_topics_computed():
    market, clock, broker, publisher = make()
    receive = subscriber(broker, "one", BOOK)
    publisher.tick()
    assert set(market.calls) == {("book", "ETH_BTC", "0.0001")}
    assert [p.topic for p in receive()] == [BOOK, BOOK]


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_simulated_time_runs_at_speed(speed):
    market, clock, broker, publisher = make(speed)
    assert publisher.period == pytest.approx(1 / speed)
    publisher.tick()
    clock.now += 2.5
    publisher.tick()
    assert market.advanced == [START_MS, START_MS + int(2500 * speed)]


def test_private_events_go_to_the_account_topics():
    market, clock, broker, publisher = make()
    email = market.account.email
    orders = topic("order", email=email)
    receive = subscriber(broker, "private", orders, private=True)
    market.private = [("order", b'{"orderNo": 1}'), ("fill", b'{"dealNo": 2}')]
    publisher.tick()
    assert [(p.topic, p.payload) for p in receive()] == [(orders, b'{"orderNo": 1}')]
    publisher.tick()
    assert receive() == []  # taken once


def test_market_failure_reported_and_ticking_goes_on():
    market, clock, broker, publisher = make()
    lines = []
    publisher.log = lines.append
    publisher.period = 0.0001
    calls = []

    async def go():
        enough = asyncio.Event()

        def broken(now_ms):
            calls.append(now_ms)
            clock.now += publisher.period  # each tick takes a whole period: no sleeping
            if len(calls) == 150:
                enough.set()
            raise RuntimeError("boom")
        market.advance = broken
        task = asyncio.create_task(publisher.run())
        await enough.wait()
        task.cancel()
    asyncio.run(go())
    # The first failure and every hundredth are reported, not each one.
    assert len(lines) == 2 and all("boom" in line for line in lines)
    assert "(1 ticks so far)" in lines[0] and "(100 ticks so far)" in lines[1]


@pytest.mark.parametrize("due, now, after", [
    (10.0, 10.2, 11.0),  # the tick took 0.2 s: the next one a period after this one
    (10.0, 11.5, 12.0),  # it took longer than a period: the one due at 11 is skipped
    (10.0, 14.25, 15.0),  # a paused machine: missed ticks are skipped, not burst
])
def test_ticks_keep_to_a_grid(due, now, after):
    assert next_tick_at(due, now, 1.0) == pytest.approx(after)


def test_snapshots_come_from_the_registry():
    market = CountingMarket()
    snapshots = Snapshots(market)
    message = snapshots(BOOK, TopicRef("book", "ETH_BTC", step="0.0001"))
    assert message.topic == BOOK and message.payload.startswith(b"(('book', 'ETH_BTC'")
    assert snapshots(topic("order", email="a@b.c"), TopicRef("order", email="a@b.c")) is None
    with pytest.raises(channels.UnknownChannel):
        snapshots("x", TopicRef("candles", "BTC_USD"))


def test_with_the_real_market():
    market = SimulatedExchange(seed=3, start_ms=START_MS)
    _, clock, broker, publisher = make(market=market)
    symbol = market.symbols[0]
    topics = [topic("depth", symbol=symbol), topic("trade", symbol=symbol),
              topic("kline", symbol=symbol, range="60000")]
    receive = subscriber(broker, "real", *topics)
    for _ in range(3):
        clock.now += 1
        publisher.tick()
    got = receive()
    assert Counter(p.topic for p in got) == {t: 4 for t in topics}
    assert all(p.payload[:1] in (b"{", b"[") for p in got)
