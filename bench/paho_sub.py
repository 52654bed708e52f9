# A minimal paho-mqtt subscriber, as a Python user would write one: each payload to
# stdout on its own line, flushed at once (as mosquitto_sub and coinsuper do), until
# --count messages. The benchmark's reference for "the common Python choice".
from __future__ import annotations

import argparse
import sys

import paho.mqtt.client as mqtt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=("tcp", "websockets"), default="tcp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=0, help="stop after N; 0: never")
    args = parser.parse_args()

    out = sys.stdout.buffer
    received = 0

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe(args.topic, qos=0)

    def on_message(client, userdata, message):
        nonlocal received
        out.write(message.payload + b"\n")
        out.flush()
        received += 1
        if received == args.count:
            client.disconnect()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                         transport=args.transport)
    if args.transport == "websockets":
        client.ws_set_options(path="/mqtt")
    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=60)
    client.loop_forever()


if __name__ == "__main__":
    main()
