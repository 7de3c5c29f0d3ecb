"""Memory per idle and per active session, ours vs pipecat 1.14's path, each kind in a fresh process.

Idle: N sessions connected and configured, no audio. Active: N sessions streaming 20 ms frames and
receiving a 60 ms delta every 60 ms from benchmarks.blaster, sampled after 6 s (our client keeps the
user's uncommitted turn for replay after a reconnect, up to max_replay_audio_ms: that is in the figure).
The figure is the growth of the process's resident memory divided by N, and for idle also the Python
heap (tracemalloc) per session. Run: python -m benchmarks.memory [--sessions 100]

Long sessions (``python -m benchmarks.memory --turns 100,1000,10000``): one conversation of server-VAD turns
(8 s of speech, a spoken answer with its transcript and usage) driven through the sans-IO core in memory
(``benchmarks.simulated``), no transcription asked for (the default session: user audio is the only record of
what the user said). After each count: the bytes the core's object graph holds, the process's resident memory,
then a drop and a resume: the CPU of handling ``session.updated`` (what an event loop runs in one go) and of
draining the replay 64 KiB at a time (``data_to_send(65536)``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from inworld_realtime.io_adapters import AsyncRealtimeClient

from .blaster import running_blaster
from .io_paths import SESSION, _ws
from .session_cost import RATE, Tally, ours, pipecat_path
from .simulated import Simulation, retained_bytes


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


def long_sessions(checkpoints: list[int], speech_ms: int = 8000, frame_ms: int = 60,
                  heap: bool = False) -> list[dict[str, float]]:
    """Retained memory and resume cost of one conversation after each number of turns in ``checkpoints``.

    ``heap`` also traces the whole Python heap (tracemalloc; about 2.5 times slower).
    """
    sim = Simulation(frame_ms=frame_ms)
    sim.connect()
    gc.collect()
    if heap:
        tracemalloc.start()
    rows: list[dict[str, float]] = []
    print(f"one conversation, server VAD, {speech_ms / 1000:g} s of speech a turn, no transcription "
          f"(defaults: max_replay_items=200, max_history_audio_ms=30000, max_replay_audio_ms=10000):")
    print(f"  {'turns':>6s} {'core holds':>11s} {'items':>6s} {'user audio':>11s} {'RSS':>9s} "
          f"{'resume CPU':>11s} {'drain CPU':>10s} {'longest drain call':>19s} {'replay':>9s}")
    started = time.process_time()
    for target in checkpoints:
        while sim.turns < target:
            sim.turn(speech_ms)
        gc.collect()
        conv = sim.conn.conversation
        row: dict[str, float] = {"turns": target, "core_bytes": retained_bytes(sim.conn), "items": len(conv.items),
                                 "user_audio_bytes": conv.user_audio_bytes, "rss_bytes": rss()}
        if heap:
            row["heap_bytes"] = tracemalloc.get_traced_memory()[0]
        resume = sim.drop_and_resume()
        row.update(resume_cpu_ms=resume.resume_cpu_s * 1000, drain_cpu_ms=resume.drain_cpu_s * 1000,
                   drain_max_call_ms=resume.drain_max_call_cpu_s * 1000, drain_calls=resume.drain_calls,
                   replay_bytes=resume.replay_bytes, replayed_items=resume.replayed_items)
        rows.append(row)
        print(f"  {target:6d} {row['core_bytes'] / 2**20:8.2f} MiB {row['items']:6.0f} "
              f"{row['user_audio_bytes'] / 2**20:7.2f} MiB {row['rss_bytes'] / 2**20:5.0f} MiB "
              f"{row['resume_cpu_ms']:8.2f} ms {row['drain_cpu_ms']:7.1f} ms {row['drain_max_call_ms']:11.1f} ms "
              f"({resume.drain_calls} calls) {resume.replay_bytes / 2**20:5.2f} MiB"
              + (f"  heap {row['heap_bytes'] / 2**20:.2f} MiB" if heap else ""))
    print(f"  ReplayTrimmed events: {sim.counts['ReplayTrimmed']} over {sim.turns} turns "
          f"({sim.counts['ReplayTrimmed.item']} items, {sim.counts['ReplayTrimmed.item_audio']} user turns' audio); "
          f"AudioDropped: {sim.counts['AudioDropped']}; {time.process_time() - started:.0f} s of CPU in all")
    if heap:
        tracemalloc.stop()
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", help="long-session checkpoints only, e.g. 100,1000,10000")
    parser.add_argument("--speech-ms", type=int, default=8000, help="speech per turn in the long session")
    parser.add_argument("--heap", action="store_true", help="long session: also trace the Python heap")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.turns:
        return {"long_sessions": long_sessions([int(n) for n in args.turns.split(",")], args.speech_ms,
                                               heap=args.heap)}
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
