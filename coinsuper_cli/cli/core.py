# What a streaming command does, without Click: from its options to connection plans, a
# message source and a sink, then the pump between them. Everything it touches of the
# process (standard streams, whether they are terminals, the secret prompt) comes in an
# Environment, so tests can swap it.
from __future__ import annotations

import dataclasses
import io
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, TextIO

from ..api import exchange
from ..errors import Finished, UsageError, WriteFailed
from ..output.options import (TABLES, Output, OutputOptions, choose_format, resolve,
                              text_sink)
from ..printable import printable

if TYPE_CHECKING:  # imported where used: --help and --version need none of it
    from ..net import plans

_STDERR_LOCK = threading.Lock()
SANDBOX_PLAN_URL = "ws://127.0.0.1:0/mqtt"  # `topics --sandbox`: 0 is the free port


@dataclass
class Environment:
    """The process as a command sees it."""

    stdin: TextIO
    stdout: BinaryIO
    stderr: TextIO
    stdin_isatty: bool
    stdout_isatty: bool
    prompt_secret: Callable[[str], str]
    command: tuple[str, ...] = ()  # the command line, without secrets (for recordings)

    @classmethod
    def of_process(cls, prompt_secret: Callable[[str], str], *,
                   command: tuple[str, ...] = ()) -> Environment:
        # A large buffer of our own: the pump flushes once per batch received, so a
        # burst of messages costs one write, not one per line.
        try:
            stdout = io.BufferedWriter(StdoutFile(sys.stdout.fileno()), 256 * 1024)
        except (AttributeError, OSError, io.UnsupportedOperation):  # not a real file
            stdout = sys.stdout.buffer
        return cls(sys.stdin, stdout, sys.stderr, sys.stdin.isatty(), sys.stdout.isatty(),
                   prompt_secret, command)

    def warn(self, text: str) -> None:
        """One line on stderr, whole even when connections' threads warn at once; what
        came from the network in it cannot drive the terminal."""
        line = f"coinsuper: {printable(text)}\n"
        with _STDERR_LOCK:
            self.stderr.write(line)
            self.stderr.flush()

    def stdout_gone(self) -> None:
        """The reader of stdout went away: point stdout at /dev/null, so that the
        interpreter's last flush has nowhere to fail."""
        try:
            fd = self.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)


class StdoutFile(io.FileIO):
    """stdout's file descriptor, whose write failures (a full disk, an I/O error) are
    WriteFailed naming stdout, exit 7; a reader that went away stays BrokenPipeError, a
    quiet success. Buffers write to it once per batch or 256 kB, so the check costs
    nothing per record."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd, "wb", closefd=False)

    def write(self, data) -> int | None:
        try:
            return super().write(data)
        except BrokenPipeError:
            raise
        except OSError as error:
            # What is still buffered goes to /dev/null: the interpreter flushes it at
            # exit, where a failure would print "Exception ignored" instead of our line.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.fileno())
            os.close(devnull)
            raise WriteFailed(f"cannot write to stdout: {error.strerror or error}"
                              ) from None


def guard_stdout() -> None:
    """sys.stdout on a StdoutFile too, for what Click echoes (the sandbox's banner)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return
    sys.stdout.flush()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(StdoutFile(fd)),
                                  encoding=sys.stdout.encoding, errors=sys.stdout.errors,
                                  line_buffering=sys.stdout.line_buffering)


@dataclass(frozen=True)
class StreamOptions:
    """Every option the streaming commands share; the CLI declares each one once, with
    the same name as its field here, and checks each value as it parses it (the URL,
    the credentials, the topic prefix), so that what arrives here is well-formed."""

    output: OutputOptions
    url: str
    env: str
    sandbox: bool
    qos: int
    keepalive: int
    email: str | None
    access_key: str | None
    secret_key: str | None = dataclasses.field(repr=False)
    retries: int | None
    stale_after: float
    max_packet: int
    insecure: bool
    cafile: str | None
    cert: str | None
    key: str | None
    proxy: str | None
    verbose: bool
    record: str | None = None


@dataclass(frozen=True)
class Wanted:
    """What a command asks for: public channels of some symbols, or private channels
    (all on one connection, as the exchange allows one per access key)."""

    public: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    private: tuple[str, ...] = ()
    step: str | None = None
    range_ms: int | None = None


