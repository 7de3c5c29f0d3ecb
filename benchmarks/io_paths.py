"""CPU per audio event through a real loopback socket: ours (asyncio and blocking), pipecat 1.14's path, websockets.

receive: the server (benchmarks.blaster, another process) floods pre-framed 60 ms 24 kHz deltas; the figure is
the client process's CPU per delta from socket bytes to PCM in the caller's hands. send: 20 ms frames handed
to the client in a loop, through chunking, base64, JSON, masking and the socket write; the figure is CPU per
frame. "websockets alone" moves the same messages with no parsing or encoding: what any client built on
websockets pays before it looks at one. The blocking client's reader and writer threads are counted too
(process CPU). Every path runs in its own process and all of them run each round at the same moment, so
they share the machine's load; per-round ratios to pipecat are reported with their range.
Run: python -m benchmarks.io_paths [--rounds 5]
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from inworld_realtime.io_adapters import AsyncRealtimeClient, RealtimeClient
from inworld_realtime.protocol import AudioConfiguration, AudioInput, PCMAudioFormat, SessionProperties
from inworld_realtime.protocol import events as ev

from .blaster import PCM_60MS_24K, running_blaster
from .report import spread

DELTAS = 3000
FRAMES = 6000
ROUNDS = 5
RATE = 24000
FRAME = bytes(range(256)) * 3 + bytes(RATE * 2 // 50 - 768)  # 20 ms at 24 kHz
CHUNK = RATE * 2 * 60 // 1000
SESSION = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=RATE))))

Measure = Callable[[str], Awaitable[float]]


async def _ws(url: str) -> Any:
    """pipecat 1.14's connection: websockets' asyncio client with its defaults, then the session handshake."""
    from websockets.asyncio.client import connect

    ws = await connect(f"{url}&key=bench&protocol=realtime", additional_headers={"Authorization": "Basic bench"})
    json.loads(await ws.recv())  # session.created
    await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
    json.loads(await ws.recv())  # session.updated
    return ws


def _pcm_bytes(event: object) -> int | None:
    """What a caller does with each event: the PCM of an audio delta; None at the end of the answer."""
    if isinstance(event, ev.ResponseOutputAudioDelta):
        return len(event.pcm)
    return None if isinstance(event, ev.ResponseDone) else 0


async def receive_ours(url: str, count: int = DELTAS, pace: str = "mode=flood") -> float:
    async with AsyncRealtimeClient("bench", SESSION, f"{url}?{pace}&n={count}") as client:
        got, start = 0, time.process_time()
        async for event in client:
            if (pcm := _pcm_bytes(event)) is None:
                break
            got += pcm
        elapsed = time.process_time() - start
    assert got == count * len(PCM_60MS_24K), got
    return elapsed / count * 1e6


async def receive_ours_blocking(url: str, count: int = DELTAS, pace: str = "mode=flood") -> float:
    def run() -> float:
        with RealtimeClient("bench", SESSION, f"{url}?{pace}&n={count}") as client:
            got, start = 0, time.process_time()
            for event in client.events():
                if (pcm := _pcm_bytes(event)) is None:
                    break
                got += pcm
            elapsed = time.process_time() - start
        assert got == count * len(PCM_60MS_24K), got
        return elapsed / count * 1e6

    return await asyncio.to_thread(run)


async def receive_pipecat(url: str, count: int = DELTAS, pace: str = "mode=flood") -> float:
    from pipecat.services.inworld.realtime import events as pev

    ws = await _ws(f"{url}?{pace}&n={count}")
    got, start = 0, time.process_time()
    async for message in ws:  # pipecat 1.14's _receive_task_handler: json.loads, then parse_server_event
        json.loads(message).get("type", "")
        event = pev.parse_server_event(message)
        if isinstance(event, pev.ResponseAudioDelta):
            got += len(base64.b64decode(event.delta))
        elif isinstance(event, pev.ResponseDone):
            break
    elapsed = time.process_time() - start
    await ws.close()
    assert got == count * len(PCM_60MS_24K), got
    return elapsed / count * 1e6


async def receive_floor(url: str, count: int = DELTAS, pace: str = "mode=flood") -> float:
    ws = await _ws(f"{url}?{pace}&n={count}")
    start = time.process_time()
    async for message in ws:  # frames to str, nothing more
        if message.startswith('{"type": "response.done"'):
            break
    elapsed = time.process_time() - start
    await ws.close()
    return elapsed / count * 1e6


async def send_ours(url: str) -> float:
    async with AsyncRealtimeClient("bench", SESSION, f"{url}?mode=sink") as client:
        start = time.process_time()
        for _ in range(FRAMES):
            await client.send_audio(FRAME)
        elapsed = time.process_time() - start
    return elapsed / FRAMES * 1e6


async def send_ours_blocking(url: str) -> float:
    def run() -> float:
        with RealtimeClient("bench", SESSION, f"{url}?mode=sink") as client:
            start = time.process_time()
            for _ in range(FRAMES):
                client.send_audio(FRAME)
            elapsed = time.process_time() - start
        return elapsed / FRAMES * 1e6

    return await asyncio.to_thread(run)


async def send_pipecat(url: str) -> float:
    from pipecat.services.inworld.realtime import events as pev

    ws = await _ws(f"{url}?mode=sink")
    buffer = b""
    start = time.process_time()
    for _ in range(FRAMES):  # pipecat 1.14's _send_user_audio, send_client_event and _ws_send
        buffer += FRAME
        while len(buffer) >= CHUNK:
            chunk, buffer = buffer[:CHUNK], buffer[CHUNK:]
            event = pev.InputAudioBufferAppendEvent(audio=base64.b64encode(chunk).decode("utf-8"))
            await ws.send(json.dumps(event.model_dump(exclude_none=True, by_alias=True)))
    elapsed = time.process_time() - start
    await ws.close()
    return elapsed / FRAMES * 1e6


async def send_floor(url: str) -> float:
    message = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(FRAME * 3).decode()})
    ws = await _ws(f"{url}?mode=sink")
    start = time.process_time()
    for index in range(FRAMES):  # the same messages, already encoded
        if index % 3 == 2:
            await ws.send(message)
    elapsed = time.process_time() - start
    await ws.close()
    return elapsed / FRAMES * 1e6


RECEIVE: dict[str, Measure] = {"ours (asyncio)": receive_ours, "ours (blocking)": receive_ours_blocking,
                               "pipecat 1.14": receive_pipecat, "websockets alone": receive_floor}
TRICKLE = 1000  # deltas, one every 2 ms: each arrives in a read of its own, as in a live session
RECEIVE_ONE_PER_READ: dict[str, Measure] = {
    name: functools.partial(measure, count=TRICKLE, pace="mode=live&interval=0.002")  # type: ignore[misc]
    for name, measure in RECEIVE.items()}
SEND: dict[str, Measure] = {"ours (asyncio)": send_ours, "ours (blocking)": send_ours_blocking,
                            "pipecat 1.14": send_pipecat, "websockets alone": send_floor}


GROUPS: dict[str, dict[str, Measure]] = {"receive_us_per_delta": RECEIVE,
                                          "receive_one_per_read_us_per_delta": RECEIVE_ONE_PER_READ,
                                          "send_us_per_frame": SEND}
GAP = {"receive_us_per_delta": 6.0, "receive_one_per_read_us_per_delta": 6.0, "send_us_per_frame": 6.0}


async def _child(url: str, group: str, name: str, at: float, rounds: int) -> list[float]:
    """One path's rounds, each started at the same wall-clock moment as every other path's (another process)."""
    measure = GROUPS[group][name]
    results = []
    for index in range(rounds):
        await asyncio.sleep(max(0.0, at + index * GAP[group] - time.time()))
        results.append(await measure(url))
    return results


def _together(url: str, group: str, rounds: int) -> dict[str, list[float]]:
    """Every path of ``group`` in its own process, round by round at the same moments."""
    at = time.time() + 8.0  # imports (pipecat's take seconds) and connects before the first round
    procs = {name: subprocess.Popen([sys.executable, "-m", "benchmarks.io_paths", "--child", group, name, url,
                                     str(at), str(rounds)], stdout=subprocess.PIPE, text=True)
             for name in GROUPS[group]}
    return {name: json.loads(proc.communicate(timeout=8 + rounds * GAP[group] + 120)[0].strip().splitlines()[-1])
            for name, proc in procs.items()}


def table(title: str, unit: str, runs: dict[str, list[float]]) -> dict[str, Any]:
    """Each path's median and range, and its ratio to pipecat's round by round (same moment, same load)."""
    theirs = runs["pipecat 1.14"]
    print(title)
    out: dict[str, Any] = {}
    for name, values in runs.items():
        ratio = spread([v / t for v, t in zip(values, theirs, strict=True)])
        out[name] = {**spread(values), "ratio": ratio}
        print(f"  {name:18s} {out[name]['median']:7.2f} {unit} ({out[name]['min']:.2f}-{out[name]['max']:.2f})"
              f"   {ratio['median']:5.2f}x pipecat ({ratio['min']:.2f}-{ratio['max']:.2f})")
    return out


def measure_all(rounds: int = ROUNDS) -> dict[str, dict[str, list[float]]]:
    with running_blaster() as url:
        return {group: _together(url, group, rounds) for group in GROUPS}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--child":
        group, name, url, at, rounds = args[1:6]
        print(json.dumps(asyncio.run(_child(url, group, name, float(at), int(rounds)))))
        return {}
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else ROUNDS
    runs = measure_all(rounds)
    print("every path in its own process, all at the same moments; median (range) of the rounds")
    return {
        "receive_us_per_delta": table(
            f"receive: CPU per 60 ms 24 kHz delta, socket bytes to PCM, {rounds} rounds x {DELTAS}", "us",
            runs["receive_us_per_delta"]),
        "receive_one_per_read_us_per_delta": table(
            f"receive, one delta per read (one every 2 ms): CPU per delta, {rounds} rounds x {TRICKLE}", "us",
            runs["receive_one_per_read_us_per_delta"]),
        "send_us_per_frame": table(
            f"send: CPU per 20 ms frame, send_audio to socket write, {rounds} rounds x {FRAMES}", "us",
            runs["send_us_per_frame"]),
    }


if __name__ == "__main__":
    import argparse

    if sys.argv[1:2] != ["--child"]:  # --help measures nothing; --rounds is read by main, as are children's args
        parser = argparse.ArgumentParser(prog="python -m benchmarks.io_paths", description=__doc__,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds, every path at the same moments")
        parser.parse_args()
    main()
