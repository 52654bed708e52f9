"""Fault injection through the real `coinsuper` command: a scripted server closes, stalls,
sends malformed MQTT or bad payloads, and the client resumes, skips, or exits with the
documented code and one clear line, never a traceback or a hang."""
import json
import time

import pytest
from conftest import SAMPLES, run_coinsuper
from peer import ScriptedPeer, ScriptedWebSocketPeer

from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import (
    ConnAck, Connect, Disconnect, PingReq, PingResp, PubAck, PubComp, Publish, PubRel, SubAck, Subscribe,
)


TOPIC = b"exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD"


def close_at_once(peer):
    pass


def publish_then_close(payload: bytes):
    def script(peer):
        peer.send(Publish(peer.sign_in(), payload))
    return script


def publish_then_wait(*payloads: bytes):
    def script(peer):
        topic = peer.sign_in()
        for payload in payloads:
            peer.send(Publish(topic, payload))
        peer.wait_closed()
    return script


def stream(peer, *args: str, timeout: float = 30):
    try:
        return run_coinsuper(["trades", "BTC_USD", "--url", peer.url, "--format", "raw",
                              *args], timeout=timeout)
    finally:
        peer.close()


def test_close_after_a_message_then_accept_and_close_then_resume():
    peer = ScriptedPeer(publish_then_close(b"before"), close_at_once,
                        publish_then_wait(b"after"))
    result = stream(peer, "--count", "2", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout == TOPIC + b" before\n" + TOPIC + b" after\n"  # -v: topic first
    err = result.stderr.decode()
    assert err.count("reconnecting in") == 2 and "Traceback" not in err


def test_reconnect_lines_appear_only_with_verbose():
    peer = ScriptedPeer(publish_then_close(b"before"), publish_then_wait(b"after"))
    result = stream(peer, "--count", "2")
    assert result.returncode == 0 and result.stdout == b"before\nafter\n"
    assert result.stderr == b""


def test_a_first_connection_that_closes_at_once_exits_4():
    peer = ScriptedPeer(close_at_once)
    result = stream(peer)
    assert result.returncode == 4
    assert result.stderr.decode().count("\n") == 1
    assert "hung up before the subscription was confirmed" in result.stderr.decode()


def test_retries_bound_the_reconnect_attempts():
    peer = ScriptedPeer(publish_then_close(b"only"))  # then nothing listens any more
    started = time.monotonic()
    result = stream(peer, "--retries", "2")
    assert result.returncode == 4
    assert result.stdout == b"only\n"
    assert result.stderr.decode().startswith("coinsuper: gave up after 2 reconnect attempts")
    assert time.monotonic() - started < 10


def test_a_broker_that_stops_answering_pings_is_left():
    def stall(peer):
        peer.send(Publish(peer.sign_in(), b"before"))
        peer.expect(PingReq)  # and never answer it
        peer.wait_closed()

    peer = ScriptedPeer(stall, publish_then_wait(b"after"))
    started = time.monotonic()
    result = stream(peer, "--count", "2", "--keepalive", "1", "--stale-after", "0", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout == TOPIC + b" before\n" + TOPIC + b" after\n"
    assert "no PINGRESP" in result.stderr.decode()
    assert time.monotonic() - started < 10


def test_a_silent_market_topic_means_reconnect():
    def silent(peer):
        peer.send(Publish(peer.sign_in(), b"before"))
        while not isinstance(packet := peer.expect(object), Disconnect):
            assert isinstance(packet, PingReq)  # answers pings, never publishes
            peer.send(PingResp())

    peer = ScriptedPeer(silent, publish_then_wait(b"after"))
    result = stream(peer, "--count", "2", "--stale-after", "1", "--keepalive", "1", "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout == TOPIC + b" before\n" + TOPIC + b" after\n"
    assert "no message on exchange_ha_prod_hk/api/ws/v1/market/tickers/BTC_USD for 1 s" in \
        result.stderr.decode()


def test_a_frame_that_never_completes_does_not_hang():
    def partial(peer):
        topic = peer.sign_in()
        peer.send(Publish(topic, b"before"))
        peer.send_bytes(encode(Publish(topic, b"x" * 100))[:20])  # and nothing more
        peer.wait_closed()

    peer = ScriptedPeer(partial, publish_then_wait(b"after"))
    result = stream(peer, "--count", "2", "--keepalive", "1", "--stale-after", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before\nafter\n"


MALFORMED = {
    "remaining length over 4 bytes": b"\x30\xff\xff\xff\xff\x01",
    "remaining length of 256 MB": b"\x30\xff\xff\xff\x7f",
    "PUBLISH with QoS 3": b"\x36\x05\x00\x01t\x00\x01",
    "PUBLISH with an empty topic": b"\x30\x03\x00\x00x",
    "PUBLISH topic with a wildcard": b"\x30\x04\x00\x02a#",
    "PUBLISH topic not UTF-8": b"\x30\x05\x00\x02\xc3\x28x",
    "topic length past the end": b"\x30\x03\x00\x09a",
    "packet id 0 at QoS 1": b"\x32\x05\x00\x01t\x00\x00",
    "packet id 0 at QoS 2": b"\x34\x05\x00\x01t\x00\x00",
    "reserved flags in a fixed header": b"\xd1\x00",
    "a second CONNACK": encode(ConnAck(0)),
    "a CONNECT": encode(Connect("server")),
    "a SUBSCRIBE": encode(Subscribe(1, (("t", 0),))),
    "reserved packet type 0": b"\x00\x00",
    "reserved packet type 15": b"\xf0\x00",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_packets_mean_one_line_and_a_reconnect(name):
    def malformed(peer):
        peer.send(Publish(peer.sign_in(), b"before"))
        peer.send_bytes(MALFORMED[name])
        peer.wait_closed()

    peer = ScriptedPeer(malformed, publish_then_wait(b"after"))
    result = stream(peer, "--count", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before\nafter\n"
    err = result.stderr.decode()
    assert err.startswith("coinsuper: protocol error from the broker: ")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("connack", [b"\x20\x03\x00\x00\x00", b"\x20\x01\x00",
                                     b"\x20\x02\x00\x06"])
def test_a_malformed_connack_exits_4_with_one_line(connack):
    def script(peer):
        peer.expect(Connect)
        peer.send_bytes(connack)
        peer.wait_closed()

    result = stream(ScriptedPeer(script))
    assert result.returncode == 4
    err = result.stderr.decode()
    assert err.startswith("coinsuper: MQTT protocol error from the broker: CONNACK")
    assert err.count("\n") == 1


def test_a_text_websocket_frame_means_reconnect():
    def text_frame(peer):
        peer.send(Publish(peer.sign_in(), b"before"))
        peer_ws.ws.send("not binary")  # a str goes out as a text frame
        peer.wait_closed()

    peer_ws = ScriptedWebSocketPeer(text_frame, publish_then_wait(b"after"))
    result = stream(peer_ws, "--count", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before\nafter\n"
    assert "text WebSocket frame" in result.stderr.decode()


def test_a_giant_packet_in_a_giant_frame_is_refused_before_it_is_buffered():
    def giant(peer):
        peer.send(Publish(peer.sign_in(), b"before"))
        # a binary frame announcing 512 MiB that starts a PUBLISH announcing 256 MiB:
        # refused at the frame's header, over --max-packet, however much more arrives
        peer_ws.ws.socket.sendall(b"\x82\x7f" + (512 * 1024 * 1024).to_bytes(8, "big")
                                  + b"\x30\xff\xff\xff\x7f" + b"x" * 100_000)
        peer.wait_closed()

    peer_ws = ScriptedWebSocketPeer(giant, publish_then_wait(b"after"))
    result = stream(peer_ws, "--count", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before\nafter\n"
    assert result.stderr.decode() == ("coinsuper: protocol error from the broker: WebSocket: "
                                      "a frame of 536870912 bytes is over the 1048576-byte "
                                      "limit\n")


def test_a_masked_frame_from_the_server_is_a_protocol_error():
    def masked(peer):
        peer.send(Publish(peer.sign_in(), b"before"))
        # RFC 6455 §5.1: a server never masks its frames
        peer_ws.ws.socket.sendall(b"\x82\x85" + b"\x01\x02\x03\x04" + b"hello")
        peer.wait_closed()

    peer_ws = ScriptedWebSocketPeer(masked, publish_then_wait(b"after"))
    result = stream(peer_ws, "--count", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before\nafter\n"
    assert result.stderr.decode().startswith("coinsuper: protocol error from the broker: "
                                             "WebSocket: ")


def test_websocket_pings_are_answered():
    def pinging(peer):
        topic = peer.sign_in()
        assert peer_ws.ws.ping(b"are you there").wait(5)  # the pong came back
        peer.send(Publish(topic, b"pong seen"))
        peer.wait_closed()

    peer_ws = ScriptedWebSocketPeer(pinging)
    result = stream(peer_ws, "--count", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"pong seen\n"


def test_quiet_oddities_are_handled_without_a_word():
    def odd(peer):
        topic = peer.sign_in()
        peer.send_bytes(b"\x40\x02\x00\x07" + b"\x70\x02\x00\x08")  # stray PUBACK, PUBCOMP
        peer.send(PubRel(42))  # PUBREL for an id never seen: answer PUBCOMP
        assert peer.expect(PubComp) == PubComp(42)
        peer.send(Publish(topic, b"one", 1, packet_id=3))
        peer.send(Publish(topic, b"one", 1, dup=True, packet_id=3))  # QoS 1 may repeat
        assert [peer.expect(PubAck), peer.expect(PubAck)] == [PubAck(3), PubAck(3)]
        peer.expect(Disconnect)

    peer = ScriptedPeer(odd)
    result = stream(peer, "--count", "2", "--qos", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"one\none\n"  # QoS 1 is at least once: both are printed
    assert result.stderr == b""


def kline(close: str) -> bytes:
    return (SAMPLES / "kline.json").read_bytes().strip().replace(b"6616.45", close.encode())


def test_bad_payloads_are_skipped_with_one_line_each():
    bad = [b"not json", b"[1, 2]", kline("abc"), kline("NaN"), b"[" * 100_000,
           b'{"symbol": "BTC/USD", "first": "' + b"9" * 900_000 + b'"}', b"\xff\xfe"]
    peer = ScriptedPeer(publish_then_wait(*bad, kline("1.25")))
    result = run_coinsuper(["kline", "BTC_USD", "--url", peer.url, "--count", "1"])
    peer.close()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["close"] == "1.25"
    lines = result.stderr.decode().splitlines()
    assert len(lines) == len(bad)
    assert all(line.startswith("coinsuper: skipped a message on exchange_ha_prod_hk/api/ws/"
                               "v1/market/kline/BTC_USD/60000: ") for line in lines)
    assert all(len(line) < 300 for line in lines)


def trades(*stamps: int) -> bytes:
    return json.dumps([{"symbol": "BTC/USD", "price": "1.00", "quantity": "0.5000",
                        "action": "BUY", "timestamp": ts} for ts in sorted(stamps, reverse=True)
                       ]).encode()


def test_trade_deduplication_survives_a_reconnect():
    peer = ScriptedPeer(publish_then_close(trades(1, 2, 3)), publish_then_wait(trades(2, 3, 4)))
    result = run_coinsuper(["trades", "BTC_USD", "--url", peer.url, "--count", "4",
                            "--timeout", "20"])
    peer.close()
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["ts"] for line in result.stdout.splitlines()] == [1, 2, 3, 4]
