# The output options that the streaming commands and `replay` share, checked together
# against the command's channels before anything connects (--format, --fields,
# --template, --time, --since, --no-header, --count, --timeout), and the sink they choose.
# The CLI imports it to declare --format: it imports the parsers only when called.
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..api.records import Record
    from ..api.stream import Limits, Sink
    from .shape import Template

FORMATS = ("live", "jsonl", "raw", "csv", "tsv")
TABLES = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class OutputOptions:
    """The output options as given (None: not given)."""

    format: str | None = None
    count: int | None = None
    timeout: float | None = None
    fields: tuple[str, ...] | None = None
    template: str | None = None
    time: str | None = None
    since: str | int | None = None  # "now" or ms since the epoch
    no_header: bool = False


@dataclass(frozen=True)
class Output:
    """The output a command will write: a format ("template" for --template), and what
    the sink and the pump need, all checked."""

    format: str
    limits: Limits
    channels: tuple[str, ...]
    fields: tuple[str, ...] | None = None
    template: Template | None = None
    time: str = "ms"
    header: bool = True


def resolve(opts: OutputOptions, channel_names: Sequence[str], fmt: str, *,
            now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> Output:
    """Checks the output options together against the channels that will come
    (UsageError, exit 2, for what cannot be done) and gives the output they ask for.

    Args:
        fmt: what choose_format chose.
    """
    from ..api.stream import Limits

    channel_names = tuple(channel_names)
    _check_applies(opts, fmt, channel_names)
    fields = template = None
    if opts.fields is not None:
        from .shape import check_fields

        fields = check_fields(opts.fields, channel_names, table=fmt in TABLES)
    if opts.template is not None:
        from .shape import Template

        template = Template(opts.template, channel_names, opts.time or "ms")
    keep = None
    if opts.since is not None:
        keep = since_filter(now_ms() if opts.since == "now" else opts.since)
    return Output(fmt, Limits(opts.count, opts.timeout, keep), channel_names, fields,
                  template, opts.time or "ms", not opts.no_header)


def choose_format(opts: OutputOptions, stdout_isatty: bool) -> str:
    """--format, or its default: --template's lines; jsonl when keys or times are
    shaped or stdout is not a terminal; else the live view."""
    if opts.template is not None:
        if opts.format is not None:
            raise UsageError(f"--template writes its own lines: leave out --format "
                             f"{opts.format}")
        return "template"
    fmt = opts.format
    if fmt is None:
        if opts.no_header:
            raise UsageError("--no-header applies to --format csv and tsv")
        shaped = opts.fields is not None or opts.time is not None
        fmt = "live" if stdout_isatty and not shaped else "jsonl"
    if fmt == "live" and not stdout_isatty:
        raise UsageError("--format live needs a terminal on stdout; use jsonl, csv, tsv "
                         "or raw in a pipe")
    return fmt


def _check_applies(opts: OutputOptions, fmt: str, channel_names: tuple[str, ...]) -> None:
    """Each option is refused where it would silently do nothing."""
    given = [name for name, value in (("--fields", opts.fields), ("--time", opts.time))
             if value is not None]
    if fmt in ("live", "raw") and given:
        what = "the live view" if fmt == "live" else "payloads as received"
        raise UsageError(f"{given[0]} does not apply to --format {fmt} ({what}): use "
                         "jsonl, csv, tsv or --template")
    if fmt == "template" and opts.fields is not None:
        raise UsageError("--fields does not apply to --template, which names its own keys")
    if fmt == "raw" and opts.since is not None:
        raise UsageError("--since does not apply to --format raw: a payload is written "
                         "whole, old records and all; use jsonl, csv or tsv")
    if opts.no_header and fmt not in TABLES:
        raise UsageError("--no-header applies to --format csv and tsv")
    if fmt in TABLES and len(channel_names) > 1:
        raise UsageError(f"--format {fmt} takes one channel, and this has "
                         f"{', '.join(channel_names)}: use jsonl, or one channel (a command of one, or "
                         "replay --channel)")


def since_filter(since_ms: int) -> Callable[[Record], bool]:
    """--since: keeps records whose exchange time is at or after `since_ms` (and those
    of channels that carry none)."""
    from ..api.channels import CHANNELS

    when = {name: channel.when for name, channel in CHANNELS.items()}
    timeless = lambda record: None  # noqa: E731  (derived records: a ticker is current)

    def keep(record: Record) -> bool:
        moment = when.get(record.channel, timeless)(record)
        return moment is None or moment >= since_ms
    return keep


def text_sink(output: Output, stdout, *, warn: Callable[[str], None], verbose: bool,
              terminal: bool) -> Sink:
    """The sink of a text output (every format but live)."""
    from . import sinks

    fmt = output.format
    if fmt == "raw":
        return sinks.RawSink(stdout, with_topic=verbose, terminal=terminal)
    if fmt == "template":
        return sinks.TemplateSink(stdout, output.template, warn=warn)
    if fmt in TABLES:
        from .shape import Rows

        rows = Rows(output.channels[0], output.fields, output.time, terminal=terminal)
        return sinks.TableSink(stdout, rows, delimiter=TABLES[fmt], header=output.header,
                               warn=warn)
    return sinks.JsonlSink(stdout, warn=warn, keys=output.fields, time=output.time)