def stream(env: Environment, opts: StreamOptions, wanted: Wanted, *,
           dry_run: bool = False) -> None:
    """Plan the connections, then print them (`topics`, with `dry_run`) or stream them."""
    if dry_run:
        demo = SANDBOX_PLAN_URL if opts.sandbox else None
        describe(env, plan(target_for(opts, wanted, env, demo_url=demo), wanted))
        return
    output = resolve(opts.output, wanted.public or wanted.private,
                     choose_format(opts.output, env.stdout_isatty))
    sandbox = start_sandbox(opts, env) if opts.sandbox else None
    try:
        target = target_for(opts, wanted, env, demo_url=sandbox.ws_url if sandbox else None)
        run_plans(env, opts, output, plan(target, wanted))
    finally:
        if sandbox is not None:
            sandbox.stop()


def target_for(opts: StreamOptions, wanted: Wanted, env: Environment, *,
            demo_url: str | None) -> plans.Target:
    """Where to connect and as whom: the sandbox's demo account when there is one."""
    from ..net import plans

    if demo_url is not None:
        from ..sandbox.account import demo_account
        from ..sandbox.server import SandboxConfig

        account = demo_account(SandboxConfig.seed)
        credentials = plans.Credentials(account.email, account.access_key,
                                        account.secret_key)
        return plans.Target(demo_url, opts.env, opts.qos, opts.keepalive, credentials)
    secret_key = opts.secret_key
    if (wanted.private and opts.email and opts.access_key and not secret_key
            and env.stdin_isatty):
        secret_key = exchange.validate_secret_key(env.prompt_secret("Secret key"))
    credentials = plans.Credentials(opts.email, opts.access_key, secret_key)
    return plans.Target(opts.url, opts.env, opts.qos, opts.keepalive, credentials)


def plan(target: plans.Target, wanted: Wanted) -> list[plans.ConnectionPlan]:
    """One connection per public topic (the exchange derives the client id from the
    topic), and one for all the private channels (one per access key)."""
    from ..net import plans

    found = [plans.public_plan(target, channel, symbol, step=wanted.step,
                               range_ms=wanted.range_ms)
             for channel in wanted.public for symbol in wanted.symbols]
    if wanted.private:
        found.append(plans.private_plan(target, wanted.private))
    return found


def describe(env: Environment, connection_plans: list[plans.ConnectionPlan]) -> None:
    from ..net import plans

    lines = []
    for i, plan in enumerate(connection_plans, 1):
        lines.append(f"connection {i}")
        lines += [f"  {line}" for line in plans.describe(plan)]
    env.stdout.write("".join(line + "\n" for line in lines).encode("utf-8"))
    env.stdout.flush()


def start_sandbox(opts: StreamOptions, env: Environment):
    from ..sandbox.server import SandboxConfig, start_in_thread

    sandbox = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, env=opts.env))
    if opts.verbose:
        env.warn(f"sandbox listening on {sandbox.ws_url} and {sandbox.tcp_url}")
    return sandbox


def run_options(opts: StreamOptions, connection_plans: list[plans.ConnectionPlan], *,
                warn: Callable[[str], None]):
    """How the runner connects, from the streaming options: TLS, the proxy, retries,
    where warnings and (with -v) the connection log go."""
    from ..net.runner import RunOptions
    from ..net.tls import TLSOptions

    return RunOptions(
        tls=TLSOptions(insecure=opts.insecure, cafile=opts.cafile, cert=opts.cert,
                       key=opts.key),
        proxy=_proxy_settings(opts, connection_plans),
        max_packet=opts.max_packet, retries=opts.retries,
        stale_after=opts.stale_after or None, warn=warn,
        log=warn if opts.verbose else None)


def run_plans(env: Environment, opts: StreamOptions, output: Output,
         connection_plans: list[plans.ConnectionPlan]) -> None:
    from ..net.runner import Connections

    options = run_options(opts, connection_plans, warn=env.warn)
    recorder = start_recorder(env, opts.record)
    if recorder is not None:
        options = dataclasses.replace(options, on_state=recorder.on_state)
    try:
        play(env, output, lambda run_options: Connections(connection_plans, run_options),
             options, connection_plans, verbose=opts.verbose, recorder=recorder,
             sandbox=opts.sandbox)
    finally:
        if recorder is not None:
            recorder.close()


def _proxy_settings(opts: StreamOptions, connection_plans: list[plans.ConnectionPlan]):
    """--proxy, or the environment's proxy variables as curl reads them; a malformed one
    is bad usage before anything connects."""
    from ..net.proxy import ProxySettings

    if opts.key is not None and opts.cert is None:
        raise UsageError("--key needs --cert: the key of which client certificate?")
    settings = ProxySettings(explicit=opts.proxy, environ=os.environ)
    for plan in connection_plans:
        settings.for_url(plan.url)
    return settings


