# The sandbox broker core without any network or real clock: bytes go into a Connection,
# frames come out of its outbox, and time is a number the test moves.
from __future__ import annotations

import pytest

from coinsuper_cli.api import channels
from coinsuper_cli.api.exchange import (PUBLIC_PASSWORD, PUBLIC_USERNAME, md5_hex,
                                        private_sign_in)
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import (SUBACK_FAILURE, ConnAck, Connect, Disconnect,
                                        PingReq, PingResp, PubAck, PubComp, Publish, PubRec,
                                        PubRel, SubAck, Subscribe, UnsubAck, Unsubscribe)
from coinsuper_cli.sandbox.broker import SESSION_EXPIRY, Broker
from coinsuper_cli.sandbox.delivery import OutgoingMessage, Session
from coinsuper_cli.sandbox.topics import TopicParser

ENV = "exchange_ha_prod_hk"
SYMBOLS = ("BTC_USD", "ETH_USD", "ETH_BTC")
NOW_MS = 1_700_000_000_000


def topic(name: str, **fields: str) -> str:
    return channels.get(name).topic(ENV, **fields)


class Account:
    email = "demo@sandbox.test"
    access_key = "a" * 32
    secret_key = "s" * 32


ACCOUNT = Account()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Client:
    """One fake network connection to the broker, seen from the client's side."""

    def __init__(self, broker: Broker, name: str = "peer") -> None:
        self.aborted = False
        self.conn = broker.open(name, send=None, close=None, abort=self._abort)
        self.decoder = Decoder.for_client()

    def _abort(self) -> None:
        self.aborted = True

    def send(self, *packets) -> None:
        self.conn.receive(b"".join(encode(p) for p in packets))

    def recv(self) -> list:
        return list(self.decoder.packets(b"".join(self.conn.take_outgoing())))


def snapshot(topic_name, ref):
    return OutgoingMessage(topic_name, f"snap:{topic_name}".encode())


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def broker(clock):
    lines = []
    b = Broker(TopicParser(ENV, SYMBOLS), ACCOUNT, snapshot=snapshot, log=lines.append,
               clock=clock, wall_ms=lambda: NOW_MS, retry_after=5.0)
    b.lines = lines
    return b


def cid(name: str) -> str:
    """A well-formed public client id (96 lowercase hex digits) that `name` tells apart."""
    return md5_hex(name) * 3


def public_connect(name="c", **kw) -> Connect:
    return Connect(cid(name), PUBLIC_USERNAME, PUBLIC_PASSWORD.encode(), **kw)


def private_connect(**kw) -> Connect:
    s = private_sign_in(access_key=ACCOUNT.access_key, secret_key=ACCOUNT.secret_key,
                        email=ACCOUNT.email, timestamp_ms=kw.pop("timestamp_ms", NOW_MS))
    return Connect(kw.pop("client_id", s.client_id), s.username,
                   kw.pop("password", s.password).encode(), **kw)


DEPTH = topic("depth", symbol="BTC_USD")
TICKERS = topic("trade", symbol="ETH_BTC")
ORDERS = topic("order", email=ACCOUNT.email)


def connected(broker, connect=None, name="peer") -> Client:
    client = Client(broker, name)
    client.send(connect or public_connect())
    assert client.recv()[0] == ConnAck(0)
    return client


# -- sign-in ----------------------------------------------------------------------------

def test_public_sign_in_accepted(broker):
    client = Client(broker)
    client.send(public_connect())
    assert client.recv() == [ConnAck(0, session_present=False)]
    assert not client.conn.closing
    assert any("connected" in line for line in broker.lines)


