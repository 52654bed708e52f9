# The sandbox broker against a hostile client, on the fake clock: a public sign-in cannot
# reach a private session, kept sessions and their queues stay bounded, and what a
# client sends cannot flood the log, reach the terminal raw or show a secret.
from __future__ import annotations

import re

import pytest
from test_sandbox_broker import (ACCOUNT,  # the fake network connection and its helpers
                                 DEPTH, ENV, NOW_MS, ORDERS, SYMBOLS, Client, cid,
                                 connected, private_connect, public_connect, snapshot,
                                 topic)

from coinsuper_cli.api.exchange import (PUBLIC_PASSWORD, PUBLIC_USERNAME, md5_hex,
                                        private_sign_in)
from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import (SUBACK_FAILURE, ConnAck, Connect, PubAck, SubAck,
                                        Subscribe)
from coinsuper_cli.sandbox.broker import MAX_KEPT_SESSIONS, SESSION_EXPIRY, Broker
from coinsuper_cli.sandbox.delivery import MAX_QUEUED, OutgoingMessage
from coinsuper_cli.sandbox.logline import LOG_BURST, LOG_LINES_PER_SECOND, SHOWN_CHARS
from coinsuper_cli.sandbox.topics import TopicParser

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: what a terminal acts on


class Account:
    """An account whose keys are told apart from any other text in a log line."""

    email = "hostile@sandbox.test"
    access_key = "ACCE" + md5_hex("middle")[:24] + "3456"
    secret_key = "SECR" + md5_hex("secret")[:28]


@pytest.fixture
def clock():
    class Clock:
        now = 100.0

        def __call__(self) -> float:
            return self.now
    return Clock()


def make_broker(clock, account=ACCOUNT) -> Broker:
    lines: list[str] = []
    broker = Broker(TopicParser(ENV, SYMBOLS), account, snapshot=snapshot,
                    log=lines.append, clock=clock, wall_ms=lambda: NOW_MS)
    broker.lines = lines
    return broker


@pytest.fixture
def broker(clock):
    return make_broker(clock)


def public_with_id(client_id: str) -> Connect:
    return Connect(client_id, PUBLIC_USERNAME, PUBLIC_PASSWORD.encode())


def every_public_topic() -> list[str]:
    topics = []
    for symbol in SYMBOLS:
        topics += [topic("depth", symbol=symbol), topic("trade", symbol=symbol)]
    return topics


# -- 2. the public and private client-id namespaces ------------------------------------------

@pytest.mark.parametrize("client_id", [
    ACCOUNT.access_key,  # a private client id
    "C" * 96,  # upper case
    "c" * 95, "c" * 97,
    "g" * 96,  # not hex
    "c" * 95 + "\n",
    " " + "c" * 95,
])
def test_public_client_id_must_be_three_md5_digests(broker, client_id):
    client = Client(broker)
    client.send(public_with_id(client_id))
    assert client.recv() == [ConnAck(2)]  # §3.2.2.3: identifier rejected
    assert client.conn.closing and client_id not in broker.sessions


def test_public_sign_in_cannot_take_over_a_private_session(broker):
    private = connected(broker, private_connect(), "private")
    private.send(Subscribe(1, ((ORDERS, 1),)))
    assert private.recv() == [SubAck(1, (1,))]
    hostile = Client(broker, "hostile")
    hostile.send(public_with_id(ACCOUNT.access_key))
    assert hostile.recv() == [ConnAck(2)]
    assert not private.aborted and not private.conn.closing
    broker.publish(OutgoingMessage(ORDERS, b"still mine"))
    assert [p.payload for p in private.recv()] == [b"still mine"]


def test_secrets_are_masked_in_every_log_line(clock):
    account = Account()
    broker = make_broker(clock, account)
    good = private_sign_in(access_key=account.access_key, secret_key=account.secret_key,
                           email=account.email, timestamp_ms=NOW_MS)
    forged = private_sign_in(access_key=account.access_key, secret_key="wrong",
                             email=account.email, timestamp_ms=NOW_MS)
    attempts = [
        Connect(good.client_id, good.username, good.password.encode()),  # accepted
        Connect(good.client_id, good.username, forged.password.encode()),  # bad signature
        public_with_id(account.access_key),  # public, the key as its client id
        Connect(cid("x"), account.access_key, b"pw"),  # the key as a user name
        Connect(cid("x"), account.secret_key, good.password.encode()),
        Connect(account.access_key, good.username,  # another email
                f"other@x.test,{NOW_MS},{md5_hex('x')}".encode()),
    ]
    for connect in attempts:
        client = Client(broker)
        client.send(connect)
        client.conn.connection_lost()
    log = "\n".join(broker.lines)
    assert "ACCE…3456" in log and "connected" in log and "CONNACK 2" in log
    for secret in (account.access_key, account.secret_key, good.password):
        middle = secret[4:-4]
        assert not any(middle[i:i + 5] in log for i in range(len(middle) - 4)), secret
    assert good.password.rsplit(",", 1)[1][:8] not in log  # the signature
    assert "other@x.test" not in log  # nothing of a password is echoed