def start_recorder(env: Environment, path: str | None):
    if path is None:
        return None
    import time

    from ..recordings.writer import Recorder

    recorder = Recorder(path, command=list(env.command))
    recorder.begin(time.time_ns())
    return recorder


def hooked(source_for: Callable, options) -> Callable:
    """`source_for` as a live view calls it: with its callbacks (warn, log, on_state...)
    as keywords, which replace those fields of the run options."""
    return lambda **hooks: source_for(dataclasses.replace(options, **hooks))


def play(env: Environment, output: Output, source_for: Callable, options,
         connection_plans: list, *, verbose: bool, recorder=None, sandbox: bool = False,
         replay=None) -> None:
    """Runs a source into the output (and the recorder, if any):
    `source_for(run_options)` builds the source once the live view, if any, has hooked
    its callbacks into the options (`hooked`). `replay`: the Recording played, whose pace the live
    view's keys change."""
    from ..api.stream import pump

    if output.format == "live":
        from ..live.app import run_live  # rich is imported here, in live mode only

        run_live(connection_plans, hooked(source_for, options),
                 forward_state=options.on_state, sandbox=sandbox, replay=replay,
                 verbose=verbose, limits=output.limits, stdin=env.stdin, record=recorder)
        return
    sink = text_sink(output, env.stdout, warn=env.warn, verbose=verbose,
                     terminal=env.stdout_isatty)
    if recorder is not None:
        from ..recordings.writer import Tee

        sink = Tee(sink, recorder)
    try:
        pump(source_for(options), sink, output.limits)
    except BrokenPipeError:
        # The reader went away (| head): a quiet success, caught here before Click's
        # own EPIPE handling turns it into exit 1.
        env.stdout_gone()
        raise Finished("the reader of stdout went away") from None


@dataclass(frozen=True)
class ReplayOptions:
    """`coinsuper replay`: the recordings, what to play of them, at what pace, and the
    output options it shares with the streaming commands."""

    files: tuple[str, ...]
    output: OutputOptions
    verbose: bool
    speed: float | None  # None: as fast as possible; 0 stands for "the default"
    channels: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    start_ns: int | None = None
    end_ns: int | None = None
    max_gap: float | None = None  # the longest paced wait, in seconds


def replay(env: Environment, opts: ReplayOptions) -> None:
    """Plays recordings through the same parsers, de-duplication and outputs as a live
    run; recv comes from the recording."""
    from ..api.channels import CHANNELS
    from ..net.plans import ConnectionPlan
    from ..net.runner import RunOptions
    from ..recordings.replay import Recording, Selection, expand

    out = opts.output
    fmt = choose_format(out, env.stdout_isatty)
    speed = opts.speed
    if speed == 0:  # the default: the recorded pace on a terminal, at once in a pipe
        speed = 1.0 if fmt == "live" else None
    paths = expand(opts.files)
    selection = Selection(frozenset(opts.channels), frozenset(opts.symbols), opts.start_ns,
                          opts.end_ns)
    recording = Recording(paths, selection=selection, speed=speed, warn=_once(env.warn),
                          max_gap=opts.max_gap)
    plans = []
    channel_names = opts.channels or tuple(CHANNELS)
    # The live views need their panes before the first message; csv, --fields and
    # --template are checked against the channels that the recording holds, as its
    # first lines show them (a table skips, with a warning, a channel that comes later).
    if fmt == "live" or fmt in TABLES or out.fields is not None or out.template is not None:
        feeds = recording.feeds(20_000 if fmt == "live" else 2_000)
        if not feeds:
            raise UsageError("nothing to replay: no message in the recording matches")
        plans = [ConnectionPlan("replay:" + paths[0], lambda: None, feeds)]
        channel_names = tuple(dict.fromkeys(feed.channel for feed in feeds))
    output = resolve(out, channel_names, fmt)

    def source_for(run_options: RunOptions) -> Recording:
        def on_event(event: dict) -> None:
            if event.get("event") == "disconnected" and run_options.on_state:
                run_options.on_state(None, "gap", event.get("reason", ""))
        recording.on_event = on_event
        recording.warn = _once(run_options.warn)  # the live view's: its status line
        return recording

    play(env, output, source_for, RunOptions(warn=env.warn), plans, verbose=opts.verbose,
         replay=recording)


def _once(warn: Callable[[str], None]) -> Callable[[str], None]:
    """`warn`, saying each line once: a recording with a million bad lines is not a
    million lines of stderr."""
    said: set[str] = set()

    def warn_once(text: str) -> None:
        if text not in said and len(said) < 100:
            said.add(text)
            warn(text)
    return warn_once
