# `coinsuper sandbox`'s bootstrap without Click: the banner, serving until Ctrl-C, and a
# one-line UsageError, naming the option to fix, for an empty host, a busy port or
# unusable PEM files; where it listens, and the warning when that is beyond loopback.
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import ssl
import threading
from urllib.parse import urlparse

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from coinsuper_cli.errors import UsageError
from coinsuper_cli.sandbox import server
from coinsuper_cli.sandbox.broker import CONNECT_TIMEOUT, MAX_KEPT_SESSIONS, SESSION_EXPIRY
from coinsuper_cli.sandbox.delivery import MAX_QUEUED
from coinsuper_cli.sandbox.logline import LOG_LINES_PER_SECOND
from coinsuper_cli.sandbox.run import serve, server_context, validate_host
from coinsuper_cli.sandbox.server import Sandbox, SandboxConfig

EXPORT = re.compile(r"export COINSUPER_(URL|EMAIL|ACCESS_KEY|SECRET_KEY)=\S+")


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    """Certificate files good and bad, by name; `ca` is the authority to trust."""
    directory = tmp_path_factory.mktemp("pem")
    ca = trustme.CA()
    cert, other = ca.issue_cert("127.0.0.1"), ca.issue_cert("127.0.0.1")
    encrypted = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    files = {
        "ca": ca.cert_pem.bytes(),
        "both": cert.private_key_and_cert_chain_pem.bytes(),
        "cert": cert.cert_chain_pems[0].bytes(),
        "key": cert.private_key_pem.bytes(),
        "other_key": other.private_key_pem.bytes(),
        "encrypted_key": encrypted.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret")),
        "garbage": b"not a certificate\n",
    }
    for name, data in files.items():
        (directory / f"{name}.pem").write_bytes(data)
    return lambda name: str(directory / f"{name}.pem")


def config() -> SandboxConfig:
    return SandboxConfig(ws_port=0, tcp_port=0)


def serve_until_ctrl_c(certfile=None, keyfile=None, *, check) -> list[str]:
    """Serve; once the banner is out, `check(banner)` from another thread, then Ctrl-C."""
    lines: list[str] = []
    failures: list[BaseException] = []

    def check_then_interrupt() -> None:
        try:
            check(lines)
        except BaseException as error:
            failures.append(error)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    def announce(line: str) -> None:
        lines.append(line)
        if line.startswith("export COINSUPER_SECRET_KEY="):
            threading.Thread(target=check_then_interrupt).start()

    with pytest.raises(KeyboardInterrupt):
        serve(config(), certfile=certfile, keyfile=keyfile, announce=announce)
    if failures:
        raise failures[0]
    return lines


def url_port(lines: list[str], scheme: str) -> int:
    [url] = re.findall(rf"{scheme}://\S+", "\n".join(lines[:4]))
    return urlparse(url).port


def test_banner_then_serving_until_ctrl_c():
    def reachable(lines):
        socket.create_connection(("127.0.0.1", url_port(lines, "mqtt"))).close()

    lines = serve_until_ctrl_c(check=reachable)
    assert lines[0] == "Coinsuper sandbox: simulated market data, not the real exchange"
    assert lines[1] == "  symbols          BTC_USD ETH_USD ETH_BTC LTC_USD XRP_BTC"
    assert lines[2].startswith("  MQTT over WS     ws://127.0.0.1:")
    assert lines[3].startswith("  MQTT over TCP    mqtt://127.0.0.1:")
    assert lines[4:6] == ["", "# Paste into another shell (sandbox secrets, made to be shown):"]
    assert all(EXPORT.fullmatch(line) for line in lines[6:]) and len(lines) == 10
    assert lines[6] == "export COINSUPER_URL=" + lines[2].split()[-1]
    with pytest.raises(ConnectionRefusedError):  # stopped on the way out
        socket.create_connection(("127.0.0.1", url_port(lines, "mqtt"))).close()


@pytest.mark.parametrize("files", [("both", None), ("cert", "key")])
def test_tls_from_pem_files(pem, files):
    certfile, keyfile = (pem(f) if f else None for f in files)
    client = ssl.create_default_context(cafile=pem("ca"))

    def handshake(lines):
        for scheme in ("wss", "mqtts"):
            raw = socket.create_connection(("127.0.0.1", url_port(lines, scheme)))
            with client.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass

    lines = serve_until_ctrl_c(certfile, keyfile, check=handshake)
    assert lines[6].startswith("export COINSUPER_URL=wss://")


@pytest.mark.parametrize("certfile, keyfile, words", [
    ("missing", None, "--certfile {certfile}: No such file"),
    ("garbage", None, "--certfile {certfile}: no PEM certificate"),
    ("key", None, "--certfile {certfile}: no PEM certificate"),
    ("cert", None, "--certfile {certfile}: no unencrypted PEM private key in it (give"),
    ("cert", "missing", "--keyfile {keyfile}: No such file"),
    ("cert", "garbage", "--keyfile {keyfile}: no unencrypted PEM private key"),
    ("cert", "encrypted_key", "--keyfile {keyfile}: no unencrypted PEM private key"),
    ("cert", "other_key", "--keyfile {keyfile}: not the private key of the --certfile"),
])
def test_unusable_pem_files_name_the_option(pem, certfile, keyfile, words):
    certfile, keyfile = pem(certfile), keyfile and pem(keyfile)
    with pytest.raises(UsageError) as raised:
        serve(config(), certfile=certfile, keyfile=keyfile, announce=print)
    message = str(raised.value)
    assert message.startswith(words.format(certfile=certfile, keyfile=keyfile))
    assert "\n" not in message


