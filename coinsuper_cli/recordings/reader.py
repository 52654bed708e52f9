# Reading a recording back (writer.py writes it), bounded in bytes whatever the file
# holds: a compressed stream is unpacked a bounded piece at a time, and a line longer than
# any message coinsuper could have recorded is skipped, not gathered. A gzip member or
# zstandard frame cut in the middle of the file (a killed recorder, then another run) is
# passed over to the next one; a cut at the end is said after every complete line.
from __future__ import annotations

import base64
import binascii
import json
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..errors import NotARecording, UsageError
from ..mqtt import DEFAULT_MAX_PACKET

# The largest line a recording can hold. One line is one message: its topic and payload
# together fit in one PUBLISH of at most --max-packet bytes (1 MiB unless told; MQTT 3.1.1
# §3.3: both are in the remaining length). In the line each byte becomes at most 6 bytes
# (a control character as \u001f; a payload that is not UTF-8 is base64, 4/3), and the
# keys and recv_ns add a few dozen. A recording made with a larger --max-packet may hold
# longer lines: those are skipped too, so that no file can take more memory than this.
LINE_LIMIT = 6 * DEFAULT_MAX_PACKET + 4096
MAX_RECV_NS = 10**19 - 1  # year 2286: later is no receive time (and 19 digits at most)
WHAT_A_RECORDING_IS = ("a recording is the JSON lines that --record writes, plain or "
                       "compressed as .gz or .zst")

READ_SIZE = 256 * 1024  # plain files
# The output of one step of unpacking, at most (zstd: about): larger is slower to scan.
UNPACK_SIZE = 256 * 1024
GZIP_READ_SIZE = 16 * 1024
# zstandard's decompressor has no output limit, and a 4-byte RLE block unpacks to 128 KiB
# (RFC 8878 §3.1.1.2): 256 bytes in are at most 8 MiB out, which zstandard gathers in
# pieces and joins (twice that, for a moment).
ZSTD_STEP = 256
# A cut member is looked for a following one from this far before the failing read: the
# decompressor may read on a little into the next member before it fails.
RESYNC_BACK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b\x08"  # RFC 1952 §2.3.1: ID1, ID2, CM=deflate
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # RFC 8878 §3.1.1


class Truncated(Exception):
    """A recording ends in the middle of a line or of a compressed block."""


def _format(path: str) -> tuple[str, bytes] | None:
    if path.endswith(".gz"):
        return "gzip", GZIP_MAGIC
    if path.endswith(".zst"):
        return "zstandard", ZSTD_MAGIC
    return None


def _chunks(path: str, on_corrupt: Callable[[str], None]) -> Iterator[bytes | None]:
    """The recording's bytes, decompressed, in pieces of bounded size; None where a
    corrupt stretch was passed over (the line in hand is cut there). Raises
    NotARecording for a file whose first bytes are not of its suffix's format, Truncated
    at a cut-off compressed end."""
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise UsageError(f"cannot read {path!r}: {error.strerror or error}") from None
    with raw:
        found = _format(path)
        if found is None:
            while chunk := raw.read(READ_SIZE):
                yield chunk
            return
        name, magic = found
        head = raw.read(len(magic))
        if not head:
            raise NotARecording(f"{path} is not a recording (it is empty): "
                                f"{WHAT_A_RECORDING_IS}")
        if head != magic:
            raise NotARecording(f"{path} is not a recording (its name ends in "
                                f".{path.rpartition('.')[2]} but it is not {name} data): "
                                f"{WHAT_A_RECORDING_IS}")
        raw.seek(0)
        if name == "gzip":
            yield from _unpacked(raw, path, _Gzip(), on_corrupt)
        else:
            yield from _unpacked(raw, path, _Zstd(), on_corrupt)


