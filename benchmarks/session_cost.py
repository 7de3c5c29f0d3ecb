"""CPU per minute of full-duplex conversation: ours, pipecat 1.14's path, websockets alone and a bare floor, at once.

Every configuration runs in its own process, all at the same moment against one server (another process),
measured over the same aligned window (``--window`` s): each round gives every configuration the same machine
load, so per-round ratios are compared and their median and spread reported. Every round starts fresh
processes in a shuffled order, and (with two CPUs or more) the server runs on one CPU and every client on
another: which process shares a core with which then changes from round to round instead of tilting a whole
run (two identical configurations read 0.28 and 0.51 of pipecat above the pacing loop in one run that kept its
processes and let them float). Besides CPU per session-minute, each pacing loop times the caller's
``await send(frame)`` (wall clock, steady state): the send path's live cost per 20 ms frame, which moves far
less between rounds.
Each session streams speech-like audio in real time and receives answer audio (by default from
benchmarks.blaster: a 60 ms delta every 200 ms, about what the emulator's spoken answers give, at so little
server CPU that 40 sessions measure the clients; ``--server emulator`` for VAD and spoken answers). Kinds:
``pipecat`` (its websockets connection plus its event handling: json.loads, parse_server_event, base64,
model_dump + json.dumps per append), ``ours`` (our asyncio client), ``ours-recv`` (our client receiving only:
its pacing loop sends nothing), ``websockets`` (websockets moving pre-built
appends, no parsing), ``floor`` (a bare asyncio.Protocol: hand-made upgrade, a parser that only finds frame
ends, pre-built masked frames), ``essential`` (the floor's transport doing what any client must: every message
parsed and its audio decoded, every append built; no state machine, replay, supervisor or queue), ``core`` (our
sans-IO core on a bare transport, without the asyncio client), ``pacing`` (the pacing loop alone, no
client). These pace every session with
its own 20 ms sleep loop, as pipecat is driven today. ``ours-paced`` streams a WAV file with the client's own
pacing (``stream_wav``: one clock for every session on the loop); ``+uvloop`` runs a kind on uvloop.
Run: python -m benchmarks.session_cost [--sessions 6] [--paced-sessions 20] [--window 10] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from inworld_realtime.io_adapters import AsyncRealtimeClient
from inworld_realtime.io_adapters.wav import write_wav
from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    PCMAudioFormat,
    RealtimeConnection,
    SessionProperties,
    TurnDetection,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import b64decode, b64encode
from inworld_realtime.protocol.frames import close_frame, text_frame
from tests.emulator_helpers import speech_like

from .blaster import child_server, pinned
from .report import rng, spread

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

    send_ns: int = 0  # wall time inside the caller's ``await send(frame)``, and how many: the live send path
    sends: int = 0
    since: float = 0.0  # lateness is recorded between since and until (time.time()): the steady state,
    until: float = float("inf")  # not the connects at the start or the closes at the end
    ticker: SharedTicker | None = None  # None: every session paces itself

    def delta(self, event_id: str | None, pcm_bytes: int) -> None:
        self.audio_bytes += pcm_bytes
        if event_id and event_id[0] == "t" and self.steady():  # blaster live mode: its send time
            self.receive_lag.append(time.time() - float(event_id[1:]))

    def steady(self) -> bool:
        return self.since < time.time() < self.until

    def sent(self, started_ns: int, count: int = 1) -> None:
        """Time one pacing step's sends (``count`` frames since ``started_ns``), in the steady state only."""
        if self.steady():
            self.send_ns += time.perf_counter_ns() - started_ns
            self.sends += count


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
            started = time.perf_counter_ns()
            for send, pcm in list(self.senders.values()):
                at = offset % len(pcm)
                await send(pcm[at : at + FRAME])
            self.tally.sent(started, len(self.senders))
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
        started = time.perf_counter_ns()
        await send(pcm[offset : offset + FRAME])
        tally.sent(started)
        frames += 1
        due = start + frames * 0.02
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif tally.steady():
            tally.send_late.append(-delay)


