"""The README's figures table from a ``python -m benchmarks --json FILE`` run (so nothing is copied by hand).

Run: python -m benchmarks.report benchmarks/results/latest.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def row(figure: str, ours: str, theirs: str, ratio: str, target: str = "") -> str:
    return f"| {figure} | {ours} | {theirs} | {ratio} | {target} |"


def us(value: float) -> str:
    return f"{value:.1f} µs"


def render(d: dict[str, Any]) -> str:
    lines = [f"Run: {d['started']} on {d['machine']}.", "",
             "| figure | ours | pipecat 1.14 | ours/pipecat | target |", "|---|---|---|---|---|"]
    cr = d["core_receive"]
    mine = next(v for k, v in cr.items() if k.startswith("ours: frame"))
    theirs = next(v for k, v in cr.items() if k.startswith("pipecat 1.14: frame"))
    lines.append(row("receive, sans-IO: CPU per 60 ms 24 kHz delta, frame bytes → PCM", us(mine), us(theirs),
                     f"{mine / theirs:.2f}", "≤ 0.6"))
    io = d["io_paths"]
    for key, label in (("receive_us_per_delta", "receive through a loopback socket, deltas flooded"),
                       ("receive_one_per_read_us_per_delta", "receive through a loopback socket, one delta per read")):
        r = io[key]
        lines.append(row(f"{label} (websockets alone: {us(r['websockets floor'])}; our blocking client: "
                         f"{us(r['ours (blocking)'])})", us(r["ours (asyncio)"]), us(r["pipecat 1.14"]),
                         f"{r['ours (asyncio)'] / r['pipecat 1.14']:.2f}", "≤ 0.6"))
    cs = d["core_send"]
    lines.append(row("send, sans-IO: CPU per 20 ms frame (chunking, base64, JSON, masking)", us(cs["ours_us"]),
                     us(cs["pipecat_us"]), f"{cs['ratio']:.2f}", "≤ 0.7"))
    s = io["send_us_per_frame"]
    lines.append(row(f"send through a loopback socket, + the socket write (websockets alone: "
                     f"{us(s['websockets floor'])}; our blocking client: {us(s['ours (blocking)'])})",
                     us(s["ours (asyncio)"]), us(s["pipecat 1.14"]),
                     f"{s['ours (asyncio)'] / s['pipecat 1.14']:.2f}", "≤ 0.7"))
    c = d["connect"]
    lines.append(row("connect to a configured session, loopback + 50 ms injected RTT (round trips)",
                     f"{c['ours_round_trips']:.2f}", f"{c['pipecat_round_trips']:.2f}",
                     f"{c['ours_round_trips'] / c['pipecat_round_trips']:.2f}", "2 (the protocol's minimum)"))
    sc = d["session_cost"]
    lines.append(row(f"session cost: CPU s per session-minute, 10 full-duplex sessions vs the emulator "
                     f"(pacing alone: {sc['floor_cpu_s_per_session_minute']:.3f}; ratio above it: "
                     f"{sc['ratio_above_floor']:.2f})", f"{sc['ours_cpu_s_per_session_minute']:.3f}",
                     f"{sc['pipecat_cpu_s_per_session_minute']:.3f}", f"{sc['ratio']:.2f}", "≤ 0.7"))
    for pacing, label in (("shared", "one 20 ms clock for all sessions"), ("per-session", "a timer per session")):
        cap = d["capacity"].get(pacing)
        if cap is None:
            continue
        cpu = cap.get("cpu_ratio_same_sessions")
        extra = f"; CPU at the same number of sessions: {cpu:.2f}" if cpu is not None else ""
        lines.append(row(f"real-time sessions one core sustains, {label}{extra}",
                         str(cap["ours"]["sessions_per_core"]), str(cap["pipecat"]["sessions_per_core"]),
                         f"{cap['ratio']:.2f}x", "≥ 1.5x"))
    m = d["memory"]
    for key, label in (("idle_heap_kib", "memory per idle session, Python heap"),
                       ("idle_rss_kib", "memory per idle session, resident"),
                       ("active_rss_kib", "memory per active session, resident (ours holds the uncommitted turn)")):
        lines.append(row(label, f"{m['ours'][key]:.0f} KiB", f"{m['pipecat'][key]:.0f} KiB",
                         f"{m['ours'][key] / m['pipecat'][key]:.2f}"))
    lat = d["adapter_latency"]
    lines += ["", "Latency the adapters add on loopback, server send → event in hand, median / p90: websockets alone "
              + " / ".join(f"{lat['websockets client (floor)'][k]:.0f}" for k in ("median_us", "p90_us"))
              + " µs, our asyncio client " + " / ".join(f"{lat['asyncio'][k]:.0f}" for k in ("median_us", "p90_us"))
              + " µs, our blocking client " + " / ".join(f"{lat['blocking'][k]:.0f}" for k in ("median_us", "p90_us"))
              + " µs."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    with open(parser.parse_args().file) as figures:
        print(render(json.load(figures)))


if __name__ == "__main__":
    main()
