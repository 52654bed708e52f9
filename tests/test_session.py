"""The client session state machine: sign-in, QoS flows (MQTT 3.1.1 §4.3), keepalive."""
import pytest

from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.errors import (AcknowledgementTimeout, ConnectionRefused,
                                       KeepaliveTimeout, ProtocolViolation)
from coinsuper_cli.mqtt.packets import (
    CLIENT_TO_SERVER, ConnAck, Connect, PingReq, PingResp, PubAck, PubComp, Publish, PubRec,
    PubRel, SubAck, Subscribe,
)
from coinsuper_cli.mqtt.session import (ClientSession, Connected, Delivered, Message,
                                        Repeated, Subscribed)


def receive(session: ClientSession, data: bytes, now: float) -> list:
    return list(session.receive_data(data, now))


def sent(session: ClientSession) -> list:
    return list(Decoder(CLIENT_TO_SERVER).packets(session.data_to_send()))


@pytest.fixture
def session():
    s = ClientSession(client_id="cid", username="u", password="p", keepalive=10)
    s.connect(now=0.0)
    assert sent(s) == [Connect("cid", "u", b"p", 10, True)]
    assert receive(s, encode(ConnAck(0)), 0.0) == [Connected(False)]
    return s


def test_subscribe_then_suback(session):
    packet_id = session.subscribe(["a/b", "c/d"], 1, 0.0)
    assert sent(session) == [Subscribe(packet_id, (("a/b", 1), ("c/d", 1)))]
    events = receive(session, encode(SubAck(packet_id, (1, 0x80))), 0.0)
    assert events == [Subscribed(("a/b", "c/d"), (1, 0x80))]


def test_suback_for_an_unknown_id_is_a_violation(session):
    with pytest.raises(ProtocolViolation):
        receive(session, encode(SubAck(99, (0,))), 0.0)


def test_qos0_is_delivered_without_answer(session):
    events = receive(session, encode(Publish("t", b"x")), 0.0)
    assert events == [Message("t", b"x", 0, False)]
    assert sent(session) == []


def test_qos1_is_delivered_and_acknowledged(session):
    events = receive(session, encode(Publish("t", b"x", 1, packet_id=5)), 0.0)
    assert events == [Message("t", b"x", 1, False, 5)]
    assert sent(session) == [PubAck(5)]


def test_qos2_is_delivered_once_even_when_resent_with_dup(session):
    first = receive(session, encode(Publish("t", b"x", 2, packet_id=9)), 0.0)
    assert first == [Message("t", b"x", 2, False, 9)]
    assert sent(session) == [PubRec(9)]
    again = receive(session, encode(Publish("t", b"x", 2, dup=True, packet_id=9)), 0.0)
    assert again == [Repeated("t", 9, True)]
    assert sent(session) == [PubRec(9)]  # §4.3.3: PUBREC again, no second delivery
    assert receive(session, encode(PubRel(9)), 0.0) == []
    assert sent(session) == [PubComp(9)]
    # After PUBREL the id is free: a new message with id 9 is a new message.
    new = receive(session, encode(Publish("t", b"y", 2, packet_id=9)), 0.0)
    assert new == [Message("t", b"y", 2, False, 9)]


def test_without_auto_ack_messages_are_answered_only_when_acknowledged():
    session = ClientSession(client_id="c", auto_ack=False)
    session.connect(0.0)
    receive(session, encode(ConnAck(0)), 0.0)
    sent(session)
    qos1, qos2 = receive(session, encode(Publish("t", b"a", 1, packet_id=4))
                         + encode(Publish("t", b"b", 2, packet_id=5)), 0.0)
    assert sent(session) == []
    # A re-sent QoS 2 message before its first delivery was acknowledged: neither a
    # second delivery nor an early PUBREC.
    assert receive(session, encode(Publish("t", b"b", 2, dup=True, packet_id=5)),
                   0.0) == [Repeated("t", 5, True)]
    assert sent(session) == []
    session.acknowledge(qos1, 1.0)
    session.acknowledge(qos2, 1.0)
    assert sent(session) == [PubAck(4), PubRec(5)]
    session.acknowledge(qos2, 1.0)  # once only
    assert sent(session) == []
    # Acknowledged, so a re-send now gets its PUBREC again (§4.3.3).
    assert receive(session, encode(Publish("t", b"b", 2, dup=True, packet_id=5)),
                   0.0) == [Repeated("t", 5, True)]
    assert sent(session) == [PubRec(5)]


def test_pubrel_for_an_unknown_id_still_gets_pubcomp(session):
    receive(session, encode(PubRel(77)), 0.0)
    assert sent(session) == [PubComp(77)]


def test_unexpected_acks_are_ignored(session):
    for packet in (PubAck(3), PubComp(3), PubRec(3)):
        assert list(receive(session, encode(packet), 0.0)) == []
    assert sent(session) == []