async def _tallied(url: str, tally: Tally, send: Callable[[AsyncRealtimeClient], Awaitable[object]]) -> None:
    """Our client's session with a reader tallying its reply deltas while ``send`` streams the audio."""
    async with AsyncRealtimeClient("bench", SESSION, url) as client:
        async def consume() -> None:
            async for event in client:
                if isinstance(event, ev.ResponseOutputAudioDelta):
                    tally.delta(event.event_id, len(event.pcm))

        reader = asyncio.create_task(consume())
        await send(client)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def ours(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    await _tallied(url, tally, lambda client: stream(client.send_audio, seconds, pcm, tally))


async def ours_recv(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """Our client receiving only (its pacing loop sends nothing): how the client's cost splits."""
    await _tallied(url, tally, lambda client: stream(pacing_send, seconds, pcm, tally))


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


async def pacing_send(frame: bytes) -> None:
    """The pacing loop's send with no client behind it."""
    return None


async def pacing(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """The pacing loop alone (no client): what every client paced this way pays, to subtract."""
    await stream(pacing_send, seconds, pcm, tally)


async def ours_paced(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """Ours as meant to be used: a WAV file streamed by the client's pacing (one clock for all sessions)."""
    async def paced(client: AsyncRealtimeClient) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.stream_wav(wav_file(pcm, seconds)), seconds)

    await _tallied(url, tally, paced)


def wav_file(pcm: bytes, seconds: float) -> str:
    """A WAV file of ``pcm`` repeated to last ``seconds`` (written once per process)."""
    path = os.path.join(tempfile.gettempdir(), f"inworld-bench-{os.getpid()}-{int(seconds)}.wav")
    if not os.path.exists(path):
        write_wav(path, pcm * (int(seconds * RATE * 2 / len(pcm)) + 1), RATE)
    return path


UPDATE = json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
    "format": {"type": "audio/pcm", "rate": RATE},
    "turn_detection": {"type": "server_vad", "create_response": True}}}}})


def appends(pcm: bytes) -> list[str]:
    """The 60 ms appends of ``pcm`` as JSON text, built before the clock starts."""
    chunk = RATE * 2 * 60 // 1000
    return [json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[at : at + chunk]).decode()})
            for at in range(0, len(pcm) - chunk + 1, chunk)]


