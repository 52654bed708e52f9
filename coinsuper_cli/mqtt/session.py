# The client side of one MQTT 3.1.1 connection, sans-I/O: what to send, what a received
# packet means, when to ping. The caller moves the bytes and passes the time in, so the
# whole state machine runs in tests without a socket or a clock.
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from . import DEFAULT_MAX_PACKET
from .codec import Decoder, encode
from .errors import (AcknowledgementTimeout, ConnectionRefused, KeepaliveTimeout,
                     ProtocolViolation)
from .packets import (
    ConnAck, Connect, Disconnect, PingReq, PingResp, PubAck, PubComp, Publish, PubRec, PubRel,
    SubAck, Subscribe,
)


@dataclass(frozen=True, slots=True)
class Connected:
    session_present: bool


class Message(NamedTuple):
    """A message received; a named tuple, as Publish is, for speed."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    packet_id: int | None = None


@dataclass(frozen=True, slots=True)
class Subscribed:
    topics: tuple[str, ...]
    granted: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Repeated:
    """A QoS 2 PUBLISH with the packet id of one delivered but not yet released by
    PUBREL: dropped as a repeat (§4.3.3). `dup` False means the broker reused the id
    for what may be a new message, which the standard does not allow."""

    topic: str
    packet_id: int
    dup: bool


@dataclass(frozen=True, slots=True)
class Delivered:
    """A QoS 1 or 2 message this client published is the server's now: PUBACK came
    (QoS 1), or PUBCOMP (QoS 2, §4.3.3). `downgraded`: a QoS 2 publish answered with
    PUBACK, as RabbitMQ does (it grants at most QoS 1): the server took it at QoS 1."""

    packet_id: int
    downgraded: bool = False


Event = Connected | Message | Subscribed | Repeated | Delivered


class ClientSession:
    """One client connection's protocol state.

    Call `connect`, then feed every received chunk to `receive_data` and handle the
    events it yields; send whatever `data_to_send` returns after each call; call `tick` when
    `next_deadline` passes so that keepalive pings go out.

    Args:
        keepalive: seconds; 0 turns keepalive off (§3.1.2.10).
        max_packet: the largest packet accepted from the server.
        auto_ack: answer QoS 1 and 2 messages as they arrive; False leaves it to
            `acknowledge`, so that a message is acknowledged once it has been handled.
        ack_timeout: seconds; `tick` raises AcknowledgementTimeout when publishes are in
            flight and none has been acknowledged for this long (None: never). A server
            that keeps answering PINGREQ but stops acknowledging would otherwise hold a
            publisher's window full for ever.
    """

    def __init__(self, *, client_id: str, username: str | None = None,
                 password: str | None = None, keepalive: int = 60,
                 clean_session: bool = True, max_packet: int = DEFAULT_MAX_PACKET,
                 auto_ack: bool = True, ack_timeout: float | None = None) -> None:
        self._connect = Connect(
            client_id, username, None if password is None else password.encode("utf-8"),
            keepalive, clean_session,
        )
        self.keepalive = keepalive
        self.connected = False
        self._decoder = Decoder.for_client(max_packet=max_packet)
        self._out = bytearray()
        self._last_sent = 0.0
        self._ping_sent_at: float | None = None
        self._next_id = 0
        self._pending_subscribe: dict[int, tuple[str, ...]] = {}
        # Packet ids of QoS 2 messages delivered and answered with PUBREC, whose PUBREL
        # has not come yet (§4.3.3 "method B": deliver on receipt, remember the id).
        self._awaiting_pubrel: set[int] = set()
        self._auto_ack = auto_ack
        self._unacknowledged: set[int] = set()  # QoS 2 ids delivered, PUBREC not yet sent
        # QoS 1 and 2 messages this client published whose PUBACK or PUBCOMP has not
        # come: packet id -> QoS (§4.3.2, §4.3.3).
        self._outgoing: dict[int, int] = {}
        self.ack_timeout = ack_timeout
        # The last acknowledgement, or when the first of those in flight went out.
        self._acked_at = 0.0

    # -- sending ---------------------------------------------------------------------

    def _send(self, packet, now: float) -> None:
        self._out += encode(packet)
        self._last_sent = now

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def connect(self, now: float) -> None:
        self._send(self._connect, now)

    def _packet_id(self) -> int:
        # An id stays taken until its exchange completes (§2.3.1); a publisher keeps far
        # fewer than 65,535 in flight, so a free one is always near.
        while True:
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._outgoing:
                return self._next_id

    def publish(self, topic: str, payload: bytes, qos: int, now: float, *,
                retain: bool = False, dup: bool = False) -> int | None:
        """Send a PUBLISH; for QoS 1 and 2 its packet id, whose Delivered event says
        when the server has it."""
        packet_id = None
        if qos:
            packet_id = self._packet_id()
            if not self._outgoing:
                self._acked_at = now
            self._outgoing[packet_id] = qos
        self._send(Publish(topic, payload, qos, retain, dup, packet_id), now)
        return packet_id

    @property
    def in_flight(self) -> int:
        """QoS 1 and 2 messages published and not yet acknowledged."""
        return len(self._outgoing)

    def subscribe(self, topics: list[str] | tuple[str, ...], qos: int, now: float) -> int:
        packet_id = self._packet_id()
        self._pending_subscribe[packet_id] = tuple(topics)
        self._send(Subscribe(packet_id, tuple((t, qos) for t in topics)), now)
        return packet_id

    def disconnect(self, now: float) -> None:
        self._send(Disconnect(), now)

    # -- time ------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When `tick` next has work to do, or None when keepalive is off."""
        due = None
        if self.ack_timeout is not None and self._outgoing:
            due = self._acked_at + self.ack_timeout
        if not self.keepalive:
            return due
        if self._ping_sent_at is not None:
            ping = self._ping_sent_at + self.keepalive
        else:
            ping = self._last_sent + self.keepalive
        return ping if due is None else min(ping, due)

    def tick(self, now: float) -> None:
        """Send PINGREQ when the link has been quiet for the keepalive period; raise
        KeepaliveTimeout when a PINGREQ has had no answer for as long again, and
        AcknowledgementTimeout when publishes wait for their acknowledgement too long."""
        if not self.connected:
            return
        if (self.ack_timeout is not None and self._outgoing
                and now - self._acked_at >= self.ack_timeout):
            raise AcknowledgementTimeout(
                f"no acknowledgement of {len(self._outgoing)} publishes in flight within "
                f"{self.ack_timeout:g} s")
        if not self.keepalive:
            return
        if self._ping_sent_at is not None:
            if now - self._ping_sent_at >= self.keepalive:
                raise KeepaliveTimeout(f"no PINGRESP within {self.keepalive} s")
        elif now - self._last_sent >= self.keepalive:
            self._send(PingReq(), now)
            self._ping_sent_at = now

    # -- receiving -------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> Iterator[Event]:
        """Feed received bytes; yield the events they complete, one at a time.

        A generator, so that a protocol error in the middle of a chunk is raised only
        after the events before it have been handled: a message that arrived whole is
        never lost because garbage followed it.
        """
        self._decoder.feed(data)
        while (packet := self._decoder.next_packet()) is not None:
            event = self._handle(packet, now)
            if event is not None:
                yield event

    def _handle(self, packet, now: float) -> Event | None:
        if not self.connected:
            # §3.2.0-1: the first packet a server sends is CONNACK.
            if type(packet) is not ConnAck:
                raise ProtocolViolation(f"{type(packet).__name__} before CONNACK")
            if packet.return_code:
                raise ConnectionRefused(packet.return_code)
            self.connected = True
            return Connected(packet.session_present)
        kind = type(packet)
        if kind is Publish:
            return self._on_publish(packet, now)
        if kind is PingResp:
            self._ping_sent_at = None
        elif kind is PubRel:
            # §4.3.3: release the id; answer PUBCOMP even for an id we do not know,
            # since our PUBCOMP may have been lost before a reconnect.
            self._awaiting_pubrel.discard(packet.packet_id)
            self._unacknowledged.discard(packet.packet_id)
            self._send(PubComp(packet.packet_id), now)
        elif kind is SubAck:
            topics = self._pending_subscribe.pop(packet.packet_id, None)
            if topics is None:
                raise ProtocolViolation(f"SUBACK for unknown packet id {packet.packet_id}")
            if len(topics) != len(packet.return_codes):
                raise ProtocolViolation(f"SUBACK has {len(packet.return_codes)} return codes "
                                        f"for {len(topics)} topics")  # §3.8.4-5
            return Subscribed(topics, packet.return_codes)
        elif kind is ConnAck:
            raise ProtocolViolation("a second CONNACK")  # §3.2.0-1: exactly one
        elif kind is PubAck or kind is PubComp:
            # The end of a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) publish of ours. §4.3.3 wants
            # PUBREC for QoS 2, but RabbitMQ grants at most QoS 1 and answers a QoS 2
            # PUBLISH with PUBACK: the server has the message, at QoS 1. Ignoring that
            # PUBACK would keep the id taken for ever (and a publisher's window full).
            qos = self._outgoing.get(packet.packet_id)
            if qos is not None and (kind is PubAck or qos == 2):
                del self._outgoing[packet.packet_id]
                self._acked_at = now
                return Delivered(packet.packet_id, downgraded=kind is PubAck and qos == 2)
        elif kind is PubRec:
            # §4.3.3: the sender answers PUBREC with PUBREL, again if PUBREC is repeated,
            # and keeps the id until PUBCOMP.
            if self._outgoing.get(packet.packet_id) == 2:
                self._acked_at = now  # halfway acknowledged: the server is not stuck
                self._send(PubRel(packet.packet_id), now)
        # Acks of ids this client has not in flight (a publish of an earlier connection)
        # and UNSUBACK need no action: all are ignored quietly.
        return None

    def acknowledge(self, message: Message, now: float) -> None:
        """Answer a QoS 1 or 2 message that has been handled (with auto_ack off)."""
        if message.qos == 1:
            self._send(PubAck(message.packet_id), now)
        elif message.qos == 2 and message.packet_id in self._unacknowledged:
            self._unacknowledged.discard(message.packet_id)
            self._send(PubRec(message.packet_id), now)

    def _on_publish(self, packet: Publish, now: float) -> Message | Repeated | None:
        message = Message(packet.topic, packet.payload, packet.qos, packet.retain,
                          packet.packet_id)
        if packet.qos == 0:
            return message
        if packet.qos == 1:
            if self._auto_ack:
                self._send(PubAck(packet.packet_id), now)
            return message
        # QoS 2: a re-sent PUBLISH (DUP) whose PUBREL has not come yet was delivered
        # already; answer PUBREC again but do not deliver it twice (§4.3.3). Until the
        # first delivery is acknowledged, its PUBREC is still to come: nothing to send.
        packet_id = packet.packet_id
        if packet_id in self._awaiting_pubrel:
            if packet_id not in self._unacknowledged:
                self._send(PubRec(packet_id), now)
            return Repeated(packet.topic, packet_id, packet.dup)
        self._awaiting_pubrel.add(packet_id)
        if self._auto_ack:
            self._send(PubRec(packet_id), now)
        else:
            self._unacknowledged.add(packet_id)
        return message
