"""TLS client certificates (mutual TLS): the checks that turn a bad --cert or --key into
a one-line usage error, and real mosquitto listeners, MQTT over TLS and over secure
WebSocket, that require a certificate from our trustme CA: with one, MQTT CONNECT is
answered; without one, or with one from another CA, the connection fails saying so."""
from __future__ import annotations

import os
import subprocess

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from loopback import free_port, stop_process, wait_for_port
from test_proxy import mqtt_connect as connect_through

from coinsuper_cli.errors import ConnectFailed, UsageError
from coinsuper_cli.mqtt.packets import ConnAck
from coinsuper_cli.net.tls import CertificateRefused, TLSOptions, check_cert, check_key


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    """PEM files by name: `ca`, the broker's `server` pair, our `client` pair (also as
    `both`, key and certificate in one file) and bad ones; `stranger` is a client pair
    issued by another CA."""
    directory = tmp_path_factory.mktemp("pem")
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client, other = ca.issue_cert("client@example.test"), ca.issue_cert("other@example.test")
    stranger = other_ca.issue_cert("stranger@example.test")
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    files = {
        "ca": ca.cert_pem.bytes(),
        "server.crt": server.cert_chain_pems[0].bytes(),
        "server.key": server.private_key_pem.bytes(),
        "client.crt": client.cert_chain_pems[0].bytes(),
        "client.key": client.private_key_pem.bytes(),
        "both": client.private_key_and_cert_chain_pem.bytes(),
        "other.key": other.private_key_pem.bytes(),
        "stranger.crt": stranger.cert_chain_pems[0].bytes(),
        "stranger.key": stranger.private_key_pem.bytes(),
        "encrypted.key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret")),
        "garbage": b"not a certificate\n",
        "empty": b"",
        "der": client.cert_chain_pems[0].bytes().replace(b"CERTIFICATE", b"CERTIFICATX"),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return lambda name: str(directory / name)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert message.isprintable() and len(message) < 300, message
    return message


# -- checks -----------------------------------------------------------------------------

def test_good_cert_and_key_pass_and_load_into_the_context(pem):
    assert check_cert(pem("client.crt")) == pem("client.crt")
    assert check_key(pem("client.key")) == pem("client.key")
    assert check_cert(pem("both")) == check_key(pem("both")) == pem("both")
    TLSOptions(cafile=pem("ca"), cert=pem("client.crt"), key=pem("client.key")).context()
    TLSOptions(cafile=pem("ca"), cert=pem("both")).context()  # the key in the cert file


@pytest.mark.parametrize("name", ["garbage", "empty", "der", "client.key", "missing",
                                  "a directory"])
def test_a_file_without_a_certificate_is_a_usage_error(pem, name, tmp_path):
    path = {"missing": str(tmp_path / "nothing.pem"), "a directory": str(tmp_path)}.get(
        name) or pem(name)
    with pytest.raises(UsageError) as error:
        check_cert(path)
    assert repr(path) in one_line(error)
    with pytest.raises(UsageError):  # and the same when the context is built
        TLSOptions(cert=path, key=pem("client.key")).context()


@pytest.mark.parametrize("name", ["garbage", "empty", "client.crt", "missing"])
def test_a_file_without_a_private_key_is_a_usage_error(pem, name, tmp_path):
    path = str(tmp_path / "nothing.pem") if name == "missing" else pem(name)
    with pytest.raises(UsageError) as error:
        check_key(path)
    assert repr(path) in one_line(error)
    with pytest.raises(UsageError):
        TLSOptions(cert=pem("client.crt"), key=path).context()


def test_a_cert_without_its_key_is_a_usage_error(pem):
    with pytest.raises(UsageError, match="no private key") as error:
        TLSOptions(cert=pem("client.crt")).context()
    one_line(error)


def test_a_key_that_does_not_match_the_cert_is_a_usage_error(pem):
    with pytest.raises(UsageError, match="does not match") as error:
        TLSOptions(cert=pem("client.crt"), key=pem("other.key")).context()
    assert "other.key" in one_line(error)


