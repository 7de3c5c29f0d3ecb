"""``python -m benchmarks``: every benchmark in one run, ours next to pipecat-ai 1.14's path (5-8 minutes).

Each section prints its own table; run one alone with ``python -m benchmarks.<name>``. The soak
(``python -m benchmarks.soak``) is left out: it takes as long as you ask it to.
"""

from __future__ import annotations

import platform
import sys
import time

from . import adapter_latency, connect, core_receive, core_send, session_cost


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main() -> None:
    print(f"benchmarks on {platform.node() or 'this machine'}, {platform.machine()}, Python {sys.version.split()[0]}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    section("receive: one 60 ms 24 kHz audio delta, frame bytes to PCM")
    core_receive.main()
    section("send: one 20 ms frame through chunking, base64, JSON and masking")
    core_send.main()
    section("connect: round trips to a configured session")
    connect.main()
    section("latency the adapters add on loopback")
    sys.argv = [sys.argv[0], "--deltas", "300"]
    adapter_latency.main()
    section("session cost: full-duplex sessions against an emulator in another process")
    sys.argv = [sys.argv[0], "--sessions", "10", "--seconds", "20", "--rounds", "3"]
    session_cost.main()


if __name__ == "__main__":
    main()