@pytest.mark.parametrize("connect, code", [
    (Connect(cid("c"), PUBLIC_USERNAME, b"wrong"), 4),
    (Connect(cid("c"), "someone", PUBLIC_PASSWORD.encode()), 4),
    (Connect(cid("c"), None, None), 4),
    (Connect(cid("c"), PUBLIC_USERNAME, PUBLIC_PASSWORD.encode(), protocol_level=3), 1),
    (Connect("", PUBLIC_USERNAME, PUBLIC_PASSWORD.encode()), 2),
    (private_connect(client_id="b" * 32), 5),
    (private_connect(timestamp_ms=NOW_MS - 5 * 60_000 - 1), 5),
    (private_connect(password=f"other@x.test,{NOW_MS},{md5_hex('x')}"), 5),
    (private_connect(password=f"{ACCOUNT.email},{NOW_MS},{md5_hex('x')}"), 5),
    (private_connect(password="not a password"), 4),
])
def test_sign_in_refused_then_closed(broker, connect, code):
    client = Client(broker)
    client.send(connect, Subscribe(1, ((DEPTH, 0),)))
    assert client.recv() == [ConnAck(code)]  # nothing after the refusal
    assert client.conn.closing and not client.aborted  # CONNACK flushed, then closed
    assert any(f"CONNACK {code}" in line for line in broker.lines)


def test_private_sign_in_within_five_minutes(broker):
    client = Client(broker)
    client.send(private_connect(timestamp_ms=NOW_MS + 4 * 60_000))
    assert client.recv() == [ConnAck(0)]
    assert client.conn.identity.private and client.conn.identity.email == ACCOUNT.email


@pytest.mark.parametrize("first", [PingReq(), Subscribe(1, ((DEPTH, 0),))])
def test_first_packet_not_connect_dropped_silently(broker, first):
    client = Client(broker)
    client.send(first)
    assert client.recv() == [] and client.aborted


def test_garbage_dropped_silently(broker):
    client = Client(broker)
    client.conn.receive(b"\xff\x00garbage")
    assert client.recv() == [] and client.aborted


def test_second_connect_is_a_violation(broker):
    client = connected(broker)
    client.send(public_connect())
    assert client.aborted  # §3.1.0-2


# -- subscriptions ----------------------------------------------------------------------

def test_subscribe_right_after_connect_in_one_chunk(broker):
    # The exchange's Python demo sends SUBSCRIBE before CONNACK arrives.
    client = Client(broker)
    client.send(public_connect(), Subscribe(7, ((DEPTH, 1),)))
    packets = client.recv()
    assert packets[:2] == [ConnAck(0), SubAck(7, (1,))]
    assert packets[2].topic == DEPTH and packets[2].payload == f"snap:{DEPTH}".encode()
    assert packets[2].qos == 1


def test_granted_qos_and_refusals(broker):
    client = connected(broker)
    wanted = [
        (DEPTH, 2),
        (topic("book", symbol="BTC_USD", step="0.01"), 1),
        (topic("kline", symbol="ETH_BTC", range="60000"), 0),
        (ORDERS, 0),  # private topic on a public connection
        (topic("depth", symbol="DOGE_USD"), 0),  # unknown symbol
        (topic("depth", symbol="+"), 0),  # wildcard
        (ENV + "/api/ws/v1/market/#", 0),
        ("other_env/api/ws/v1/market/depth/BTC_USD", 0),
        (topic("book", symbol="BTC_USD", step="0.0001"), 0),  # crypto step on fiat
        (topic("kline", symbol="BTC_USD", range="61000"), 0),
        (ENV + "/api/ws/v1/market/nothing/BTC_USD", 0),
    ]
    client.send(Subscribe(3, tuple(wanted)))
    suback = client.recv()[0]
    assert suback == SubAck(3, (2, 1, 0) + (SUBACK_FAILURE,) * 8)


def test_private_topics_only_of_own_email(broker):
    client = connected(broker, private_connect())
    other = topic("order", email="someone@else.test")
    client.send(Subscribe(1, ((ORDERS, 1), (other, 1), (topic("asset", email=ACCOUNT.email), 2),
                              (DEPTH, 0))))
    assert client.recv()[0] == SubAck(1, (1, SUBACK_FAILURE, 2, 0))


def test_unsubscribe_stops_delivery(broker):
    client = connected(broker)
    client.send(Subscribe(1, ((DEPTH, 0),)))
    client.recv()
    client.send(Unsubscribe(2, (DEPTH, TICKERS)))
    assert client.recv() == [UnsubAck(2)]
    assert broker.publish(OutgoingMessage(DEPTH, b"x")) == 0
    assert client.recv() == []


def test_ping(broker):
    client = connected(broker)
    client.send(PingReq())
    assert client.recv() == [PingResp()]


# -- delivery ---------------------------------------------------------------------------

