"""Proxies: which one a broker URL goes through (curl's rules, with no network), the check
of a proxy URL, and every transport tunnelled through real proxies on loopback: tinyproxy
(HTTP CONNECT) and Dante (SOCKS5), to the sandbox served plain and over TLS. Each proxy's
own log shows the tunnel was its; a proxy that refuses or is not there is a connect
failure naming it, with no password in the message."""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from conftest import wait_until
from fakes import plan_for
from loopback import free_port, stop_process, wait_for_port

from coinsuper_cli.api import channels
from coinsuper_cli.api.exchange import DEFAULT_ENV, public_sign_in
from coinsuper_cli.errors import ConnectFailed, UsageError
from coinsuper_cli.mqtt.codec import Decoder, encode
from coinsuper_cli.mqtt.packets import ConnAck, Connect
from coinsuper_cli.net.proxy import (ProxySettings, check_proxy_url, explain_proxy,
                                     no_proxy_matches, resolve_proxy)
from coinsuper_cli.net.runner import Connection, RunOptions
from coinsuper_cli.net.tls import TLSOptions
from coinsuper_cli.net.transport import ProxyFailed, open_transport
from coinsuper_cli.sandbox.server import SandboxConfig, start_in_thread

# -- choosing a proxy: curl's rules -------------------------------------------------------

P, Q, R = "http://p:1", "http://q:2", "socks5h://r:3"


@pytest.mark.parametrize("url, explicit, environ, chosen", [
    # Nothing set: straight.
    ("wss://h/mqtt", None, {}, None),
    # The explicit proxy wins over every variable.
    ("wss://h/mqtt", P, {"HTTPS_PROXY": Q, "ALL_PROXY": R}, P),
    ("mqtt://h", "socks5h://r:3", {"all_proxy": Q}, R),
    # An explicit empty proxy is none at all, as curl's --proxy "".
    ("wss://h/mqtt", "", {"HTTPS_PROXY": Q, "all_proxy": R}, None),
    # wss://: wss_proxy, WSS_PROXY, https_proxy, HTTPS_PROXY, then all_proxy, ALL_PROXY.
    ("wss://h/mqtt", None, {"HTTPS_PROXY": Q}, Q),
    ("wss://h/mqtt", None, {"https_proxy": P, "HTTPS_PROXY": Q}, P),
    ("wss://h/mqtt", None, {"wss_proxy": R, "https_proxy": P}, R),
    ("wss://h/mqtt", None, {"WSS_PROXY": R, "https_proxy": P}, R),
    ("wss://h/mqtt", None, {"https_proxy": P, "all_proxy": Q}, P),
    ("wss://h/mqtt", None, {"http_proxy": P}, None),  # http_proxy is for ws:// only
    ("wss://h/mqtt", None, {"ALL_PROXY": Q}, Q),
    ("wss://h/mqtt", None, {"all_proxy": P, "ALL_PROXY": Q}, P),
    # ws://: ws_proxy, WS_PROXY, then http_proxy in lower case only (curl ignores
    # HTTP_PROXY, which a CGI program's environment takes from a request header).
    ("ws://h/mqtt", None, {"http_proxy": P}, P),
    ("ws://h/mqtt", None, {"HTTP_PROXY": P}, None),
    ("ws://h/mqtt", None, {"HTTP_PROXY": P, "ALL_PROXY": Q}, Q),
    ("ws://h/mqtt", None, {"https_proxy": P}, None),
    ("ws://h/mqtt", None, {"WS_PROXY": R, "http_proxy": P}, R),
    # mqtt:// and mqtts://: <scheme>_proxy, upper case too, then ALL_PROXY.
    ("mqtt://h", None, {"mqtt_proxy": P, "all_proxy": Q}, P),
    ("mqtt://h", None, {"MQTT_PROXY": P}, P),
    ("mqtt://h", None, {"http_proxy": P, "https_proxy": P, "HTTPS_PROXY": P}, None),
    ("mqtts://h", None, {"MQTTS_PROXY": R, "mqtt_proxy": P}, R),
    ("mqtts://h", None, {"ALL_PROXY": Q}, Q),
    # An empty variable is an unset one.
    ("wss://h/mqtt", None, {"https_proxy": "", "HTTPS_PROXY": Q}, Q),
    ("wss://h/mqtt", None, {"HTTPS_PROXY": "", "all_proxy": ""}, None),
    # NO_PROXY exempts the host from the environment's proxy and the explicit one.
    ("wss://h/mqtt", None, {"HTTPS_PROXY": Q, "NO_PROXY": "h"}, None),
    ("wss://h/mqtt", P, {"NO_PROXY": "h"}, None),
    ("wss://h/mqtt", P, {"no_proxy": "*"}, None),
    ("wss://h/mqtt", P, {"NO_PROXY": "other"}, P),
    ("wss://h/mqtt", P, {"no_proxy": "other", "NO_PROXY": "h"}, P),  # no_proxy first
    ("wss://h/mqtt", P, {"no_proxy": "", "NO_PROXY": "h"}, None),  # empty: unset
    # A proxy URL without a scheme is an HTTP proxy, as in curl.
    ("wss://h/mqtt", None, {"HTTPS_PROXY": "p:1"}, "http://p:1"),
    ("wss://h/mqtt", "SOCKS5://r:3", {}, "socks5://r:3"),
])
def test_resolve_proxy_follows_curl(url, explicit, environ, chosen):
    assert resolve_proxy(url, explicit, environ) == chosen
    assert ProxySettings(explicit, environ).for_url(url) == chosen


