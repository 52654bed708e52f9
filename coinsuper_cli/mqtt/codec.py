# Sans-I/O MQTT 3.1.1 codec: packets to bytes with `encode`, bytes to packets with
# `Decoder`. No sockets and no clocks here, so every rule is testable on plain bytes.
# One codec serves both ends: the client decodes what servers send, the sandbox decodes
# what clients send, and each refuses the packets its side must never receive.
#
# Hand-written because no maintained sans-I/O MQTT codec exists for Python: paho-mqtt and
# gmqtt interleave decoding with their own socket loops.
from __future__ import annotations

import struct

from .errors import MalformedPacket, PacketTooLarge, ProtocolViolation
from .packets import (
    CLIENT_TO_SERVER, CONNACK, CONNECT, DISCONNECT, PINGREQ, PINGRESP, PUBACK, PUBCOMP,
    PUBLISH, PUBREC, PUBREL, SERVER_TO_CLIENT, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE,
    ConnAck, Connect, Disconnect, Packet, PingReq, PingResp, PubAck, PubComp, Publish,
    PubRec, PubRel, SubAck, Subscribe, UnsubAck, Unsubscribe, Will,
)
from . import DEFAULT_MAX_PACKET

MAX_REMAINING_LENGTH = 268_435_455  # four bytes of variable length (§2.2.3)

_PACKET_NAMES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
    7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
    12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT",
}
# §2.2.2: these packets must carry exactly these flag bits; PUBLISH carries its own.
_REQUIRED_FLAGS = {t: 0 for t in _PACKET_NAMES}
_REQUIRED_FLAGS.update({PUBREL: 0b0010, SUBSCRIBE: 0b0010, UNSUBSCRIBE: 0b0010})
_PACK_ID = struct.Struct("!H")


def packet_name(packet_type: int) -> str:
    return _PACKET_NAMES.get(packet_type, f"reserved type {packet_type}")


# ---------------------------------------------------------------------------- encoding

def _length(n: int) -> bytes:
    if n < 16384:  # one or two digits: every packet but the largest, without a loop
        return bytes((n,)) if n < 128 else bytes((n & 0x7F | 0x80, n >> 7))
    if n > MAX_REMAINING_LENGTH:
        raise PacketTooLarge(f"packet of {n} bytes exceeds MQTT's limit")
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return _PACK_ID.pack(len(data)) + data


def _binary(data: bytes) -> bytes:
    return _PACK_ID.pack(len(data)) + data


def _frame(first_byte: int, body: bytes) -> bytes:
    return bytes((first_byte,)) + _length(len(body)) + body


def encode(packet: Packet) -> bytes:
    """The wire bytes of one packet."""
    return _ENCODERS[packet.type](packet)


def _encode_connect(p: Connect) -> bytes:
    flags = 0x02 if p.clean_session else 0
    payload = _string(p.client_id)
    if p.will is not None:
        flags |= 0x04 | (p.will.qos << 3) | (0x20 if p.will.retain else 0)
        payload += _string(p.will.topic) + _binary(p.will.message)
    if p.username is not None:
        flags |= 0x80
        payload += _string(p.username)
    if p.password is not None:
        flags |= 0x40
        payload += _binary(p.password)
    header = _string("MQTT") + bytes((p.protocol_level, flags)) + _PACK_ID.pack(p.keepalive)
    return _frame(CONNECT << 4, header + payload)


def _encode_publish(p: Publish) -> bytes:
    first = PUBLISH << 4 | (0x08 if p.dup else 0) | p.qos << 1 | (1 if p.retain else 0)
    head = _string(p.topic)
    if p.qos:
        head += _PACK_ID.pack(p.packet_id)
    # One join: the payload, most of the bytes, is copied once.
    return b"".join((bytes((first,)), _length(len(head) + len(p.payload)), head, p.payload))


def _ack_encoder(packet_type: int):
    first = packet_type << 4 | _REQUIRED_FLAGS[packet_type]
    return lambda p: bytes((first, 2)) + _PACK_ID.pack(p.packet_id)


def _empty_encoder(packet_type: int):
    wire = bytes((packet_type << 4, 0))
    return lambda p: wire


_ENCODERS = {
    CONNECT: _encode_connect,
    CONNACK: lambda p: bytes((CONNACK << 4, 2, 1 if p.session_present else 0, p.return_code)),
    PUBLISH: _encode_publish,
    PUBACK: _ack_encoder(PUBACK),
    PUBREC: _ack_encoder(PUBREC),
    PUBREL: _ack_encoder(PUBREL),
    PUBCOMP: _ack_encoder(PUBCOMP),
    SUBSCRIBE: lambda p: _frame(
        SUBSCRIBE << 4 | 0b0010,
        _PACK_ID.pack(p.packet_id) + b"".join(_string(t) + bytes((q,)) for t, q in p.topics),
    ),
    SUBACK: lambda p: _frame(SUBACK << 4, _PACK_ID.pack(p.packet_id) + bytes(p.return_codes)),
    UNSUBSCRIBE: lambda p: _frame(
        UNSUBSCRIBE << 4 | 0b0010,
        _PACK_ID.pack(p.packet_id) + b"".join(_string(t) for t in p.topics),
    ),
    UNSUBACK: _ack_encoder(UNSUBACK),
    PINGREQ: _empty_encoder(PINGREQ),
    PINGRESP: _empty_encoder(PINGRESP),
    DISCONNECT: _empty_encoder(DISCONNECT),
}


