"""A server-VAD conversation driven through the sans-IO core in memory, on a fake clock (no sockets, no waiting).

The server side is the core's own ``ServerConnection``: it sends what Inworld sends for a spoken turn
(speech started and stopped, committed, the user item, a response with audio, its transcript and usage).
The long-session benchmark, the simulated soak and ``tests/test_long_sessions.py`` share it.
"""

from __future__ import annotations

import base64
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    ConversationItem,
    InputTranscription,
    ItemContent,
    PCMAudioFormat,
    RealtimeConnection,
    Response,
    SessionProperties,
    TurnDetection,
    Usage,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ServerConnection, ServerSideEvent

RATE = 16_000
FRAME_MS = 20  # what a microphone callback hands the client
REPLY_DELTA = base64.b64encode(bytes(24_000 * 2 * 200 // 1000)).decode("ascii")  # 200 ms of 24 kHz speech


def vad_session(rate: int = RATE, transcribe: bool = False) -> SessionProperties:
    """Server VAD answering every turn (Inworld's default), input at ``rate``, transcripts only if asked."""
    audio_in = AudioInput(format=PCMAudioFormat(rate=rate), turn_detection=TurnDetection(type="server_vad"))
    if transcribe:
        audio_in.transcription = InputTranscription(model="assemblyai/universal-streaming-multilingual")
    return SessionProperties(instructions="Be brief.", audio=AudioConfiguration(input=audio_in))


class FakeClock:
    """Seconds that pass only when the simulation says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Resume:
    """What one reconnect cost: CPU of handling ``session.updated``, and of draining the replay."""

    resume_cpu_s: float
    drain_cpu_s: float
    drain_max_call_cpu_s: float
    drain_calls: int
    replay_bytes: int
    replayed_items: int
    replayed_audio_ms: int


@dataclass
class Simulation:
    """One conversation: ``turn()`` speaks and is answered; ``drop_and_resume()`` reconnects."""

    rate: int = RATE
    transcribe: bool = False
    parse: bool = False  # the server parses what the client sends (tests); benchmarks just discard it
    options: dict[str, Any] = field(default_factory=dict)
    clock: FakeClock = field(default_factory=FakeClock)
    counts: Counter[str] = field(default_factory=Counter)
    frame_ms: int = FRAME_MS
    sent: list[ServerSideEvent] = field(default_factory=list)
    trims: list[ev.ReplayTrimmed] = field(default_factory=list)  # kept when ``parse`` is on
    on_event: Callable[[Any], None] | None = None  # sees every event the core hands out
    turns: int = 0

    def __post_init__(self) -> None:
        self.conn = RealtimeConnection("sim-key", vad_session(self.rate, self.transcribe), url="ws://127.0.0.1:1/sim",
                                       clock=self.clock, **self.options)
        self.server = ServerConnection()
        self.offset_ms = 0  # input audio the server has had on this socket
        self._frame = bytes(self.rate * 2 * self.frame_ms // 1000)

    # ------------------------------------------------------------- plumbing

    def flush(self, max_bytes: int | None = None) -> int:
        """Move what the client queued to the server; returns the bytes."""
        data = self.conn.data_to_send(max_bytes) if max_bytes is not None else self.conn.data_to_send()
        if data and self.parse:
            self.server.receive_data(data)
            self.sent.extend(self.server.events())
        return len(data)

    def deliver(self, *events: ev.ServerEvent) -> None:
        for event in events:
            self.server.send(event)
        self.conn.receive_data(self.server.data_to_send())
        self.drain_events()

    def drain_events(self) -> None:
        for event in self.conn.events():
            self.counts[type(event).__name__] += 1
            if self.on_event is not None:
                self.on_event(event)
            if type(event).__name__ == "ReplayTrimmed":  # by name: the figures also run against older cores
                self.counts[f"ReplayTrimmed.{event.what}"] += 1
                if self.parse:
                    self.trims.append(event)  # type: ignore[arg-type]

    def _upgrade(self) -> None:
        """A new server socket: upgrade, ``session.created`` and our ``session.update``."""
        self.server = ServerConnection()
        self.offset_ms = 0
        self.conn.connect()
        assert self.server.receive_request(self.conn.data_to_send()) is not None
        self.server.accept()
        self.conn.receive_data(self.server.data_to_send())
        self.deliver(ev.SessionCreated(session=SessionProperties()))
        self.flush()

    def connect(self) -> None:
        """Upgrade, ``session.created``, our ``session.update``, ``session.updated``: ready."""
        self._upgrade()
        self.deliver(ev.SessionUpdated(session=self.conn.session))
        self.flush()

    # ------------------------------------------------------------- a turn

    def speak(self, ms: int) -> None:
        """The user talks for ``ms`` (``frame_ms`` frames, the clock moving with them)."""
        step = self.frame_ms
        for _ in range(ms // step):
            self.conn.send_audio(self._frame)
            self.clock.now += step / 1000
            self.flush()
        self.offset_ms += ms // step * step

    def turn(self, speech_ms: int = 8000, answer: bool = True) -> None:
        """One spoken turn under server VAD and its answer, as Inworld reports them."""
        n = self.turns = self.turns + 1
        user_id, response_id, answer_id = f"item_u{n}", f"resp_{n}", f"item_a{n}"
        start = self.offset_ms
        self.deliver(ev.InputAudioBufferSpeechStarted(audio_start_ms=start, item_id=user_id))
        self.speak(speech_ms)
        self.speak(200)  # the silence that ends the turn
        self.deliver(ev.InputAudioBufferSpeechStopped(audio_end_ms=start + speech_ms, item_id=user_id),
                     ev.InputAudioBufferCommitted(item_id=user_id),
                     ev.ConversationItemAdded(item=ConversationItem(id=user_id, role="user", status="completed",
                                                                    content=[ItemContent(type="input_audio")])))
        if self.transcribe:
            self.deliver(ev.InputAudioTranscriptionCompleted(item_id=user_id, transcript=f"user turn {n}"))
        if not answer:
            return
        text = f"Answer number {n}, brief as asked."
        item = ConversationItem(id=answer_id, role="assistant", status="completed",
                                content=[ItemContent(type="output_audio", transcript=text)])
        self.deliver(ev.ResponseCreated(response=Response(id=response_id)),
                     ev.ResponseOutputItemAdded(response_id=response_id, item=item.model_copy(update={"content": []})),
                     ev.ResponseOutputAudioDelta(response_id=response_id, item_id=answer_id, delta=REPLY_DELTA),
                     ev.ResponseOutputAudioTranscriptDelta(response_id=response_id, item_id=answer_id, delta=text),
                     ev.ResponseOutputAudioTranscriptDone(response_id=response_id, item_id=answer_id, transcript=text),
                     ev.ResponseOutputItemDone(response_id=response_id, item=item),
                     ev.ResponseDone(response=Response(id=response_id, status="completed", output=[item],
                                                       usage=Usage(total_tokens=30, input_tokens=20,
                                                                   output_tokens=10))))
        self.clock.now += 2.0  # the answer plays
        self.flush()

    # ------------------------------------------------------------- a reconnect

    def drop_and_resume(self, max_bytes: int = 64 * 1024) -> Resume:
        """Drop the socket, open another, and time the resume and the replay's drain separately."""
        self.conn.receive_data(b"")
        self.drain_events()
        self._upgrade()
        self.server.send(ev.SessionUpdated(session=self.conn.session))
        frame = self.server.data_to_send()
        t0 = time.process_time()
        self.conn.receive_data(frame)  # what an event loop runs in one go
        resume_cpu = time.process_time() - t0
        got = list(self.conn.events())
        for event in got:
            self.counts[type(event).__name__] += 1
            if self.on_event is not None:
                self.on_event(event)
        configured = [e for e in got if isinstance(e, ev.SessionConfigured)]
        drain_cpu, longest, calls, total = 0.0, 0.0, 0, 0
        while True:
            t0 = time.process_time()
            data = self.conn.data_to_send(max_bytes) if hasattr(self.conn, "more_to_send") else self.conn.data_to_send()
            spent = time.process_time() - t0
            drain_cpu += spent
            longest = max(longest, spent)
            calls += 1
            total += len(data)
            if data and self.parse:
                self.server.receive_data(data)
                self.sent.extend(self.server.events())
            if not getattr(self.conn, "more_to_send", False):
                break
        items = configured[0].replayed_items if configured else 0
        audio_ms = configured[0].replayed_audio_ms if configured else 0
        return Resume(resume_cpu, drain_cpu, longest, calls, total, items, audio_ms)


_SKIP = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType)


def retained_bytes(root: object) -> int:
    """Bytes of the object graph ``root`` holds (classes, modules and functions, which are shared, left out)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _SKIP):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total