def test_by_default_no_proxy_is_used_whatever_the_environment():
    assert ProxySettings().for_url("wss://h/mqtt") is None


def test_a_bad_proxy_variable_is_a_usage_error_naming_it():
    with pytest.raises(UsageError, match="^HTTPS_PROXY: unsupported proxy URL") as error:
        resolve_proxy("wss://h/mqtt", None, {"HTTPS_PROXY": "ftp://u:secret@p:1"})
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("url, explicit, source, environ, shown", [
    # Nothing anywhere: not set.
    ("wss://h/mqtt", None, None, {}, (None, None)),
    # The environment's proxy is named with its variable, where "(not set)" hid it.
    ("wss://h/mqtt", None, None, {"https_proxy": P, "ALL_PROXY": Q},
     (P, "environment https_proxy, for wss:// URLs")),
    ("mqtt://h", None, None, {"https_proxy": P, "ALL_PROXY": Q},
     (Q, "environment ALL_PROXY, for mqtt:// URLs")),
    # An explicit one is shown as the options say, and "" is none.
    ("wss://h/mqtt", R, "command line", {"HTTPS_PROXY": Q}, (R, "command line")),
    ("wss://h/mqtt", "", "environment COINSUPER_PROXY", {"HTTPS_PROXY": Q},
     ("", "environment COINSUPER_PROXY")),
    # NO_PROXY exempting the broker: none, saying why and what is not used.
    ("wss://h.example/mqtt", None, None, {"HTTPS_PROXY": Q, "NO_PROXY": "example"},
     ("none", "NO_PROXY exempts h.example")),
    ("wss://h/mqtt", "http://al:pw@p:1", "config file c.toml", {"no_proxy": "*"},
     ("none", "no_proxy exempts h; http://***@p:1 (config file c.toml) is not used")),
])
def test_explain_proxy_says_what_each_url_would_use_and_why(url, explicit, source, environ,
                                                             shown):
    assert explain_proxy(url, explicit, source, environ) == shown
    if shown[0] not in ("none", None, ""):
        assert resolve_proxy(url, explicit, environ) == shown[0]
    else:
        assert resolve_proxy(url, explicit, environ) is None


def test_config_shows_the_proxy_from_the_environment(monkeypatch, capsys, tmp_path):
    from coinsuper_cli.cli.main import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("COINSUPER_PROXY", "COINSUPER_URL", "COINSUPER_CONFIG", "no_proxy",
                 "NO_PROXY", "wss_proxy", "WSS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://al:s3cret@proxy.corp:3128")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "proxy      = http://***@proxy.corp:3128  (environment HTTPS_PROXY, for wss:// " \
           "URLs)\n" in out and "s3cret" not in out
    monkeypatch.setenv("NO_PROXY", ".coinsuper.com")
    assert main(["config"]) == 0
    assert "proxy      = none  (NO_PROXY exempts api-mqtt-premium.coinsuper.com)\n" in \
        capsys.readouterr().out


