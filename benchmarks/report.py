"""The figures tables from a ``python -m benchmarks --json FILE`` run (so nothing is copied by hand).

Run: python -m benchmarks.report benchmarks/results/latest.json; ``--cost`` renders the client-cost table of
docs/benchmarks.md from a file holding ``session_cost`` and ``io_paths`` (benchmarks/results/cost.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any


def row(figure: str, ours: str, theirs: str, ratio: str, target: str = "") -> str:
    return f"| {figure} | {ours} | {theirs} | {ratio} | {target} |"


def us(value: float) -> str:
    return f"{value:.1f} µs"


def med(value: Any) -> float:
    """A figure's median (runs at the same moment give median and range; older runs a plain number)."""
    return float(value["median"]) if isinstance(value, dict) else float(value)


def spread(values: list[float]) -> dict[str, float]:
    """Median and range of per-round figures."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def rng(value: dict[str, float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)``."""
    return f"{fmt.format(value['median'])} ({fmt.format(value['min'])}-{fmt.format(value['max'])})"


def spread_ratio(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, float]:
    """The ratio of two medians, with the range it can span (per-round ratios were not kept)."""
    return {"median": ours["median"] / theirs["median"], "min": ours["min"] / theirs["max"],
            "max": ours["max"] / theirs["min"]}


def render_cost(d: dict[str, Any]) -> str:
    """The client-cost table: every figure from configurations run at the same moment, median (range) of rounds."""
    sc, io = d["session_cost"], d["io_paths"]
    like, paced = sc["like_for_like"], sc["paced"]
    cpu, above = like["cpu_s_per_session_minute"], like["above_pacing"]
    lines = [f"Run: {d['started']} on {d['machine']}. Every row's configurations ran at the same moment, each in its"
             " own process; figures are medians over rounds, with the range in brackets.", "",
             "| figure | ours | pipecat 1.14 | ours/pipecat | target |", "|---|---|---|---|---|"]
    lines.append(row(f"session cost, CPU s per session-minute, {like['sessions']} sessions of each kind, each pacing "
                     f"itself with a 20 ms sleep loop (the loop alone: {rng(cpu['pacing'], '{:.3f}')})",
                     rng(cpu["ours"], "{:.3f}"), rng(cpu["pipecat"], "{:.3f}"), rng(like["ratio"]), ""))
    recv = f"; ours receiving only (its loop sends nothing) {rng(above['ours-recv'])}" if "ours-recv" in above else ""
    if "essential" in above:
        recv += (f"; our core on a bare transport (no client around it) {rng(above['core'])}; the essential work "
                 "alone (every message parsed, every append built, on the floor's transport) "
                 f"{rng(above['essential'])}")
    lines.append(row("above the pacing loop, as a share of pipecat's total: websockets alone "
                     f"{rng(above['websockets'])}, a bare asyncio.Protocol floor {rng(above['floor'])}{recv}",
                     rng(above["ours"]), rng(above["pipecat"]), "", "≤ 0.18"))
    sends = like.get("send_us_per_frame")
    if sends:
        lines.append(row("the caller's `await send(frame)` in those sessions, wall µs per 20 ms frame, live (the "
                         f"loop's own no-op send: {rng(sends['pacing'], '{:.1f}')}; websockets alone "
                         f"{rng(sends['websockets'], '{:.1f}')}; the floor {rng(sends['floor'], '{:.1f}')}"
                         + (f"; our core alone {rng(sends['core'], '{:.1f}')}; the essential work "
                            f"{rng(sends['essential'], '{:.1f}')}" if "essential" in sends else "") + ")",
                         rng(sends["ours"], "{:.1f}"), rng(sends["pipecat"], "{:.1f}"),
                         rng(spread_ratio(sends["ours"], sends["pipecat"])), ""))
    pcpu = paced["cpu_s_per_session_minute"]
    extra = ""
    if "ours-paced+uvloop" in paced.get("ratios", {}):
        extra = f"; on uvloop: {rng(paced['ratios']['ours-paced+uvloop'])}"
    lines.append(row(f"paced source: {paced['sessions']} sessions streaming a WAV with the client's pacing (one "
                     f"clock) vs pipecat with a sleep loop per session, CPU s per session-minute (ours pacing "
                     f"itself per session: {rng(paced['ratios']['ours'])} of pipecat{extra})",
                     rng(pcpu["ours-paced"], "{:.3f}"), rng(pcpu["pipecat"], "{:.3f}"), rng(paced["ratio"]), "≤ 0.4"))
    for key, label in (("receive_one_per_read_us_per_delta", "receive, one delta per read (one every 2 ms), CPU per "
                        "60 ms delta"),
                       ("receive_us_per_delta", "receive, deltas flooded, CPU per 60 ms delta"),
                       ("send_us_per_frame", "send, CPU per 20 ms frame, send_audio to socket write")):
        r = io[key]
        lines.append(row(f"{label} (websockets alone: {rng(r['websockets alone'], '{:.1f}')} µs, "
                         f"{rng(r['websockets alone']['ratio'])} of pipecat; our blocking client: "
                         f"{rng(r['ours (blocking)'], '{:.1f}')} µs)",
                         rng(r["ours (asyncio)"], "{:.1f}") + " µs", rng(r["pipecat 1.14"], "{:.1f}") + " µs",
                         rng(r["ours (asyncio)"]["ratio"]), ""))
    return "\n".join(lines)


