# `coinsuper relay`, without Click: plan the upstream connections as the streaming
# commands do (one per public topic, one for the private channels), connect the target
# (relay/registry.py: an MQTT broker or Redis streams, by --to's scheme), then pump the
# runner's messages into the queue until --count, --timeout or Ctrl-C, and publish
# what is still queued before leaving. The target is driven only through its protocol.
from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass

from .. import signals
from ..api.channels import PUBLIC
from ..errors import CountNotReached, Finished, UsageError
from ..output.options import OutputOptions
from ..relay.queue import DEFAULT_BUFFER, DEFAULT_BUFFER_BYTES, RelayQueue
from ..relay.status import RelayStatus, Summaries, UpstreamStates
from . import core
from .core import Environment, StreamOptions, Wanted

DRAIN_SECONDS = 3.0  # at exit, how long what is still queued may take to go out


@dataclass(frozen=True)
class RelayOptions:
    """What `relay` takes besides the streaming commands' options."""

    to: str
    symbols: tuple[str, ...]
    channels: tuple[str, ...] = PUBLIC
    private: bool = False
    step: str | None = None
    range_ms: int | None = None
    to_qos: int = 0
    buffer: int = DEFAULT_BUFFER
    normalized: bool = False
    buffer_bytes: int = DEFAULT_BUFFER_BYTES
    markets: bool = False  # also the board's topics (day candle, depth); tickers
    max_len: int | None = None  # --max-len as given: a Redis stream's length, about

    def wanted(self) -> Wanted:
        from ..api.channels import PRIVATE

        return Wanted(public=self.channels, symbols=self.symbols,
                      private=PRIVATE if self.private else (), step=self.step,
                      range_ms=self.range_ms)


def check_output(output: OutputOptions, stdout_isatty: bool) -> bool:
    """The relay writes no records: of the output options only --count, --timeout and
    --format live apply. True for the live status view (the default on a terminal);
    otherwise its status is a summary line a minute on stderr."""
    given = [name for name, value in (
        ("--fields", output.fields), ("--template", output.template),
        ("--time", output.time), ("--since", output.since)) if value is not None]
    if output.no_header:
        given.append("--no-header")
    if given:
        raise UsageError(f"{given[0]} does not apply to relay: it publishes payloads to "
                         "--to and prints no records")
    if output.format not in (None, "live"):
        raise UsageError(f"--format {output.format} does not apply to relay: it prints no "
                         "records; its status is a live view on a terminal, else a "
                         "summary line a minute on stderr")
    if output.format == "live" and not stdout_isatty:
        raise UsageError("--format live needs a terminal on stdout")
    return stdout_isatty


def plans_for(target, relay: RelayOptions) -> list:
    """The connections of --channels, and with --markets those of the board's topics
    (each symbol's day candle and depth) that --channels does not hold already: two
    connections on one topic would share a client id and drop each other."""
    found = core.plan(target, relay.wanted())
    if relay.markets:
        from .markets import DAY_MS, WANTED

        topics = {feed.topic for plan in found for feed in plan.feeds}
        found += [plan for plan in core.plan(target, Wanted(
            public=WANTED, symbols=relay.symbols, range_ms=DAY_MS))
            if plan.feeds[0].topic not in topics]
    return found


def relay(env: Environment, opts: StreamOptions, relay: RelayOptions, *,
          dry_run: bool = False) -> None:
    """Plan, then print the plan (`topics relay`) or relay until told to stop."""
    live = check_output(opts.output, env.stdout_isatty)
    wanted = relay.wanted()
    from ..relay.registry import check_target, describe_target
    from ..relay.target import TargetSettings

    settings = TargetSettings(relay.to, qos=relay.to_qos, max_len=relay.max_len)
    check_target(settings)  # bad usage before anything starts
    if dry_run:
        demo = core.SANDBOX_PLAN_URL if opts.sandbox else None
        found = plans_for(core.target_for(opts, wanted, env, demo_url=demo), relay)
        core.describe(env, found)
        env.stdout.write(f"{describe_target(settings)}\n".encode())
        env.stdout.flush()
        return
    if not opts.sandbox:  # missing credentials are bad usage before anything starts
        found = plans_for(core.target_for(opts, wanted, env, demo_url=None), relay)
    sandbox = core.start_sandbox(opts, env) if opts.sandbox else None
    try:
        if sandbox is not None:
            found = plans_for(core.target_for(opts, wanted, env, demo_url=sandbox.ws_url),
                              relay)
        _run(env, opts, relay, found, live=live)
    finally:
        if sandbox is not None:
            sandbox.stop()