@pytest.mark.parametrize("host, no_proxy, exempt", [
    ("example.com", "example.com", True),
    ("www.example.com", "example.com", True),
    ("www.example.com", ".example.com", True),
    ("example.com", ".example.com", True),
    ("notexample.com", "example.com", False),
    ("example.com.other", "example.com", False),
    ("Example.COM", "example.com", True),
    ("example.com.", "example.com", True),  # trailing dots ignored on both sides
    ("example.com", "example.com.", True),
    ("b.test", "a.test, b.test", True),  # blanks around entries
    ("b.test", "a.test,,\tb.test ,", True),
    ("b.test", "a.test", False),
    ("anything", "*", True),
    ("anything", "*,a.test", False),  # * is a wildcard only as the whole list
    ("example.com", "example.com:443", False),  # ports are not looked at
    ("127.0.0.1", "127.0.0.1", True),
    ("127.0.0.1", "127.0.0.0/8", True),
    ("10.1.2.3", "10.0.0.0/16", False),
    ("10.0.9.3", "10.0.0.0/16", True),
    ("127.0.0.1", "localhost", False),  # an address matches addresses only
    ("localhost", "127.0.0.1", False),
    ("::1", "::1", True),
    ("[::1]", "::1", True),
    ("2001:db8::5", "2001:db8::/32", True),
    ("2001:db9::5", "2001:db8::/32", False),
    ("::1", "[::1]", False),  # IPv6 without brackets, as curl wants
    ("127.0.0.1", "::1", False),
])
def test_no_proxy_matches_as_curl_does(host, no_proxy, exempt):
    assert no_proxy_matches(host, no_proxy) is exempt


@pytest.mark.parametrize("text", [
    "", " ", "http://", "socks5://", "http://:3128", "http://u:secret@", "http://u:secret@:1",
    "http://h:0", "http://h:99999", "http://h:x", "http://u:secret@h:-1", "http://[::1",
    "http://h :1", "http://h\n", "http://h\x00", "http://u:se cret@h", "http://bücher.test",
    "https://h:1", "socks4://h:1", "ftp://u:secret@h", "file:///etc/passwd", "ws://h:1",
    "http://h:1/path", "http://h:1?x=1", "http://h:1#frag", "http://a..b:1",
])
def test_every_malformed_proxy_url_is_a_one_line_usage_error(text):
    with pytest.raises(UsageError) as error:
        check_proxy_url(text)
    message = str(error.value)
    assert message.isprintable() and len(message) < 300
    assert "secret" not in message


@pytest.mark.parametrize("text, checked", [
    ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
    ("http://u:p%40ss@proxy.example:8080/", "http://u:p%40ss@proxy.example:8080/"),
    ("HTTP://Proxy:1", "http://Proxy:1"),
    ("socks5://[::1]:1080", "socks5://[::1]:1080"),
    ("socks5h://localhost", "socks5h://localhost"),  # curl's default port, 1080
    ("proxy.example:3128", "http://proxy.example:3128"),
])
def test_good_proxy_urls_pass_in_a_normal_form(text, checked):
    assert check_proxy_url(text) == checked


# -- real proxies ---------------------------------------------------------------------------

def need(program: str, package: str) -> None:
    if not shutil.which(program):
        pytest.fail(f"{program} is not installed (.ci/run installs {package} with apt-get)")


def log_shows(path: Path, text: str, timeout: float = 5.0) -> None:
    """Waits until the log file holds `text` (a proxy may write its line just after the
    tunnel opens)."""
    wait_until(lambda: text in path.read_text(errors="replace"), timeout,
               f"{text!r} in {path.name}")


class Tinyproxy:
    """tinyproxy in the foreground on a free loopback port, allowing CONNECT only to
    `ports`, logging every connection."""

    def __init__(self, directory: Path, ports: list[int]) -> None:
        need("tinyproxy", "tinyproxy")
        self.port = free_port()
        conf = directory / f"tinyproxy-{self.port}.conf"
        # By default tinyproxy allows CONNECT to 443 and 563 only; each ConnectPort line
        # allows one more, and the others are refused with 403.
        conf.write_text("\n".join([
            f"Port {self.port}", "Listen 127.0.0.1", "Timeout 10", "Allow 127.0.0.1",
            "MaxClients 20", "LogLevel Connect",
            *(f"ConnectPort {port}" for port in ports),
        ]) + "\n")
        self.log = directory / f"tinyproxy-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)],
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, alive=lambda: self.process.poll() is None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


