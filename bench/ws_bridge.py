# MQTT over WebSocket in front of mosquitto's TCP listener, one MQTT packet per binary
# frame (as brokers send them). Why: mosquitto 2.0.11's own websockets listener (Debian's
# build, libwebsockets 4) delivers 5 kB payloads at a handful of messages per second, a
# known problem (eclipse-mosquitto/mosquitto#1390), so every client measured through it
# would only measure it.
#
# The WebSocket side is the websockets library's sans-I/O ServerProtocol (handshake, the
# client's frames, ping, close); this file only moves bytes, on asyncio. Each read from the
# broker (up to 256 kB) is cut into whole MQTT packets, each becomes one binary frame, and
# all the frames go out in one write. Those frames are written here, not by the library:
# a server's frame is a two- to ten-byte header and the packet, unmasked (RFC 6455 §5.2),
# and the library's send_binary, about 7 µs of CPU a frame, held the bridge at 40-50k
# frames/s, under what mosquitto_sub takes over TCP: the bridge, not the subscriber
# behind it, was then measured.
#
# Run: python bench/ws_bridge.py UPSTREAM_TCP_PORT  (prints its own port, then serves
# until its stdin closes, so it never outlives the benchmark that started it).
from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Sequence

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import SEND_EOF, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

READ_SIZE = 1 << 18
MQTT = Subprotocol("mqtt")


def split_packets(data: bytes) -> tuple[list[bytes], bytes]:
    """The whole MQTT packets at the start of `data`, and the incomplete rest."""
    packets, pos, size = [], 0, len(data)
    while pos + 2 <= size:
        i, length, shift = pos + 1, 0, 0
        while i < size:  # MQTT 3.1.1 §2.2.3: the remaining length, 7 bits a byte
            digit = data[i]
            i += 1
            length |= (digit & 0x7F) << shift
            if digit < 0x80:
                break
            shift += 7
        else:
            break
        end = i + length
        if end > size:
            break
        packets.append(data[pos:end])
        pos = end
    return packets, data[pos:]


_HEAD16, _HEAD64 = struct.Struct("!BBH"), struct.Struct("!BBQ")


def binary_frames(packets: list[bytes]) -> bytes:
    """One unmasked binary frame per packet, FIN set (RFC 6455 §5.2: 0x82, then the
    length in 7 bits, or 126 and 16 bits, or 127 and 64 bits)."""
    parts = []
    for packet in packets:
        n = len(packet)
        if n < 126:
            parts.append(bytes((0x82, n)))
        elif n < 65536:
            parts.append(_HEAD16.pack(0x82, 126, n))
        else:
            parts.append(_HEAD64.pack(0x82, 127, n))
        parts.append(packet)
    return b"".join(parts)


def _mqtt_if_offered(protocol: ServerProtocol,
                     offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # Lenient, as the old hand-written bridge was: a client that offers no subprotocol
    # still gets through (websockets' default would answer 400).
    return MQTT if MQTT in offered else None


def _flush(protocol: ServerProtocol, writer: asyncio.StreamWriter) -> None:
    """Writes what the protocol has to send, half-closing when it says so."""
    writes = protocol.data_to_send()
    writer.write(b"".join(writes))
    if SEND_EOF in writes and writer.can_write_eof():
        writer.write_eof()


async def _handshake(protocol: ServerProtocol, client: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> list[Frame] | None:
    """Answers the HTTP upgrade; returns frames that came with it, None if refused."""
    events: list = []
    while not events:
        data = await client.read(65536)
        if not data:
            return None
        protocol.receive_data(data)
        events = protocol.events_received()
        _flush(protocol, writer)  # an unparsable request gets its error response here
    request = events[0]
    if not isinstance(request, Request):
        return None
    protocol.send_response(protocol.accept(request))
    _flush(protocol, writer)
    await writer.drain()
    return events[1:] if protocol.state is State.OPEN else None


async def _client_to_broker(protocol: ServerProtocol, client: asyncio.StreamReader,
                            client_writer: asyncio.StreamWriter,
                            broker: asyncio.StreamWriter, frames: list[Frame]) -> None:
    """Forwards the client's binary frames (CONNECT, SUBSCRIBE, acks) as bytes."""
    while True:
        for frame in frames:
            if frame.opcode in (Opcode.BINARY, Opcode.CONT):
                broker.write(frame.data)
        await broker.drain()
        _flush(protocol, client_writer)  # pongs, the close reply
        if protocol.state is not State.OPEN:
            return
        data = await client.read(65536)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        frames = protocol.events_received()


async def _broker_to_client(protocol: ServerProtocol, broker: asyncio.StreamReader,
                            client_writer: asyncio.StreamWriter) -> None:
    """Sends the broker's byte stream on, one binary frame per MQTT packet."""
    pending = b""
    while data := await broker.read(READ_SIZE):
        if protocol.state is not State.OPEN:
            return
        packets, pending = split_packets(pending + data)
        client_writer.write(binary_frames(packets))
        await client_writer.drain()
    if protocol.state is State.OPEN:  # the broker hung up: say goodbye to the client
        protocol.send_close()
        _flush(protocol, client_writer)


async def _serve(client: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                 upstream_port: int) -> None:
    protocol = ServerProtocol(subprotocols=[MQTT], select_subprotocol=_mqtt_if_offered)
    broker_writer = None
    try:
        frames = await _handshake(protocol, client, client_writer)
        if frames is None:
            return
        broker, broker_writer = await asyncio.open_connection("127.0.0.1", upstream_port,
                                                              limit=READ_SIZE)
        # asyncio turns Nagle's algorithm off on TCP sockets, both sides of the bridge.
        pumps = [asyncio.create_task(_client_to_broker(protocol, client, client_writer,
                                                       broker_writer, frames)),
                 asyncio.create_task(_broker_to_client(protocol, broker, client_writer))]
        # Either side ending ends both: the other pump is cancelled and both sockets close.
        _, running = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in running:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
    except OSError:
        pass  # a side went away; nothing to report in a benchmark's helper
    finally:
        for writer in (client_writer, broker_writer):
            if writer is not None:
                writer.close()


async def _main(upstream_port: int) -> None:
    server = await asyncio.start_server(
        lambda reader, writer: _serve(reader, writer, upstream_port), "127.0.0.1", 0,
        limit=READ_SIZE)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Until the benchmark closes our stdin or goes away; then asyncio.run cancels the
    # open connections (no wait_closed: it would wait for their clients).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    server.close()


def main() -> None:
    asyncio.run(_main(int(sys.argv[1])))


if __name__ == "__main__":
    main()