# -- 3. kept sessions and their queues -------------------------------------------------------

def kept_session(broker, name: str, topics: list[str]) -> None:
    client = Client(broker, name)
    client.send(public_connect(name, clean_session=False),
                Subscribe(1, tuple((t, 1) for t in topics)))
    packets = client.recv()
    assert packets[0] == ConnAck(0) and packets[1] == SubAck(1, (1,) * len(topics))
    client.conn.connection_lost()


def test_kept_sessions_bounded_the_one_away_longest_forgotten(broker, clock):
    topics = every_public_topic()
    names = [f"kept{i}" for i in range(MAX_KEPT_SESSIONS + 100)]
    for name in names:
        clock.now += 0.001
        kept_session(broker, name, topics)
    assert len(broker.sessions) == MAX_KEPT_SESSIONS
    assert set(broker.sessions) == {cid(n) for n in names[100:]}  # the newest kept
    assert sum("forgot the kept session" in line for line in broker.lines) > 0
    # The first client comes back: no session present, so it subscribes again (§3.2.2.2).
    again = Client(broker, "again")
    again.send(public_connect(names[0], clean_session=False))
    assert again.recv() == [ConnAck(0, session_present=False)]
    assert len(broker.sessions) == MAX_KEPT_SESSIONS


def test_kept_sessions_all_online_refuse_another(broker):
    broker.max_kept_sessions = 2
    online = [connected(broker, public_connect(n, clean_session=False), n) for n in "ab"]
    late = Client(broker, "late")
    late.send(public_connect("c", clean_session=False))
    assert late.recv() == [ConnAck(3)]  # server unavailable
    clean = connected(broker, public_connect("d"), "d")  # clean sessions are not kept
    assert not any(c.aborted for c in online + [clean])
    online[0].conn.connection_lost()
    connected(broker, public_connect("c", clean_session=False), "late again")
    assert cid("a") not in broker.sessions and cid("c") in broker.sessions


def test_kept_session_queue_drops_the_oldest_and_counts(broker):
    kept_session(broker, "away", [DEPTH])
    for i in range(MAX_QUEUED + 30):
        broker.publish(OutgoingMessage(DEPTH, str(i).encode()))
    session = broker.sessions[cid("away")]
    assert len(session.queued) == MAX_QUEUED and session.dropped == 30
    back = Client(broker, "back")
    back.send(public_connect("away", clean_session=False))
    packets = back.recv()
    assert packets[0] == ConnAck(0, session_present=True)
    assert packets[1].dup and packets[1].payload.startswith(b"snap:")  # in flight (§4.4)
    assert packets[2].payload == b"30"  # the oldest kept
    assert "30 messages dropped" in broker.lines[-1]
    back.send(*[PubAck(p.packet_id) for p in packets[1:]])


def test_kept_sessions_expire_after_minutes(broker, clock):
    kept_session(broker, "first", [DEPTH])
    clock.now += SESSION_EXPIRY / 2
    kept_session(broker, "second", [DEPTH])
    clock.now += SESSION_EXPIRY / 2 + 1
    broker.housekeeping()
    assert set(broker.sessions) == {cid("second")}
    assert SESSION_EXPIRY <= 600  # minutes, not an hour
    clock.now += SESSION_EXPIRY
    broker.housekeeping()
    assert broker.sessions == {} and broker.publish(OutgoingMessage(DEPTH, b"x")) == 0


# -- 4. the log: one line per packet, short, rate-limited, printable -----------------------------

HOSTILE_TOPICS = ["#", "+", "$SYS/#", "\x1b]0;owned\x07" + "x" * 1000, "\x9b2J",
                  "a\rforged line", ENV + "/api/ws/v1/market/depth/+"]


