# MQTT 3.1.1, sans-I/O: packets, the codec and the client session state machine.
