# Delivery state of one broker-side MQTT session, sans-I/O: subscriptions, the QoS 1/2
# in-flight window, the queue behind it, packet ids and re-sends. It outlives its
# network connection when the client asked for a persistent session (§3.1.2.4).
# Frames go out through whatever `Link` is attached; the clock is passed in.
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from ..mqtt.codec import encode
from ..mqtt.packets import PubRel, Publish

DUP_FLAG = 0x08
MAX_INFLIGHT = 20  # like mosquitto's max_inflight_messages
# QoS 1/2 messages held behind the window, online or offline; past it the oldest is
# dropped and counted. 100 is over a second of all 80 public topics, or 100 s of one;
# with the broker's bound on kept sessions it bounds what clients that never come back
# can make the sandbox hold.
MAX_QUEUED = 100


class Link(Protocol):
    """Where a session's frames go: a live network connection."""

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> bool: ...


class OutgoingMessage:
    """One PUBLISH for every subscriber: the bytes are encoded once per QoS and only the
    packet id (and DUP bit) is patched per delivery."""

    __slots__ = ("topic", "payload", "_qos0", "_templates")

    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic = topic
        self.payload = payload
        self._qos0: bytes | None = None
        self._templates: dict[int, bytes] = {}

    def frame(self, qos: int = 0, packet_id: int = 0, dup: bool = False) -> bytes:
        if qos == 0:
            if self._qos0 is None:
                self._qos0 = encode(Publish(self.topic, self.payload))
            return self._qos0
        template = self._templates.get(qos)
        if template is None:
            template = encode(Publish(self.topic, self.payload, qos, packet_id=1))
            self._templates[qos] = template
        wire = bytearray(template)
        # §3.3.2: the packet id is the last field before the payload.
        at = len(wire) - len(self.payload) - 2
        wire[at] = packet_id >> 8
        wire[at + 1] = packet_id & 0xFF
        if dup:
            wire[0] |= DUP_FLAG
        return bytes(wire)


@dataclass(slots=True)
class InFlight:
    message: OutgoingMessage
    qos: int
    sent_at: float
    released: bool = False  # QoS 2: PUBREC came, PUBREL sent, waiting for PUBCOMP


class Session:
    """What the broker keeps for one client id.

    Args:
        client_id: the CONNECT client identifier.
        clean: the CONNECT clean session flag; a clean session ends with its connection.
    """

    def __init__(self, client_id: str, *, clean: bool, max_inflight: int = MAX_INFLIGHT,
                 max_queued: int = MAX_QUEUED) -> None:
        self.client_id = client_id
        self.clean = clean
        self.subscriptions: dict[str, int] = {}
        self.link: Link | None = None
        self.inflight: dict[int, InFlight] = {}
        self.queued: deque[tuple[OutgoingMessage, int]] = deque()
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.dropped = 0  # QoS 1/2 messages lost to a full queue
        self.detached_at: float | None = None
        self._last_id = 0

    # -- connection -------------------------------------------------------------------

    def attach(self, link: Link, now: float) -> None:
        """Resume on a new connection: §4.4 says re-send unacknowledged PUBLISH (DUP)
        and PUBREL packets with their original ids, then go on with the queue."""
        self.link = link
        self.detached_at = None
        self.retry(now, after=0.0)
        self._pump(now)

    def detach(self, now: float) -> None:
        self.link = None
        self.detached_at = now

    # -- outgoing ---------------------------------------------------------------------

    def deliver(self, message: OutgoingMessage, qos: int, now: float) -> None:
        """Send `message` at `qos` (already the granted QoS), or queue it."""
        if qos == 0:
            # QoS 0 is never stored for an offline client, and is the first to go when
            # the connection's outbox is full (§4.3.1: at most once).
            if self.link is not None:
                self.link.send_frame(message.frame(), droppable=True)
            return
        self.queued.append((message, qos))
        if len(self.queued) > self.max_queued:
            self.queued.popleft()
            self.dropped += 1
        self._pump(now)

    def _pump(self, now: float) -> None:
        # §4.6: messages on one topic go out in order, so the queue drains into the
        # window strictly first in, first out.
        while self.link is not None and self.queued and len(self.inflight) < self.max_inflight:
            message, qos = self.queued.popleft()
            packet_id = self._next_id()
            self.inflight[packet_id] = InFlight(message, qos, now)
            self.link.send_frame(message.frame(qos, packet_id))

    def _next_id(self) -> int:
        # §2.3.1-2: an id stays taken until its flow completes.
        while True:
            self._last_id = self._last_id % 65535 + 1
            if self._last_id not in self.inflight:
                return self._last_id

    def retry(self, now: float, *, after: float) -> None:
        """Re-send whatever has waited `after` seconds for its acknowledgement."""
        if self.link is None:
            return
        for packet_id, entry in self.inflight.items():
            if now - entry.sent_at < after:
                continue
            entry.sent_at = now
            if entry.released:
                self.link.send_frame(encode(PubRel(packet_id)))
            else:
                self.link.send_frame(entry.message.frame(entry.qos, packet_id, dup=True))

    # -- acknowledgements (§4.3.2, §4.3.3) ----------------------------------------------

    def on_puback(self, packet_id: int, now: float) -> None:
        entry = self.inflight.get(packet_id)
        if entry is not None and entry.qos == 1:
            del self.inflight[packet_id]
            self._pump(now)

    def on_pubrec(self, packet_id: int, now: float) -> bytes:
        """Returns the PUBREL to send. An unknown id still gets one: our PUBREL may have
        been lost before a reconnect, and the client waits for it to finish the flow."""
        entry = self.inflight.get(packet_id)
        if entry is not None and entry.qos == 2:
            entry.released = True
            entry.sent_at = now
        return encode(PubRel(packet_id))

    def on_pubcomp(self, packet_id: int, now: float) -> None:
        entry = self.inflight.get(packet_id)
        if entry is not None and entry.released:
            del self.inflight[packet_id]
            self._pump(now)
