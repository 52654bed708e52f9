# Errors the MQTT layer raises. Every one means the peer broke the protocol or the
# connection cannot go on; MQTT 3.1.1 §4.8 says to close the connection then.


class MQTTError(Exception):
    """The MQTT conversation cannot go on."""


class MalformedPacket(MQTTError):
    """The peer sent bytes that are not a well-formed MQTT 3.1.1 packet."""


class ProtocolViolation(MQTTError):
    """The peer sent a well-formed packet that the protocol forbids at this point."""


class PacketTooLarge(MalformedPacket):
    """A packet is larger than the configured limit."""


class ConnectionRefused(MQTTError):
    """The server answered CONNECT with a non-zero CONNACK return code."""

    def __init__(self, return_code: int) -> None:
        from .packets import connack_reason

        self.return_code = return_code
        super().__init__(f"CONNACK {return_code}: {connack_reason(return_code)}")


class KeepaliveTimeout(MQTTError):
    """The server did not answer PINGREQ in time (MQTT 3.1.1 §3.1.2.10)."""


class AcknowledgementTimeout(MQTTError):
    """The server acknowledged none of this client's QoS 1 or 2 publishes in time."""
