"""Soak: N concurrent sessions against local emulators with faults, for M minutes (not a CI test).

Run: python -m benchmarks.soak --sessions 50 --minutes 5. Each session streams speech-like audio in real time
(20 ms frames) and consumes the answers; the emulators drop, close, garble and delay on a schedule. Prints
sessions that survived, reconnects, audio sent by the clients vs received by the servers, and peak memory.

Simulated: python -m benchmarks.soak --simulated --sessions 10 --minutes 30. Each session is a conversation of
M minutes on a fake clock, driven through the sans-IO core in memory (``benchmarks.simulated``): the microphone
streams 20 ms frames all the time (silence between turns), turns of 2-10 s under server VAD, each answered, a
drop and a resume every few minutes. Memory (the bytes the cores hold, and the process's RSS) is sampled every
simulated minute; the CPU of each resume is recorded. It takes seconds of CPU per session, not M minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import resource
import time
from dataclasses import dataclass, field

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread, Faults, ScriptedBrain
from inworld_realtime.io_adapters import AsyncRealtimeClient, Reconnected, ReconnectFailed
from inworld_realtime.protocol import AudioConfiguration, AudioInput, PCMAudioFormat, SessionProperties, TurnDetection
from inworld_realtime.protocol import events as ev
from tests.emulator_helpers import speech_like

from .memory import rss
from .simulated import Simulation, retained_bytes

RATE = 16000
FRAME = RATE * 2 * 20 // 1000
PROFILES = {
    "clean": Faults(),
    "drop": Faults(drop_after=400),
    "close-1011": Faults(close_after=600, close_code=1011),
    "malformed": Faults(malformed_after=500),
    "slow": Faults(delay_ms=5, fragment=3, ws_ping_interval_s=1.0),
}


@dataclass
class Stats:
    sent: int = 0
    dropped_ms: int = 0
    reconnects: int = 0
    responses: int = 0
    audio_out: int = 0
    failed: str | None = None
    unsent_at_close: float = 0.0
    errors: list[str] = field(default_factory=list)


async def session(index: int, url: str, seconds: float, stats: Stats, rng: random.Random) -> None:
    props = SessionProperties(audio=AudioConfiguration(input=AudioInput(
        format=PCMAudioFormat(rate=RATE), turn_detection=TurnDetection(type="server_vad", create_response=True))))
    client = AsyncRealtimeClient("soak", props, url, extra_headers={"X-Soak-Session": str(index)},
                                 backoff_initial=0.05, backoff_max=1.0, max_reconnect_attempts=20,
                                 keepalive_timeout=10.0, ping_interval=2.0)
    speech = speech_like(RATE, syllables=rng.randint(3, 8))
    await asyncio.sleep(rng.random() * 2)  # stagger the starts
    await client.connect()

    async def consume() -> None:
        async for event in client:
            if isinstance(event, Reconnected):
                stats.reconnects += 1
            elif isinstance(event, ReconnectFailed):
                stats.failed = event.error
            elif isinstance(event, ev.AudioDropped):
                stats.dropped_ms += event.duration_ms
            elif isinstance(event, ev.ResponseOutputAudioDelta):
                stats.audio_out += len(event.pcm)
            elif isinstance(event, ev.ResponseDone):
                stats.responses += 1

    reader = asyncio.create_task(consume())
    start = time.monotonic()
    frames = 0
    try:
        while time.monotonic() - start < seconds and stats.failed is None:
            offset = (frames * FRAME) % len(speech)
            chunk = speech[offset : offset + FRAME]
            await client.send_audio(chunk)
            stats.sent += len(chunk)
            frames += 1
            delay = start + frames * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    except Exception as exc:  # a session that dies is counted, not fatal to the soak
        stats.failed = f"{type(exc).__name__}: {exc}"
    finally:
        stats.unsent_at_close = client.queued_audio_seconds
        await client.close()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(reader, 5)  # the stream ends after close; its last events are counted


async def soak(sessions: int, seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    names = list(PROFILES)
    emulators = [EmulatorThread(EmulatorOptions(brain=ScriptedBrain(recognize=False), voice_engine="tone", pace=1.0,
                                                keep_history=False, faults=PROFILES[name])).start()
                 for name in names]
    stats = [Stats() for _ in range(sessions)]
    t0 = time.monotonic()
    cpu0 = time.process_time()
    try:
        await asyncio.gather(*(session(i, emulators[i % len(names)].url, seconds, stats[i], random.Random(rng.random()))
                               for i in range(sessions)), return_exceptions=True)
    finally:
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        received = {name: 0 for name in names}
        by_session = [0] * sessions
        for name, emu in zip(names, emulators, strict=True):
            for record in emu.sessions:
                tag = record.headers.get("x-soak-session")
                if tag is not None:
                    by_session[int(tag)] += record.audio_bytes
                received[name] += record.audio_bytes
            emu.stop()
    survived = sum(1 for s in stats if s.failed is None)
    sent = sum(s.sent for s in stats)
    got = sum(by_session)
    short = [i for i in range(sessions) if by_session[i] + 40 * FRAME
             < stats[i].sent - stats[i].dropped_ms * 32 - stats[i].unsent_at_close * 32000]
    print(f"{sessions} sessions x {seconds / 60:.1f} min, emulator profiles {', '.join(names)} (round robin)")
    print(f"  sessions survived:      {survived}/{sessions}")
    print(f"  reconnects:             {sum(s.reconnects for s in stats)}")
    print(f"  responses completed:    {sum(s.responses for s in stats)}")
    print(f"  audio sent by clients:  {sent / 32000:.1f} s ({sent} bytes)")
    print(f"  audio at the servers:   {got / 32000:.1f} s ({got} bytes; replays after reconnects count twice)")
    print(f"  audio reported dropped: {sum(s.dropped_ms for s in stats) / 1000:.1f} s")
    print(f"  audio still queued in the clients when the soak closed them: "
          f"{sum(s.unsent_at_close for s in stats):.1f} s")
    print(f"  sessions short of audio without a report: {len(short)}")
    print(f"  assistant audio received: {sum(s.audio_out for s in stats) / 48000:.1f} s")
    print(f"  CPU: {cpu:.1f} s over {wall:.1f} s wall (clients and emulators in one process)")
    print(f"  peak memory (RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    for k, name in enumerate(names):
        idx = range(k, sessions, len(names))
        sent_p, got_p = sum(stats[i].sent for i in idx), sum(by_session[i] for i in idx)
        print(f"  {name:11s} sent {sent_p / 32000:7.1f} s, at servers {got_p / 32000:7.1f} s, "
              f"dropped {sum(stats[i].dropped_ms for i in idx) / 1000:6.1f} s, "
              f"reconnects {sum(stats[i].reconnects for i in idx)}")
    for i, s in enumerate(stats):
        if s.failed:
            print(f"  session {i} failed: {s.failed}")


def simulated(sessions: int, minutes: float, seed: int, drop_every_min: float = 5.0) -> dict[str, object]:
    """``sessions`` conversations of ``minutes`` simulated minutes each, interleaved turn by turn."""
    rng = random.Random(seed)
    sims = [Simulation() for _ in range(sessions)]
    for sim in sims:
        sim.connect()
    start = [sim.clock.now for sim in sims]
    next_drop = [rng.uniform(0.5, 1.5) * drop_every_min * 60 for _ in sims]
    end = minutes * 60
    samples: list[tuple[int, int, int, int]] = []  # minute, bytes all cores hold, most one core holds, RSS
    resumes_cpu: list[float] = []
    drain_calls_cpu: list[float] = []
    minute = 0
    cpu0 = time.process_time()
    while True:
        active = [k for k, sim in enumerate(sims) if sim.clock.now - start[k] < end]
        if not active:
            break
        for k in active:
            sim = sims[k]
            sim.speak(rng.randrange(500, 4000, 20))  # silence: the microphone is always on
            sim.turn(speech_ms=rng.randrange(2000, 10_000, 20))
            if sim.clock.now - start[k] >= next_drop[k]:
                resume = sim.drop_and_resume()
                resumes_cpu.append(resume.resume_cpu_s)
                drain_calls_cpu.append(resume.drain_max_call_cpu_s)
                next_drop[k] += rng.uniform(0.5, 1.5) * drop_every_min * 60
        elapsed = min(sim.clock.now - start[k] for k, sim in enumerate(sims))
        while minute <= min(elapsed / 60, minutes):
            held = [retained_bytes(sim.conn) for sim in sims]
            samples.append((minute, sum(held), max(held), rss()))
            minute += 1 if minute < 5 else 5
    cpu = time.process_time() - cpu0
    turns = sum(sim.turns for sim in sims)
    print(f"{sessions} simulated sessions x {minutes:g} min (fake clock), {turns} turns, "
          f"{len(resumes_cpu)} drops and resumes, {cpu:.0f} s of CPU")
    print(f"  {'minute':>6s} {'all cores hold':>15s} {'largest core':>13s} {'process RSS':>12s}")
    for m, total, largest, resident in samples:
        print(f"  {m:6d} {total / 2**20:11.2f} MiB {largest / 2**20:9.2f} MiB {resident / 2**20:8.0f} MiB")
    print(f"  resume CPU (session.updated handled): max {max(resumes_cpu, default=0) * 1000:.2f} ms, "
          f"mean {sum(resumes_cpu) / max(len(resumes_cpu), 1) * 1000:.2f} ms; longest data_to_send(65536) call "
          f"{max(drain_calls_cpu, default=0) * 1000:.1f} ms")
    counts = sum((sim.counts for sim in sims), start=type(sims[0].counts)())
    print(f"  events: {counts['ReplayTrimmed']} ReplayTrimmed, {counts['AudioDropped']} AudioDropped, "
          f"{counts['ResponseAborted']} ResponseAborted, {counts['SessionConfigured']} SessionConfigured")
    return {"samples": samples, "resume_cpu_max_ms": max(resumes_cpu, default=0) * 1000,
            "drain_call_max_ms": max(drain_calls_cpu, default=0) * 1000, "turns": turns}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--simulated", action="store_true", help="fake clock, sans-IO core only (see above)")
    args = parser.parse_args(argv)
    if args.simulated:
        return simulated(args.sessions, args.minutes, args.seed)
    asyncio.run(soak(args.sessions, args.minutes * 60, args.seed))
    return {}


if __name__ == "__main__":
    main()
