"""Soak: N concurrent sessions against local emulators with faults, for M minutes (not a CI test).

Run: python -m benchmarks.soak --sessions 50 --minutes 5. Each session streams speech-like audio in real time
(20 ms frames) and consumes the answers; the emulators drop, close, garble and delay on a schedule. Prints
sessions that survived, reconnects, audio sent by the clients vs received by the servers, and peak memory.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(soak(args.sessions, args.minutes * 60, args.seed))


if __name__ == "__main__":
    main()
