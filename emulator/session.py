"""One realtime session as the API runs it: configuration, input buffer and VAD, conversation, responses."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import re
import time
import uuid
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ContentPart, ConversationItem, ItemContent, RealtimeError, Response, Usage
from inworld_realtime.protocol.session import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    FunctionTool,
    InputTranscription,
    PCMAudioFormat,
    SessionProperties,
    TurnDetection,
)

from .brain import CallTool, FunctionResult, Say, ToolSpec, Turn, unheard
from .formats import WireFormat, resolve
from .live import LiveTurn, Memory, final_deltas, revealed, voice_profile
from .options import EmulatorOptions
from .recognition import Recognition, Recognizer, shared_recognizer
from .records import ResponseRecord, SessionRecord
from .speech import Synthesizer
from .vad import EnergyVAD, SpeechStarted, VadSettings
from .validation import RequestError, check_session_update, function_tools, merge_session

ADVERTISED_TTL_S = 1800.0
"""``expires_at`` when no expiry is enforced: Inworld announces one (and refreshes it on session.updated)."""
BACKCHANNEL_PHRASES = ("uh-huh", "mm-hm", "I see", "right")

log = logging.getLogger(__name__)

MIN_COMMIT_MS = 100
SUGGEST_AFTER_MS = 200
"""Trailing silence after which server_vad suggests the turn may be over (capped at half the silence; ours)."""
GA_TO_BETA = {ga: beta for beta, ga in ev.BETA_EVENT_NAMES.items()}


def new_id(prefix: str) -> str:
    """An id in the API's style (``item_...``, ``resp_...``)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _input_wire(config: SessionProperties) -> WireFormat:
    """The configured input format in any spelling validation accepts (``"ulaw"`` too), as the output's is read."""
    return resolve(config.audio.input.format if config.audio and config.audio.input else None)


def default_session(session_id: str, expires_at: int) -> SessionProperties:
    """What ``session.created`` announces. Inworld does not publish its defaults: these values come from its
    example clients (voice Clive, inworld-tts-2, semantic_vad) and its reference (inworld-stt-1), 24 kHz PCM from
    pipecat; the model and ``max_output_tokens`` are ours (see spec/FIDELITY.md, ``session.defaults``)."""
    return SessionProperties(
        id=session_id,
        object="realtime.session",
        expires_at=expires_at,
        model="openai/gpt-4.1-mini",
        instructions="",
        output_modalities=["audio"],
        audio=AudioConfiguration(
            input=AudioInput(
                format=PCMAudioFormat(rate=24000),
                transcription=InputTranscription(model="inworld/inworld-stt-1"),
                turn_detection=TurnDetection(type="semantic_vad", eagerness="auto", create_response=True,
                                             interrupt_response=True),
            ),
            output=AudioOutput(format=PCMAudioFormat(rate=24000), model="inworld-tts-2", voice="Clive", speed=1.0),
        ),
        tools=[],
        tool_choice="auto",
        max_output_tokens="inf",
    )


_OMIT_WHEN_NONE: dict[type[ev.ServerEvent], str] = {
    ev.InputAudioTranscriptionCompleted: "providerData",
    ev.OutputAudioBufferStarted: "response_id",  # Mastra: "None carry a response_id on the wire"
    ev.OutputAudioBufferStopped: "response_id",
}


def serialize(event: ev.ServerEvent, options: EmulatorOptions) -> str:
    """The JSON text of a server event, with the Inworld quirks the options ask for."""
    payload = event.model_dump(mode="json", by_alias=True)
    omit = _OMIT_WHEN_NONE.get(type(event))
    if omit is not None and payload.get(omit) is None:
        payload.pop(omit, None)
    if isinstance(event, ev.SessionCreated | ev.SessionUpdated) and event.session is not None:
        payload["session"] = event.session.to_wire()
    if isinstance(event, ev.ResponseFunctionCallArgumentsDone) and options.omit_function_call_name:
        payload.pop("name", None)
    if options.beta_event_names:
        payload["type"] = GA_TO_BETA.get(payload["type"], payload["type"])
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def item_text(item: ConversationItem) -> str:
    """The words of a message item: typed text or audio transcripts."""
    parts = []
    for c in item.content or []:
        value = c.text if c.text is not None else c.transcript
        if value:
            parts.append(value)
    return " ".join(parts)


def _pieces(text: str, size: int = 2) -> list[str]:
    """Text split into deltas of ``size`` words (spaces kept, so the deltas join back exactly)."""
    words = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    if words and lead:
        words[0] = lead + words[0]
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)] or ([text] if text else [])


@dataclass
class Entry:
    """An item in the server's conversation, with its audio length when it is assistant speech."""

    item: ConversationItem
    has_audio: bool = False
    audio_ms: float = 0.0


@dataclass
class PendingCall:
    """A function call the model made, waiting for its output."""

    name: str
    arguments: str
    response_id: str
    answered: bool = False


@dataclass
class ActiveResponse:
    """The response being produced."""

    id: str
    modalities: list[str]
    record: ResponseRecord
    voice: str | None = None
    instructions: str | None = None
    in_conversation: bool = True
    metadata: dict[str, Any] | None = None
    tools: list[FunctionTool] | None = None
    output: list[ConversationItem] = field(default_factory=list)
    spoken: dict[str, str] = field(default_factory=dict)
    """Transcript sent so far, per output item."""
    task: asyncio.Task[None] | None = None
    finished: bool = False
    audio_playing: bool = False
    """``output_audio_buffer.started`` was sent and ``.stopped`` not yet."""