class Dante:
    """Dante's SOCKS5 server in the foreground on a free loopback port, without
    authentication, logging every connection."""

    def __init__(self, directory: Path) -> None:
        need("danted", "dante-server")
        self.port = free_port()
        self.log = directory / f"danted-{self.port}.log"
        self.log.touch()
        users = ["user.privileged: root", "user.unprivileged: nobody"] \
            if os.geteuid() == 0 else []
        conf = directory / f"danted-{self.port}.conf"
        conf.write_text("\n".join([
            f"logoutput: {self.log}", f"internal: 127.0.0.1 port = {self.port}",
            "external: 127.0.0.1", "clientmethod: none", "socksmethod: none", *users,
            "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }",
            "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }",
        ]) + "\n")
        self.process = subprocess.Popen(
            ["danted", "-f", str(conf), "-p", str(directory / f"danted-{self.port}.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, alive=lambda: self.process.poll() is None)

    def url(self, scheme: str = "socks5") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)  # its children leave with it


@pytest.fixture(scope="module")
def brokers(tmp_path_factory):
    """The sandbox plain (ws://, mqtt://) and over TLS (wss://, mqtts://) with a trustme
    certificate for 127.0.0.1 and localhost: a URL per scheme, and the CA file."""
    authority = trustme.CA()
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    plain = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0))
    secure = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, ssl_context=context))
    urls = {"ws": plain.ws_url, "mqtt": plain.tcp_url,
            "wss": secure.ws_url, "mqtts": secure.tcp_url}
    assert [urlsplit(url).scheme for url in urls.values()] == list(urls)
    yield urls, TLSOptions(cafile=str(cafile))
    plain.stop()
    secure.stop()


@pytest.fixture(scope="module")
def tinyproxy(brokers, tmp_path_factory):
    proxy = Tinyproxy(tmp_path_factory.mktemp("tinyproxy"),
                      [urlsplit(url).port for url in brokers[0].values()])
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def dante(tmp_path_factory):
    proxy = Dante(tmp_path_factory.mktemp("dante"))
    yield proxy
    proxy.stop()


def mqtt_connect(url: str, tls: TLSOptions, proxy: str | None) -> ConnAck:
    """Opens a transport (through `proxy`), sends MQTT CONNECT and returns the CONNACK."""
    transport = open_transport(url, timeout=5, tls=tls, proxy=proxy)
    try:
        sign_in = public_sign_in(DEPTH)
        transport.send(encode(Connect(sign_in.client_id, sign_in.username,
                                      sign_in.password.encode())))
        decoder = Decoder.for_client()
        while (packet := decoder.next_packet()) is None:
            data = transport.recv(5)
            assert data is not None, "no CONNACK within 5 s"
            decoder.feed(data)
        return packet
    finally:
        transport.close()


SCHEMES = ["ws", "wss", "mqtt", "mqtts"]
DEPTH = channels.get("depth").topic(DEFAULT_ENV, symbol="BTC_USD")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_transport_goes_through_an_http_connect_proxy(brokers, tinyproxy, scheme):
    urls, tls = brokers
    assert mqtt_connect(urls[scheme], tls, tinyproxy.url) == ConnAck(0)
    log_shows(tinyproxy.log, f"CONNECT 127.0.0.1:{urlsplit(urls[scheme]).port} HTTP/1.1")


