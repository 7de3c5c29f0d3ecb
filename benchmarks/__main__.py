"""``python -m benchmarks [--json FILE] [--quick] [--sections A,B]``: every benchmark in one run, ours next to
pipecat-ai 1.14's path.

Each section prints its own table; run one alone with ``python -m benchmarks.<name>``. ``--json`` also
writes every figure to FILE; ``--sections session_cost,io_paths`` runs those only (the figures of the client-cost
table: ``python -m benchmarks.report --cost FILE``). The real-time soak (``python -m benchmarks.soak``) is
left out: it takes as long as you ask it to; its simulated mode (a fake clock) is in. About 30 minutes
(``--quick``: about half).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from . import adapter_latency, capacity, connect, core_receive, core_send, io_paths, memory, session_cost, soak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter rounds")
    parser.add_argument("--sections", help="comma-separated sections to run (default: all)")
    args = parser.parse_args()
    quick = args.quick
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.node() or 'this machine'}, {platform.machine()}, Python {sys.version.split()[0]}"
    print(f"benchmarks on {machine}, {started}")
    sections: list[tuple[str, str, Callable[[], Any]]] = [
        ("core_receive", "receive, sans-IO: one 60 ms 24 kHz audio delta, frame bytes to PCM", core_receive.main),
        ("core_send", "send, sans-IO: one 20 ms frame through chunking, base64, JSON and masking", core_send.main),
        ("io_paths", "receive and send through a loopback socket",
         lambda: io_paths.main(["--rounds", "3" if quick else "5"])),
        ("connect", "connect: round trips to a configured session", connect.main),
        ("adapter_latency", "latency the adapters add on loopback",
         lambda: adapter_latency.main(["--deltas", "300"])),
        ("session_cost", "session cost: every kind of client at once, each in its own process",
         lambda: session_cost.main(["--window", "5" if quick else "10", "--rounds", "3" if quick else "6"])),
        ("capacity", "concurrent real-time sessions one core sustains",
         lambda: capacity.main(["--start", "150", "--seconds", "4" if quick else "6"]
                               + (["--pacing", "shared"] if quick else []))),
        ("memory", "memory per idle and active session", lambda: memory.main(["--sessions", "100"])),
        ("long_sessions", "long sessions, sans-IO: what the core holds and what resuming costs, by turns",
         lambda: memory.main(["--turns", "100,1000" if quick else "100,1000,10000"])),
        ("soak_simulated", "soak, simulated: 30 minutes of conversation per session on a fake clock",
         lambda: soak.main(["--simulated", "--sessions", "4" if quick else "10", "--minutes", "30"])),
    ]
    figures: dict[str, Any] = {"machine": machine, "started": started}
    chosen = set(args.sections.split(",")) if args.sections else {key for key, _, _ in sections}
    unknown = chosen - {key for key, _, _ in sections}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    for key, title, run in sections:
        if key not in chosen:
            continue
        print(f"\n== {title}", flush=True)
        figures[key] = run()
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