def subscribed(broker, qos, connect=None, name="peer") -> Client:
    client = connected(broker, connect, name)
    client.send(Subscribe(1, ((DEPTH, qos),)))
    suback, snap = client.recv()
    assert suback == SubAck(1, (qos,)) and snap.qos == qos
    if qos == 1:
        client.send(PubAck(snap.packet_id))
    elif qos == 2:
        client.send(PubRec(snap.packet_id))
        client.send(PubComp(client.recv()[0].packet_id))
    return client


def test_one_message_encoded_once_reaches_every_qos(broker):
    clients = [subscribed(broker, q, public_connect(f"id{q}"), f"p{q}") for q in (0, 1, 2)]
    message = OutgoingMessage(DEPTH, b"tick")
    assert broker.publish(message) == 3
    got = [c.recv() for c in clients]
    assert got[0] == [Publish(DEPTH, b"tick")]
    assert got[1][0].qos == 1 and got[1][0].payload == b"tick" and got[1][0].packet_id
    assert got[2][0].qos == 2 and not got[2][0].dup
    # The shared bytes equal the codec's own encoding, packet id patched in.
    assert message.frame(2, 513, dup=True) == encode(
        Publish(DEPTH, b"tick", 2, dup=True, packet_id=513))


def test_qos1_resent_with_dup_until_acknowledged(broker, clock):
    client = subscribed(broker, 1)
    broker.publish(OutgoingMessage(DEPTH, b"m"))
    first = client.recv()[0]
    clock.now += 6
    broker.housekeeping()
    again = client.recv()
    assert again == [Publish(DEPTH, b"m", 1, dup=True, packet_id=first.packet_id)]
    client.send(PubAck(first.packet_id))
    clock.now += 6
    broker.housekeeping()
    assert client.recv() == []


def test_qos2_flow(broker, clock):
    client = subscribed(broker, 2)
    broker.publish(OutgoingMessage(DEPTH, b"m"))
    pid = client.recv()[0].packet_id
    client.send(PubRec(pid))
    assert client.recv() == [PubRel(pid)]
    clock.now += 6
    broker.housekeeping()
    assert client.recv() == [PubRel(pid)]  # PUBREL re-sent, not the PUBLISH
    client.send(PubComp(pid))
    clock.now += 6
    broker.housekeeping()
    assert client.recv() == []
    assert broker.sessions[client.conn.client_id].inflight == {}


def test_inflight_window_then_queue_in_order(broker):
    client = subscribed(broker, 1)
    session = broker.sessions[client.conn.client_id]
    for i in range(session.max_inflight + 5):
        broker.publish(OutgoingMessage(DEPTH, str(i).encode()))
    first = client.recv()
    assert len(first) == session.max_inflight
    for p in first[:5]:
        client.send(PubAck(p.packet_id))
    rest = client.recv()
    assert [p.payload for p in rest] == [str(i).encode() for i in range(20, 25)]


def test_client_publish_acknowledged_and_ignored(broker):
    client = subscribed(broker, 0)
    client.send(Publish(DEPTH, b"fake", 1, packet_id=5), Publish(DEPTH, b"fake", 2, packet_id=6),
                PubRel(6))
    assert client.recv() == [PubAck(5), PubRec(6), PubComp(6)]


# -- sessions ---------------------------------------------------------------------------

def test_same_client_id_takes_over(broker):
    old = subscribed(broker, 0)
    new = connected(broker, name="new")
    assert old.aborted and old.conn.closing
    assert any("taken over" in line for line in broker.lines)
    assert broker.publish(OutgoingMessage(DEPTH, b"x")) == 0  # clean: old subscription gone
    assert not new.aborted


def test_persistent_session_resumes(broker, clock):
    connect = public_connect(clean_session=False)
    client = subscribed(broker, 1, connect)
    broker.publish(OutgoingMessage(DEPTH, b"unacked"))
    pid = client.recv()[0].packet_id
    client.conn.connection_lost()
    broker.publish(OutgoingMessage(DEPTH, b"while away"))
    broker.publish(OutgoingMessage(DEPTH, b"qos0 lost"))  # still QoS 1: kept too
    again = Client(broker, "again")
    again.send(connect)
    packets = again.recv()
    assert packets[0] == ConnAck(0, session_present=True)
    assert packets[1] == Publish(DEPTH, b"unacked", 1, dup=True, packet_id=pid)  # §4.4
    assert [p.payload for p in packets[2:]] == [b"while away", b"qos0 lost"]
    assert broker.publish(OutgoingMessage(DEPTH, b"live")) == 1