def test_events_before_garbage_in_the_same_chunk_are_not_lost(session):
    events = session.receive_data(encode(Publish("t", b"a")) + b"\xf0\x00", 0.0)
    assert next(events) == Message("t", b"a", 0, False)
    with pytest.raises(ProtocolViolation):
        next(events)


def test_many_packets_in_one_chunk(session):
    wire = b"".join(encode(Publish("t", bytes([i]))) for i in range(5))
    events = list(receive(session, wire, 0.0))
    assert [e.payload for e in events] == [bytes([i]) for i in range(5)]


def test_refused_connack_raises_with_the_reason():
    s = ClientSession(client_id="c")
    s.connect(0.0)
    with pytest.raises(ConnectionRefused, match="bad user name or password") as info:
        receive(s, encode(ConnAck(4)), 0.0)
    assert info.value.return_code == 4


def test_anything_before_connack_is_a_violation():
    s = ClientSession(client_id="c")
    s.connect(0.0)
    with pytest.raises(ProtocolViolation, match="before CONNACK"):
        receive(s, encode(Publish("t", b"x")), 0.0)


def test_a_second_connack_is_a_violation(session):
    with pytest.raises(ProtocolViolation, match="second CONNACK"):
        receive(session, encode(ConnAck(0)), 1.0)


def test_keepalive_pings_when_quiet_and_times_out_without_pingresp(session):
    assert session.next_deadline() == 10.0
    session.tick(9.9)
    assert sent(session) == []
    session.tick(10.0)
    assert sent(session) == [PingReq()]
    assert session.next_deadline() == 20.0
    session.tick(19.9)
    with pytest.raises(KeepaliveTimeout):
        session.tick(20.0)


def test_pingresp_clears_the_pending_ping(session):
    session.tick(10.0)
    sent(session)
    receive(session, encode(PingResp()), 11.0)
    session.tick(25.0)  # no timeout: the ping was answered; a new one goes out
    assert sent(session) == [PingReq()]


def test_sending_resets_the_keepalive_clock(session):
    session.subscribe(["t"], 0, 8.0)
    sent(session)
    session.tick(17.0)
    assert sent(session) == []
    session.tick(18.0)
    assert sent(session) == [PingReq()]


def test_keepalive_zero_never_pings():
    s = ClientSession(client_id="c", keepalive=0)
    s.connect(0.0)
    receive(s, encode(ConnAck(0)), 0.0)
    sent(s)
    s.tick(10_000.0)
    assert sent(s) == [] and s.next_deadline() is None


def test_a_pubcomp_completes_a_qos2_publish_and_a_puback_a_qos1_one(session):
    one, two = session.publish("t", b"a", 1, 0.0), session.publish("t", b"b", 2, 0.0)
    sent(session)
    assert receive(session, encode(PubComp(one)), 0.0) == []  # not how QoS 1 ends
    assert receive(session, encode(PubRec(two)), 0.0) == []
    assert sent(session) == [PubRel(two)]
    assert receive(session, encode(PubComp(two)) + encode(PubAck(one)), 0.0) == [
        Delivered(two), Delivered(one)]
    assert session.in_flight == 0


def test_a_puback_for_a_qos2_publish_completes_it_as_downgraded(session):
    """RabbitMQ grants QoS 1 and answers a QoS 2 PUBLISH with PUBACK: the id must be
    freed, or a publisher's window never empties."""
    packet_id = session.publish("t", b"x", 2, 0.0)
    sent(session)
    assert receive(session, encode(PubAck(packet_id)), 1.0) == [
        Delivered(packet_id, downgraded=True)]
    assert session.in_flight == 0 and sent(session) == []
    assert receive(session, encode(PubAck(packet_id)), 1.0) == []  # once


def test_publishes_never_acknowledged_time_out_even_when_pings_are_answered():
    s = ClientSession(client_id="c", keepalive=10, ack_timeout=30)
    s.connect(0.0)
    receive(s, encode(ConnAck(0)), 0.0)
    s.tick(5.0)  # nothing in flight: never a timeout
    first = s.publish("t", b"x", 1, 5.0)
    s.publish("t", b"y", 1, 6.0)
    assert s.next_deadline() == 16.0  # the keepalive comes first
    for now in (16.0, 26.0, 36.0, 46.0, 56.0):
        s.tick(now)
        if now == 26.0:
            receive(s, encode(PubAck(first)), 30.0)  # progress: 30 s from here
        receive(s, encode(PingResp()), now)
    s.tick(59.9)
    assert s.next_deadline() == 60.0
    with pytest.raises(AcknowledgementTimeout, match="1 publishes in flight within 30 s"):
        s.tick(60.0)


def test_without_ack_timeout_publishes_may_wait_for_ever(session):
    session.publish("t", b"x", 1, 0.0)
    session.tick(5.0)
    receive(session, encode(PingResp()), 5.0)
    for now in range(10, 10_000, 10):
        session.tick(float(now))
        receive(session, encode(PingResp()), float(now))
    assert session.in_flight == 1
