"""Memory per idle and per active session, ours vs pipecat 1.14's path, each kind in a fresh process.

Idle: N sessions connected and configured, no audio. Active: N sessions streaming 20 ms frames and
receiving a 60 ms delta every 60 ms from benchmarks.blaster, sampled after 6 s (our client keeps the
user's uncommitted turn for replay after a reconnect, up to max_replay_audio_ms: that is in the figure).
The figure is the growth of the process's resident memory divided by N, and for idle also the Python
heap (tracemalloc) per session. Run: python -m benchmarks.memory [--sessions 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tracemalloc
from typing import Any

from inworld_realtime.io_adapters import AsyncRealtimeClient

from .blaster import running_blaster
from .io_paths import SESSION, _ws
from .session_cost import RATE, Tally, ours, pipecat_path


def rss() -> int:
    """Resident bytes of this process now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def idle(kind: str, url: str, count: int) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    before, heap0 = rss(), tracemalloc.get_traced_memory()[0]
    if kind == "ours":
        clients = [AsyncRealtimeClient("bench", SESSION, f"{url}?mode=sink") for _ in range(count)]
        await asyncio.gather(*(c.connect() for c in clients))
    else:
        clients = await asyncio.gather(*(_ws(f"{url}?mode=sink") for _ in range(count)))
    await asyncio.sleep(0.5)
    gc.collect()
    heap, grown = tracemalloc.get_traced_memory()[0] - heap0, rss() - before
    tracemalloc.stop()
    await asyncio.gather(*(c.close() for c in clients))
    return {"idle_rss_kib": grown / count / 1024, "idle_heap_kib": heap / count / 1024}


async def active(kind: str, url: str, count: int) -> dict[str, float]:
    from tests.emulator_helpers import speech_like

    pcm = speech_like(RATE, syllables=5)
    gc.collect()
    before, peak = rss(), 0
    run = {"ours": ours, "pipecat": pipecat_path}[kind]
    sessions = asyncio.gather(*(run(f"{url}?mode=live", 8.0, pcm, Tally()) for _ in range(count)))
    await asyncio.sleep(6.0)
    peak = rss()
    await sessions
    return {"active_rss_kib": (peak - before) / count / 1024}


def child(kind: str, url: str, count: int) -> None:
    result = asyncio.run(idle(kind, url, count))
    result.update(asyncio.run(active(kind, url, count)))
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.url, args.sessions)
        return {}
    results: dict[str, Any] = {}
    with running_blaster() as url:
        for kind in ("ours", "pipecat"):
            out = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--child", kind, "--url", url,
                                  "--sessions", str(args.sessions)], capture_output=True, text=True, check=True)
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"memory per session, {args.sessions} sessions in a fresh process each:")
    for key, label in (("idle_rss_kib", "idle, resident"), ("idle_heap_kib", "idle, Python heap"),
                       ("active_rss_kib", "active, resident")):
        mine, theirs = results["ours"][key], results["pipecat"][key]
        print(f"  {label:18s} ours {mine:7.1f} KiB   pipecat {theirs:7.1f} KiB   ratio {mine / theirs:5.2f}")
    return results


if __name__ == "__main__":
    main()
