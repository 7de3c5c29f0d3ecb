"""Concurrent real-time sessions one core sustains, ours vs pipecat 1.14's path, found by ramping up.

Every session streams 20 ms frames in real time and receives a 60 ms delta every 60 ms from
benchmarks.blaster (another process, far cheaper per session than any client). A step keeps up when, after
the connects, at most 1 % of frames go out more than 20 ms late and 99 % of deltas reach the caller within
100 ms of being sent; a step that falls behind is run again, and falls behind only if it does so twice.
The figure is the largest step that keeps up. Pacing is either one 20 ms clock for all sessions (a mixer's
way, where the client's own cost dominates) or one per session (pipecat's transports' way, where the
timer wakeups, paid alike by both clients, are about a third of the total). Run: python -m benchmarks.capacity
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from tests.emulator_helpers import speech_like

from .blaster import running_blaster
from .session_cost import RATE, SharedTicker, Tally, ours, pipecat_path, preload

KINDS = {"ours": ours, "pipecat": pipecat_path}


async def step(kind: str, url: str, sessions: int, seconds: float, shared: bool) -> dict[str, float]:
    """``sessions`` concurrent sessions for ``seconds``; lateness counted from 3 s in to 0.5 s before the end."""
    pcm = speech_like(RATE, syllables=5)
    preload(kind)
    tally = Tally(since=time.time() + 3.0, until=time.time() + 3.0 + seconds - 0.5)
    if shared:
        tally.ticker = SharedTicker(tally)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(KINDS[kind](f"{url}?mode=live", seconds + 3.0, pcm, tally) for _ in range(sessions)))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    frames = max(1, int(sessions * seconds / 0.02))
    lags = sorted(tally.receive_lag) or [float("inf")]
    return {"sessions": sessions, "cpu_load": cpu / wall,
            "late_frames": sum(1 for late in tally.send_late if late > 0.02) / frames,
            "p99_receive_lag_ms": lags[int(len(lags) * 0.99) - 1 if len(lags) > 1 else 0] * 1000,
            "median_receive_lag_ms": statistics.median(lags) * 1000}


def keeps_up(result: dict[str, float]) -> bool:
    return result["late_frames"] <= 0.01 and result["p99_receive_lag_ms"] <= 100


def ramp(kind: str, url: str, start: int, factor: float, seconds: float, limit: int,
         shared: bool) -> tuple[int, list[dict[str, float]]]:
    """Grow the step by ``factor`` until one falls behind; the last that kept up is the figure."""
    best, steps, sessions = 0, [], start
    while sessions <= limit:
        result = asyncio.run(step(kind, url, sessions, seconds, shared))
        if not keeps_up(result):  # one stall on a shared machine (or a GC pass) should not decide: try again
            result = asyncio.run(step(kind, url, sessions, seconds, shared))
        steps.append(result)
        ok = keeps_up(result)
        print(f"    {kind:8s} {sessions:4d} sessions: CPU {result['cpu_load'] * 100:4.0f} %, "
              f"{result['late_frames'] * 100:5.2f} % frames late, receive lag median "
              f"{result['median_receive_lag_ms']:6.1f} ms, p99 {result['p99_receive_lag_ms']:7.1f} ms"
              f"{'' if ok else '  <- behind'}", flush=True)
        if not ok:
            break
        best = sessions
        sessions = max(sessions + 1, int(sessions * factor))
    return best, steps


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=int, default=40)
    parser.add_argument("--factor", type=float, default=1.25)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--pacing", choices=["shared", "per-session", "both"], default="both",
                        help="one 20 ms clock for all sessions, or one per session (the transport's cost, paid alike)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    pacings = ["shared", "per-session"] if args.pacing == "both" else [args.pacing]
    with running_blaster() as url:
        for pacing in pacings:
            print(f"  pacing: {pacing}")
            found: dict[str, Any] = {}
            for kind in KINDS:
                best, steps = ramp(kind, url, args.start, args.factor, args.seconds, args.limit, pacing == "shared")
                found[kind] = {"sessions_per_core": best, "steps": steps}
            found["ratio"] = found["ours"]["sessions_per_core"] / max(1, found["pipecat"]["sessions_per_core"])
            # The ramp's steps are 25 % apart; the CPU each client needed at the same step is the finer figure.
            loads = {kind: {r["sessions"]: r["cpu_load"] for r in found[kind]["steps"] if keeps_up(r)}
                     for kind in KINDS}
            common = sorted(set(loads["ours"]) & set(loads["pipecat"]))
            found["cpu_ratio_same_sessions"] = statistics.median(
                loads["ours"][n] / loads["pipecat"][n] for n in common) if common else None
            print(f"  real-time sessions one core sustains ({pacing} pacing): "
                  f"ours {found['ours']['sessions_per_core']}, pipecat {found['pipecat']['sessions_per_core']}, "
                  f"ratio {found['ratio']:.2f}x", flush=True)
            if found["cpu_ratio_same_sessions"] is not None:
                print(f"  CPU ours/pipecat at the same number of sessions (median over {len(common)} steps): "
                      f"{found['cpu_ratio_same_sessions']:.2f}", flush=True)
            results[pacing] = found
    return results


if __name__ == "__main__":
    main()