def test_keyfile_needs_certfile(pem):
    with pytest.raises(UsageError, match="^--keyfile needs --certfile$"):
        serve(config(), keyfile=pem("key"), announce=print)


def test_the_certificate_and_key_of_one_file_must_match(pem, tmp_path):
    mixed = tmp_path / "mixed.pem"
    mixed.write_text(open(pem("other_key")).read() + open(pem("cert")).read())
    with pytest.raises(UsageError, match="its private key is not its certificate's"):
        server_context(str(mixed))


def test_a_busy_port_is_a_usage_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(UsageError) as raised:
            serve(SandboxConfig(ws_port=0, tcp_port=taken), announce=print)
    assert str(raised.value).startswith("cannot listen on 127.0.0.1: ")
    assert str(taken) in str(raised.value) and "\n" not in str(raised.value)


# -- where it listens ---------------------------------------------------------------------------

def must_not_serve(line: str) -> None:
    raise AssertionError(f"served: {line}")  # ends serve() rather than run forever


@pytest.mark.parametrize("host", ["", "  "])
def test_an_empty_host_is_refused(host):
    # An empty host would listen on every interface behind the URL ws://:PORT/mqtt.
    with pytest.raises(UsageError, match="^--host is empty"):
        serve(SandboxConfig(host=host, ws_port=0, tcp_port=0), announce=must_not_serve)
    with pytest.raises(UsageError, match="--host"):
        validate_host(host)


def test_an_unknown_host_names_the_option():
    with pytest.raises(UsageError, match="^--host nonexistent.invalid: no such address"):
        serve(SandboxConfig(host="nonexistent.invalid", ws_port=0, tcp_port=0),
              announce=must_not_serve)


def serve_on(host: str, check=lambda lines: None) -> tuple[list[str], list[str]]:
    """The banner and the warnings of a sandbox on `host`, served until Ctrl-C."""
    lines: list[str] = []
    warnings: list[str] = []

    def announce(line: str) -> None:
        lines.append(line)
        if line.startswith("export COINSUPER_SECRET_KEY="):
            def then_interrupt():
                try:
                    check(lines)
                finally:
                    os.kill(os.getpid(), signal.SIGINT)
            threading.Thread(target=then_interrupt).start()

    with pytest.raises(KeyboardInterrupt):
        serve(SandboxConfig(host=host, ws_port=0, tcp_port=0), announce=announce,
              warn=warnings.append)
    return lines, warnings


def test_a_wildcard_host_prints_a_reachable_url_and_warns_once():
    reached = []
    lines, warnings = serve_on("0.0.0.0", lambda lines: reached.append(
        socket.create_connection(("127.0.0.1", url_port(lines, "mqtt"))).close()))
    assert lines[2].startswith("  MQTT over WS     ws://127.0.0.1:")
    assert lines[3].startswith("  MQTT over TCP    mqtt://127.0.0.1:")
    assert lines[4] == ("  listening on     0.0.0.0 (every IPv4 interface, other machines "
                        "included)")
    assert reached == [None]
    [warning] = warnings
    assert warning.startswith("warning: listening on 0.0.0.0, beyond this machine")


def test_loopback_hosts_do_not_warn():
    lines, warnings = serve_on("127.0.0.1")
    assert warnings == [] and len(lines) == 10


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_host_is_bracketed_in_urls():
    def reachable(lines):
        socket.create_connection(("::1", url_port(lines, "mqtt"))).close()

    lines, warnings = serve_on("::1", reachable)
    assert re.fullmatch(r"  MQTT over WS     ws://\[::1\]:\d+/mqtt", lines[2])
    assert re.fullmatch(r"  MQTT over TCP    mqtt://\[::1\]:\d+", lines[3])
    assert warnings == []


def test_port_0_is_one_port_on_every_address_of_the_host(monkeypatch):
    # A name with two addresses, as localhost often has (127.0.0.1 and ::1): asyncio
    # alone would give each its own free port, and the URL could name only one.
    async def two_addresses(host):
        return ["127.0.0.1", "127.0.0.2"]

    monkeypatch.setattr(server, "listen_addresses", two_addresses)

    async def go():
        sandbox = Sandbox(SandboxConfig(host="localhost", ws_port=0, tcp_port=0))
        await sandbox.start()
        try:
            for listener in sandbox.listeners:
                names = [sock.getsockname() for sock in listener.sockets]
                assert {address for address, _ in names} == {"127.0.0.1", "127.0.0.2"}
                assert len({port for _, port in names}) == 1
            assert sandbox.ws_url.startswith("ws://localhost:")
            assert sandbox.beyond_loopback == []
        finally:
            await sandbox.stop()
    asyncio.run(go())


def test_common_free_port_binds_every_address():
    port = server.common_free_port(["127.0.0.1", "127.0.0.2"])
    for address in ("127.0.0.1", "127.0.0.2"):
        with socket.socket() as probe:
            probe.bind((address, port))


def test_the_help_states_the_limits_the_code_applies():
    from click.testing import CliRunner

    from coinsuper_cli.cli.main import cli

    text = " ".join(CliRunner().invoke(cli, ["sandbox", "--help"]).output.split())
    for phrase in (f"has {CONNECT_TIMEOUT:g} s to sign in",
                   f"at most {MAX_KEPT_SESSIONS} kept sessions",
                   f"forgotten after {SESSION_EXPIRY:g} s away",
                   f"at most {MAX_QUEUED} QoS 1/2 messages",
                   f"at most {LOG_LINES_PER_SECOND} log lines a second"):
        assert phrase in text