class RealtimeSession:
    """The protocol behaviour of one connection; ``emit`` queues a server event for the socket."""

    def __init__(
        self,
        record: SessionRecord,
        options: EmulatorOptions,
        synth: Synthesizer,
        send_text: Callable[[str], None],
    ) -> None:
        self.record = record
        self.options = options
        self.brain = options.brain
        self.synth = synth
        self._send_text = send_text
        self.session_id = new_id("sess")
        record.session_id = self.session_id
        self.config = default_session(self.session_id, self._expires_at())
        record.config = self.config
        self.items: dict[str, Entry] = {}
        self.buffer = bytearray()
        self.buffer_start_ms = 0.0
        self.input_ms = 0.0
        self.input_wire = _input_wire(self.config)
        """The input format, resolved once per ``session.update`` rather than per appended chunk."""
        self.vad = EnergyVAD(self.input_rate, self._vad_settings())
        self.speech_item_id: str | None = None
        self.active: ActiveResponse | None = None
        self.pending_calls: dict[str, PendingCall] = {}
        self.audio_turns = 0
        self.replies = 0
        self.owed_response = False
        self.closed = False
        self.speech_start_ms: float | None = None
        self.backchannels_this_turn = 0
        self.last_backchannel_ms: float | None = None
        self.side_tasks: set[asyncio.Task[None]] = set()
        self.transcribing: list[asyncio.Task[None]] = []
        """Recognitions running off the loop, in commit order; a response waits for them."""
        self.live: LiveTurn | None = None
        """The user turn in progress under server-side turn detection (rolling transcript, turn suggestions)."""
        self.idle_since_ms = 0.0
        """Input time since which nobody spoke and nothing was answered (``idle_timeout_ms`` counts from it)."""
        self.heard: dict[str, str] = {}
        """What user audio items said, when ``transcription: null`` keeps it from the client."""
        self.memory = Memory()


    def emit(self, event: ev.ServerEvent) -> None:
        """Queue a server event (serialised now, so later changes to its objects do not leak in)."""
        if self.closed:
            return
        if isinstance(event, ev.ErrorEvent):
            self.record.errors.append(event.error)
            log.info("session %s: error %s: %s", self.session_id, event.error.code, event.error.message)
        log.debug("session %s -> %s", self.session_id, event.type)
        self._send_text(serialize(event, self.options))

    def _expires_at(self) -> int:
        return int(time.time() + (self.options.session_ttl_s or ADVERTISED_TTL_S))

    def error(self, err: RequestError | RealtimeError, event_id: str | None = None) -> None:
        """Report a refused request; the session carries on."""
        self.emit(ev.ErrorEvent(error=err if isinstance(err, RealtimeError) else err.to_error(event_id)))

    def start(self) -> None:
        """Announce the session."""
        self.emit(ev.SessionCreated(session=self.config))

    def expire(self) -> None:
        """The session reached its maximum duration."""
        self.error(RequestError(
            f"Your session hit the maximum duration of {self.options.session_ttl_s or ADVERTISED_TTL_S:g} seconds.",
            None, "session_expired"))

    def shutdown(self) -> None:
        """The connection is gone: stop producing output."""
        self.closed = True
        for task in self.transcribing:
            task.cancel()
        if self.active is not None and self.active.task is not None:
            self.active.task.cancel()
        self.active = None
        for task in list(self.side_tasks):
            task.cancel()

    def handle(self, event: ev.ClientEvent) -> None:
        """Answer one client event; any refusal is an ``error`` event."""
        handler = getattr(self, "on_" + event.type.replace(".", "_"), None)
        try:
            if handler is None:  # pragma: no cover - every parsed type has a handler
                raise RequestError(f"Unsupported event type '{event.type}'.", "type")
            handler(event)
        except RequestError as exc:
            self.error(exc, event.event_id)
        except Exception as exc:  # a bug here must not take the server down
            log.exception("emulator failed on %s", event.type)
            self.emit(ev.ErrorEvent(error=RealtimeError(type="server_error", code=None,
                                                        message=f"The emulator failed: {exc}",
                                                        event_id=event.event_id)))


    def _vad_settings(self) -> VadSettings:
        td = self._turn_detection()
        return VadSettings.from_turn_detection(td) if td is not None else VadSettings()

    def _turn_detection(self) -> TurnDetection | None:
        audio = self.config.audio
        return audio.input.turn_detection if audio and audio.input else None

    @property
    def input_rate(self) -> int:
        """The sample rate of the input audio (and of the PCM the session buffers)."""
        return self.input_wire.rate

    def on_session_update(self, event: ev.SessionUpdate) -> None:
        strict = self.options.strict
        check_session_update(event.session, strict)
        new = merge_session(self.config, event.session)
        check_session_update(new, strict)
        new.expires_at = self._expires_at()  # session.updated "refreshes expiry info"
        self.config = new
        self.record.config = new
        self.record.updates.append(event.session)
        wire = _input_wire(new)
        rate = wire.rate
        if rate != self.input_rate:
            self.buffer.clear()
            self.buffer_start_ms = self.input_ms
            self.speech_item_id = None
        self.input_wire = wire
        self.vad.reconfigure(rate, self._vad_settings())
        if self._turn_detection() is None:
            self.vad.reset(self.input_ms)
            self.speech_item_id = None
            self.live = None
        self.idle_since_ms = self.input_ms
        given = event.session.provider_settings().memory
        if given is not None and given.state is not None:
            self.memory.restore(given.state)
        self.emit(ev.SessionUpdated(session=new))


    def on_input_audio_buffer_append(self, event: ev.InputAudioBufferAppend) -> None:
        try:
            wire = base64.b64decode(event.audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError(f"Invalid 'audio': expected base64-encoded audio bytes ({exc}).", "audio") from exc
        pcm = self.input_wire.decode(wire)
        self.record.audio_bytes += len(pcm)
        if self.options.keep_history:
            self.record.audio += pcm
        self.buffer += pcm
        self.input_ms += len(pcm) / 2 * 1000 / self.input_rate
        td = self._turn_detection()
        if td is None:
            return
        for found in self.vad.feed(pcm):
            if isinstance(found, SpeechStarted):
                self.speech_item_id = new_id("item")
                self.speech_start_ms = float(found.audio_start_ms)
                self.backchannels_this_turn = 0
                self.last_backchannel_ms = None
                self.live = LiveTurn(self.speech_item_id, float(found.audio_start_ms),
                                     last_partial_ms=float(found.audio_start_ms),
                                     wall_started=asyncio.get_running_loop().time(), input_at_start=self.input_ms)
                self.emit(ev.InputAudioBufferSpeechStarted(audio_start_ms=found.audio_start_ms,
                                                           item_id=self.speech_item_id))
                if td.interrupt_response is not False and self.active is not None:
                    self._cancel_active("turn_detected")
            else:
                self.speech_start_ms = None
                item_id = self.speech_item_id or new_id("item")
                self.emit(ev.InputAudioBufferSpeechStopped(audio_end_ms=found.audio_end_ms, item_id=item_id))
                heard = self._commit(found.audio_end_ms, reset_vad=False)  # the VAD has moved past its stop
                if td.create_response is not False:
                    if heard is None:
                        self._respond_to_turn()
                    else:  # answer once the words are known, as the API does
                        heard.add_done_callback(lambda _: self._respond_to_turn())
        if self.vad.in_speech:
            self._maybe_backchannel()
            self._live_turn(td)
        else:
            self._maybe_idle_timeout(td)

    def _live_turn(self, td: TurnDetection) -> None:
        """While the user speaks: a turn suggestion (server_vad), and the transcript so far every so often."""
        live = self.live
        if live is None or live.item_id != self.speech_item_id:
            return
        if td.type == "server_vad" and self.options.turn_suggestions:
            self._suggest(live)
        every = self.options.partial_transcript_ms
        if self.options.transcript_deltas == "rolling" and every and self.input_ms - live.last_partial_ms >= every:
            live.last_partial_ms = self.input_ms
            self._partial(live)

    def _suggest(self, live: LiveTurn) -> None:
        """Server VAD's smart-turn hint: a pause may end the turn; speech again revokes the hint."""
        trailing = self.vad.trailing_silence_ms
        silence = self.vad.settings.silence_ms
        if not live.suggestion_open and trailing >= min(SUGGEST_AFTER_MS, silence // 2):
            live.suggestion_open = True
            self.emit(ev.InputAudioBufferTurnSuggestion(
                item_id=live.item_id, utterance_index=live.utterance_index,
                probability=round(min(0.99, 0.5 + 0.5 * trailing / max(1, silence)), 2),
                trailing_silence_ms=trailing, audio_duration_ms=int(self.input_ms - live.started_ms),
                inference_ms=0))
        elif live.suggestion_open and trailing == 0:
            live.suggestion_open = False
            self.emit(ev.InputAudioBufferTurnSuggestionRevoked(item_id=live.item_id,
                                                               utterance_index=live.utterance_index))
            live.utterance_index += 1

    def _partial(self, live: LiveTurn) -> None:
        """The transcript of the speech so far, as a rolling delta (recognised off the loop when needed)."""
        if not self._transcription_on():
            return
        rate = self.input_rate
        start = max(0, int((live.started_ms - self.buffer_start_ms) * rate / 1000) * 2)
        audio = bytes(self.buffer[start:])
        if not audio:
            return
        try:
            text = self.brain.transcribe(audio, rate, self.audio_turns)
        except Exception:
            log.debug("partial transcription failed", exc_info=True)
            return
        if text is None:
            recognizer = shared_recognizer()
            if recognizer is None:
                self._live_delta(live, unheard(audio, rate))
            else:
                self._preview(live, recognizer, audio, rate)
            return
        self._live_delta(live, text if text == unheard(audio, rate) else revealed(text, len(audio) / 2 / rate))

    def _preview(self, live: LiveTurn, recognizer: Recognizer, audio: bytes, rate: int) -> None:
        """A recognition pass over the speech so far: one at a time, each followed by a rest as long as it took,
        and only of live audio (a file sent faster than real time is recognised once, at the commit)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if live.recognising or now < live.rest_until or not live.live_audio(self.input_ms, now):
            return
        live.recognising = True
        future = loop.run_in_executor(recognizer.executor, recognizer.recognize_partial, audio, rate,
                                      lambda: live.final or self.closed)
        future.add_done_callback(lambda f: self._partial_heard(live, f, now))

    def _partial_heard(self, live: LiveTurn, future: asyncio.Future[Recognition | None], began: float) -> None:
        live.recognising = False
        now = asyncio.get_running_loop().time()
        live.rest_until = now + (now - began)
        heard = None if future.cancelled() or future.exception() is not None else future.result()
        if heard is not None:
            self._live_delta(live, heard.text)

    def _live_delta(self, live: LiveTurn, text: str) -> None:
        delta = live.rolling(text)
        if delta is not None:
            self.emit(ev.InputAudioTranscriptionDelta(item_id=live.item_id, content_index=0, delta=delta))

    def _maybe_idle_timeout(self, td: TurnDetection) -> None:
        """server_vad's ``idle_timeout_ms``: silence that long after the last answer commits the (empty) turn
        and asks for a response (Mastra: "idle window before the server commits a user turn")."""
        limit = td.idle_timeout_ms
        if td.type != "server_vad" or not limit or self.active is not None or self.transcribing:
            return
        if self.input_ms - self.idle_since_ms < limit:
            return
        start, end = self.idle_since_ms, self.input_ms
        self.speech_item_id = new_id("item")
        self.emit(ev.InputAudioBufferTimeoutTriggered(audio_start_ms=int(start), audio_end_ms=int(end),
                                                      item_id=self.speech_item_id))
        self._commit(None, reset_vad=True, transcribe=False)
        if td.create_response is not False:
            self._respond_to_turn()

    def _respond_to_turn(self) -> None:
        if self.closed:
            return
        if self.active is None:
            self._start_response(None)
        else:
            self.owed_response = True

    def _backchannel_settings(self) -> dict[str, Any] | None:
        branch = (self.config.provider_data or {}).get("backchannel")
        return branch if isinstance(branch, dict) and branch.get("enabled") is True else None

    def _maybe_backchannel(self) -> None:
        """Inworld's back-channel: a short interjection while the user is still speaking, when enabled."""
        bc = self._backchannel_settings()
        if bc is None or self.speech_start_ms is None:
            return

        def number(key: str, default: float) -> float:
            value = bc.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

        if self.input_ms - self.speech_start_ms < number("min_speech_ms", 800):
            return
        if self.backchannels_this_turn >= number("max_per_turn", 3):
            return
        last = self.last_backchannel_ms
        if last is not None and self.input_ms - last < number("min_gap_ms", 4000):
            return
        if bc.get("decider_kind") == "rule" and number("rule_fire_probability", 1.0) <= 0:
            return
        self.backchannels_this_turn += 1
        self.last_backchannel_ms = self.input_ms
        phrase = BACKCHANNEL_PHRASES[(self.audio_turns + self.backchannels_this_turn - 1) % len(BACKCHANNEL_PHRASES)]
        task = asyncio.get_running_loop().create_task(self._backchannel(phrase, number("volume_gain", 0.6)))
        self.side_tasks.add(task)
        task.add_done_callback(self.side_tasks.discard)

    async def _backchannel(self, phrase: str, gain: float) -> None:
        bc_id = new_id("bc")
        out = self.config.audio.output if self.config.audio else None
        fmt = resolve(out.format if out else None)
        voice = out.voice if out else None
        pcm = await asyncio.to_thread(self.synth.synthesize, phrase, fmt.rate, voice, 1.0)
        if gain > 0:
            samples = array("h", pcm)
            for i, value in enumerate(samples):
                samples[i] = max(-32768, min(32767, int(value * gain)))
            wire = fmt.encode(samples.tobytes())
            chunk = fmt.chunk_bytes(self.options.audio_chunk_ms)
            for offset in range(0, len(wire), chunk):
                self.emit(ev.ResponseBackchannelAudioDelta(
                    backchannel_id=bc_id, delta=base64.b64encode(wire[offset : offset + chunk]).decode("ascii")))
                await asyncio.sleep(0)
        self.emit(ev.ResponseBackchannelAudioDone(backchannel_id=bc_id, phrase=phrase))

    def on_input_audio_buffer_commit(self, event: ev.InputAudioBufferCommit) -> None:
        buffered = len(self.buffer) / 2 * 1000 / self.input_rate
        if buffered < MIN_COMMIT_MS:
            raise RequestError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered:.2f}ms of audio.",
                None, "input_audio_buffer_commit_empty")
        self._commit(None, reset_vad=True)

    def on_input_audio_buffer_clear(self, event: ev.InputAudioBufferClear) -> None:
        self.buffer.clear()
        self.buffer_start_ms = self.input_ms
        self.speech_item_id = None
        self.live = None
        self.idle_since_ms = self.input_ms
        self.vad.reset(self.input_ms)
        self.emit(ev.InputAudioBufferCleared())

    def on_output_audio_buffer_clear(self, event: ev.OutputAudioBufferClear) -> None:
        rid = self.active.id if self.active else None
        if self.active is not None:
            self._cancel_active("client_cancelled")
        if self.options.openai_extras:  # OpenAI's WebRTC-only answer; Inworld documents none
            self.emit(ev.OutputAudioBufferCleared(response_id=rid))

    def _commit(self, end_ms: float | None, reset_vad: bool, transcribe: bool = True) -> asyncio.Task[None] | None:
        """Turn the buffer (up to ``end_ms``) into a user item, transcribed by the brain or recognised.

        Returns the recognition task when the words come later (the brain left them to the recogniser).
        ``transcribe=False`` (an idle timeout's silence) commits the audio without words.
        """
        if end_ms is None:
            cut, end_ms = len(self.buffer), self.input_ms
        else:
            cut = min(len(self.buffer), max(0, int((end_ms - self.buffer_start_ms) * self.input_rate / 1000) * 2))
        audio = bytes(self.buffer[:cut])
        del self.buffer[:cut]
        self.buffer_start_ms = end_ms
        item_id = self.speech_item_id or new_id("item")
        self.speech_item_id = None
        live = self.live if self.live is not None and self.live.item_id == item_id else LiveTurn(item_id, end_ms)
        live.final = True
        self.live = None
        self.idle_since_ms = end_ms
        if reset_vad:
            self.vad.reset(end_ms)
        previous = self._last_item_id()
        item = ConversationItem(id=item_id, object="realtime.item", type="message", role="user", status="completed",
                                content=[ItemContent(type="input_audio", transcript=None)])
        self.items[item_id] = Entry(item)
        self.emit(ev.InputAudioBufferCommitted(previous_item_id=previous, item_id=item_id))
        self.emit(ev.ConversationItemAdded(previous_item_id=previous, item=item))
        if not transcribe:
            self.emit(ev.ConversationItemDone(previous_item_id=previous, item=item))
            return None
        if self._voice_profile_on():
            live.profile = voice_profile(audio, self.input_rate)
        try:
            transcript = self.brain.transcribe(audio, self.input_rate, self.audio_turns)
        except Exception as exc:
            self._transcription_failed(item_id, exc)
            return None
        finally:
            self.audio_turns += 1
        recognizer = shared_recognizer() if transcript is None else None
        if recognizer is not None:
            return self._recognize_later(item, previous, audio, recognizer, live=live)
        self.record.transcribed_by.append("none" if transcript is None else "given transcript")
        self._transcribed(item, previous, _pieces(transcript, 3) if transcript is not None else
                          [unheard(audio, self.input_rate)], len(audio) / 2 / self.input_rate, live=live)
        return None

    def _transcription_on(self) -> bool:
        """False after ``transcription: null`` (Mastra: null disables the user-side transcription events)."""
        inp = self.config.audio.input if self.config.audio else None
        return not (inp is not None and "transcription" in inp.model_fields_set and inp.transcription is None)

    def _voice_profile_on(self) -> bool:
        stt = self.config.provider_settings().stt
        return stt is not None and stt.voice_profile is True

    def _transcription_failed(self, item_id: str, exc: Exception) -> None:
        log.exception("transcription failed", exc_info=exc)
        self.emit(ev.InputAudioTranscriptionFailed(item_id=item_id, content_index=0, error=RealtimeError(
            type="transcription_error", code="transcription_failed", message=str(exc))))

    def _delta(self, item: ConversationItem, text: str) -> None:
        self.emit(ev.InputAudioTranscriptionDelta(item_id=item.id, content_index=0, delta=text))

    def _transcribed(self, item: ConversationItem, previous: str | None, pieces: list[str], seconds: float,
                     done: bool = True, transcript: str | None = None, *, live: LiveTurn) -> None:
        """Send the words of a user audio item (deltas, then completed), then its ``item.done``.

        Rolling mode (the default) ends with the whole transcript as the last delta; additive sends ``pieces``.
        With ``transcription: null`` nothing is sent: the words are kept for the brain only.
        """
        transcript = "".join(pieces) if transcript is None else transcript
        if self._transcription_on():
            for delta in final_deltas(self.options.transcript_deltas, live, pieces, transcript):
                self._delta(item, delta)
            usage = {"type": "duration", "seconds": round(seconds, 3)} if self.options.openai_extras else None
            extras = ev.TranscriptionProviderData(voiceProfile=live.profile) if live.profile is not None else None
            self.emit(ev.InputAudioTranscriptionCompleted(item_id=item.id, content_index=0, transcript=transcript,
                                                          usage=usage, providerData=extras))
            assert item.content is not None
            item.content[0].transcript = transcript
        else:
            self.heard[item.id] = transcript
        self._remember(transcript)
        if done:
            self.emit(ev.ConversationItemDone(previous_item_id=previous, item=item))

    def _remember(self, transcript: str) -> None:
        """Automatic memory (``providerData.memory.enabled``): extract every ``turn_interval`` user turns."""
        settings = self.config.provider_settings().memory
        if settings is None or settings.enabled is not True:
            return
        state = self.memory.user_turn(transcript, settings)
        if state is None:
            return
        provider = dict(self.config.provider_data or {})
        branch = provider.get("memory")
        provider["memory"] = {**(branch if isinstance(branch, dict) else {}), "state": state.to_wire()}
        self.config.provider_data = provider  # echoed by the next session.updated, where Mastra reads it
        self.emit(ev.ResponseMemoryExtracted(state=state))

    def _recognize_later(self, item: ConversationItem, previous: str | None, audio: bytes, recognizer: Recognizer,
                         done: bool = True, live: LiveTurn | None = None) -> asyncio.Task[None]:
        """Recognise off the loop, sending each word as it settles (rolling: the words so far), then completed
        (in turn order)."""
        live = live or LiveTurn(item.id, 0.0, final=True)
        said = ""

        def word(text: str) -> None:
            nonlocal said
            said += text
            if not self._transcription_on():
                return
            if self.options.transcript_deltas == "additive":
                self._delta(item, text)
            elif (delta := live.rolling(said, final_stage=True)) is not None:
                self._delta(item, delta)

        def finished(heard: Recognition) -> None:
            self.record.transcribed_by.append("pocketsphinx")
            self._transcribed(item, previous, [], heard.audio_s, done, heard.text, live=live)

        async def run() -> None:
            try:
                await recognizer.recognize_soon(audio, self.input_rate, word, finished, lambda: not self.closed)
            except Exception as exc:
                self._transcription_failed(item.id, exc)

        task = asyncio.get_running_loop().create_task(run(), name=f"recognise {item.id}")
        self.transcribing.append(task)
        task.add_done_callback(self.transcribing.remove)
        return task


    def _last_item_id(self) -> str | None:
        return next(reversed(self.items), None) if self.items else None

    def on_conversation_item_create(self, event: ev.ConversationItemCreate) -> None:
        item = event.item.model_copy(deep=True)
        if item.id in self.items:
            raise RequestError(f"Item with id '{item.id}' already exists.", "item.id")
        if item.type == "message":
            if item.role is None:
                raise RequestError("Missing required parameter: 'item.role'.", "item.role",
                                   "missing_required_parameter")
            if not item.content:
                raise RequestError("Missing required parameter: 'item.content'.", "item.content",
                                   "missing_required_parameter")
        elif item.type == "function_call_output":
            if not item.call_id:
                raise RequestError("Missing required parameter: 'item.call_id'.", "item.call_id",
                                   "missing_required_parameter")
            if item.output is None:
                raise RequestError("Missing required parameter: 'item.output'.", "item.output",
                                   "missing_required_parameter")
        elif not item.call_id or not item.name:
            raise RequestError("A function_call item needs 'call_id' and 'name'.", "item.call_id",
                               "missing_required_parameter")
        previous = event.previous_item_id
        if previous is not None and previous != "root" and previous not in self.items:
            raise RequestError(f"Item with id '{previous}' not found.", "previous_item_id")
        for part in item.content or []:
            if part.type == "input_audio" and part.audio and part.transcript is None:
                try:
                    pcm = self.input_wire.decode(base64.b64decode(part.audio, validate=True))
                except (binascii.Error, ValueError) as exc:
                    raise RequestError("Invalid 'item.content.audio': expected base64 audio.",
                                       "item.content.audio") from exc
                part.transcript = self.brain.transcribe(pcm, self.input_rate, self.audio_turns)
                self.audio_turns += 1
                recognizer = shared_recognizer() if part.transcript is None else None
                if recognizer is not None:
                    self._recognize_later(item, None, pcm, recognizer, done=False)
                elif part.transcript is None:
                    part.transcript = unheard(pcm, self.input_rate)
        item.object = "realtime.item"
        item.status = item.status or "completed"
        self._insert(item, previous)
        shown_previous = previous if previous is not None else self._item_before(item.id)
        self.emit(ev.ConversationItemAdded(previous_item_id=shown_previous, item=item))
        self.emit(ev.ConversationItemDone(previous_item_id=shown_previous, item=item))
        if item.type == "function_call_output":
            self._on_function_output(item)

    def _insert(self, item: ConversationItem, previous: str | None) -> None:
        if previous is None:
            self.items[item.id] = Entry(item)
            return
        entries = list(self.items.items())
        at = 0 if previous == "root" else [k for k, _ in entries].index(previous) + 1
        entries.insert(at, (item.id, Entry(item)))
        self.items = dict(entries)

    def _item_before(self, item_id: str) -> str | None:
        keys = list(self.items)
        at = keys.index(item_id)
        return keys[at - 1] if at > 0 else None

    def _on_function_output(self, item: ConversationItem) -> None:
        call = self.pending_calls.get(item.call_id or "")
        if call is None:
            return
        call.answered = True
        provider = self.config.provider_data or {}
        if provider.get("auto_tool_response") is False or self.active is not None:
            return
        siblings = [c for c in self.pending_calls.values() if c.response_id == call.response_id]
        if all(c.answered for c in siblings):
            self._start_response(None)

    def on_conversation_item_truncate(self, event: ev.ConversationItemTruncate) -> None:
        entry = self.items.get(event.item_id)
        if entry is None:
            raise RequestError(f"Item with item_id '{event.item_id}' not found.", "item_id")
        item = entry.item
        if not (item.type == "message" and item.role == "assistant" and entry.has_audio):
            raise RequestError("Only assistant messages with audio can be truncated.", "item_id")
        if event.content_index != 0:
            raise RequestError(f"Item '{event.item_id}' has no audio content at index {event.content_index}.",
                               "content_index")
        available = math.ceil(entry.audio_ms)
        if event.audio_end_ms > available or event.audio_end_ms < 0:
            raise RequestError(
                f"Audio content of {available}ms is already shorter than {event.audio_end_ms}ms.", "audio_end_ms")
        if item.content and entry.audio_ms > 0:
            text = item.content[0].transcript or ""
            keep = int(len(text) * event.audio_end_ms / entry.audio_ms)
            item.content[0].transcript = text[:keep].rstrip()
        entry.audio_ms = float(event.audio_end_ms)
        self.record.truncates.append(event)
        self.emit(ev.ConversationItemTruncated(item_id=event.item_id, content_index=event.content_index,
                                               audio_end_ms=event.audio_end_ms))

    def on_conversation_item_delete(self, event: ev.ConversationItemDelete) -> None:
        self.heard.pop(event.item_id, None)
        if self.items.pop(event.item_id, None) is None:
            raise RequestError(f"Item with item_id '{event.item_id}' not found.", "item_id")
        self.emit(ev.ConversationItemDeleted(item_id=event.item_id))

    def on_conversation_item_retrieve(self, event: ev.ConversationItemRetrieve) -> None:
        entry = self.items.get(event.item_id)
        if entry is None:
            raise RequestError(f"Item with item_id '{event.item_id}' not found.", "item_id")
        self.emit(ev.ConversationItemRetrieved(item=entry.item))


    def on_response_create(self, event: ev.ResponseCreate) -> None:
        if self.active is not None:
            raise RequestError(
                f"Conversation already has an active response in progress: {self.active.id}. Wait until the "
                "response is finished before creating a new one.", None, "conversation_already_has_active_response")
        self._start_response(event.response)

    def on_response_cancel(self, event: ev.ResponseCancel) -> None:
        active = self.active
        if active is None or (event.response_id is not None and event.response_id != active.id):
            if self.options.cancel_without_response_error:
                raise RequestError("Cancellation failed: no active response found.", None,
                                   "response_cancel_not_active")
            return  # Inworld's clients cancel on every barge-in, usually after the server already has
        self._cancel_active("client_cancelled")

    def _start_response(self, props: ev.ResponseProperties | None) -> None:
        extra = (props.model_extra or {}) if props is not None else {}
        modalities = (props.output_modalities if props is not None else None) or extra.get("modalities") \
            or self.config.output_modalities or ["audio"]
        if not isinstance(modalities, list) or not modalities or any(m not in ("text", "audio") for m in modalities):
            raise RequestError(f"Invalid output modalities {modalities!r}: use 'text' and/or 'audio'.",
                               "response.output_modalities")
        voice = props.voice if props is not None else None  # flat, as Inworld's schema has it; audio.output ignored
        tools = None
        if props is not None and props.tools is not None:
            tools = function_tools(SessionProperties(tools=props.tools))
        rid = new_id("resp")
        record = ResponseRecord(rid)
        self.record.responses.append(record)
        resp = ActiveResponse(
            id=rid, modalities=list(modalities), record=record, voice=voice,
            instructions=props.instructions if props is not None else None,
            in_conversation=props is None or props.conversation != "none",
            metadata=props.metadata if props is not None else None, tools=tools,
        )
        self.active = resp
        self.emit(ev.ResponseCreated(response=self._response_object(resp, "in_progress")))
        resp.task = asyncio.get_running_loop().create_task(self._run(resp), name=f"emulator {rid}")

    def _response_object(self, resp: ActiveResponse, status: str, details: Any = None,
                         usage: Usage | None = None) -> Response:
        extra: dict[str, Any] = {"output_modalities": resp.modalities}
        if resp.metadata is not None:
            extra["metadata"] = resp.metadata
        if not resp.in_conversation:
            extra["conversation_id"] = None
        return Response.model_validate({
            "id": resp.id, "object": "realtime.response", "status": status, "status_details": details,
            "output": [item.model_dump(mode="json") for item in resp.output],
            "usage": usage.model_dump() if usage else None, **extra,
        })

    def _cancel_active(self, reason: str) -> None:
        if self.active is not None:
            self._finish(self.active, "cancelled", {"type": "cancelled", "reason": reason})

    def _finish(self, resp: ActiveResponse, status: str, details: Any = None) -> None:
        """End a response: close its open items and send ``response.done`` (with usage, also on top)."""
        if resp.finished:
            return
        resp.finished = True
        if self.active is resp:
            self.active = None
        self.idle_since_ms = self.input_ms
        self._audio_stopped(resp)
        for index, item in enumerate(resp.output):
            if item.status == "in_progress":
                item.status = "incomplete"
                spoken = resp.spoken.get(item.id)
                if item.type == "message" and spoken is not None:
                    audio = "audio" in resp.modalities
                    item.content = [ItemContent(type="output_audio", transcript=spoken) if audio
                                    else ItemContent(type="output_text", text=spoken)]
                self._item_done(resp, index, item)
        usage = self._usage(resp)
        resp.record.status = status
        self.emit(ev.ResponseDone(response=self._response_object(resp, status, details, usage), usage=usage))
        task = resp.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.owed_response and self.active is None and not self.closed:
            self.owed_response = False
            self._start_response(None)

    def _usage(self, resp: ActiveResponse) -> Usage:
        heard = sum(len(item_text(e.item)) for e in self.items.values() if e.item.role != "assistant")
        said = sum(len(t) for t in resp.spoken.values()) + sum(len(i.arguments or "") for i in resp.output)
        inp, out = heard // 4 + 8, said // 4 + 1
        return Usage(total_tokens=inp + out, input_tokens=inp, output_tokens=out)

    def _turn(self, resp: ActiveResponse) -> Turn:
        items = [e.item for e in self.items.values()]
        calls = {i.call_id: i for i in items if i.type == "function_call"}
        results: list[FunctionResult] = []
        index = len(items) - 1
        while index >= 0 and items[index].type in ("function_call", "function_call_output"):
            item = items[index]
            if item.type == "function_call_output":
                call = calls.get(item.call_id)
                pending = self.pending_calls.get(item.call_id or "")
                name = (call.name if call else None) or (pending.name if pending else "function")
                arguments = (call.arguments if call else None) or (pending.arguments if pending else "{}")
                results.insert(0, FunctionResult(item.call_id or "", name, arguments, item.output or ""))
            index -= 1
        user_text = None
        if not results:
            for item in reversed(items):
                if item.type == "message" and item.role == "assistant":
                    break
                if item.type == "message" and item.role == "user":
                    user_text = item_text(item) or self.heard.get(item.id) or None
                    break
        choice = self.config.tool_choice
        tools = resp.tools if resp.tools is not None else function_tools(self.config)
        specs = () if choice == "none" else tuple(ToolSpec(t.name, t.description, t.parameters) for t in tools)
        return Turn(user_text=user_text, function_results=tuple(results), tools=specs,
                    instructions=resp.instructions or self.config.instructions, history=tuple(items),
                    reply_index=self.replies)

    async def _run(self, resp: ActiveResponse) -> None:
        try:
            if self.options.response_delay_ms > 0:
                await asyncio.sleep(self.options.response_delay_ms / 1000)
            if self.transcribing:  # answer what was heard
                await asyncio.wait(list(self.transcribing))
            turn = self._turn(resp)
            decision = self.brain.respond(turn)
            if isinstance(decision, CallTool) and decision.name in {t.name for t in turn.tools}:
                self._call(resp, decision)
            else:
                text = decision.text if isinstance(decision, Say) else \
                    f"Sorry, I cannot use a tool called {decision.name} here."
                self.replies += 1
                await self._say(resp, text)
            self._finish(resp, "completed")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("emulator response failed")
            self._finish(resp, "failed", {"type": "failed", "error": {"type": "server_error", "message": str(exc)}})

    def _add_output(self, resp: ActiveResponse, item: ConversationItem) -> int:
        """A new output item: ``response.output_item.added``, then ``conversation.item.added`` when the
        response writes to the conversation (Inworld sends it "whenever the server appends an item")."""
        previous = self._last_item_id()
        resp.output.append(item)
        if resp.in_conversation:
            self.items[item.id] = Entry(item)
        index = len(resp.output) - 1
        self.emit(ev.ResponseOutputItemAdded(response_id=resp.id, output_index=index, item=item))
        if resp.in_conversation:
            self.emit(ev.ConversationItemAdded(previous_item_id=previous, item=item))
        return index

    def _item_done(self, resp: ActiveResponse, index: int, item: ConversationItem) -> None:
        self.emit(ev.ResponseOutputItemDone(response_id=resp.id, output_index=index, item=item))
        if resp.in_conversation and item.id in self.items:
            self.emit(ev.ConversationItemDone(previous_item_id=self._item_before(item.id), item=item))

    def _call(self, resp: ActiveResponse, decision: CallTool) -> None:
        call_id = new_id("call")
        item = ConversationItem(id=new_id("item"), object="realtime.item", type="function_call",
                                status="in_progress", call_id=call_id, name=decision.name, arguments="")
        index = self._add_output(resp, item)
        arguments = json.dumps(dict(decision.arguments), ensure_ascii=False)
        step = max(1, math.ceil(len(arguments) / 3))
        for start in range(0, len(arguments), step):
            self.emit(ev.ResponseFunctionCallArgumentsDelta(response_id=resp.id, item_id=item.id, output_index=index,
                                                            call_id=call_id, delta=arguments[start : start + step]))
        self.emit(ev.ResponseFunctionCallArgumentsDone(response_id=resp.id, item_id=item.id, output_index=index,
                                                       call_id=call_id, name=decision.name, arguments=arguments))
        item.arguments = arguments
        item.status = "completed"
        self._item_done(resp, index, item)
        self.pending_calls[call_id] = PendingCall(decision.name, arguments, resp.id)
        resp.record.function_calls.append((decision.name, arguments))

    async def _say(self, resp: ActiveResponse, text: str) -> None:
        item = ConversationItem(id=new_id("item"), object="realtime.item", type="message", role="assistant",
                                status="in_progress", content=[])
        index = self._add_output(resp, item)
        resp.spoken[item.id] = ""
        resp.record.text = text
        ids = {"response_id": resp.id, "item_id": item.id, "output_index": index, "content_index": 0}
        if "audio" not in resp.modalities:
            self.emit(ev.ResponseContentPartAdded(**ids, part=ContentPart(type="text", text="")))
            for piece in _pieces(text):
                self.emit(ev.ResponseOutputTextDelta(**ids, delta=piece))
                resp.spoken[item.id] += piece
                await asyncio.sleep(0)
            self.emit(ev.ResponseOutputTextDone(**ids, text=text))
            self.emit(ev.ResponseContentPartDone(**ids, part=ContentPart(type="text", text=text)))
            item.content = [ItemContent(type="output_text", text=text)]
        else:
            await self._speak(resp, item, ids, text)
        item.status = "completed"
        self._item_done(resp, index, item)

    async def _speak(self, resp: ActiveResponse, item: ConversationItem, ids: dict[str, Any], text: str) -> None:
        self.emit(ev.ResponseContentPartAdded(**ids, part=ContentPart(type="audio", transcript="")))
        entry = self.items.get(item.id) or Entry(item)
        entry.has_audio = True
        out = self.config.audio.output if self.config.audio else None
        fmt = resolve(out.format if out else None)
        rate, width = fmt.rate, fmt.width
        voice = resp.voice or (out.voice if out else None)
        resp.record.voice = voice
        speed = (out.speed if out else None) or 1.0
        pcm = await asyncio.to_thread(self.synth.synthesize, text, rate, voice, speed)
        wire = fmt.encode(pcm)
        per_ms = rate / 1000 * width
        chunk = fmt.chunk_bytes(self.options.audio_chunk_ms)
        words = _pieces(text, 1)
        told = 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        for offset in range(0, len(wire), chunk):
            piece = wire[offset : offset + chunk]
            due = math.ceil(len(words) * (offset + len(piece)) / len(wire))
            if due > told:
                delta = "".join(words[told:due])
                self.emit(ev.ResponseOutputAudioTranscriptDelta(**ids, delta=delta))
                resp.spoken[item.id] += delta
                told = due
            if not resp.audio_playing and self.options.output_audio_buffer_events:
                resp.audio_playing = True
                self.emit(ev.OutputAudioBufferStarted())
            self.emit(ev.ResponseOutputAudioDelta(**ids, delta=base64.b64encode(piece).decode("ascii")))
            entry.audio_ms += len(piece) / per_ms
            resp.record.audio_ms += len(piece) / per_ms
            await self._pace(loop, started, entry.audio_ms)
        if told < len(words):
            delta = "".join(words[told:])
            self.emit(ev.ResponseOutputAudioTranscriptDelta(**ids, delta=delta))
            resp.spoken[item.id] += delta
        self.emit(ev.ResponseOutputAudioDone(**ids))
        self._audio_stopped(resp)
        self.emit(ev.ResponseOutputAudioTranscriptDone(**ids, transcript=text))
        self.emit(ev.ResponseContentPartDone(**ids, part=ContentPart(type="audio", transcript=text)))
        item.content = [ItemContent(type="output_audio", transcript=text)]

    def _audio_stopped(self, resp: ActiveResponse) -> None:
        """``output_audio_buffer.stopped`` once the response's audio ended (or was cut)."""
        if resp.audio_playing:
            resp.audio_playing = False
            self.emit(ev.OutputAudioBufferStopped())

    async def _pace(self, loop: asyncio.AbstractEventLoop, started: float, sent_ms: float) -> None:
        if self.options.pace <= 0:
            await asyncio.sleep(0)
            return
        wait = started + sent_ms / 1000 / self.options.pace - loop.time()
        await asyncio.sleep(max(0.0, wait))


__all__ = ["RealtimeSession", "default_session", "new_id", "serialize"]