def test_clean_session_forgets(broker):
    client = subscribed(broker, 1, public_connect(clean_session=False))
    client.send(Disconnect())
    assert client.conn.closing and not client.aborted
    again = Client(broker, "again")
    again.send(public_connect(clean_session=True))
    assert again.recv() == [ConnAck(0, session_present=False)]
    assert broker.publish(OutgoingMessage(DEPTH, b"x")) == 0


def test_keepalive_expiry(broker, clock):
    quiet = connected(broker, public_connect("quiet", keepalive=10), "quiet")
    chatty = connected(broker, public_connect("chatty", keepalive=10), "chatty")
    clock.now += 14
    chatty.send(PingReq())
    broker.housekeeping()
    assert not quiet.aborted
    clock.now += 1.1  # 15.1 s > 1.5 x 10 s of silence
    broker.housekeeping()
    assert quiet.aborted and not chatty.aborted


def test_connect_must_come_in_time(broker, clock):
    client = Client(broker)
    clock.now += 11
    broker.housekeeping()
    assert client.aborted


# -- a slow subscriber --------------------------------------------------------------------

def test_full_outbox_drops_qos0_then_the_client(broker):
    broker.outbox_soft_limit, broker.outbox_hard_limit = 1000, 3000
    slow = subscribed(broker, 0, public_connect("slow"), "slow")
    fast = subscribed(broker, 0, public_connect("fast"), "fast")
    for i in range(50):
        broker.publish(OutgoingMessage(DEPTH, b"x" * 100))
        fast.recv()
    assert slow.conn.dropped_qos0 > 0 and not slow.aborted
    # QoS 0 never overfills it; answers to a flood of pings finally do.
    slow.send(*[PingReq()] * 1100)
    assert slow.aborted and not fast.aborted


def test_session_queue_bounded(broker):
    client = subscribed(broker, 1, public_connect(clean_session=False))
    client.conn.connection_lost()
    session = broker.sessions[client.conn.client_id]
    for i in range(session.max_queued + 10):
        broker.publish(OutgoingMessage(DEPTH, b"m"))
    assert len(session.queued) == session.max_queued and session.dropped == 10


def test_packet_ids_skip_those_in_flight():
    session = Session("x", clean=True, max_inflight=3)

    class Link:
        frames = []

        def send_frame(self, frame, droppable=False):
            self.frames.append(frame)
            return True

    session.attach(Link(), 0)
    session._last_id = 65534
    for _ in range(3):
        session.deliver(OutgoingMessage("t", b"p"), 1, 0)
    assert list(session.inflight) == [65535, 1, 2]


# -- other protocol versions ----------------------------------------------------------------

def mqtt5_connect() -> bytes:
    # CONNECT "MQTT" level 5, clean start, keepalive 60, no properties, client id "v5".
    body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00" + b"\x00\x02v5"
    return bytes((0x10, len(body))) + body


def mqtt31_connect() -> bytes:
    body = b"\x00\x06MQIsdp\x03\x02\x00\x3c" + b"\x00\x03v31"
    return bytes((0x10, len(body))) + body


@pytest.mark.parametrize("wire", [mqtt5_connect(), mqtt31_connect()])
def test_other_protocol_versions_get_connack_1(broker, wire):
    client = Client(broker)
    client.conn.receive(wire[:5])  # in two pieces, as a network may deliver it
    client.conn.receive(wire[5:])
    assert client.recv() == [ConnAck(1)]
    assert client.conn.closing and not client.aborted


def test_offline_session_expires(broker, clock):
    client = subscribed(broker, 1, public_connect("kept", clean_session=False))
    client.conn.connection_lost()
    broker.housekeeping()
    assert cid("kept") in broker.sessions
    clock.now += SESSION_EXPIRY + 1
    broker.housekeeping()
    assert cid("kept") not in broker.sessions
    assert broker.publish(OutgoingMessage(DEPTH, b"x")) == 0