class _Gzip:
    magic, read_size = GZIP_MAGIC, GZIP_READ_SIZE
    error = zlib.error

    @staticmethod
    def new():
        return zlib.decompressobj(wbits=31)

    @staticmethod
    def pieces(member, data: bytes) -> Iterator[bytes]:
        """What `data` unpacks to, UNPACK_SIZE at most at a time (zlib's max_length)."""
        while True:
            out = member.decompress(data, UNPACK_SIZE)
            if out:
                yield out
            data = member.unconsumed_tail
            if not data or member.eof:
                return


class _Zstd:
    # Read in larger pieces, fed to the decompressor ZSTD_STEP bytes at a time.
    magic, read_size = ZSTD_MAGIC, 64 * 1024

    def __init__(self) -> None:
        import zstandard

        self.error = zstandard.ZstdError
        self._decompressor = zstandard.ZstdDecompressor()

    def new(self):
        # Its output buffer, allocated for each step, smaller than the default 128 KiB.
        return _ZstdFrame(self._decompressor.decompressobj(write_size=32 * 1024))

    @staticmethod
    def pieces(frame: _ZstdFrame, data: bytes) -> Iterator[bytes]:
        decompressor, view = frame.decompressor, memoryview(data)
        decompress, step = decompressor.decompress, ZSTD_STEP
        for at in range(0, len(view), step):
            out = decompress(view[at:at + step])
            if out:
                yield out
            if decompressor.eof:
                frame.eof = True
                frame.unused_data = decompressor.unused_data + view[at + step:].tobytes()
                return


class _ZstdFrame:
    """A zstandard decompressor fed in steps; what follows its frame, once it ends."""

    def __init__(self, decompressor) -> None:
        self.decompressor = decompressor
        self.eof = False
        self.unused_data = b""


def _unpacked(raw: BinaryIO, path: str, fmt, on_corrupt: Callable[[str], None]
              ) -> Iterator[bytes | None]:
    """A gzip or zstandard file, one member or frame after another (each run of a
    recorder appends one), by hand: so that the lines before a member cut short are still
    read (GzipFile raises before handing them over), the cut is noticed (zstandard's
    reader would end quietly there), and the members after it are read too."""
    out: list[bytes] = []
    size = 0  # of out: small pieces are joined into reads of about UNPACK_SIZE
    member, fed = fmt.new(), False
    member_at = offset = 0  # in the file: where the member began, the next read
    while data := raw.read(fmt.read_size):
        read_at, offset = offset, offset + len(data)
        while data:
            fed = True
            try:
                for piece in fmt.pieces(member, data):
                    out.append(piece)
                    size += len(piece)
                    if size >= UNPACK_SIZE:
                        yield b"".join(out)
                        out, size = [], 0
            except fmt.error:
                if out:
                    yield b"".join(out)
                    out, size = [], 0
                yield None  # the line in hand is cut here
                member_at = offset = _next_member(
                    raw, path, fmt.magic, max(member_at + 1, read_at - RESYNC_BACK),
                    on_corrupt)
                member, fed = fmt.new(), False
                break
            if not member.eof:
                break
            data = member.unused_data  # the next member starts here
            member_at = offset - len(data)
            member, fed = fmt.new(), False
    if out:
        yield b"".join(out)
    if fed and not member.eof:
        raise Truncated(f"{path} ends in the middle of a compressed block (a recorder "
                        "that was killed?)")


def _next_member(raw: BinaryIO, path: str, magic: bytes, start: int,
                 on_corrupt: Callable[[str], None]) -> int:
    """Seeks `raw` to the first member's magic at or after `start`, says what was passed
    over, and returns the new offset (the file's size when no member is left)."""
    raw.seek(start)
    base, window = start, raw.read(READ_SIZE)
    while window:
        at = window.find(magic)
        if at >= 0:
            raw.seek(base + at)
            on_corrupt(f"{path}: a corrupt or cut compressed member before byte "
                       f"{base + at} was passed over (a recorder killed mid-write, then "
                       "run again?); read on from the next one")
            return base + at
        keep = window[1 - len(magic):]  # a magic cut across two reads
        more = raw.read(READ_SIZE)
        base += len(window) - len(keep)
        window = keep + more if more else b""
    end = raw.seek(0, 2)
    on_corrupt(f"{path}: corrupt from about byte {start} to its end ({end} bytes); "
               "what came before it was read")
    return end


