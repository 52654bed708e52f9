"""The sans-I/O MQTT codec: round trips, chunking, and every malformed input it refuses."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.errors import MalformedPacket, MQTTError, PacketTooLarge, ProtocolViolation
from coinsuper_cli.mqtt.packets import (
    CLIENT_TO_SERVER, ConnAck, Connect, Disconnect, PingReq, PingResp, PubAck, PubComp,
    Publish, PubRec, PubRel, SubAck, Subscribe, UnsubAck, Unsubscribe, Will,
)

ALL_TYPES = frozenset(range(1, 15))

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=40)
topics = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"),
                 min_size=1, max_size=40)
ids = st.integers(1, 65535)
qos = st.integers(0, 2)


@st.composite
def publishes(draw):
    q = draw(qos)
    return Publish(draw(topics), draw(st.binary(max_size=300)), q, draw(st.booleans()),
                   draw(st.booleans()) if q else False, draw(ids) if q else None)


packets = st.one_of(
    st.builds(Connect, texts, st.none() | texts, st.none() | st.binary(max_size=30),
              st.integers(0, 65535), st.booleans(),
              st.none() | st.builds(Will, topics, st.binary(max_size=20), qos, st.booleans())),
    st.builds(ConnAck, st.integers(0, 5), st.booleans()),
    publishes(),
    st.builds(PubAck, ids), st.builds(PubRec, ids), st.builds(PubRel, ids),
    st.builds(PubComp, ids), st.builds(UnsubAck, ids),
    st.builds(Subscribe, ids, st.lists(st.tuples(texts, qos), min_size=1, max_size=5)
              .map(tuple)),
    st.builds(SubAck, ids, st.lists(st.sampled_from([0, 1, 2, 0x80]), min_size=1, max_size=5)
              .map(tuple)),
    st.builds(Unsubscribe, ids, st.lists(texts, min_size=1, max_size=5).map(tuple)),
    st.just(PingReq()), st.just(PingResp()), st.just(Disconnect()),
)


def decode_all(data: bytes, accept=ALL_TYPES, **kwargs) -> list:
    return list(Decoder(accept, **kwargs).packets(data))


@given(packets)
def test_every_packet_round_trips(packet):
    if isinstance(packet, Connect) and packet.password is not None and packet.username is None:
        packet = Connect(packet.client_id, "user", packet.password, packet.keepalive,
                         packet.clean_session, packet.will)
    assert decode_all(encode(packet)) == [packet]


@given(st.lists(packets, min_size=1, max_size=6), st.data())
@settings(max_examples=150)
def test_any_chunking_yields_the_same_packets(items, data):
    items = [p for p in items if not (isinstance(p, Connect) and p.username is None)]
    wire = b"".join(encode(p) for p in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    decoder = Decoder(ALL_TYPES)
    out = []
    start = 0
    for cut in cuts + [len(wire)]:
        out.extend(decoder.packets(wire[start:cut]))
        start = cut
    assert out == items
    assert decoder.buffered == 0


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_random_bytes_raise_only_mqtt_errors(data):
    for accept in (ALL_TYPES, CLIENT_TO_SERVER, Decoder.for_client()._accept):
        try:
            decode_all(data, accept)
        except MQTTError:
            pass


def test_sample_publish_bytes():
    wire = encode(Publish("a/b", b"hi", 1, packet_id=10))
    assert wire == b"\x32\x09\x00\x03a/b\x00\x0ahi"


def test_connect_bytes_match_the_standard_layout():
    wire = encode(Connect("id", "u", b"p", 60, True))
    # §3.1: "MQTT", level 4, flags user+password+clean, keepalive 60
    assert wire == b"\x10\x14\x00\x04MQTT\x04\xc2\x00\x3c\x00\x02id\x00\x01u\x00\x01p"


def test_remaining_length_uses_several_bytes():
    packet = Publish("t", b"x" * 20000)
    wire = encode(packet)
    assert wire[1:4] == bytes([0xA3, 0x9C, 0x01])  # 20003 in base 128, low digit first
    assert decode_all(wire) == [packet]


@pytest.mark.parametrize("length, digits", [
    (3, [0x03]), (127, [0x7F]), (128, [0x80, 0x01]), (16383, [0xFF, 0x7F]),
    (16384, [0x80, 0x80, 0x01]), (2_097_151, [0xFF, 0xFF, 0x7F]),
    (2_097_152, [0x80, 0x80, 0x80, 0x01])])
def test_remaining_length_at_each_number_of_digits(length, digits):
    """MQTT 3.1.1 §2.2.3's table: the edges of one to four digits (a PUBLISH on topic
    "t" is 3 bytes and its payload)."""
    packet = Publish("t", b"x" * (length - 3))
    wire = encode(packet)
    assert list(wire[1:1 + len(digits)]) == digits
    assert len(wire) == 1 + len(digits) + length
    decoder = Decoder.for_client(max_packet=len(wire))
    decoder.feed(wire)
    assert decoder.next_packet() == packet


@pytest.mark.parametrize("wire, message", [
    (b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes"),
    (b"\x36\x05\x00\x01t\x00\x01", "QoS 3"),
    (b"\x30\x03\x00\x00x", "empty topic"),
    (b"\x30\x04\x00\x02a+", "wildcard"),
    (b"\x30\x04\x00\x02a#", "wildcard"),
    (b"\x30\x04\x00\x02\xff\xfe", "not valid UTF-8"),
    (b"\x30\x03\x00\x09a", "ends inside a field"),
    (b"\x32\x05\x00\x01t\x00\x00", "packet identifier 0"),
    (b"\x34\x05\x00\x01t\x00\x00", "packet identifier 0"),
    (b"\x38\x03\x00\x01t", "DUP set"),
    (b"\x21\x02\x00\x00", "reserved flags"),
    (b"\x60\x02\x00\x01", "reserved flags"),   # PUBREL needs flags 0010
    (b"\x20\x03\x00\x00\x00", "not 2"),
    (b"\x20\x01\x00", "not 2"),
    (b"\x20\x02\x00\x06", "reserved"),
    (b"\x20\x02\x02\x00", "reserved acknowledge flags"),
    (b"\x90\x03\x00\x01\x03", "reserved"),
    (b"\x90\x02\x00\x01", "without return codes"),
    (b"\xd0\x01\x00", "trailing"),
])
def test_malformed_packets_are_refused(wire, message):
    with pytest.raises(MalformedPacket, match=message):
        decode_all(wire, Decoder.for_client()._accept)


@pytest.mark.parametrize("wire", [
    encode(Connect("x")), encode(Subscribe(1, (("t", 0),))), encode(PingReq()),
    encode(Disconnect()), encode(Unsubscribe(1, ("t",))), b"\x00\x00", b"\xf0\x00",
])
def test_a_client_refuses_packets_only_servers_receive(wire):
    with pytest.raises(ProtocolViolation):
        decode_all(wire, Decoder.for_client()._accept)


def test_a_server_refuses_packets_only_clients_receive():
    with pytest.raises(ProtocolViolation):
        decode_all(encode(ConnAck(0)), CLIENT_TO_SERVER)
    with pytest.raises(ProtocolViolation):
        decode_all(encode(SubAck(1, (0,))), CLIENT_TO_SERVER)


def test_the_type_is_judged_before_the_body_arrives():
    decoder = Decoder.for_client()
    decoder.feed(b"\x10")  # CONNECT, length not yet known
    with pytest.raises(ProtocolViolation):
        decoder.next_packet()


def test_a_giant_announced_length_is_refused_before_it_arrives():
    decoder = Decoder.for_client(max_packet=1024)
    decoder.feed(b"\x30\xff\xff\xff\x7f")  # 268,435,455 bytes announced, none sent
    with pytest.raises(PacketTooLarge):
        decoder.next_packet()


def test_partial_packets_wait_for_more_data():
    wire = encode(Publish("topic", b"payload", 2, packet_id=7))
    decoder = Decoder.for_client()
    for byte in wire[:-1]:
        decoder.feed(bytes([byte]))
        assert decoder.next_packet() is None
    decoder.feed(wire[-1:])
    assert decoder.next_packet() == Publish("topic", b"payload", 2, packet_id=7)


def test_connect_rules_on_the_server_side():
    accept = CLIENT_TO_SERVER
    good = encode(Connect("c", "u", b"p"))
    with pytest.raises(ProtocolViolation, match="other than MQTT"):
        decode_all(good.replace(b"MQTT", b"MQTX"), accept)
    reserved = bytearray(good)
    reserved[9] |= 0x01
    with pytest.raises(MalformedPacket, match="reserved flag"):
        decode_all(bytes(reserved), accept)
    no_user = bytearray(encode(Connect("c", "u", b"p")))
    no_user[9] &= ~0x80 & 0xFF
    with pytest.raises(MQTTError):
        decode_all(bytes(no_user), accept)
    assert decode_all(encode(Connect("c", protocol_level=3)), accept)[0].protocol_level == 3


def test_subscribe_needs_a_topic_and_a_valid_qos():
    with pytest.raises(ProtocolViolation):
        decode_all(b"\x82\x02\x00\x01", CLIENT_TO_SERVER)
    with pytest.raises(MalformedPacket):
        decode_all(b"\x82\x06\x00\x01\x00\x01t\x03", CLIENT_TO_SERVER)