def _run(env: Environment, opts: StreamOptions, relay: RelayOptions, found: list, *,
         live: bool = False) -> None:
    from ..api.stream import Limits, pump
    from ..net.runner import Connections
    from ..relay.registry import open_target
    from ..relay.sink import RelaySink
    from ..relay.target import TargetSettings
    from ..urls import split_credentials

    notes = deque([""], maxlen=1)  # on a terminal, warnings and log lines go to the view
    warn = notes.append if live else env.warn
    options = core.run_options(opts, found, warn=warn)
    queue = RelayQueue(relay.buffer, relay.buffer_bytes)
    target = open_target(queue, TargetSettings(
        relay.to, topics=tuple(feed.topic for plan in found for feed in plan.feeds),
        qos=relay.to_qos, max_len=relay.max_len, keepalive=opts.keepalive,
        tls=options.tls, proxy=options.proxy.for_url(split_credentials(relay.to)[0]),
        max_packet=opts.max_packet, log=options.log, warn=warn))
    upstream = UpstreamStates()
    upstream.expect(found)
    recorder = core.start_recorder(env, opts.record)

    def on_both(plan, state, detail=""):
        upstream(plan, state, detail)
        recorder.on_state(plan, state, detail)
    options = dataclasses.replace(options,
                                  on_state=upstream if recorder is None else on_both)

    def snapshot() -> RelayStatus:
        down = target.status()
        # What the target refused one by one is dropped too: in = out + dropped.
        return RelayStatus(
            down.target, received=sink.received, published=down.published,
            delivered=down.delivered, queued=len(queue), buffer=queue.limit,
            dropped=queue.dropped + down.rejected, pending=down.pending,
            upstream=upstream.snapshot(), downstream=down.state,
            upstream_lost=upstream.lost, downstream_lost=down.reconnects,
            downgraded=down.downgraded)

    summaries = Summaries(snapshot, env.warn)

    def after_flush() -> None:
        target.check()
        if not live:
            summaries.maybe_write()

    derive, derive_topics = None, frozenset()
    if relay.markets and relay.normalized:  # the board's tickers, on coinsuper/v1/ticker/
        from ..markets.board import BoardParser, BoardState
        from .markets import is_day_candle

        board = BoardParser(BoardState.start(relay.symbols), lambda: 0)
        derive = board.fold
        derive_topics = frozenset(feed.topic for plan in found for feed in plan.feeds
                                  if feed.channel == "depth" or is_day_candle(feed))
    sink = RelaySink(queue, normalized=relay.normalized, warn=warn,
                     after_flush=after_flush, derive=derive, derive_topics=derive_topics)
    output = sink
    if recorder is not None:
        from ..recordings.writer import Tee

        output = Tee(sink, recorder)
    target.start()
    count, timeout = opts.output.count, opts.output.timeout
    started = time.monotonic()
    try:
        if not target.wait_ready(timeout):
            # --timeout ends the relay whatever step it is in: here the target was
            # still being reached (a hostile one can take its whole connect timeout).
            raise CountNotReached(count, 0, timeout) if count else Finished("timeout")
    except BaseException:
        target.close(0)
        raise
    try:
        # --timeout counts from the start, the wait for the target included.
        limits = Limits(count, None if timeout is None else
                        max(timeout - (time.monotonic() - started), 0.001))

        def work(stop=None) -> None:
            pump(Connections(found, dataclasses.replace(options, stop=stop)), output,
                 limits, stop=stop)
        if live:
            from ..live.relay_app import run_relay_view

            run_relay_view(work, snapshot, note=lambda: notes[-1], stdin=env.stdin,
                           sandbox=opts.sandbox)
        else:
            work()
    finally:
        # Whole, whatever stopped the relay: a SIGTERM that comes now waits for it.
        with signals.deferred():
            try:
                target.close(DRAIN_SECONDS)
            finally:
                try:
                    if recorder is not None:
                        recorder.close()
                finally:
                    summaries.write()
