"""The benchmark's WebSocket front: the frames it writes by hand are what RFC 6455 says,
as the websockets library reads them, one per MQTT packet."""
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side

from ws_bridge import binary_frames, split_packets

from coinsuper_cli.mqtt.codec import encode
from coinsuper_cli.mqtt.packets import Publish


@given(st.lists(st.binary(max_size=70_000), max_size=5), st.integers(1, 9))
@settings(max_examples=60, deadline=None)
def test_frames_and_packets_read_back_as_sent(payloads, pieces):
    packets = [encode(Publish("t/a", payload)) for payload in payloads]
    data = b"".join(packets)
    cut = len(data) * (pieces - 1) // pieces  # a read may end inside a packet
    whole, rest = split_packets(data[:cut])
    more, rest = split_packets(rest + data[cut:])
    assert whole + more == packets and rest == b""
    client = Protocol(Side.CLIENT, max_size=None)
    client.receive_data(binary_frames(packets))
    frames = client.events_received()
    assert [(f.opcode, f.fin, f.data) for f in frames] == [
        (Opcode.BINARY, True, packet) for packet in packets]
