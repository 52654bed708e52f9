"""The network: from connection plans (plans.py) to byte pipes (transport.py over a
socket, a proxy's tunnel, TLS, the WebSocket handshake and framing), and the runner that
holds the MQTT conversation on them (connect, sign in, subscribe, keepalive, reconnect)."""
