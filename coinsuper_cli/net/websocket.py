# WebSocket framing for MQTT on the client side (MQTT 3.1.1 §6), once the opening
# handshake (handshake.py) is done: bytes in, MQTT bytes out, and the frames the client
# owes (pongs, close) to write. Sans-I/O, over websockets' protocol object, which frames
# and checks RFC 6455; what is ours is the per-frame size limit and what MQTT makes of
# text and close frames. The socket is the transport's (transport.py).
from __future__ import annotations

from ..errors import ConnectionClosed
from ..mqtt import DEFAULT_MAX_PACKET
from ..mqtt.errors import ProtocolViolation

# WebSocket opcodes (RFC 6455 §5.2); websockets' Opcode members are IntEnums equal to them.
_CONTINUATION, _TEXT, _BINARY, _CLOSE = 0x0, 0x1, 0x2, 0x8


class WebSocketFrames:
    """Sans-I/O WebSocket framing for MQTT on the client side, once the handshake is done.

    Socket bytes go in with `receive_data`, which returns the payloads of the binary
    frames they complete; `send` frames MQTT bytes; `data_to_send` is everything to
    write, including the pongs and close frames that RFC 6455 makes the client owe.
    MQTT does not care where frames begin or end (MQTT 3.1.1 §6), so each frame's
    payload goes on as soon as it is whole, without waiting for the rest of its message.

    Args:
        max_frame: the largest frame payload accepted, in bytes.
    """

    def __init__(self, *, max_frame: int = DEFAULT_MAX_PACKET) -> None:
        from websockets.protocol import Protocol as WebSocketProtocol, Side

        # websockets buffers a frame whole before handing it on, so a header announcing
        # a huge frame would make it buffer as much as the broker cares to send. A limit
        # per frame refuses such a header at once (RFC 6455 §7.4.1: 1009, too big), and
        # none per message, since a fragment's payload goes on as soon as it is whole.
        # With the limit at --max-packet, one packet per frame (what brokers send) always
        # fits, and the parser holds at most a partial frame and one read, under
        # max_frame + READ_SIZE bytes, besides the MQTT decoder's own max_packet.
        self._protocol = WebSocketProtocol(Side.CLIENT, max_size=(None, max_frame))
        self._max_frame = max_frame
        self._failure: Exception | None = None

    @property
    def open(self) -> bool:
        """No fault so far, and no close frame sent (RFC 6455 §5.5.1: nothing may follow
        one); a close frame received is a fault, since it ends the connection."""
        return self._failure is None and self._protocol.close_sent is None

    def receive_data(self, data: bytes) -> bytes:
        """The payloads of the binary frames that `data` completes, joined.

        Raises ProtocolViolation for a frame that breaks RFC 6455 or is not binary, and
        ConnectionClosed for a close frame. Payloads that came whole before such a fault
        are returned first and the fault is raised by the next call, so no message is
        lost to the garbage behind it.
        """
        self.check()
        protocol = self._protocol
        protocol.receive_data(data)
        payloads: list[bytes] = []
        try:
            for frame in protocol.events_received():
                opcode = frame.opcode
                if opcode == _BINARY or opcode == _CONTINUATION:
                    payloads.append(frame.data)
                elif opcode == _TEXT:
                    # MQTT over WebSocket carries only binary frames (MQTT 3.1.1 §6);
                    # 1003 is "data it cannot accept" (RFC 6455 §7.4.1).
                    protocol.fail(1003, "MQTT needs binary frames")
                    raise ProtocolViolation("the broker sent a text WebSocket frame")
                elif opcode == _CLOSE:
                    # Its reply is already in data_to_send (RFC 6455 §5.5.1).
                    raise ConnectionClosed("the broker closed the WebSocket "
                                           f"({protocol.close_rcvd.code})")
                # A ping's pong is already in data_to_send (RFC 6455 §5.5.2); a pong
                # needs nothing.
            if protocol.parser_exc is not None:
                # The protocol has already queued its close frame (1002, 1007 or 1009).
                raise ProtocolViolation(f"WebSocket: {self._fault(protocol.parser_exc)}")
        except (ProtocolViolation, ConnectionClosed) as error:
            self._failure = error
            if not payloads:
                raise
        return b"".join(payloads)

    def _fault(self, error: Exception) -> str:
        from websockets.exceptions import PayloadTooBig

        if isinstance(error, PayloadTooBig):
            # Its own limit counts the fragments before this one; ours is per frame.
            return f"a frame of {error.size} bytes is over the {self._max_frame}-byte limit"
        return str(error) or type(error).__name__

    def check(self) -> None:
        """Raise the fault that ended the connection, if one has."""
        if self._failure is not None:
            raise self._failure

    def send_failed(self, error: ConnectionClosed) -> None:
        """The socket could not take our bytes: the stream is broken from here on, and
        every later call raises `error`, unless a fault came first."""
        if self._failure is None:
            self._failure = error

    def send(self, data: bytes) -> None:
        self.check()
        self._protocol.send_binary(data)

    def send_close(self) -> None:
        self._protocol.send_close(1000)

    def data_to_send(self) -> bytes:
        # Only a server, or a client told of EOF (we never are: EOF ends the transport
        # at once), is given websockets' SEND_EOF, an empty bytestring.
        return b"".join(self._protocol.data_to_send())
