# 200 WebSocket subscribers at once, mixed channels and QoS, each acknowledging like a
# real client: the sandbox must keep every topic's cadence (about one push a second).
from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from websockets.asyncio.client import connect as ws_connect

from coinsuper_cli.api import channels
from coinsuper_cli.api.exchange import (PUBLIC_PASSWORD, PUBLIC_USERNAME, documented_steps,
                                        public_sign_in)
from coinsuper_cli.mqtt.session import ClientSession, Message, Subscribed
from coinsuper_cli.sandbox.market import DEFAULT_SYMBOLS
from coinsuper_cli.sandbox.server import SandboxConfig, start_in_thread

# 200 clients held for several seconds of real time, their cadence measured.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

ENV = "exchange_ha_prod_hk"
SUBSCRIBERS = 200


def topic(name: str, **fields: str) -> str:
    return channels.get(name).topic(ENV, **fields)


def topic_mix() -> list[str]:
    topics = []
    for symbol in DEFAULT_SYMBOLS:
        topics.append(topic("depth", symbol=symbol))
        topics.append(topic("trade", symbol=symbol))
        topics += [topic("book", symbol=symbol, step=s) for s in documented_steps(symbol)]
        topics += [topic("kline", symbol=symbol, range=str(r))
                   for r in (60_000, 3_600_000, 86_400_000)]
    return topics


async def subscriber(url: str, full_topic: str, qos: int, arrivals: list[float],
                     ready: asyncio.Event, stop: asyncio.Event) -> None:
    session = ClientSession(client_id=public_sign_in(full_topic).client_id,
                            username=PUBLIC_USERNAME, password=PUBLIC_PASSWORD)
    async with ws_connect(url, subprotocols=["mqtt"], compression=None) as ws:
        session.connect(time.monotonic())
        session.subscribe([full_topic], qos, time.monotonic())
        await ws.send(session.data_to_send())
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                continue
            for event in session.receive_data(data, time.monotonic()):
                if isinstance(event, Subscribed):
                    assert event.granted == (qos,)
                    ready.set()
                elif isinstance(event, Message):
                    assert event.topic == full_topic and event.qos == qos
                    arrivals.append(time.monotonic())
            if out := session.data_to_send():  # PUBACK, PUBREC, PUBCOMP
                await ws.send(out)


async def measure(url: str, seconds: float, expected: int) -> dict[str, list[float]]:
    topics = topic_mix()
    stop = asyncio.Event()
    plan = [(topics[i % len(topics)], i % 3) for i in range(SUBSCRIBERS)]
    arrivals: list[list[float]] = [[] for _ in plan]
    ready = [asyncio.Event() for _ in plan]
    tasks = [asyncio.create_task(subscriber(url, t, q, arrivals[i], ready[i], stop))
             for i, (t, q) in enumerate(plan)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
    start = time.monotonic()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    gaps: dict[str, list[float]] = {}
    for (full_topic, qos), times in zip(plan, arrivals):
        times = [t for t in times if t >= start]
        assert len(times) >= expected, f"{full_topic} qos {qos}: {len(times)} pushes"
        channel = full_topic[len(ENV):].split("/")[5]
        gaps.setdefault(f"{channel} qos{qos}", []).extend(
            b - a for a, b in zip(times, times[1:]))
    return gaps


@pytest.mark.parametrize("speed, seconds", [(1, 6.0), (10, 3.0)])
def test_200_websocket_subscribers_keep_cadence(speed, seconds):
    period = 1 / speed
    box = start_in_thread(SandboxConfig(ws_port=0, tcp_port=0, speed=speed))
    try:
        gaps = asyncio.run(measure(box.ws_url, seconds, int(seconds / period * 0.8)))
    finally:
        box.stop()
    every = [g for values in gaps.values() for g in values]
    print(f"\n{SUBSCRIBERS} subscribers at speed {speed}, {len(every)} intervals: "
          f"mean {statistics.mean(every):.3f} s, max {max(every):.3f} s")
    for name, values in sorted(gaps.items()):
        print(f"  {name:14} mean {statistics.mean(values):.3f} s  "
              f"min {min(values):.3f}  max {max(values):.3f}  n={len(values)}")
    assert 0.95 * period < statistics.mean(every) < 1.1 * period
    # The spec's channels push every 1-2 s at most. At speed 1 that holds for every gap.
    # At speed 10 the 200 measuring clients share this process (and its GIL) with the
    # sandbox on a 2-core machine, so a scheduling stall of a few tenths of a second hits
    # all of them at once now and then (one such stall is a late gap for each of the 200):
    # at most two stalls' worth of late gaps, and none as late as a real second.
    if speed == 1:
        assert max(every) < 1.5 * period
    else:
        assert sum(gap > 1.5 * period for gap in every) <= 2 * SUBSCRIBERS
        assert max(every) < 1.0