AHEAD = 4  # pieces unpacked ahead of the reader, UNPACK_SIZE each at most
_END, _SAY, _FAILED = object(), object(), object()


def _ahead(pieces: Callable[[Callable[[str], None]], Iterator[bytes | None]],
           on_corrupt: Callable[[str], None]) -> Iterator[bytes | None]:
    """`pieces(on_corrupt)`, unpacked in a thread of its own up to AHEAD pieces ahead:
    zlib and zstandard unpack with the GIL released, so a replay parses on one core
    while the next pieces are unpacked on another. What it says (on_corrupt) and
    raises reaches the caller's thread in order, after the pieces before it; closing
    this generator ends the thread."""
    handoff: queue.Queue = queue.Queue(AHEAD)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def work() -> None:
        source = pieces(lambda text: put((_SAY, text)))
        try:
            for piece in source:
                if not put((piece, None)):
                    return
            put((_END, None))
        except BaseException as error:  # raised in the reader's thread
            put((_FAILED, error))
        finally:
            source.close()

    thread = threading.Thread(target=work, name="coinsuper-unpack", daemon=True)
    thread.start()
    try:
        while True:
            piece, detail = handoff.get()
            if piece is _END:
                return
            if piece is _SAY:
                on_corrupt(detail)
            elif piece is _FAILED:
                raise detail
            else:
                yield piece
    finally:
        stop.set()
        thread.join()


def _ignore(text: str) -> None:
    pass


def read_spans(path: str, *, on_long_line: Callable[[str], None] = _ignore,
               on_corrupt: Callable[[str], None] = _ignore, ahead: bool = True
               ) -> Iterator[tuple[bytes, int, int]]:
    """The complete lines of a recording as spans of the decompressed bytes: `(data,
    start, end)`, where data[start:end] is whole lines, each ending in a newline. Nothing
    is copied but a line cut across two reads. A line longer than LINE_LIMIT is skipped
    and told to `on_long_line` (an empty span is handed over for each read of it, so
    that a caller can keep its deadline); a corrupt compressed stretch passed over is told
    to `on_corrupt`. Raises Truncated at a cut-off end (a killed recorder), after every
    complete line before it. `ahead`: a compressed file is unpacked ahead in a thread
    (_ahead); False for a reader of a line or two, who would wait for a megabyte."""
    rest: list[bytes] = []  # the start of a line cut across reads
    try:
        yield from _spans(path, rest, on_long_line, on_corrupt, ahead)
    except Truncated as cut:
        raise Truncated(f"{cut}: " + ("its last, incomplete line was skipped" if rest else
                                      "every line before the cut was read")) from None
    if rest:
        raise Truncated(f"{path} ends in the middle of a line (a recorder that was "
                        "killed?): that last line was skipped")


