# MQTT 3.1.1, sans-I/O: packets, the codec and the client session state machine.

# The largest packet accepted by default (--max-packet), in bytes. Here rather than in
# codec.py: the command line's defaults read it without importing the codec.
DEFAULT_MAX_PACKET = 1024 * 1024
