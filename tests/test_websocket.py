"""WebSocket frames parsed sans-I/O from chunks of any size (RFC 6455), the replies the
client owes the broker, and every fault a broker's frames can hold."""
from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from coinsuper_cli.mqtt.errors import ProtocolViolation
from coinsuper_cli.errors import ConnectionClosed
from coinsuper_cli.net.websocket import WebSocketFrames

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA  # RFC 6455 §5.2


# -- frames on the wire -----------------------------------------------------------------

def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          mask: bytes | None = None, length: int | None = None) -> bytes:
    """A frame as a server writes it (RFC 6455 §5.2); `length` may lie about the payload."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    masked = 0x80 if mask else 0
    if size < 126:
        head += bytes([masked | size])
    elif size < 65536:
        head += bytes([masked | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([masked | 127]) + size.to_bytes(8, "big")
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def split_client_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(opcode, payload) of each whole frame at the start of what the client wrote, and
    how many bytes they take; every one must be final and masked (RFC 6455 §5.3)."""
    frames, pos = [], 0
    while len(data) - pos >= 2:
        head, size = data[pos], data[pos + 1] & 0x7F
        assert head & 0x80 and data[pos + 1] & 0x80, "client frames are final and masked"
        start = pos + 2 + {126: 2, 127: 8}.get(size, 0)
        if size >= 126:
            size = int.from_bytes(data[pos + 2:start], "big")
        end = start + 4 + size
        if len(data) < end:
            break
        mask = data[start:start + 4]
        frames.append((head & 0x0F, bytes(b ^ mask[i % 4]
                                          for i, b in enumerate(data[start + 4:end]))))
        pos = end
    return frames, pos


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Every frame in `data`, which must hold only whole ones."""
    frames, used = split_client_frames(data)
    assert used == len(data), "a frame cut short"
    return frames


# -- parsing, fed in pieces -------------------------------------------------------------

# A stream mixing length encodings, control frames between fragments, and empty payloads;
# None marks a frame whose payload is not handed on.
STREAM = [
    (frame(BINARY, b"a"), b"a"),
    (frame(BINARY, b""), b""),
    (frame(PING, b"hi"), None),
    (frame(BINARY, b"b" * 125), b"b" * 125),
    (frame(BINARY, b"c" * 126), b"c" * 126),
    (frame(BINARY, b"d" * 300, fin=False), b"d" * 300),
    (frame(PONG, b"unasked"), None),
    (frame(CONT, b"e" * 7, fin=False), b"e" * 7),
    (frame(CONT, b"f" * 3), b"f" * 3),
    (frame(BINARY, bytes(range(256))), bytes(range(256))),
]


def expected_after(fed: int) -> bytes:
    """The payloads of the frames wholly inside the first `fed` bytes of STREAM."""
    out, end = [], 0
    for wire, payload in STREAM:
        end += len(wire)
        if end <= fed and payload is not None:
            out.append(payload)
    return b"".join(out)


def test_every_chunk_size_hands_on_each_payload_as_soon_as_its_frame_is_whole():
    stream = b"".join(wire for wire, _ in STREAM)
    for size in range(1, len(stream) + 1):
        frames = WebSocketFrames()
        got, replies = b"", b""
        for start in range(0, len(stream), size):
            got += frames.receive_data(stream[start:start + size])
            replies += frames.data_to_send()
            fed = min(start + size, len(stream))
            assert got == expected_after(fed), f"chunks of {size}, after {fed} bytes"
        assert client_frames(replies) == [(PONG, b"hi")], f"chunks of {size}"


@pytest.mark.parametrize("size", [1, 2, 9, 10, 4096, 65535, 65546, 65547, 1 << 20])
def test_a_frame_with_a_64_bit_length_is_parsed_from_any_cut(size):
    big = os.urandom(70_000)
    stream = frame(BINARY, big) + frame(BINARY, b"after")
    frames = WebSocketFrames()
    got = b"".join(frames.receive_data(stream[i:i + size]) for i in range(0, len(stream), size))
    assert got == big + b"after"


@given(st.lists(st.binary(max_size=300), max_size=12), st.data())
def test_binary_payloads_come_out_in_order_however_the_stream_is_cut(payloads, data):
    stream = b"".join(frame(BINARY, p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    frames = WebSocketFrames()
    got = b"".join(frames.receive_data(stream[a:b])
                   for a, b in zip([0, *cuts], [*cuts, len(stream)]))
    assert got == b"".join(payloads)
    assert frames.data_to_send() == b""  # nothing owed for data frames


def test_a_fragmented_message_goes_on_fragment_by_fragment():
    frames = WebSocketFrames(max_frame=1024)
    assert frames.receive_data(frame(BINARY, b"x" * 1000, fin=False)) == b"x" * 1000
    # No limit on the whole message: each fragment was handed on when it was whole.
    for _ in range(5):
        assert frames.receive_data(frame(CONT, b"y" * 1000, fin=False)) == b"y" * 1000
    assert frames.receive_data(frame(CONT, b"z")) == b"z"


# -- what the client owes the broker ------------------------------------------------------

def test_a_ping_is_answered_with_its_payload_and_not_handed_on():
    frames = WebSocketFrames()
    assert frames.receive_data(frame(PING, b"are you there") + frame(PING, b"")) == b""
    assert client_frames(frames.data_to_send()) == [(PONG, b"are you there"), (PONG, b"")]
    assert frames.data_to_send() == b""  # each reply is handed out once


def test_what_we_send_goes_out_as_masked_binary_frames():
    frames = WebSocketFrames()
    frames.send(b"\x10\x0c")
    frames.send(b"p" * 70_000)
    assert client_frames(frames.data_to_send()) == [(BINARY, b"\x10\x0c"),
                                                    (BINARY, b"p" * 70_000)]


def test_closing_sends_a_normal_close_once():
    frames = WebSocketFrames()
    assert frames.open
    frames.send_close()
    assert not frames.open
    assert client_frames(frames.data_to_send()) == [(CLOSE, close_payload(1000))]


# -- faults -------------------------------------------------------------------------------

def test_a_text_frame_is_a_protocol_violation_answered_with_1003():
    frames = WebSocketFrames()
    with pytest.raises(ProtocolViolation, match="text WebSocket frame"):
        frames.receive_data(frame(TEXT, b"not binary"))
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, payload[:2]) == (CLOSE, (1003).to_bytes(2, "big"))
    assert not frames.open


@pytest.mark.parametrize("code", [1000, 1001, 1011, 4000])
def test_a_close_frame_ends_the_connection_naming_its_code_and_is_echoed(code):
    frames = WebSocketFrames()
    with pytest.raises(ConnectionClosed, match=rf"closed the WebSocket \({code}\)"):
        frames.receive_data(frame(CLOSE, close_payload(code, b"bye")))
    # RFC 6455 §5.5.1: the reply echoes the code.
    assert client_frames(frames.data_to_send()) == [(CLOSE, close_payload(code, b"bye"))]
    assert not frames.open


def test_an_empty_close_frame_is_1005_no_status():
    frames = WebSocketFrames()
    with pytest.raises(ConnectionClosed, match=r"\(1005\)"):
        frames.receive_data(frame(CLOSE))
    assert client_frames(frames.data_to_send()) == [(CLOSE, b"")]


BAD_FRAMES = {
    # RFC 6455 §5.1: a server never masks; §5.2: reserved bits and opcodes
    "masked by the server": (frame(BINARY, b"hello", mask=b"\x01\x02\x03\x04"), 1002),
    "a reserved bit set": (frame(BINARY, b"x", rsv=4), 1002),
    "reserved opcode 3": (frame(0x3, b"x"), 1002),
    "reserved opcode 11": (frame(0xB), 1002),
    # §5.5: control frames are final and at most 125 bytes
    "a 126-byte ping": (frame(PING, b"p" * 126), 1002),
    "a fragmented ping": (frame(PING, b"p", fin=False), 1002),
    # §5.4: fragments
    "a continuation with nothing to continue": (frame(CONT, b"x"), 1002),
    # §5.5.1, §7.4: close frames
    "a one-byte close frame": (frame(CLOSE, b"\x03"), 1002),
    "close code 999": (frame(CLOSE, close_payload(999)), 1002),
    "close code 1005 on the wire": (frame(CLOSE, close_payload(1005)), 1002),
    "a close reason not UTF-8": (frame(CLOSE, close_payload(1000, b"\xff\xfe")), 1007),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_frames_that_break_rfc_6455_are_protocol_violations_answered_with_a_close(name):
    wire, code = BAD_FRAMES[name]
    frames = WebSocketFrames()
    with pytest.raises(ProtocolViolation, match="^WebSocket: "):
        frames.receive_data(wire)
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, int.from_bytes(payload[:2], "big")) == (CLOSE, code)
    assert not frames.open


def test_a_new_message_inside_a_fragmented_one_is_a_protocol_violation():
    frames = WebSocketFrames()
    assert frames.receive_data(frame(BINARY, b"a", fin=False)) == b"a"
    with pytest.raises(ProtocolViolation, match="^WebSocket: expected a continuation"):
        frames.receive_data(frame(BINARY, b"b"))
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, payload[:2]) == (CLOSE, (1002).to_bytes(2, "big"))


@pytest.mark.parametrize("fault, error", [
    (frame(TEXT, b"t"), ProtocolViolation),
    (frame(BINARY, b"m", mask=b"abcd"), ProtocolViolation),
    (frame(CLOSE, close_payload(1001)), ConnectionClosed),
    (frame(BINARY, length=1 << 40), ProtocolViolation),
])
def test_a_fault_behind_good_frames_comes_after_them_at_the_next_call(fault, error):
    frames = WebSocketFrames()
    chunk = frame(BINARY, b"one") + frame(BINARY, b"two") + fault + frame(BINARY, b"lost")
    assert frames.receive_data(chunk) == b"onetwo"
    with pytest.raises(error) as first:
        frames.check()
    with pytest.raises(error) as again:  # and at every call after it
        frames.receive_data(frame(BINARY, b"more"))
    assert again.value is first.value
    with pytest.raises(error):
        frames.send(b"\xe0\x00")
    assert not frames.open


def test_a_huge_frame_header_is_refused_before_any_of_its_payload_is_buffered():
    frames = WebSocketFrames(max_frame=1024)
    # 512 MiB announced, then a PUBLISH announcing 256 MiB: refused from the header
    # alone, so memory never holds more than a frame of max_frame bytes.
    with pytest.raises(ProtocolViolation,
                       match="^WebSocket: a frame of 536870912 bytes is over the "
                             "1024-byte limit$"):
        frames.receive_data(frame(BINARY, length=512 << 20) + b"\x30\xff\xff\xff\x7f")
    [(opcode, payload)] = client_frames(frames.data_to_send())
    assert (opcode, payload[:2]) == (CLOSE, (1009).to_bytes(2, "big"))  # too big
    with pytest.raises(ProtocolViolation):  # what follows is refused, not buffered
        frames.receive_data(b"x" * 100_000)


def test_a_frame_of_exactly_max_frame_is_accepted_and_one_byte_more_is_not():
    frames = WebSocketFrames(max_frame=1024)
    assert frames.receive_data(frame(BINARY, b"m" * 1024)) == b"m" * 1024
    with pytest.raises(ProtocolViolation, match="1025 bytes is over the 1024-byte"):
        frames.receive_data(frame(BINARY, length=1025))


def test_a_huge_header_with_a_fragment_before_it_keeps_the_fragment():
    frames = WebSocketFrames(max_frame=1024)
    chunk = frame(BINARY, b"a" * 1000, fin=False) + frame(CONT, length=1 << 62)
    assert frames.receive_data(chunk) == b"a" * 1000
    with pytest.raises(ProtocolViolation, match="over the 1024-byte limit"):
        frames.check()
