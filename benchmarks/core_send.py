"""CPU per send_audio of one 20 ms frame (what a transport delivers), ours vs pipecat-ai 1.14's path.

Both buffer to 60 ms appends, base64, serialise JSON and frame it masked; pipecat's framing is the websockets
package's sans-I/O protocol (what its asyncio connection runs). Socket writes are left out of both.
``--cold`` times every call on its own after a 4 MB sweep of memory, as a live session meets its code after
other processes ran (a hot loop hides most of what a 20 ms wake-up pays), and splits frames that only join
the next chunk from those that complete one; it also times our path with the pure-Python masker (what the
compiled one is worth).
Run: python -m benchmarks.core_send [--cold]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator

from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    PCMAudioFormat,
    RealtimeConnection,
    SessionProperties,
    frames,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ServerConnection

FRAMES = 6000
COLD_FRAMES = 900
REPEATS = 5
RATE = 24000
FRAME = bytes(range(256)) * 3 + bytes(RATE * 2 // 50 - 768)  # 20 ms at 24 kHz
_SWEEP = bytearray(4 << 20)


def sweep() -> None:
    """Touch 4 MB, one byte per cache line: what other processes leave in the caches between two wake-ups."""
    _SWEEP[::64] = bytes(len(_SWEEP) // 64)


def configured() -> RealtimeConnection:
    """Our core, past session.updated, with nothing to send."""
    props = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=RATE))))
    conn = RealtimeConnection("k", props, url="ws://127.0.0.1:1/s")
    conn.connect()
    server = ServerConnection()
    server.receive_request(conn.data_to_send())
    server.accept()
    server.send(ev.SessionCreated())
    server.send(ev.SessionUpdated())
    conn.receive_data(server.data_to_send())
    list(conn.events())
    conn.data_to_send()
    return conn


def ours_step() -> Callable[[], object]:
    """One frame through our core: send_audio, then drain what it made (as the clients do)."""
    conn = configured()

    def step() -> object:
        return conn.send_audio(FRAME) and conn.data_to_send()

    return step


def pipecat_step() -> Callable[[], object] | None:
    """One frame through pipecat 1.14's _send_user_audio + send_client_event + _ws_send."""
    try:
        from pipecat.services.inworld.realtime import events as pev
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri
    except ImportError:
        return None
    from inworld_realtime.protocol.handshake import accept_key

    ws = ClientProtocol(parse_uri("ws://127.0.0.1/s"), max_size=None)
    request = ws.connect()
    ws.send_request(request)
    ws.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept_key(request.headers["Sec-WebSocket-Key"]).encode() + b"\r\n\r\n")
    ws.data_to_send()
    chunk_bytes = int(RATE * 2 * 60 / 1000)
    buffer = b""

    def step() -> object:
        nonlocal buffer
        buffer += FRAME
        while len(buffer) >= chunk_bytes:
            chunk, buffer = buffer[:chunk_bytes], buffer[chunk_bytes:]
            payload = base64.b64encode(chunk).decode("utf-8")
            message = pev.InputAudioBufferAppendEvent(audio=payload).model_dump(exclude_none=True, by_alias=True)
            ws.send_text(json.dumps(message).encode())
            ws.data_to_send()
        return None

    return step


def hot(step: Callable[[], object]) -> float:
    """CPU µs per frame over FRAMES frames in a tight loop."""
    start = time.process_time()
    for _ in range(FRAMES):
        step()
    return (time.process_time() - start) / FRAMES * 1e6


def cold(step: Callable[[], object]) -> tuple[float, float]:
    """Median wall µs of (frames that only join the next chunk, frames that complete one), each call after a
    sweep. 60 ms chunks of 20 ms frames: every third frame completes one."""
    joins: list[int] = []
    completes: list[int] = []
    for index in range(COLD_FRAMES):
        sweep()
        started = time.perf_counter_ns()
        step()
        (completes if index % 3 == 2 else joins).append(time.perf_counter_ns() - started)
    return statistics.median(joins) / 1000, statistics.median(completes) / 1000


@contextlib.contextmanager
def masking_with(mask: Callable[[bytes | bytearray, bytes], bytes]) -> Iterator[None]:
    """Our frames masked by ``mask`` for as long as the block runs."""
    saved, frames.mask = frames.mask, mask
    try:
        yield
    finally:
        frames.mask = saved


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="each call timed alone after a cache sweep")
    args = parser.parse_args(argv)
    if args.cold:
        return main_cold()
    mine_runs: list[float] = []
    theirs_runs: list[float] = []
    for _ in range(REPEATS):  # interleaved, so a noisy neighbour weighs on both alike
        mine_runs.append(hot(ours_step()))
        theirs = pipecat_step()
        if theirs is not None:
            theirs_runs.append(hot(theirs))
    mine = statistics.median(mine_runs)
    print(f"send_audio of a 20 ms 24 kHz frame, CPU per frame, median of {REPEATS} x {FRAMES}:")
    print(f"  ours:          {mine:6.2f} us")
    if not theirs_runs:
        print("  pipecat-ai is not installed: no comparison")
        return {"ours_us": mine}
    theirs_us = statistics.median(theirs_runs)
    print(f"  pipecat 1.14:  {theirs_us:6.2f} us")
    print(f"  ratio ours/pipecat: {mine / theirs_us:.2f}")
    return {"ours_us": mine, "pipecat_us": theirs_us, "ratio": mine / theirs_us}


def main_cold() -> dict[str, float]:
    """Each configuration in turn, REPEATS times interleaved; medians of the per-run medians."""
    configurations = [("ours", ours_step, frames.mask), ("ours, pure masker", ours_step, frames.mask_pure),
                      ("pipecat 1.14", pipecat_step, frames.mask)]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in configurations}
    for _ in range(REPEATS):
        for name, make, mask in configurations:
            with masking_with(mask):
                step = make()
                if step is not None:
                    runs[name].append(cold(step))
    print(f"send_audio of a 20 ms 24 kHz frame, caches swept before every call, median wall us "
          f"({REPEATS} x {COLD_FRAMES} frames): frames that join the next chunk / frames that complete one")
    figures: dict[str, float] = {}
    for name, got in runs.items():
        if not got:
            continue
        joins = statistics.median(j for j, _ in got)
        completes = statistics.median(c for _, c in got)
        figures[f"{name}: join"], figures[f"{name}: complete"] = joins, completes
        print(f"  {name:28s} {joins:6.1f} / {completes:6.1f} us   (per frame: {(2 * joins + completes) / 3:5.1f})")
    return figures


if __name__ == "__main__":
    main()
