"""Proxies and client certificates through the installed command (PRODUCT.md,
"Connecting from anywhere"): the streaming commands reach the sandbox through a real HTTP
CONNECT proxy (tinyproxy) and a real SOCKS5 proxy (Dante) and say so with -v; a refused
proxy is exit 4 naming it; mutual TLS against mosquitto streams with the right
certificate and exits 4 with a clear line without one."""
import json
import subprocess

import pytest
from conftest import SAMPLES, clean_env, coinsuper_command, start_sandbox, stop_sandbox
from test_client_cert import mtls_mosquitto, pem  # noqa: F401 (fixtures)
from test_proxy import Tinyproxy, dante  # noqa: F401 (a fixture)


def coinsuper(*args, timeout=60, **env):
    return subprocess.run(coinsuper_command() + list(args), capture_output=True, text=True,
                          timeout=timeout, env=clean_env(**env))


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory):
    proxy = Tinyproxy(tmp_path_factory.mktemp("tinyproxy"), [])  # CONNECT to any port
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def sandbox():
    process, exports = start_sandbox("--ws-port", "0", "--tcp-port", "0")
    yield exports
    stop_sandbox(process)


def streams_through(done, proxy_url: str) -> None:
    assert done.returncode == 0, done.stderr
    trades = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(trades) == 2 and all(t["channel"] == "trade" for t in trades)
    assert f"through proxy {proxy_url}" in done.stderr


def test_the_sandbox_through_an_http_proxy_with_v_saying_so(tinyproxy):
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--proxy", tinyproxy.url, "-v",
                     "--count", "2")
    streams_through(done, tinyproxy.url)
    assert "CONNECT" in tinyproxy.log.read_text(errors="replace")


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_the_sandbox_through_a_socks5_proxy(dante, scheme):
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--proxy", dante.url(scheme), "-v",
                     "--count", "2")
    streams_through(done, dante.url(scheme))


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_an_mqtt_url_through_each_proxy(sandbox, tinyproxy, dante, kind):
    proxy = tinyproxy.url if kind == "http" else dante.url()
    done = coinsuper("trades", "BTC_USD", "--url", sandbox["tcp_url"], "-v", "--count", "2",
                     COINSUPER_PROXY=proxy)
    streams_through(done, proxy)


def test_https_proxy_and_no_proxy_from_the_environment(sandbox, tinyproxy):
    url = sandbox["COINSUPER_URL"]  # ws://: curl's http_proxy, lower case only
    done = coinsuper("trades", "BTC_USD", "--url", url, "-v", "--count", "2",
                     http_proxy=tinyproxy.url)
    streams_through(done, tinyproxy.url)
    done = coinsuper("trades", "BTC_USD", "--url", url, "-v", "--count", "2",
                     http_proxy="http://127.0.0.1:1", NO_PROXY="127.0.0.1")
    assert done.returncode == 0 and "through proxy" not in done.stderr, done.stderr


def test_an_unreachable_proxy_is_exit_4_naming_the_proxy():
    done = coinsuper("trades", "BTC_USD", "--sandbox", "--proxy", "http://127.0.0.1:1",
                     "--count", "1")
    assert done.returncode == 4
    assert "through proxy http://127.0.0.1:1: proxy unreachable" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_mutual_tls_streams_with_the_certificate_and_exits_4_without(mtls_mosquitto, pem):
    mqtts, wss = mtls_mosquitto
    topic = "exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD"
    client = ["--cafile", pem("ca"), "--cert", pem("client.crt"), "--key", pem("client.key")]
    # A trades push every 0.2 s, published by mosquitto_pub with the client certificate.
    publisher = subprocess.Popen(
        ["sh", "-c", 'while :; do mosquitto_pub -L "$0" --cafile "$1" --cert "$2" '
                     '--key "$3" -f "$4"; sleep 0.2; done',
         f"{mqtts}/{topic}", pem("ca"), pem("client.crt"), pem("client.key"),
         str(SAMPLES / "tickers.json")], stderr=subprocess.DEVNULL)
    try:
        for url in (mqtts, wss):
            done = coinsuper("trades", "BTC_USD", "--url", url, *client, "--count", "3",
                             "--timeout", "20")
            assert done.returncode == 0, done.stderr
            assert [json.loads(line)["channel"] for line in done.stdout.splitlines()] == \
                ["trade"] * 3
            done = coinsuper("trades", "BTC_USD", "--url", url, "--cafile", pem("ca"),
                             "--count", "1", "--retries", "0")
            assert done.returncode == 4, done.stderr
            assert "client certificate (--cert/--key)" in done.stderr
            assert len(done.stderr.splitlines()) == 1
    finally:
        publisher.kill()
        publisher.wait()
