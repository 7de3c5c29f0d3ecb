"""CPU per minute of full-duplex conversation, ours vs pipecat 1.14's path, against an emulator in another process.

Each session streams speech-like audio in real time (20 ms frames) and receives the spoken answers. The
client process's CPU time is measured; the emulator runs in its own process. pipecat's path is its
websockets connection plus its event handling (json.loads, parse_server_event, base64, model_dump +
json.dumps for appends), without the rest of a pipeline. Sessions per core = 60 / (CPU s per session-minute).
Run: python -m benchmarks.session_cost [--sessions 10] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from inworld_realtime.io_adapters import AsyncRealtimeClient
from inworld_realtime.protocol import AudioConfiguration, AudioInput, PCMAudioFormat, SessionProperties, TurnDetection
from inworld_realtime.protocol import events as ev
from tests.emulator_helpers import speech_like

from .blaster import child_server

RATE = 16000
FRAME = RATE * 2 // 50
SESSION = SessionProperties(audio=AudioConfiguration(input=AudioInput(
    format=PCMAudioFormat(rate=RATE), turn_detection=TurnDetection(type="server_vad", create_response=True))))


@dataclass
class Tally:
    """What the sessions of one run saw: answer audio, how late frames went out, how late deltas came in."""

    audio_bytes: int = 0
    send_late: list[float] = field(default_factory=list)
    receive_lag: list[float] = field(default_factory=list)

    since: float = 0.0  # lateness is recorded between since and until (time.time()): the steady state,
    until: float = float("inf")  # not the connects at the start or the closes at the end
    ticker: SharedTicker | None = None  # None: every session paces itself

    def delta(self, event_id: str | None, pcm_bytes: int) -> None:
        self.audio_bytes += pcm_bytes
        if event_id and event_id[0] == "t" and self.steady():  # blaster live mode: its send time
            self.receive_lag.append(time.time() - float(event_id[1:]))

    def steady(self) -> bool:
        return self.since < time.time() < self.until


class SharedTicker:
    """One 20 ms clock feeding every session, as a mixer or SFU would: one wakeup per tick, not one per session."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.senders: dict[int, tuple[Callable[[bytes], Awaitable[None]], bytes]] = {}
        self.task: asyncio.Task[None] | None = None

    async def run(self, send: Callable[[bytes], Awaitable[None]], seconds: float, pcm: bytes) -> None:
        key = id(send)
        self.senders[key] = (send, pcm)
        if self.task is None:
            self.task = asyncio.create_task(self._tick())
        await asyncio.sleep(seconds)
        del self.senders[key]

    async def _tick(self) -> None:
        start, frames = time.monotonic(), 0
        while self.senders:
            offset = frames * FRAME
            for send, pcm in list(self.senders.values()):
                at = offset % len(pcm)
                await send(pcm[at : at + FRAME])
            frames += 1
            delay = start + frames * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif self.tally.steady():
                self.tally.send_late.extend([-delay] * len(self.senders))
        self.task = None


async def stream(send: Callable[[bytes], Awaitable[None]], seconds: float, pcm: bytes, tally: Tally) -> None:
    """20 ms frames in real time, as a transport delivers them; records how late each went out."""
    if tally.ticker is not None:
        await tally.ticker.run(send, seconds, pcm)
        return
    start = time.monotonic()
    frames = 0
    while time.monotonic() - start < seconds:
        offset = (frames * FRAME) % len(pcm)
        await send(pcm[offset : offset + FRAME])
        frames += 1
        due = start + frames * 0.02
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif tally.steady():
            tally.send_late.append(-delay)


