# `coinsuper sandbox`'s bootstrap without Click: the banner, serving until Ctrl-C, and a
# one-line UsageError, naming the option to fix, for a busy port or unusable PEM files.
from __future__ import annotations

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
from coinsuper_cli.sandbox.run import serve, server_context
from coinsuper_cli.sandbox.server import SandboxConfig

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
