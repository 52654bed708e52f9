"""The checks that turn a bad broker URL into a one-line usage error before anything
connects, and the redaction of credentials for logs."""
from __future__ import annotations


import pytest

from coinsuper_cli.errors import UsageError
from coinsuper_cli.urls import check_url, redact_url

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA  # RFC 6455 §5.2


# -- broker URLs --------------------------------------------------------------------------

HOSTILE_URLS = [
    "", " ", "ws://", "wss://", "mqtt://", "ws://:80", "ws://user:secret@", "ws://@",
    "ws://user:secret@:80/",
    "ws://[::1", "ws://user:secret@[::1", "ws://h]", "ws://[zz]/", "ws://[1.2.3.4]/",
    "ws://::1/",
    "ws://h:99999", "ws://h:65536", "ws://h:0", "ws://h:x", "ws://h:-1", "ws://h:+80",
    "ws://h:80:90", "ws://user:secret@h:99999/",
    "ws://ho st", " ws://h", "ws://h ", "ws://h\n", "ws://h\r\nX: y", "\tws://h",
    "ws://h\x00", "ws://h\x7f", "ws://h\u200b", "ws://h\u2028", "ws://bücher.example",
    "ws://a..b", "ws://.h", "ws://" + "a" * 64 + ".example",
    "http://h", "https://h", "tcp://h:1883", "file:///etc/passwd", "h:1883", "localhost",
    "ws:h", "ws:/h", "ws:///h", "//h", "user:secret@h", "mqtt+ws://h",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_every_malformed_broker_url_is_a_one_line_usage_error(url):
    with pytest.raises(UsageError) as error:
        check_url(url)
    message = str(error.value)
    assert message.isprintable() and len(message) < 300  # one line, nothing raw
    assert "secret" not in message


@pytest.mark.parametrize("url, checked", [
    ("wss://ws.coinsuper.com/mqtt", "wss://ws.coinsuper.com/mqtt"),
    ("ws://127.0.0.1:8080/mqtt?x=1#y", "ws://127.0.0.1:8080/mqtt?x=1#y"),
    ("ws://[::1]:8080/mqtt", "ws://[::1]:8080/mqtt"),
    ("mqtt://user:secret@localhost", "mqtt://user:secret@localhost"),
    ("mqtts://broker.example:65535", "mqtts://broker.example:65535"),
    ("ws://h:", "ws://h:"),  # an empty port is the default (RFC 3986 §3.2.3)
    ("WSS://Host.Example/Path", "wss://Host.Example/Path"),
    ("MQTT://h", "mqtt://h"),
])
def test_good_urls_pass_with_the_scheme_in_lower_case(url, checked):
    assert check_url(url) == checked


@pytest.mark.parametrize("url, shown", [
    ("ws://user:secret@h:1/mqtt", "ws://***@h:1/mqtt"),
    ("ws://user:se/cr?et#x@h/mqtt", "ws://***@h/mqtt"),  # not percent-encoded
    ("ws://user:secret@[::1", "ws://***@[::1"),  # not even parseable
    ("ws://u:p@h/?next=http://q", "ws://***@h/?next=http://q"),
    ("user:secret@h", "***@h"),
    ("wss://h/mqtt", "wss://h/mqtt"),
])
def test_redact_url_hides_any_credentials(url, shown):
    assert redact_url(url) == shown
