"""Ray's channels (`ray.experimental.channel.Channel`) measured as a bus transport.

A channel has its readers fixed when it is made and the writer in the process that
made it; each write waits until every reader has read the previous value. Two probes:
the rate from this driver to 1 and 10 reader actors, and what a writer sees when one
reader is killed (the channel never says it died: the write waits for its timeout).
"""

from __future__ import annotations

import time
from typing import Any

#: How long the dead-reader probe lets a write wait.
DEAD_READER_TIMEOUT_S = 2.0


def _reader_class() -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class ChannelReader:
        def read(self, channel: Any, count: int) -> tuple[list[float], float]:
            channel.ensure_registered_as_reader()
            latencies = []
            for _ in range(count):
                value = channel.read()
                latencies.append(time.time() - value["sent_s"])
            return latencies[:: max(1, count // 200)], time.time()

        def ping(self) -> bool:
            return True

    return ChannelReader


def channel_rate(n: int, count: int) -> tuple[float, list[float]]:
    """Messages/s from this driver to ``n`` reader actors through one channel."""
    import ray
    from ray.experimental.channel import Channel

    readers = [_reader_class().remote() for _ in range(n)]
    ray.get([r.ping.remote() for r in readers])
    node = ray.get_runtime_context().get_node_id()
    channel = Channel(None, [(r, node) for r in readers])
    done = [r.read.remote(channel, count) for r in readers]
    start = time.time()
    for index in range(count):
        channel.write({"i": index, "sent_s": time.time()})
    results = ray.get(done)
    end = max(r[1] for r in results)
    channel.close()
    for reader in readers:
        ray.kill(reader)
    return count / (end - start), [x for r in results for x in r[0]]


def dead_reader_probe() -> str:
    """Kill one of two readers mid-stream; return what the writer saw."""
    import ray
    from ray.experimental.channel import Channel

    readers = [_reader_class().remote() for _ in range(2)]
    ray.get([r.ping.remote() for r in readers])
    node = ray.get_runtime_context().get_node_id()
    channel = Channel(None, [(r, node) for r in readers])
    live = readers[0].read.remote(channel, 1000)
    dying = readers[1].read.remote(channel, 1000)
    for index in range(10):
        channel.write({"i": index, "sent_s": time.time()})
    ray.kill(readers[1])
    time.sleep(1.0)
    started = time.monotonic()
    try:
        for index in range(10, 20):
            channel.write({"i": index, "sent_s": time.time()}, timeout=DEAD_READER_TIMEOUT_S)
        outcome = "every write went through (no wait for the dead reader)"
    except Exception as exc:
        waited = time.monotonic() - started
        outcome = (
            f"the write waited {waited:.1f} s and raised {type(exc).__name__}"
            f" ({str(exc).splitlines()[0][:120]}); the live reader got nothing more"
        )
    del live, dying
    channel.close()
    for reader in readers:
        ray.kill(reader)
    return outcome
