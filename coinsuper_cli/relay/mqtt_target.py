# The relay's MQTT target: the publisher (publisher.py, the project's own MQTT session
# over the same transports as the upstream) behind the target protocol, and the check,
# once connected, that the broker delivers the relay's topics unchanged (probe.py),
# which only an MQTT broker needs.
from __future__ import annotations

from .queue import RelayQueue
from .target import TargetSettings, TargetStatus


class MqttTarget:
    """The MQTT publisher as a target; once connected it checks (relay/probe.py) that
    the broker delivers the relay's topics unchanged, and says so once if not."""

    def __init__(self, queue: RelayQueue, settings: TargetSettings) -> None:
        from .publisher import Publisher, TargetOptions

        self.settings = settings
        self.publisher = Publisher(queue, TargetOptions(
            settings.url, qos=settings.qos or 0, keepalive=settings.keepalive,
            tls=settings.tls, proxy=settings.proxy, max_packet=settings.max_packet,
            log=settings.log, warn=settings.warn))
        self._checked = False

    def start(self) -> None:
        self.publisher.start()

    def wait_ready(self, timeout: float | None) -> bool:
        ready = self.publisher.wait_ready(timeout)
        if ready and not self._checked:
            from .probe import start_check

            self._checked = True
            # Does the broker keep topics as published (RabbitMQ turns '.' into '/')?
            start_check(self.publisher.options, self.publisher.shown_url,
                        list(self.settings.topics), warn=self.settings.warn,
                        log=self.settings.log)
        return ready

    def check(self) -> None:
        self.publisher.check()

    def close(self, drain: float) -> None:
        self.publisher.close(drain)

    def status(self) -> TargetStatus:
        return self.publisher.status()