async def ours(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    async with AsyncRealtimeClient("bench", SESSION, url) as client:
        async def consume() -> None:
            async for event in client:
                if isinstance(event, ev.ResponseOutputAudioDelta):
                    tally.delta(event.event_id, len(event.pcm))

        reader = asyncio.create_task(consume())
        await stream(client.send_audio, seconds, pcm, tally)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def pipecat_path(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    from pipecat.services.inworld.realtime import events as pev
    from websockets.asyncio.client import connect

    query = f"{'&' if '?' in url else '?'}key=bench&protocol=realtime"
    async with connect(f"{url}{query}", additional_headers={"Authorization": "Basic bench"},
                       max_size=None) as ws:
        ready = asyncio.Event()
        session = pev.SessionProperties(audio=pev.AudioConfiguration(input=pev.AudioInput(
            format=pev.PCMAudioFormat(rate=RATE), turn_detection=pev.TurnDetection(type="server_vad"))))

        async def consume() -> None:
            async for message in ws:
                json.loads(message)
                event = pev.parse_server_event(message)
                if isinstance(event, pev.SessionCreatedEvent):
                    update = pev.SessionUpdateEvent(session=session).model_dump(exclude_none=True, by_alias=True)
                    await ws.send(json.dumps(update))
                elif isinstance(event, pev.SessionUpdatedEvent):
                    ready.set()
                elif isinstance(event, pev.ResponseAudioDelta):
                    tally.delta(event.event_id, len(base64.b64decode(event.delta)))

        reader = asyncio.create_task(consume())
        await ready.wait()
        buffer = b""
        chunk = RATE * 2 * 60 // 1000

        async def send(frame: bytes) -> None:
            nonlocal buffer
            buffer += frame
            while len(buffer) >= chunk:
                piece, buffer = buffer[:chunk], buffer[chunk:]
                event = pev.InputAudioBufferAppendEvent(audio=base64.b64encode(piece).decode("utf-8"))
                await ws.send(json.dumps(event.model_dump(exclude_none=True, by_alias=True)))

        await stream(send, seconds, pcm, tally)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def floor(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """The pacing loop alone (no client): what every client pays, to subtract."""
    async def send(frame: bytes) -> None:
        return None

    await stream(send, seconds, pcm, tally)


def preload(kind: str) -> None:
    """Import a path's libraries before the clock starts: importing pipecat costs seconds of CPU."""
    if kind == "pipecat":
        import pipecat.services.inworld.realtime.events  # noqa: F401
        import websockets.asyncio.client  # noqa: F401


async def measure(kind: str, url: str, sessions: int, seconds: float) -> tuple[float, float, int]:
    run = {"ours": ours, "pipecat": pipecat_path, "floor": floor}[kind]
    pcm = speech_like(RATE, syllables=5)
    tally = Tally()
    preload(kind)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(run(url, seconds, pcm, tally) for _ in range(sessions)))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return cpu / (sessions * wall / 60), wall, tally.audio_bytes


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with child_server("inworld_realtime.emulator", "--voice-engine", "tone", "--no-recognition") as url:
        print(f"{args.sessions} concurrent full-duplex sessions x {args.seconds:.0f} s, emulator in another process")
        runs: dict[str, list[float]] = {"ours": [], "pipecat": [], "floor": []}
        for _ in range(args.rounds):  # alternate, so both see the same machine load
            for kind in runs:
                cost, _, got = asyncio.run(measure(kind, url, args.sessions, args.seconds))
                runs[kind].append(cost)
                print(f"    {kind:8s} {cost:6.3f} CPU s per session-minute "
                      f"(answers: {got / 32000 / args.sessions:.1f} s of audio per session)")
        results = {kind: statistics.median(values) for kind, values in runs.items()}
        for kind, cost in results.items():
            if kind == "floor":
                continue
            print(f"  {kind:8s} median {cost:6.3f} CPU s per session-minute "
                  f"(if CPU were the only limit: {60 / cost:4.0f} sessions per core; measured: benchmarks.capacity)")
        print(f"  ratio ours/pipecat: {results['ours'] / results['pipecat']:.2f} "
              f"(sessions per core: {results['pipecat'] / results['ours']:.2f}x)")
        mine, theirs = results["ours"] - results["floor"], results["pipecat"] - results["floor"]
        print(f"  above the pacing floor ({results['floor']:.3f}): ours {mine:.3f}, pipecat {theirs:.3f}, "
              f"ratio {mine / theirs:.2f}")
        return {"ours_cpu_s_per_session_minute": results["ours"], "pipecat_cpu_s_per_session_minute":
                results["pipecat"], "floor_cpu_s_per_session_minute": results["floor"],
                "ratio": results["ours"] / results["pipecat"], "ratio_above_floor": mine / theirs}


if __name__ == "__main__":
    main()
