# `coinsuper sandbox` in the foreground: TLS from PEM files, both listeners, a banner
# with the demo account as lines to paste into another shell, then serving until Ctrl-C.
# What the user can fix (an empty host, a busy port, an unusable certificate) is a
# UsageError of one line that names what to fix; listening beyond this machine is
# allowed, with a warning, since anyone can then sign in as the demo account.
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import shlex
import signal
import socket
import ssl
from collections.abc import Callable

from .. import signals
from ..errors import UsageError
from .logline import warn_on_stderr
from .server import Sandbox, SandboxConfig


def validate_host(host: str | None) -> str:
    """The address to listen on; an empty one (which would mean every interface, behind
    a URL nobody can use) is refused."""
    if not host or not host.strip():
        raise UsageError("--host is empty: give an address to listen on, like 127.0.0.1 "
                         "(this machine only) or 0.0.0.0 (every IPv4 interface)")
    return host


def serve(config: SandboxConfig, *, certfile: str | None = None,
          keyfile: str | None = None, announce: Callable[[str], None],
          warn: Callable[[str], None] = warn_on_stderr) -> None:
    """Run a sandbox until Ctrl-C, which propagates as KeyboardInterrupt, or SIGTERM or
    SIGHUP, raised (signals.py) once the sandbox has stopped.

    Args:
        config: what to serve and where; `certfile` replaces its ssl_context.
        certfile: serve TLS (wss://, mqtts://) with this PEM certificate chain, which
            holds the private key too unless `keyfile` is given.
        keyfile: the certificate's private key, unencrypted PEM.
        announce: writes one line of the banner and flushes it: scripts read the
            export lines while the sandbox runs.
        warn: writes a warning (by default on stderr): once, when the sandbox listens
            beyond this machine.
    """
    validate_host(config.host)
    if keyfile and not certfile:
        raise UsageError("--keyfile needs --certfile")
    if certfile:
        config = dataclasses.replace(config, ssl_context=server_context(certfile, keyfile))
    asyncio.run(_serve(config, announce, warn))


async def _serve(config: SandboxConfig, announce: Callable[[str], None],
                 warn: Callable[[str], None]) -> None:
    # A signal raised inside the event loop would land in whichever callback runs, and
    # asyncio reports and drops any exception but KeyboardInterrupt there: so a stop
    # signal only ends the wait below, and is raised once the sandbox has stopped.
    # Ctrl-C too, on every Python: 3.10's asyncio.run lets KeyboardInterrupt out of
    # whichever task it hits, and then logs the tasks it cancels as failures (tracebacks
    # on stderr); from 3.11 it cancels the main task instead.
    loop, signalled = asyncio.get_running_loop(), asyncio.Event()
    interrupted: list[bool] = []

    def on_sigint() -> None:
        interrupted.append(True)
        signalled.set()
    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # not here: as before
        pass
    with signals.deferred(hasten=lambda: loop.call_soon_threadsafe(signalled.set)):
        await _serve_until(signalled, config, announce, warn)
    if interrupted:
        raise KeyboardInterrupt


async def _serve_until(signalled: asyncio.Event, config: SandboxConfig,
                       announce: Callable[[str], None],
                       warn: Callable[[str], None]) -> None:
    sandbox = Sandbox(config)
    try:
        await sandbox.start()
    except socket.gaierror as error:
        raise UsageError(f"--host {config.host}: no such address "
                         f"({error.strerror or error})") from None
    except OSError as error:
        raise UsageError(f"cannot listen on {config.host}: {error.strerror or error}"
                         ) from None
    try:
        if sandbox.beyond_loopback:
            warn(f"warning: listening on {', '.join(sandbox.beyond_loopback)}, beyond this "
                 "machine: anyone who can reach it may connect, and the demo account's "
                 "keys are no secret (the same --seed always gives the same keys)")
        for line in banner(sandbox):
            announce(line)
        await signalled.wait()
    finally:
        await sandbox.stop()


def banner(sandbox: Sandbox) -> list[str]:
    """Where a started sandbox listens, and its demo account as shell exports."""
    account = sandbox.account
    what = ("a recording replayed" if sandbox.config.replay else "simulated market data")
    lines = [f"Coinsuper sandbox: {what}, not the real exchange",
             f"  symbols          {' '.join(sandbox.symbols)}",
             f"  MQTT over WS     {sandbox.ws_url}",
             f"  MQTT over TCP    {sandbox.tcp_url}",
             *_reach(sandbox),
             "",
             "# Paste into another shell (sandbox secrets, made to be shown):"]
    for name, value in (("URL", sandbox.ws_url), ("EMAIL", account.email),
                        ("ACCESS_KEY", account.access_key),
                        ("SECRET_KEY", account.secret_key)):
        lines.append(f"export COINSUPER_{name}={shlex.quote(value)}")
    return lines


def _reach(sandbox: Sandbox) -> list[str]:
    """A banner line for a wildcard host, whose URLs name loopback instead."""
    host = sandbox.config.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return []
    if not address.is_unspecified:
        return []
    return [f"  listening on     {host} (every IPv{address.version} interface, other "
            "machines included)"]


def server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A TLS server context from PEM files; a UsageError names the option at fault."""
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None:
            try:
                with open(path, "rb"):
                    pass
            except OSError as error:
                raise UsageError(f"{option} {path}: {error.strerror or error}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # A password callable, so that an encrypted key fails here instead of OpenSSL
        # asking for a pass phrase on the terminal.
        context.load_cert_chain(certfile, keyfile, password=lambda: "")
    except ssl.SSLError as error:
        raise UsageError(_pem_problem(certfile, keyfile, error)) from None
    return context


def _pem_problem(certfile: str, keyfile: str | None, error: ssl.SSLError) -> str:
    """Which file is wrong: OpenSSL's "PEM lib" says nothing of that."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_verify_locations(cafile=certfile)  # reads the certificates alone
    except ssl.SSLError:
        return f"--certfile {certfile}: no PEM certificate in it"
    if error.reason == "KEY_VALUES_MISMATCH":
        if keyfile is None:
            return f"--certfile {certfile}: its private key is not its certificate's"
        return f"--keyfile {keyfile}: not the private key of the --certfile certificate"
    if keyfile is None:
        return (f"--certfile {certfile}: no unencrypted PEM private key in it "
                "(give the key with --keyfile)")
    return f"--keyfile {keyfile}: no unencrypted PEM private key in it"
