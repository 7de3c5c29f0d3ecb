"""CPU per audio event through a real loopback socket: ours (asyncio and blocking), pipecat 1.14's path, websockets.

receive: the server (benchmarks.blaster, another process) floods pre-framed 60 ms 24 kHz deltas; the figure is
the client process's CPU per delta from socket bytes to PCM in the caller's hands. send: 20 ms frames handed
to the client in a loop, through chunking, base64, JSON, masking and the socket write; the figure is CPU per
frame. The websockets floor moves the same messages with no parsing or encoding: what any client built on
websockets pays before it looks at one. The blocking client's reader and writer threads
are counted too (process CPU). Run: python -m benchmarks.io_paths
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from inworld_realtime.io_adapters import AsyncRealtimeClient, RealtimeClient
from inworld_realtime.protocol import AudioConfiguration, AudioInput, PCMAudioFormat, SessionProperties
from inworld_realtime.protocol import events as ev

from .blaster import PCM_60MS_24K, running_blaster

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
                               "pipecat 1.14": receive_pipecat, "websockets floor": receive_floor}
TRICKLE = 1000  # deltas, one every 2 ms: each arrives in a read of its own, as in a live session
RECEIVE_ONE_PER_READ: dict[str, Measure] = {
    name: functools.partial(measure, count=TRICKLE, pace="mode=live&interval=0.002")  # type: ignore[misc]
    for name, measure in RECEIVE.items()}
SEND: dict[str, Measure] = {"ours (asyncio)": send_ours, "ours (blocking)": send_ours_blocking,
                            "pipecat 1.14": send_pipecat, "websockets floor": send_floor}


async def _rounds(url: str, paths: dict[str, Measure]) -> dict[str, float]:
    runs: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(ROUNDS):  # interleaved, so every path sees the same machine load
        for name, measure in paths.items():
            runs[name].append(await measure(url))
    return {name: statistics.median(values) for name, values in runs.items()}


def table(title: str, unit: str, results: dict[str, float]) -> None:
    theirs = results["pipecat 1.14"]
    print(title)
    for name, value in results.items():
        print(f"  {name:18s} {value:7.2f} {unit}   {value / theirs:5.2f}x pipecat")


def measure_all() -> dict[str, dict[str, float]]:
    with running_blaster() as url:
        receive = asyncio.run(_rounds(url, RECEIVE))
        trickle = asyncio.run(_rounds(url, RECEIVE_ONE_PER_READ))
        send = asyncio.run(_rounds(url, SEND))
    return {"receive_us_per_delta": receive, "receive_one_per_read_us_per_delta": trickle,
            "send_us_per_frame": send}


def main() -> dict[str, Any]:
    results = measure_all()
    table(f"receive: CPU per 60 ms 24 kHz delta, socket bytes to PCM, median of {ROUNDS} x {DELTAS}",
          "us", results["receive_us_per_delta"])
    table(f"receive, one delta per read (one every 2 ms): CPU per delta, median of {ROUNDS} x {TRICKLE}",
          "us", results["receive_one_per_read_us_per_delta"])
    table(f"send: CPU per 20 ms frame, send_audio to socket write, median of {ROUNDS} x {FRAMES}",
          "us", results["send_us_per_frame"])
    return results


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(prog="python -m benchmarks.io_paths", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