def test_refused_subscriptions_one_line_per_packet(broker):
    client = connected(broker, public_connect("many"), "many")
    client.send(Subscribe(1, tuple((t, 0) for t in HOSTILE_TOPICS) + ((DEPTH, 0),)))
    assert client.recv()[0] == SubAck(1, (SUBACK_FAILURE,) * len(HOSTILE_TOPICS) + (0,))
    [line] = [line for line in broker.lines if "refused" in line]
    assert f"refused {len(HOSTILE_TOPICS)} of {len(HOSTILE_TOPICS) + 1}" in line
    assert "'#' (no such topic) and 6 more" in line


def test_two_megabytes_of_refused_subscriptions_cannot_flood_the_log(broker, clock):
    client = connected(broker, public_connect("flood"), "flood")
    wire, packet_id, packets = b"", 0, 0
    while len(wire) < 2_400_000:
        packet_id += 1
        topics = tuple((HOSTILE_TOPICS[(packet_id + i) % len(HOSTILE_TOPICS)], 0)
                       for i in range(20))
        wire += encode(Subscribe(packet_id, topics))
        packets += 1
    before = len(broker.lines)
    client.conn.receive(wire)
    assert len(client.recv()) == packets and not client.aborted  # every one answered
    written = broker.lines[before:]
    assert len(written) <= LOG_BURST
    assert sum(len(line) + 1 for line in written) < 400 * LOG_BURST  # not megabytes
    clock.now += 1.0
    broker.housekeeping()
    summary = broker.lines[-1]
    assert re.fullmatch(rf"{packets - len(written)} more log lines suppressed .*", summary)
    # The rate refills: a second later, a few lines a second again.
    client.conn.receive(wire[:len(encode(Subscribe(1, ((HOSTILE_TOPICS[0], 0),) * 20))) * 3])
    assert len(broker.lines) - before - len(written) - 1 <= LOG_LINES_PER_SECOND


def test_network_strings_never_reach_the_log_raw(broker):
    client = connected(broker, public_connect("esc"), "esc")
    client.send(*[Subscribe(i + 1, ((t, 0),)) for i, t in enumerate(HOSTILE_TOPICS)])
    for connect in (public_with_id("\x1b[2J\x9b" + "c" * 92),
                    Connect(cid("u"), "\x1b]0;title\x07", b"pw")):
        hostile = Client(broker)
        hostile.send(connect)
        assert hostile.recv()[0].return_code in (2, 4)
    log = "\n".join(broker.lines)
    assert not CONTROL.search(log.replace("\n", ""))
    assert "\\x1b" in log and "\\x9b" in log and "\\x07" in log
    assert all(len(line) < 2 * SHOWN_CHARS + 200 for line in broker.lines)


# -- what held: sign-in clock, topics, malformed strings -------------------------------------------

@pytest.mark.parametrize("skew_ms, code", [
    (-5 * 60_000, 0), (5 * 60_000, 0), (-5 * 60_000 - 1, 5), (5 * 60_000 + 1, 5),
    (-24 * 3_600_000, 5), (24 * 3_600_000, 5),
])
def test_password_timestamp_held_to_five_minutes_either_way(broker, skew_ms, code):
    client = Client(broker)
    client.send(private_connect(timestamp_ms=NOW_MS + skew_ms))
    assert client.recv() == [ConnAck(code)]


def test_wildcards_system_topics_and_giant_topics_refused(broker):
    client = connected(broker, private_connect())
    giant = ENV + "/api/ws/v1/market/depth/" + "B" * (65_000 - len(ENV) - 24)
    assert len(giant) == 65_000
    wanted = ["#", "+", "$SYS/#", giant, topic("order", email="someone@else.test"),
              ENV + "/ws/personal/v1/order/change/+", ORDERS]
    client.send(Subscribe(1, tuple((t, 1) for t in wanted)))
    assert client.recv()[0] == SubAck(1, (SUBACK_FAILURE,) * 6 + (1,))
    assert all(len(line) < 400 for line in broker.lines)


@pytest.mark.parametrize("raw_topic", [
    b"a\x00b",  # U+0000 (§1.5.3-2)
    b"\xff\xfe",  # not UTF-8
    b"\xed\xa0\x80",  # an encoded surrogate (§1.5.3-1)
    b"\xc0\xaf",  # an overlong encoding
])
def test_malformed_topic_strings_drop_the_connection(broker, raw_topic):
    client = connected(broker)
    body = b"\x00\x01" + len(raw_topic).to_bytes(2, "big") + raw_topic + b"\x00"
    client.conn.receive(bytes((0x82, len(body))) + body)  # SUBSCRIBE, id 1
    assert client.recv() == [] and client.aborted
    assert any("protocol error" in line for line in broker.lines)
