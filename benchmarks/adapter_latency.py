"""Loopback latency each adapter adds: server send of an audio delta to the event in the caller's hands.

Run: python -m benchmarks.adapter_latency [--deltas N]. The server (the websockets package, in a thread of
this process) stamps ``time.perf_counter_ns()`` into each delta's event_id just before sending it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import threading
import time
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from inworld_realtime.protocol import events as ev
from tests.client_harness import AsyncDriver, Peer, ScriptedServer, SyncDriver

DELTA = base64.b64encode(bytes(2880)).decode()  # 60 ms at 24 kHz


def make_script(count: int, gap_s: float) -> Any:
    async def script(peer: Peer) -> None:
        if peer.request.path.startswith("/floor"):
            await peer.ws.recv()
        else:
            await peer.open_session()
        for _ in range(count):
            await asyncio.sleep(gap_s)
            await peer.send({"type": "response.output_audio.delta", "event_id": f"t{time.perf_counter_ns()}",
                             "response_id": "r", "item_id": "i", "delta": DELTA})
        await peer.recv(timeout=60)

    return script


def measure(kind: str, url: str, count: int) -> list[float]:
    d = (AsyncDriver if kind == "asyncio" else SyncDriver)("k", None, url)
    lat: list[float] = []
    try:
        d.call("connect")
        while len(lat) < count:
            event = d.next_event(10)
            if isinstance(event, ev.ResponseOutputAudioDelta):
                lat.append((time.perf_counter_ns() - int(event.event_id[1:])) / 1000)
    finally:
        d.close()
        if isinstance(d, AsyncDriver):
            d.shutdown()
    return lat


def measure_floor(url: str, count: int) -> list[float]:
    """The websockets client alone (no parsing beyond the JSON needed to read the stamp)."""
    lat: list[float] = []

    async def run() -> None:
        async with ws_connect(url.replace("/api/", "/floor/"), max_size=None) as ws:
            await ws.send("{}")
            while len(lat) < count:
                message = await ws.recv()
                stamp = json.loads(message)["event_id"]
                lat.append((time.perf_counter_ns() - int(stamp[1:])) / 1000)

    threading.Thread(target=lambda: asyncio.run(run())).run()
    return lat


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deltas", type=int, default=400)
    parser.add_argument("--gap-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    print(f"{args.deltas} audio deltas of 60 ms at 24 kHz, one every {args.gap_ms} ms, loopback")
    for name in ("websockets client (floor)", "asyncio", "blocking"):
        with ScriptedServer(make_script(args.deltas, args.gap_ms / 1000)) as server:
            if name.startswith("websockets"):
                lat = measure_floor(server.url, args.deltas)
            else:
                lat = measure(name, server.url, args.deltas)
        lat = lat[20:]  # warm-up
        q = statistics.quantiles(lat, n=10)
        print(f"  {name:28s} median {statistics.median(lat):7.1f} us   p90 {q[8]:7.1f} us")
        results[name] = {"median_us": statistics.median(lat), "p90_us": q[8]}
    return results


if __name__ == "__main__":
    main()
