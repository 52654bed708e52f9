# One client's network connection to the sandbox's broker, sans-I/O: it is fed the bytes
# the client sent, hands each packet to the broker, and queues the frames to send back in
# a bounded outbox that its transport drains (`write_loop`). A protocol violation drops
# this client alone.
from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Awaitable, Callable

from ..mqtt.codec import Decoder, encode
from ..mqtt.errors import MQTTError
from ..mqtt.packets import (
    Connect, Disconnect, PingReq, PingResp, PubAck, PubComp, Publish, PubRec, PubRel,
    Subscribe, Unsubscribe,
)
from .auth import BAD_PROTOCOL, Identity, peek_protocol_level
from .delivery import Session

if TYPE_CHECKING:
    from .broker import Broker

MAX_PACKET = 256 * 1024  # clients only send small control packets


class Connection:
    """One client's network connection: bytes in through `receive`, frames out through
    `write_loop`, which the transport runs as a task.

    Args:
        send: writes one frame to the transport.
        close: closes the transport politely once the outbox is flushed.
        abort: closes the transport at once, whatever it was doing.
    """

    def __init__(self, broker: Broker, peer: str, *, send: Callable[[bytes], Awaitable[None]],
                 close: Callable[[], Awaitable[None]], abort: Callable[[], None]) -> None:
        self.broker = broker
        self.peer = peer
        self.session: Session | None = None
        self.identity: Identity | None = None
        self.keepalive = 0
        self.closing = False
        self.dropped_qos0 = 0
        self.opened_at = self.last_received = broker.clock()
        self._decoder = Decoder.for_server(max_packet=MAX_PACKET)
        self._send, self._close, self._abort = send, close, abort
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._wake = asyncio.Event()
        self._head = b""  # the first bytes received, to answer a foreign CONNECT

    @property
    def client_id(self) -> str:
        return self.session.client_id if self.session is not None else "?"

    # -- outgoing ---------------------------------------------------------------------

    def send_frame(self, frame: bytes, *, droppable: bool = False) -> bool:
        """Queue one frame; never waits. Returns False when it was not queued."""
        if self.closing:
            return False
        size = self._out_bytes + len(frame)
        if droppable and size > self.broker.outbox_soft_limit:
            self.dropped_qos0 += 1
            return False
        if size > self.broker.outbox_hard_limit:
            self.drop("outgoing queue full (client too slow)")
            return False
        self._out.append(frame)
        self._out_bytes = size
        self._wake.set()
        return True

    def take_outgoing(self) -> list[bytes]:
        """Empty the outbox (the write loop's work; tests call it directly)."""
        frames = list(self._out)
        self._out.clear()
        self._out_bytes = 0
        return frames

    async def write_loop(self) -> None:
        """Drain the outbox into the transport until the connection ends, then close it."""
        try:
            while True:
                while self._out:
                    frame = self._out.popleft()
                    self._out_bytes -= len(frame)
                    await self._send(frame)
                if self.closing:
                    break
                self._wake.clear()
                await self._wake.wait()
            await asyncio.wait_for(self._close(), timeout=2.0)
        except Exception:  # the peer went away or would not close: nothing left to do
            self._abort()

    # -- incoming ---------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Handle the bytes a client sent; a protocol error drops this client alone."""
        if self.closing:
            return
        self.last_received = self.broker.clock()
        if self.session is None and len(self._head) < 64:
            self._head += data[:64 - len(self._head)]
        try:
            for packet in self._decoder.packets(data):
                self._handle(packet)
                if self.closing:
                    return
        except MQTTError as exc:
            level = peek_protocol_level(self._head) if self.session is None else None
            if level not in (None, 4):
                # An MQTT 3.1 or 5 CONNECT that our 3.1.1 codec cannot read: §3.1.2-2
                # asks for CONNACK 1 before closing.
                self.broker.refuse(self, BAD_PROTOCOL, f"protocol level {level}")
            else:  # §4.8: on a protocol violation the server closes the connection.
                self.drop(f"protocol error: {exc}")

    def _handle(self, packet) -> None:
        kind = type(packet)
        if self.session is None:
            if kind is not Connect:  # §3.1.0-1: the first packet must be CONNECT
                self.drop(f"{kind.__name__} before CONNECT")
            else:
                self.broker.on_connect(self, packet)
            return
        now = self.broker.clock()
        session = self.session
        if kind is Publish:
            # Clients publish nothing on the exchange: acknowledge and discard, as
            # 3.1.1 brokers do with a publish their access rules deny.
            if packet.qos == 1:
                self.send_frame(encode(PubAck(packet.packet_id)))
            elif packet.qos == 2:
                self.send_frame(encode(PubRec(packet.packet_id)))
        elif kind is PubAck:
            session.on_puback(packet.packet_id, now)
        elif kind is PubRec:
            self.send_frame(session.on_pubrec(packet.packet_id, now))
        elif kind is PubRel:
            self.send_frame(encode(PubComp(packet.packet_id)))  # §4.3.3, any id
        elif kind is PubComp:
            session.on_pubcomp(packet.packet_id, now)
        elif kind is Subscribe:
            self.broker.on_subscribe(self, packet)
        elif kind is Unsubscribe:
            self.broker.on_unsubscribe(self, packet)
        elif kind is PingReq:
            self.send_frame(encode(PingResp()))
        elif kind is Disconnect:
            self.finish("disconnected")  # §3.14.4: close, no will
        else:  # a second CONNECT (§3.1.0-2)
            self.drop(f"unexpected {kind.__name__}")

    # -- ending -----------------------------------------------------------------------

    def finish(self, reason: str) -> None:
        """End after sending what is queued (a refusing CONNACK, say)."""
        if not self.closing:
            self._end(reason)

    def drop(self, reason: str) -> None:
        """End now, discarding what is queued."""
        if not self.closing:
            self._end(reason)
            self.take_outgoing()
            self._abort()

    def connection_lost(self) -> None:
        """The transport saw the end of input; the transport calls this once."""
        if not self.closing:
            self._end("connection closed by client")

    def _end(self, reason: str) -> None:
        self.closing = True
        self._wake.set()
        self.broker.on_connection_end(self, reason)