def _spans(path: str, rest: list[bytes], on_long_line: Callable[[str], None],
           on_corrupt: Callable[[str], None], ahead: bool
           ) -> Iterator[tuple[bytes, int, int]]:
    """read_spans; `rest` holds the line in hand at the end."""
    size = 0  # of rest
    skipping = False  # in a line longer than LINE_LIMIT
    chunks = (_ahead(lambda say: _chunks(path, say), on_corrupt)
              if ahead and _format(path) is not None else _chunks(path, on_corrupt))
    for chunk in chunks:
        if chunk is None:  # a corrupt stretch: the line in hand is not whole
            rest.clear()
            size, skipping = 0, False
            continue
        start = 0
        if rest or skipping:
            first = chunk.find(b"\n")
            if first < 0:
                if not skipping:
                    rest.append(chunk)
                    size += len(chunk)
                    if size > LINE_LIMIT:
                        rest.clear()
                        size, skipping = 0, True
                        on_long_line(f"a line longer than {LINE_LIMIT:,} bytes, more than "
                                     "any recorded message takes")
                if skipping:
                    yield chunk, 0, 0  # nothing, but the caller may check its deadline
                continue
            if skipping:
                skipping = False
            elif size + first + 1 > LINE_LIMIT:
                on_long_line(f"a line longer than {LINE_LIMIT:,} bytes, more than any "
                             "recorded message takes")
            else:
                rest.append(chunk[:first + 1])
                line = b"".join(rest)
                yield line, 0, len(line)
            rest.clear()
            size = 0
            start = first + 1
        end = chunk.rfind(b"\n", start) + 1
        if end:
            yield chunk, start, end
        else:
            end = start
        if end < len(chunk):
            tail = chunk[end:]
            if len(tail) > LINE_LIMIT:
                skipping = True
                on_long_line(f"a line longer than {LINE_LIMIT:,} bytes, more than any "
                             "recorded message takes")
            else:
                rest.append(tail)
                size = len(tail)


def read_lines(path: str, **callbacks) -> Iterator[bytes]:
    """The complete lines of a recording, without their newlines (see read_spans)."""
    for data, start, end in read_spans(path, **callbacks):
        if end > start:
            yield from data[start:end - 1].split(b"\n")


def first_time(path: str) -> int:
    """The recv_ns of the file's first line, which says whether it is a recording: the
    Recorder starts every file with a line of its own (a mosquitto_sub capture, a text
    file or /dev/zero is not one; an over-long first line is not read to its end)."""
    def not_one(why: str) -> NotARecording:
        return NotARecording(f"{path} is not a recording ({why}): {WHAT_A_RECORDING_IS}")

    def too_long(why: str) -> None:
        raise not_one(f"its first line is longer than any recorded message, "
                      f"{LINE_LIMIT:,} bytes")

    try:
        for line in read_lines(path, on_long_line=too_long, ahead=False):
            try:
                return read_line(line)[0]
            except BadLine as bad:
                raise not_one(f"its first line is {bad}") from None
    except Truncated:
        raise not_one("it holds no complete line") from None
    raise not_one("it is empty" if _is_empty(path) else "it holds no complete line")


def _is_empty(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return not file.read(1)
    except OSError:
        return False


class BadLine(ValueError):
    """A line of a recording that is not a recorded message or event."""


def read_line(line: bytes) -> tuple[int, str | None, bytes | dict]:
    """A line the fast path did not read, checked by the JSON decoder: (recv_ns, topic,
    payload) for a message, (recv_ns, None, the event) for an event; BadLine for
    anything else (valid JSON of another shape included: NaN or 1e300 for a time, a
    number for a payload, a topic that UTF-8 cannot carry)."""
    try:
        item = json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadLine("not JSON") from None
    if type(item) is not dict:
        raise BadLine("not a JSON object")
    recv_ns = item.get("recv_ns")
    if type(recv_ns) is not int or not 0 <= recv_ns <= MAX_RECV_NS:
        raise BadLine("without recv_ns as a whole number of ns")
    if "event" in item:
        if type(item["event"]) is not str or type(item.get("reason", "")) is not str:
            raise BadLine("an event of another shape")
        return recv_ns, None, item
    topic = item.get("topic")
    try:
        if type(topic) is not str:
            raise BadLine("without a topic")
        topic.encode("utf-8")  # a lone surrogate from a \ud800 escape cannot be sent
        if "payload" in item:
            payload = item["payload"]
            if type(payload) is not str:
                raise BadLine("a payload that is not text")
            return recv_ns, topic, payload.encode("utf-8")
        payload = item.get("payload_b64")
        if type(payload) is not str:
            raise BadLine("without a payload")
        return recv_ns, topic, base64.b64decode(payload, validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise BadLine("a topic or payload that UTF-8 or base64 cannot carry") from None