@pytest.mark.parametrize("kind", ["socks5", "socks5h"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_transport_goes_through_a_socks5_proxy(brokers, dante, scheme, kind):
    urls, tls = brokers
    assert mqtt_connect(urls[scheme], tls, dante.url(kind)) == ConnAck(0)
    # Dante logs "pass(1): tcp/connect [: CLIENT PROXY -> EXTERNAL DESTINATION".
    log_shows(dante.log, f" 127.0.0.1.{urlsplit(urls[scheme]).port}\n")


def localhost(url: str) -> str:
    return url.replace("//127.0.0.1:", "//localhost:")


@pytest.mark.parametrize("scheme", ["ws", "mqtts"])
def test_socks5h_has_the_proxy_resolve_the_name_and_socks5_resolves_it_here(
        brokers, dante, monkeypatch, scheme):
    urls, tls = brokers
    url = localhost(urls[scheme])
    real_getaddrinfo = socket.getaddrinfo

    def no_localhost(host, *args, **kwargs):  # this process cannot resolve localhost
        if host == "localhost":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_localhost)
    assert mqtt_connect(url, tls, dante.url("socks5h")) == ConnAck(0)
    with pytest.raises(ProxyFailed, match="cannot resolve localhost: Name or service not"):
        mqtt_connect(url, tls, dante.url("socks5"))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_proxy_that_refuses_the_tunnel_is_a_connect_failure_naming_it(
        brokers, tinyproxy, scheme):
    urls, tls = brokers
    closed = free_port()  # not among tinyproxy's ConnectPorts, so refused with 403
    url = urls[scheme].replace(f":{urlsplit(urls[scheme]).port}", f":{closed}")
    with pytest.raises(ProxyFailed) as error:
        mqtt_connect(url, tls, f"http://alice:secret@127.0.0.1:{tinyproxy.port}")
    message = str(error.value)
    assert isinstance(error.value, ConnectFailed)  # exit 4, and retried as any other
    assert message.startswith(f"could not connect to {url} through proxy "
                              f"http://***@127.0.0.1:{tinyproxy.port}: the proxy refused: 403")
    assert "secret" not in message


@pytest.mark.parametrize("scheme", ["wss", "mqtt"])
def test_a_socks_failure_reply_is_a_connect_failure_naming_the_proxy(brokers, dante, scheme):
    urls, tls = brokers
    url = urls[scheme].replace(f":{urlsplit(urls[scheme]).port}", f":{free_port()}")
    with pytest.raises(ProxyFailed) as error:
        mqtt_connect(url, tls, dante.url("socks5h"))
    assert str(error.value) == (f"could not connect to {url} through proxy "
                                f"{dante.url('socks5h')}: the proxy refused: Connection "
                                "refused by destination host")


@pytest.mark.parametrize("kind", ["http", "socks5", "socks5h"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_an_unreachable_proxy_is_a_connect_failure_naming_it(brokers, scheme, kind):
    urls, tls = brokers
    proxy = f"{kind}://bob:secret@127.0.0.1:{free_port()}"
    with pytest.raises(ProxyFailed) as error:
        mqtt_connect(urls[scheme], tls, proxy)
    assert str(error.value) == (f"could not connect to {urls[scheme]} through proxy "
                                f"{kind}://***@127.0.0.1:{proxy.rpartition(':')[2]}: "
                                "proxy unreachable: Connection refused")


def test_the_same_call_fails_once_the_proxy_stops(brokers, tmp_path):
    urls, tls = brokers
    proxy = Tinyproxy(tmp_path, [urlsplit(urls["wss"]).port])
    try:
        assert mqtt_connect(urls["wss"], tls, proxy.url) == ConnAck(0)
    finally:
        proxy.stop()
    with pytest.raises(ProxyFailed, match="proxy unreachable: Connection refused$"):
        mqtt_connect(urls["wss"], tls, proxy.url)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_proxy_variable_is_read_when_the_choice_is_none(brokers, monkeypatch, scheme):
    """No library of ours reads these behind our back: the choice is proxy.py's."""
    urls, tls = brokers
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY", "ws_proxy", "wss_proxy", "mqtt_proxy", "mqtts_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert mqtt_connect(urls[scheme], tls, None) == ConnAck(0)


def run_until_subscribed(url: str, options: RunOptions, log: list[str]) -> None:
    batches = Connection(plan_for(DEPTH, "depth", url=url), options).batches()
    try:
        deadline = time.monotonic() + 5
        while not any(line.startswith("subscribed") for line in log):
            assert time.monotonic() < deadline, log
            next(batches)
    finally:
        batches.close()


def test_https_proxy_from_the_environment_carries_the_runner_and_v_names_it(
        brokers, tinyproxy):
    urls, tls = brokers
    log: list[str] = []
    environ = {"HTTPS_PROXY": f"http://carol:secret@127.0.0.1:{tinyproxy.port}"}
    run_until_subscribed(urls["wss"], RunOptions(tls=tls, proxy=ProxySettings(None, environ),
                                                 log=log.append), log)
    assert log[0].startswith(f"connecting to {urls['wss']} through proxy "
                             f"http://***@127.0.0.1:{tinyproxy.port} as ")
    assert "secret" not in "".join(log)


def test_no_proxy_sends_the_runner_straight_to_the_broker(brokers):
    urls, tls = brokers
    log: list[str] = []
    dead = f"http://127.0.0.1:{free_port()}"  # would fail, if it were used
    settings = ProxySettings(dead, {"HTTPS_PROXY": dead, "NO_PROXY": "localhost,127.0.0.1"})
    run_until_subscribed(urls["wss"], RunOptions(tls=tls, proxy=settings, log=log.append),
                         log)
    assert log[0].startswith(f"connecting to {urls['wss']} as ")
