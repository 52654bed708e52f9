# Does the target broker deliver the relay's topics as they were published? RabbitMQ's
# MQTT plugin maps topics onto AMQP routing keys and turns each `.` into `/`, so the
# order book's `.../orderBook/BTC_USD/0.01` arrives as `.../0/01` and no consumer of the
# book finds it, while the relay itself sees nothing wrong. So once connected the relay
# asks, on a connection of its own: subscribe to a probe topic holding a `.`, publish
# one message to it (a client receives its own publications, MQTT 3.1.1 §3.3.5), and
# compare the topic it arrives on. Bounded in time; a broker that refuses the probe's
# subscription or never answers leaves the relay as it was, and is said to be unchecked.
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence

from ..errors import ConnectFailed, SignInRefused
from ..mqtt.errors import MQTTError
from ..mqtt.session import ClientSession, Connected, Message, Subscribed
from ..net.transport import Transport, open_transport
from ..urls import split_credentials
from .publisher import TargetOptions, random_client_id

PROBE_SECONDS = 5.0  # the whole check: connect, subscribe, publish, receive
PROBE_PREFIX = "coinsuper/probe"


class ProbeFailed(Exception):
    """The check could not be made (refused, no answer in time): nothing is known."""


def probe_topic() -> str:
    """A topic of its own, ending in a level holding a `.` as the book's topics do."""
    return f"{PROBE_PREFIX}/{secrets.token_hex(6)}/0.01"


def delivered_topic(options: TargetOptions, topic: str, *,
                    connect: Callable[..., Transport] = open_transport,
                    monotonic: Callable[[], float] = time.monotonic,
                    seconds: float = PROBE_SECONDS) -> str:
    """The topic on which a message published to `topic` comes back; ProbeFailed if
    it cannot be told within `seconds`."""
    deadline = monotonic() + seconds
    url, username, password = split_credentials(options.url)
    route = {"proxy": options.proxy} if options.proxy else {}
    try:
        transport = connect(url, timeout=min(seconds, options.connect_timeout),
                            tls=options.tls, max_frame=options.max_packet, **route)
    except ConnectFailed as error:
        raise ProbeFailed(str(error)) from None
    session = ClientSession(client_id=random_client_id(), username=username,
                            password=password, keepalive=0, clean_session=True,
                            max_packet=options.max_packet)
    try:
        session.connect(monotonic())
        while (left := deadline - monotonic()) > 0:
            out = session.data_to_send()
            if out:
                transport.send(out)
            data = transport.recv(min(left, 0.25))
            if not data:
                continue
            for event in session.receive_data(data, monotonic()):
                if type(event) is Connected:
                    # Ask for the probe topic, at QoS 0: nothing to keep or acknowledge.
                    session.subscribe([topic], 0, monotonic())
                elif type(event) is Subscribed:
                    if event.granted[0] == 0x80:  # §3.9.3: Failure
                        raise ProbeFailed("the broker refused the probe's subscription")
                    session.publish(topic, b"coinsuper relay topic check", 0, monotonic())
                elif type(event) is Message:
                    return event.topic
        raise ProbeFailed(f"the probe message did not come back within {seconds:g} s")
    except (ConnectFailed, SignInRefused, MQTTError) as error:
        raise ProbeFailed(str(error)) from None
    finally:
        transport.close()


def rewrite_line(shown_url: str, sent: str, arrived: str, topics: Sequence[str]) -> str:
    """The one line naming a rewrite, on a relayed topic that it hits when one does."""
    if arrived == sent.replace(".", "/"):
        hit = next((t for t in topics if "." in t), None)
        if hit is not None:
            return (f"relay: the broker at {shown_url} rewrites topics ('{hit}' arrives as "
                    f"'{hit.replace('.', '/')}'): consumers of that topic will not find it")
        return (f"relay: the broker at {shown_url} turns '.' in topics into '/' "
                f"('{sent}' arrives as '{arrived}'); none of the relayed topics holds one")
    return (f"relay: the broker at {shown_url} rewrites topics ('{sent}' arrives as "
            f"'{arrived}'): consumers may not find what is relayed")


def check_topics(options: TargetOptions, shown_url: str, topics: Sequence[str], *,
                 warn: Callable[[str], None], log: Callable[[str], None] | None = None,
                 connect: Callable[..., Transport] = open_transport,
                 seconds: float = PROBE_SECONDS) -> None:
    """Probes the broker and says what it found: a warning for a rewrite or a failed
    check, a -v line when topics arrive unchanged."""
    sent = probe_topic()
    try:
        arrived = delivered_topic(options, sent, connect=connect, seconds=seconds)
    except ProbeFailed as error:
        warn(f"relay: could not check that the broker at {shown_url} keeps topics "
             f"unchanged ({error})")
        return
    if arrived != sent:
        warn(rewrite_line(shown_url, sent, arrived, topics))
    elif log is not None:
        log(f"relay → {shown_url}: topics arrive unchanged")


def start_check(options: TargetOptions, shown_url: str, topics: Sequence[str], *,
                warn: Callable[[str], None],
                log: Callable[[str], None] | None = None) -> threading.Thread:
    """check_topics in a thread of its own: the relay does not wait for it."""
    thread = threading.Thread(target=check_topics, args=(options, shown_url, topics),
                              kwargs={"warn": warn, "log": log},
                              name="coinsuper-relay-probe", daemon=True)
    thread.start()
    return thread