# ---------------------------------------------------------------------------- decoding

class _Reader:
    """Reads the fields of one packet body; running past its end is a malformed packet."""

    __slots__ = ("data", "pos", "packet_type")

    def __init__(self, data: bytes, packet_type: int) -> None:
        self.data = data
        self.pos = 0
        self.packet_type = packet_type

    @property
    def name(self) -> str:  # only errors need it: not made for every packet
        return packet_name(self.packet_type)

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise MalformedPacket(f"{self.name} ends inside a field")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def uint16(self) -> int:
        return _PACK_ID.unpack(self.take(2))[0]

    def binary(self) -> bytes:
        return self.take(self.uint16())

    def string(self) -> str:
        return decode_string(self.binary(), self.name)

    def rest(self) -> bytes:
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk

    def packet_id(self) -> int:
        value = self.uint16()
        if value == 0:  # §2.3.1-1: a packet identifier is never 0
            raise MalformedPacket(f"{self.name} with packet identifier 0")
        return value

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedPacket(f"{self.name} has {self.remaining()} unexpected trailing bytes")


def decode_string(raw: bytes, where: str = "packet") -> str:
    """An MQTT UTF-8 string: well-formed UTF-8 without U+0000 (§1.5.3)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket(f"{where} holds a string that is not valid UTF-8") from None
    if "\x00" in text:
        raise MalformedPacket(f"{where} holds a string with U+0000")
    return text


def _decode_connect(r: _Reader, flags: int) -> Connect:
    if r.string() != "MQTT":
        raise ProtocolViolation("CONNECT names a protocol other than MQTT")
    level = r.byte()
    connect_flags = r.byte()
    keepalive = r.uint16()
    if connect_flags & 0x01:
        raise MalformedPacket("CONNECT sets its reserved flag")  # §3.1.2-3
    client_id = r.string()
    will = None
    will_qos = (connect_flags >> 3) & 0x03
    if connect_flags & 0x04:
        if will_qos == 3:
            raise MalformedPacket("CONNECT asks for a will with QoS 3")
        will = Will(r.string(), r.binary(), will_qos, bool(connect_flags & 0x20))
    elif connect_flags & 0x38:
        raise MalformedPacket("CONNECT sets will options without a will")  # §3.1.2-13
    username = r.string() if connect_flags & 0x80 else None
    if connect_flags & 0x40:
        if username is None:
            raise MalformedPacket("CONNECT has a password but no user name")  # §3.1.2-22
        password = r.binary()
    else:
        password = None
    r.end()
    return Connect(client_id, username, password, keepalive, bool(connect_flags & 0x02), will,
                   level)


def _decode_connack(r: _Reader, flags: int) -> ConnAck:
    if len(r.data) != 2:
        raise MalformedPacket(f"CONNACK is {len(r.data)} bytes long, not 2")
    ack_flags, code = r.data[0], r.data[1]
    if ack_flags & 0xFE:
        raise MalformedPacket("CONNACK sets reserved acknowledge flags")  # §3.2.2.1
    if code > 5:
        raise MalformedPacket(f"CONNACK return code {code} is reserved")
    return ConnAck(code, bool(ack_flags & 1))


def _decode_publish(r: _Reader, flags: int) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")  # §3.3.1-4
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise MalformedPacket("PUBLISH at QoS 0 with DUP set")  # §3.3.1-2
    # What r.string(), r.packet_id() and r.rest() read, without a call for each: every
    # message received is one of these.
    data = r.data
    start = 2 + (data[0] << 8 | data[1] if len(data) >= 2 else len(data))
    if start > len(data):
        raise MalformedPacket("PUBLISH ends inside a field")
    topic = decode_string(data[2:start], "PUBLISH")
    if not topic:
        raise MalformedPacket("PUBLISH with an empty topic")  # §4.7.3-1
    if "+" in topic or "#" in topic:
        raise MalformedPacket("PUBLISH topic contains a wildcard")  # §3.3.2-2
    packet_id = None
    if qos:
        r.pos = start
        packet_id = r.packet_id()
        start += 2
    return Publish(topic, data[start:], qos, bool(flags & 1), dup, packet_id)


def _decode_id_only(make):
    def decode(r: _Reader, flags: int):
        if len(r.data) != 2:
            raise MalformedPacket(f"{r.name} is {len(r.data)} bytes long, not 2")
        return make(r.packet_id())
    return decode


def _decode_subscribe(r: _Reader, flags: int) -> Subscribe:
    packet_id = r.packet_id()
    topics = []
    while r.remaining():
        topic = r.string()
        qos = r.byte()
        if qos & 0xFC or qos == 3:
            raise MalformedPacket("SUBSCRIBE requests a reserved QoS")  # §3.8.3-4
        topics.append((topic, qos))
    if not topics:
        raise ProtocolViolation("SUBSCRIBE without any topic filter")  # §3.8.3-3
    return Subscribe(packet_id, tuple(topics))


def _decode_suback(r: _Reader, flags: int) -> SubAck:
    packet_id = r.packet_id()
    codes = tuple(r.rest())
    if not codes:
        raise MalformedPacket("SUBACK without return codes")
    for code in codes:
        if code not in (0, 1, 2, 0x80):
            raise MalformedPacket(f"SUBACK return code {code:#x} is reserved")  # §3.9.3-2
    return SubAck(packet_id, codes)


def _decode_unsubscribe(r: _Reader, flags: int) -> Unsubscribe:
    packet_id = r.packet_id()
    topics = []
    while r.remaining():
        topics.append(r.string())
    if not topics:
        raise ProtocolViolation("UNSUBSCRIBE without any topic filter")  # §3.10.3-2
    return Unsubscribe(packet_id, tuple(topics))


def _decode_empty(make):
    def decode(r: _Reader, flags: int):
        r.end()
        return make()
    return decode


_DECODERS = {
    CONNECT: _decode_connect,
    CONNACK: _decode_connack,
    PUBLISH: _decode_publish,
    PUBACK: _decode_id_only(PubAck),
    PUBREC: _decode_id_only(PubRec),
    PUBREL: _decode_id_only(PubRel),
    PUBCOMP: _decode_id_only(PubComp),
    SUBSCRIBE: _decode_subscribe,
    SUBACK: _decode_suback,
    UNSUBSCRIBE: _decode_unsubscribe,
    UNSUBACK: _decode_id_only(UnsubAck),
    PINGREQ: _decode_empty(PingReq),
    PINGRESP: _decode_empty(PingResp),
    DISCONNECT: _decode_empty(Disconnect),
}


class Decoder:
    """Turns a byte stream, in any chunking, into packets.

    Feed bytes with `feed`, then call `next_packet` until it returns None ("need more
    data"). Malformed input raises an `MQTTError`; after that the stream is unusable and
    the connection must be closed (MQTT 3.1.1 §4.8).

    Args:
        accept: the packet types this side may receive; anything else is a violation.
        max_packet: the largest packet accepted, in bytes. Checked as soon as the length
            is known, so an announced giant is refused before any memory is spent on it.
    """

    __slots__ = ("_buf", "_pos", "_accept", "_max_packet")

    def __init__(self, accept: frozenset[int], *, max_packet: int = DEFAULT_MAX_PACKET):
        self._buf = bytearray()
        self._pos = 0
        self._accept = accept
        self._max_packet = max_packet

    @classmethod
    def for_client(cls, *, max_packet: int = DEFAULT_MAX_PACKET) -> Decoder:
        return cls(SERVER_TO_CLIENT, max_packet=max_packet)

    @classmethod
    def for_server(cls, *, max_packet: int = DEFAULT_MAX_PACKET) -> Decoder:
        return cls(CLIENT_TO_SERVER, max_packet=max_packet)

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole packet."""
        return len(self._buf) - self._pos

    def next_packet(self) -> Packet | None:
        buf, pos = self._buf, self._pos
        size = len(buf)
        if pos >= size:
            return None
        first = buf[pos]
        packet_type, flags = first >> 4, first & 0x0F
        if packet_type not in self._accept:
            raise ProtocolViolation(f"received {packet_name(packet_type)}, "
                                    "which this side must never receive")
        if packet_type != PUBLISH and flags != _REQUIRED_FLAGS[packet_type]:
            raise MalformedPacket(f"{packet_name(packet_type)} with reserved flags "
                                  f"{flags:04b}")  # §2.2.2-2
        length = 0
        shift = 0
        i = pos + 1
        while True:
            if i >= size:
                return None
            digit = buf[i]
            i += 1
            length |= (digit & 0x7F) << shift
            if not digit & 0x80:
                break
            shift += 7
            if shift == 28:
                raise MalformedPacket("remaining length longer than 4 bytes")  # §2.2.3
        if length + (i - pos) > self._max_packet:
            raise PacketTooLarge(f"{packet_name(packet_type)} of {length} bytes is over "
                                 f"the {self._max_packet}-byte limit")
        end = i + length
        if end > size:
            return None
        with memoryview(buf) as view:  # one copy, not a bytearray's and then bytes'
            body = bytes(view[i:end])
        self._pos = end
        if end == size:
            buf.clear()
            self._pos = 0
        elif end > 65536:
            del buf[:end]
            self._pos = 0
        return _DECODERS[packet_type](_Reader(body, packet_type), flags)

    def packets(self, data: bytes = b""):
        """Feed `data`, then yield every whole packet now buffered."""
        if data:
            self.feed(data)
        while (packet := self.next_packet()) is not None:
            yield packet