def render(d: dict[str, Any]) -> str:
    lines = [f"Run: {d['started']} on {d['machine']}.", "",
             "| figure | ours | pipecat 1.14 | ours/pipecat | target |", "|---|---|---|---|---|"]
    cr = d["core_receive"]
    mine = next(v for k, v in cr.items() if k.startswith("ours: frame"))
    theirs = next(v for k, v in cr.items() if k.startswith("pipecat 1.14: frame"))
    lines.append(row("receive, sans-IO: CPU per 60 ms 24 kHz delta, frame bytes → PCM", us(mine), us(theirs),
                     f"{mine / theirs:.2f}", "≤ 0.6"))
    io = d["io_paths"]
    alone = "websockets alone" if "websockets alone" in io["send_us_per_frame"] else "websockets floor"
    for key, label in (("receive_us_per_delta", "receive through a loopback socket, deltas flooded"),
                       ("receive_one_per_read_us_per_delta", "receive through a loopback socket, one delta per read")):
        r = {name: med(value) for name, value in io[key].items()}
        lines.append(row(f"{label} (websockets alone: {us(r[alone])}; our blocking client: "
                         f"{us(r['ours (blocking)'])})", us(r["ours (asyncio)"]), us(r["pipecat 1.14"]),
                         f"{r['ours (asyncio)'] / r['pipecat 1.14']:.2f}", "≤ 0.6"))
    cs = d["core_send"]
    lines.append(row("send, sans-IO: CPU per 20 ms frame (chunking, base64, JSON, masking)", us(cs["ours_us"]),
                     us(cs["pipecat_us"]), f"{cs['ratio']:.2f}", "≤ 0.7"))
    s = {name: med(value) for name, value in io["send_us_per_frame"].items()}
    lines.append(row(f"send through a loopback socket, + the socket write (websockets alone: "
                     f"{us(s[alone])}; our blocking client: {us(s['ours (blocking)'])})",
                     us(s["ours (asyncio)"]), us(s["pipecat 1.14"]),
                     f"{s['ours (asyncio)'] / s['pipecat 1.14']:.2f}", "≤ 0.7"))
    c = d["connect"]
    lines.append(row("connect to a configured session, loopback + 50 ms injected RTT (round trips)",
                     f"{c['ours_round_trips']:.2f}", f"{c['pipecat_round_trips']:.2f}",
                     f"{c['ours_round_trips'] / c['pipecat_round_trips']:.2f}", "2 (the protocol's minimum)"))
    sc = d["session_cost"]
    if "like_for_like" in sc:
        like = sc["like_for_like"]
        lines.append(row(f"session cost: CPU s per session-minute, {like['sessions']} sessions of each kind at once "
                         f"(above the pacing loop: ours {rng(like['above_pacing']['ours'])} of pipecat's total)",
                         rng(like["cpu_s_per_session_minute"]["ours"], "{:.3f}"),
                         rng(like["cpu_s_per_session_minute"]["pipecat"], "{:.3f}"), rng(like["ratio"]), "≤ 0.7"))
        lines.append(row(f"paced source: {sc['paced']['sessions']} sessions streaming a WAV, ours paced by one clock",
                         "", "", rng(sc["paced"]["ratio"]), "≤ 0.4"))
    else:
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
    parser.add_argument("--cost", action="store_true", help="the client-cost table (docs/benchmarks.md)")
    args = parser.parse_args()
    with open(args.file) as figures:
        data = json.load(figures)
    print(render_cost(data) if args.cost else render(data))


if __name__ == "__main__":
    main()