async def websockets_alone(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """websockets with pre-built appends and no parsing: what any client on websockets pays before its own work."""
    from websockets.asyncio.client import connect

    messages = appends(pcm)
    query = f"{'&' if '?' in url else '?'}key=bench&protocol=realtime"
    async with connect(f"{url}{query}", additional_headers={"Authorization": "Basic bench"},
                       max_size=None) as ws:
        await ws.send(UPDATE)

        async def consume() -> None:
            async for message in ws:
                tally.audio_bytes += len(message) * 3 // 4 if "output_audio.delta" in message[:100] else 0

        reader = asyncio.create_task(consume())
        count = 0

        async def send(frame: bytes) -> None:
            nonlocal count
            count += 1
            if count % 3 == 0:
                await ws.send(messages[count // 3 % len(messages)])

        await stream(send, seconds, pcm, tally)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


class _Bare(asyncio.Protocol):
    """The floor: a hand-made upgrade, a frame parser that only finds frame ends, pre-built masked frames."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.upgraded = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del buffer[: end + 4]
            self.upgraded.set_result(None)
        at = 0
        while len(buffer) - at >= 2:
            size, head = buffer[at + 1] & 0x7F, 2
            if size == 126:
                size, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 4
            elif size == 127:
                size, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 10
            if len(buffer) - at < head + size:
                break
            self.message(buffer, at + head, size)
            at += head + size
        del buffer[:at]

    def message(self, buffer: bytearray, start: int, size: int) -> None:
        """One whole server message: the floor only counts what an audio delta would hold."""
        if size > 1000:
            self.tally.audio_bytes += size * 3 // 4


async def floor(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """The floor: a bare ``asyncio.Protocol`` client that moves the same bytes and does nothing else."""
    frames = [text_frame(m.encode()) for m in appends(pcm)]  # masked before the clock starts
    transport, _ = await _bare_session(url, lambda: _Bare(tally))
    count = 0

    async def send(frame: bytes) -> None:
        nonlocal count
        count += 1
        if count % 3 == 0:
            transport.write(frames[count // 3 % len(frames)])

    await stream(send, seconds, pcm, tally)
    transport.write(close_frame(1005))
    transport.close()


class _Essential(_Bare):
    """The floor's transport doing the protocol's essential work: each message parsed into our typed event (one
    pydantic pass), a delta's PCM decoded, the event handed to the consumer by a call (no queue, no task)."""

    def message(self, buffer: bytearray, start: int, size: int) -> None:
        event = ev.parse_server_event(bytes(buffer[start : start + size]))
        if isinstance(event, ev.ResponseOutputAudioDelta):
            self.tally.delta(event.event_id, len(b64decode(event.delta)))


async def _bare_session(url: str, protocol: Callable[[], _Bare]) -> tuple[asyncio.Transport, _Bare]:
    """A bare Protocol's connection, hand-made upgrade and ``session.update`` sent."""
    host, _, rest = url.removeprefix("ws://").partition("/")
    name, _, port = host.partition(":")
    transport, bare = await asyncio.get_running_loop().create_connection(protocol, name, int(port))
    query = f"{'&' if '?' in rest else '?'}key=bench&protocol=realtime"
    transport.write((f"GET /{rest}{query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nAuthorization: Basic bench\r\n\r\n").encode())
    await bare.upgraded
    transport.write(text_frame(UPDATE.encode()))
    return transport, bare


async def essential(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """What any client must do, and nothing more: every message parsed and its audio decoded, every 60 ms append
    built (base64, JSON, a masked frame) and written, on the floor's transport; no state machine, no replay,
    no supervisor, no queue. Where a Python client's own cost can go at best."""
    transport, _ = await _bare_session(url, lambda: _Essential(tally))
    buffer, chunk, write = bytearray(), RATE * 2 * 60 // 1000, transport.write

    async def send(frame: bytes) -> None:
        nonlocal buffer
        buffer += frame
        if len(buffer) >= chunk:
            piece = bytes(buffer[:chunk])
            del buffer[:chunk]
            write(text_frame(b"".join((b'{"type":"input_audio_buffer.append","audio":"', b64encode(piece), b'"}'))))

    await stream(send, seconds, pcm, tally)
    transport.write(close_frame(1005))
    transport.close()


class _Core(asyncio.Protocol):
    """Our sans-IO core on a bare Protocol: bytes in, events to the consumer by a call, bytes out."""

    def __init__(self, conn: RealtimeConnection, tally: Tally) -> None:
        self.conn, self.tally = conn, tally
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, ev.ResponseOutputAudioDelta):
                self.tally.delta(event.event_id, len(event.pcm))
            elif isinstance(event, ev.SessionConfigured) and not self.ready.done():
                self.ready.set_result(None)
        out = conn.data_to_send()
        if out and self.transport is not None:
            self.transport.write(out)


async def core(url: str, seconds: float, pcm: bytes, tally: Tally) -> None:
    """Our core (``RealtimeConnection``) on a bare transport, without the client around it: no supervisor, no
    keepalive, no queue, no reader task. Splits ours' cost between the core and the asyncio client."""
    host, _, _ = url.removeprefix("ws://").partition("/")
    name, _, port = host.partition(":")
    conn = RealtimeConnection("bench", SESSION, url)
    conn.connect()
    transport, bare = await asyncio.get_running_loop().create_connection(lambda: _Core(conn, tally), name, int(port))
    await bare.ready
    write = transport.write

    async def send(frame: bytes) -> None:
        if conn.send_audio(frame):
            write(conn.data_to_send())

    await stream(send, seconds, pcm, tally)
    transport.close()


def preload(kind: str) -> None:
    """Import a path's libraries before the clock starts: importing pipecat costs seconds of CPU."""
    if kind == "pipecat":
        import pipecat.services.inworld.realtime.events  # noqa: F401
    if kind in ("pipecat", "websockets"):
        import websockets.asyncio.client  # noqa: F401


KINDS: dict[str, Callable[[str, float, bytes, Tally], Awaitable[None]]] = {
    "pipecat": pipecat_path, "ours": ours, "websockets": websockets_alone, "floor": floor, "pacing": pacing,
    "ours-paced": ours_paced, "ours-recv": ours_recv, "essential": essential, "core": core}


async def child(kind: str, url: str, sessions: int, at: float, window: float) -> dict[str, Any]:
    """One configuration's sessions, measured over the window that starts at ``at`` (wall clock)."""
    pcm = speech_like(RATE, syllables=5)
    preload(kind)
    tally = Tally(since=at, until=at + window)
    run = KINDS[kind.removesuffix("+uvloop")]
    runs = [asyncio.create_task(run(url, at + window + 0.5 - time.time(), pcm, tally)) for _ in range(sessions)]
    await asyncio.sleep(max(0.0, at - time.time()))
    times0, wall0, heard0 = resource.getrusage(resource.RUSAGE_SELF), time.time(), tally.audio_bytes
    await asyncio.sleep(max(0.0, at + window - time.time()))
    times, wall = resource.getrusage(resource.RUSAGE_SELF), time.time() - wall0
    user, system = times.ru_utime - times0.ru_utime, times.ru_stime - times0.ru_stime
    heard = (tally.audio_bytes - heard0) / 32000 / sessions / wall  # answer audio per second, per session
    await asyncio.gather(*runs, return_exceptions=True)
    return {"kind": kind, "cost": (user + system) / (sessions * wall / 60),
            "system_share": system / (user + system) if user + system else 0.0, "answer_audio_s_per_s": heard,
            "send_us": tally.send_ns / tally.sends / 1000 if tally.sends else None}


def placement() -> tuple[set[int] | None, set[int] | None]:
    """CPUs for the server and for every client: apart when there are two or more, else wherever."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return ({cpus[-1]}, {cpus[0]}) if len(cpus) >= 2 else (None, None)


def run_together(url: str, kinds: dict[str, int], window: float, rounds: int, lead: float,
                 cpus: set[int] | None) -> dict[str, dict[str, list[Any]]]:
    """Every kind in its own process, at once, fresh processes in a shuffled order every round."""
    results: dict[str, dict[str, list[Any]]] = {
        kind: {"cost": [], "send_us": [], "system_share": [], "answers": []} for kind in kinds}
    for _ in range(rounds):
        at = time.time() + lead
        order = list(kinds)
        random.shuffle(order)
        procs = {kind: subprocess.Popen(
            [sys.executable, "-m", "benchmarks.session_cost", "--child", kind, "--url", url, "--sessions",
             str(kinds[kind]), "--at", str(at), "--window", str(window)],
            stdout=subprocess.PIPE, text=True, preexec_fn=pinned(cpus)) for kind in order}
        for kind, proc in procs.items():
            out, _ = proc.communicate(timeout=lead + window + 120)
            figures = json.loads(out.strip().splitlines()[-1])
            results[kind]["cost"].append(figures["cost"])
            results[kind]["send_us"].append(figures["send_us"])
            results[kind]["system_share"].append(figures["system_share"])
            results[kind]["answers"].append(figures["answer_audio_s_per_s"])
    for kind, got in results.items():
        sends = [s for s in got["send_us"] if s is not None]
        print(f"    {kind:17s} {kinds[kind]:3d} sessions: " + " ".join(f"{c:.3f}" for c in got["cost"])
              + f" CPU s per session-minute ({statistics.median(got['system_share']):.0%} in the kernel; "
              f"answers: {statistics.median(got['answers']):.2f} s of audio a second"
              + (f"; send {statistics.median(sends):.1f} us a frame" if sends else "") + ")")
    return results


PINNED = " (the server on one CPU, every client on another)"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=6, help="sessions per configuration, like for like")
    parser.add_argument("--paced-sessions", type=int, default=20, help="sessions for the paced-source comparison")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--lead", type=float, default=8.0, help="seconds to start and connect before each window")
    parser.add_argument("--server", choices=["blaster", "emulator"], default="blaster",
                        help="blaster: a 60 ms answer delta every 200 ms at almost no server CPU, so many sessions "
                             "measure the clients, not a saturated server; emulator: VAD and spoken answers")
    parser.add_argument("--only", choices=["like-for-like", "paced"], help="run one comparison")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        factory = None
        if args.child.endswith("+uvloop"):
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            figures = runner.run(child(args.child, args.url, args.sessions, args.at, args.window))
        print(json.dumps(figures))
        return {}
    results: dict[str, Any] = {}
    server = (("benchmarks.blaster",) if args.server == "blaster"
              else ("inworld_realtime.emulator", "--voice-engine", "tone", "--no-recognition"))
    server_cpus, args.cpus = placement()
    with child_server(*server, cpus=server_cpus) as base:
        url = f"{base}?mode=live&interval=0.2" if args.server == "blaster" else base
        if args.only != "paced":
            results["like_for_like"] = like_for_like(url, args)
        if args.only != "like-for-like":
            results["paced"] = paced_sources(url, args)
    return results


def like_for_like(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every kind paced by a sleep loop per session: the client's own cost against websockets and the floor."""
    print(f"like for like: {args.sessions} sessions of each kind at once, every session pacing itself, "
          f"{args.rounds} rounds of {args.window:.0f} s, fresh processes each{PINNED if args.cpus else ''}")
    figures = run_together(url, {k: args.sessions for k in ("pipecat", "ours", "ours-recv", "core", "essential",
                                                            "websockets", "floor", "pacing")},
                           args.window, args.rounds, args.lead, args.cpus)
    runs = {kind: f["cost"] for kind, f in figures.items()}
    pipecat = runs["pipecat"]
    ratio = spread([o / p for o, p in zip(runs["ours"], pipecat, strict=True)])
    above = {kind: spread([(x - f) / p for x, f, p in zip(runs[kind], runs["pacing"], pipecat, strict=True)])
             for kind in ("ours", "ours-recv", "core", "essential", "websockets", "floor", "pipecat")}
    print(f"  ours/pipecat, CPU per session-minute: {rng(ratio)} (median of rounds, range)")
    print("  above the pacing loop, as a share of pipecat's total: "
          + ", ".join(f"{kind} {rng(above[kind])}" for kind in above))
    sends = {kind: spread(f["send_us"]) for kind, f in figures.items() if None not in f["send_us"]}
    print("  the caller's await send(frame), us per 20 ms frame: "
          + ", ".join(f"{kind} {rng(s, '{:.1f}')}" for kind, s in sends.items() if kind != "ours-recv"))
    return {"sessions": args.sessions, "cpu_s_per_session_minute": {k: spread(v) for k, v in runs.items()},
            "ratio": ratio, "above_pacing": above, "send_us_per_frame": sends}


def paced_sources(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Ours streaming WAV files on the client's one clock vs pipecat with a sleep loop per session."""
    print(f"paced sources: {args.paced_sessions} sessions streaming a WAV with the client's pacing (one clock) "
          "vs pipecat driven by a sleep loop per session, at once")
    kinds = ["pipecat", "ours", "ours-paced"] + (["ours-paced+uvloop"] if _has_uvloop() else [])
    figures = run_together(url, dict.fromkeys(kinds, args.paced_sessions), args.window, args.rounds, args.lead,
                           args.cpus)
    paced = {kind: f["cost"] for kind, f in figures.items()}
    ratios = {kind: spread([o / p for o, p in zip(paced[kind], paced["pipecat"], strict=True)])
              for kind in kinds if kind != "pipecat"}
    for kind, ratio in ratios.items():
        print(f"  {kind}/pipecat, CPU per session-minute: {rng(ratio)}")
    return {"sessions": args.paced_sessions, "cpu_s_per_session_minute": {k: spread(v) for k, v in paced.items()},
            "ratio": ratios["ours-paced"], "ratios": ratios}


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