def test_an_encrypted_key_is_a_usage_error_not_a_prompt(pem):
    with pytest.raises(UsageError, match="encrypted") as error:
        TLSOptions(cert=pem("client.crt"), key=pem("encrypted.key")).context()
    assert "secret" not in one_line(error)


def test_a_key_without_a_cert_is_a_usage_error(pem):
    with pytest.raises(UsageError, match="without its certificate"):
        TLSOptions(key=pem("client.key")).context()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_cert_is_a_usage_error(pem, tmp_path):
    path = tmp_path / "client.crt"
    path.write_bytes(open(pem("client.crt"), "rb").read())
    path.chmod(0)
    with pytest.raises(UsageError, match="Permission denied"):
        check_cert(str(path))


# -- against mosquitto ------------------------------------------------------------------

@pytest.fixture(scope="module")
def mtls_mosquitto(pem, tmp_path_factory):
    """mosquitto with an MQTT-over-TLS and a secure WebSocket listener, both requiring
    a client certificate from the CA; yields (mqtts URL, wss URL)."""
    directory = tmp_path_factory.mktemp("mtls")
    tcp_port, ws_port = free_port(), free_port()
    tls = [f"cafile {pem('ca')}", f"certfile {pem('server.crt')}",
           f"keyfile {pem('server.key')}", "require_certificate true"]
    conf = directory / "mosquitto.conf"
    conf.write_text("\n".join([
        "per_listener_settings false", "allow_anonymous true", "persistence false",
        "user root",  # as root it would switch to a user who cannot read tmp_path
        f"listener {tcp_port} 127.0.0.1", *tls,
        f"listener {ws_port} 127.0.0.1", "protocol websockets", *tls,
    ]) + "\n")
    with (directory / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        for port in (tcp_port, ws_port):
            wait_for_port(port, alive=lambda: process.poll() is None)
        yield f"mqtts://127.0.0.1:{tcp_port}", f"wss://127.0.0.1:{ws_port}/mqtt"
    finally:
        stop_process(process)


def mqtt_connect(url: str, tls: TLSOptions) -> ConnAck:
    """Opens a transport, sends MQTT CONNECT and returns the CONNACK."""
    return connect_through(url, tls, proxy=None)


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_with_the_right_cert_and_key_the_broker_accepts_connect(mtls_mosquitto, pem, scheme):
    url = mtls_mosquitto[scheme == "wss"]
    for tls in (TLSOptions(cafile=pem("ca"), cert=pem("client.crt"), key=pem("client.key")),
                TLSOptions(cafile=pem("ca"), cert=pem("both"))):
        assert mqtt_connect(url, tls) == ConnAck(0)


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_without_a_cert_the_connection_fails_naming_the_missing_certificate(
        mtls_mosquitto, pem, scheme):
    url = mtls_mosquitto[scheme == "wss"]
    with pytest.raises(CertificateRefused) as error:
        mqtt_connect(url, TLSOptions(cafile=pem("ca")))
    message = one_line(error)
    assert isinstance(error.value, ConnectFailed)  # exit 4
    assert message.startswith(f"could not connect to {url}: ")
    assert "client certificate (--cert/--key)" in message


@pytest.mark.parametrize("scheme", ["mqtts", "wss"])
def test_a_cert_from_another_ca_is_refused_saying_so(mtls_mosquitto, pem, scheme):
    url = mtls_mosquitto[scheme == "wss"]
    tls = TLSOptions(cafile=pem("ca"), cert=pem("stranger.crt"), key=pem("stranger.key"))
    with pytest.raises(ConnectFailed) as error:
        mqtt_connect(url, tls)
    message = one_line(error)
    assert message.startswith(f"could not connect to {url}: ")
    assert isinstance(error.value, CertificateRefused)
    assert ("refused the client certificate" in message
            or "may not accept the client certificate" in message)
