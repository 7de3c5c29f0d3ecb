"""The session layer: typed server events in, client events out, driven by the tables in ``.states``.

It holds what one conversation needs across sockets: the configured session, the outbox of held
client events, the uncommitted user turn (replayed after a drop), the conversation, audio chunking
and codecs. It writes through whichever ``ClientWebSocket`` is current.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from transitions import EventData, Machine, MachineError

from . import events as ev
from .audio import Chunks, b64decode, b64encode, decoder_for, encoder_for, format_rate, ms_to_bytes, pcm_ms
from .conversation import Conversation, FunctionCall, TrackedItem
from .errors import ConfigurationError, LocalProtocolError
from .items import ConversationItem
from .outbox import Outbox
from .session import SessionProperties, check_session, wire_bytes_per_sample
from .states import SENDING_STATES, TRANSITIONS, TURN_TRANSITIONS, ConnectionState, TurnState
from .websocket import ClientWebSocket

S = ConnectionState
T = TurnState
#: An append is ``type`` and ``audio`` only, as Inworld's own clients send it (its browser example, its Twilio and
#: Telnyx bridges): no ``event_id`` per 60 ms chunk, none of which an error would name.
_APPEND_HEAD = b'{"type":"input_audio_buffer.append","audio":"'
#: At most this many entries per bounded ``data_to_send(max_bytes)`` call: small items cost CPU, not bytes.
RELEASE_BATCH = 32


def _machine(states: type[ConnectionState] | type[TurnState], table: list[Any], initial: Any, attribute: str) -> Any:
    return Machine(model=None, states=list(states), transitions=table, initial=initial, auto_transitions=False,
                   send_event=True, model_attribute=attribute)


#: The machines, built once from the tables and shared: each session is a model they drive
#: (callbacks named in the tables are looked up on it).
_MACHINE = _machine(ConnectionState, [dict(t) for t in TRANSITIONS], S.CLOSED, "state")
_TURN_MACHINE = _machine(TurnState, [dict(t) for t in TURN_TRANSITIONS], T.SILENT, "turn")
_EVENTS = _MACHINE.events
_TURN_EVENTS = _TURN_MACHINE.events
#: Triggers the caller pulls: one the table refuses is the caller's mistake.
_LOCAL_TRIGGERS = frozenset({"connect", "close", "send"})
#: The states the table takes ``send`` in: the audio path checks them itself (it pulls no trigger).
_SEND_SOURCES = frozenset(s for t in TRANSITIONS if t["trigger"] == "send" for s in t["source"])


class SessionLayer:
    """One conversation across sockets; the model the shared machines drive."""

    def __init__(self, session: SessionProperties | None, open_socket: Callable[[], ClientWebSocket],
                 clock: Callable[[], float], chunk_ms: int, max_replay_audio_ms: int, max_held_audio_ms: int,
                 max_replay_items: int = 200, max_history_audio_ms: int = 30_000) -> None:
        self.open_socket = open_socket  # a new socket with its upgrade request queued (the connection's part)
        self.state = S.CLOSED
        self.turn = T.SILENT
        self.session = session.model_copy(deep=True) if session is not None else SessionProperties()
        self.server_session: SessionProperties | None = None
        self.conversation = Conversation(max_items=max_replay_items, on_trim=self._report_trim)
        self.clock = clock
        self.chunk_ms = chunk_ms
        self.max_replay_audio_ms = max_replay_audio_ms
        self.max_held_audio_ms = max_held_audio_ms
        self.max_replay_items = max_replay_items
        self.max_history_audio_ms = max_history_audio_ms
        self.events: deque[ev.Event] = deque()
        self.outbox = Outbox()
        self.ws: ClientWebSocket | None = None
        self.sessions_configured = 0
        self._pending_pcm = bytearray()
        self._turn = Chunks()
        self._turn_start = 0
        self._commit_point_ms: int | None = None
        self._turn_trimmed = False  # the turn in progress was reported as no longer fully replayable
        self._replay: list[TrackedItem] = []  # what ``replay_history`` queues for this resume
        self._replay_audio: list[bytes] = []  # and ``replay_turn_audio``
        self._replayed: tuple[int, int] = (0, 0)  # items and audio ms of this resume
        self.apply_formats()

    def trigger(self, name: str, **kwargs: Any) -> bool:
        """Pull ``name`` on the state table; refused triggers raise for the caller, are kept for the server."""
        try:
            return bool(_EVENTS[name].trigger(self, **kwargs))
        except MachineError as exc:
            if name in _LOCAL_TRIGGERS:
                raise LocalProtocolError(self._refusal(name)) from exc
            return False  # a server event out of order is handed out all the same; it never stalls us

    def _refusal(self, name: str) -> str:
        if self.state is S.CLOSED and name == "send":
            return "cannot send: the connection is closed (call connect() first)"
        if name == "send":
            return f"cannot send in state {self.state.value}"
        return f"{name} is not allowed in state {self.state.value}"

    def turn_trigger(self, name: str, **kwargs: Any) -> None:
        """Pull ``name`` on the turn table (every trigger is allowed from every turn state)."""
        _TURN_EVENTS[name].trigger(self, **kwargs)

    def resuming(self, e: EventData) -> bool:
        """This session replaces one that was configured before (history and turn audio carry over)."""
        return self.sessions_configured > 0

    def is_session_update(self, e: EventData) -> bool:
        """The event sent is a ``session.update`` (merged into the session the next configure sends)."""
        return isinstance(e.kwargs.get("event"), ev.SessionUpdate)

    def normal_closure(self, e: EventData) -> bool:
        """The server closed with 1000 (not after ``session_expired``, which is a drop to reconnect from)."""
        return int(e.kwargs.get("code", 1006)) == 1000

    def send_upgrade_request(self, e: EventData) -> None:
        """Open a new socket and queue its HTTP upgrade request; the turn count restarts."""
        self.ws = self.open_socket()
        self.turn_trigger("new_socket")

    def report_connected(self, e: EventData) -> None:
        """Queue ``Connected`` with the upgrade response headers (the caller's own dict)."""
        self.events.append(ev.Connected(dict(e.kwargs.get("headers", {}))))

    def send_session_update(self, e: EventData) -> None:
        """Send ``session.update`` with the configured session (always, whatever ``session.created`` said)."""
        self._write(ev.SessionUpdate(session=self.session))

    def replay_history(self, e: EventData) -> None:
        """Queue the conversation so far for replay: references only, encoded as the bytes are drained."""
        self._replay = self.conversation.replay_snapshot()
        self._replayed = (len(self._replay), 0)

    def replay_turn_audio(self, e: EventData) -> None:
        """Queue the user audio the old session never committed, so the turn goes on."""
        turn = self._turn
        size = self._chunk_bytes
        audio = len(turn)
        chunks = [turn.take(size) for _ in range(-(-audio // size))]
        self._replay_audio = chunks
        self._replayed = (self._replayed[0], pcm_ms(audio, self.input_rate))

    def owe_unanswered_turn(self, e: EventData) -> None:
        """Server VAD committed a user turn on the old socket and its answer never started: it is owed."""
        if self.outbox.vad_turn:
            self.outbox.vad_turn = False
            self.outbox.owe_response()  # unless a response.create is held already

    def release_held(self, e: EventData) -> None:
        """Start releasing, in order: the replay, what the outbox held (each once), an owed re-ask last.

        Nothing is encoded here: ``release`` writes entries as the caller drains ``data_to_send``.
        """
        replay, self._replay = self._replay, []
        audio, self._replay_audio = self._replay_audio, []
        self.outbox.begin_release(replay, audio)

    def release(self, budget: int | None) -> None:
        """Write released entries until about ``budget`` bytes are queued, or ``RELEASE_BATCH`` entries (None: all)."""
        outbox = self.outbox
        out = self._socket().out
        size = sum(len(b) for b in out) if budget is not None else 0
        left = RELEASE_BATCH if budget is not None else -1
        while outbox.releasing and (budget is None or (size < budget and left)):
            left -= 1
            count = len(out)
            entry = outbox.next()
            if entry is None:
                break
            if isinstance(entry, bytes):
                self._send_append(entry)
            elif isinstance(entry, TrackedItem):
                item = Conversation.replay_item(entry, self._encode_b64)
                if item is not None:
                    self._socket().send_text(ev.ConversationItemCreate(item=item).to_json())
            else:
                self._write_recorded(entry)
            if budget is not None:
                size += sum(len(b) for b in out[count:])

    def report_configured(self, e: EventData) -> None:
        """Queue ``SessionConfigured`` (resumed, items and audio replayed) with a copy of the session."""
        resumed = self.sessions_configured > 0
        self.sessions_configured += 1
        items, audio_ms = self._replayed if resumed else (0, 0)
        self._replayed = (0, 0)
        self.events.append(ev.SessionConfigured(self.session.model_copy(deep=True), resumed, items, audio_ms))

    def write_event(self, e: EventData) -> None:
        """Write the client event now (behind a release still under way); recorded as it goes out."""
        if self.outbox.releasing:
            self.outbox.hold(e.kwargs["event"])
        else:
            self._write_recorded(e.kwargs["event"])

    def _write_recorded(self, event: ev.ClientEvent) -> None:
        if isinstance(event, ev.ConversationItemCreate):
            tracked = self.conversation.track(event.item)
            audio = [p.audio for p in event.item.content or () if p.audio and p.type == "input_audio"]
            if audio and tracked.text is None and event.item.role == "user":
                with contextlib.suppress(ValueError):  # not base64: sent as given, not replayed
                    self.conversation.set_user_audio(event.item.id,
                                                     b"".join(self._decode_input(b64decode(a)) for a in audio))
            if event.item.type == "function_call_output" and event.item.call_id:
                self.conversation.answer(event.item.call_id)
        elif isinstance(event, ev.ConversationItemTruncate):
            ar = self.conversation.audio_items.get(event.item_id)
            received = ar.received_ms if ar else event.audio_end_ms
            self.conversation.truncate(event.item_id, event.audio_end_ms, received)
        elif isinstance(event, ev.ConversationItemDelete):
            self.conversation.remove(event.item_id)
        self._write(event)

    def apply_event(self, e: EventData) -> None:
        """What a client event changes here whenever it is sent: the session it configures, the unsent audio."""
        event = e.kwargs["event"]
        if isinstance(event, ev.SessionUpdate):
            self.session = _merge_session(self.session, event.session)
            self.apply_formats()
        elif isinstance(event, ev.InputAudioBufferClear):
            self._pending_pcm.clear()

    def hold_event(self, e: EventData) -> None:
        """Keep the client event in the outbox for the next configured session."""
        self.outbox.hold(e.kwargs["event"])

    def send_close(self, e: EventData) -> None:
        """Queue our CLOSE frame."""
        self._socket().close(e.kwargs.get("code", 1000), e.kwargs.get("reason", ""))

    def discard_held(self, e: EventData) -> None:
        """Forget what the outbox held (reported as ``AudioDropped`` when it held audio)."""
        by_server = e.event.name == "closed_by_server"
        self._discard_held("server closed the connection" if by_server else "connection closed")

    def abort_response(self, e: EventData) -> None:
        """The socket is going: a response in progress ends here; what was owed is asked for on the next session."""
        conv = self.conversation
        answering = conv.active_response_id is not None or self.state is S.RESPONDING
        if answering:
            default = "server closed the connection" if e.event.name == "closed_by_server" else "connection lost"
            self.events.append(ev.ResponseAborted(conv.active_response_id, e.kwargs.get("reason") or default))
            conv.forget_response(conv.active_response_id)
        self.outbox.lost_socket(answering)  # owed again unless cancelled
        conv.active_response_id = None
        conv.audio_response = None

    def report_closed(self, e: EventData) -> None:
        """Queue a clean ``ConnectionClosed``."""
        self.events.append(ev.ConnectionClosed(e.kwargs.get("code", 1000), e.kwargs.get("reason", ""), clean=True))

    def report_dropped(self, e: EventData) -> None:
        """Queue an unclean ``ConnectionClosed`` (the adapters reconnect on it)."""
        self.events.append(ev.ConnectionClosed(e.kwargs.get("code", 1006), e.kwargs.get("reason", ""), clean=False))

    # turn table

    def mark_commit_point(self, e: EventData) -> None:
        """Remember where VAD ended the speech: a commit takes the audio up to there."""
        self._commit_point_ms = e.kwargs.get("audio_end_ms")

    def take_committed_audio(self, e: EventData) -> None:
        """Move the committed audio from the turn to its user item (replayed as audio until transcribed)."""
        turn = self._turn
        cut = len(turn)
        if self._commit_point_ms is not None:
            cut = max(0, min(cut, ms_to_bytes(self._commit_point_ms, self.input_rate) - self._turn_start))
        committed = turn.take(cut)
        self._turn_start += cut
        self._commit_point_ms = None
        self._turn_trimmed = False
        if self._vad_answers():
            self.outbox.vad_turn = True
        item_id = e.kwargs.get("item_id")
        if item_id:
            tracked = self.conversation.items.get(item_id)
            if tracked is None:
                tracked = self.conversation.track(ConversationItem(id=item_id, type="message", role="user"))
            if tracked.text is None and committed:
                self.conversation.set_user_audio(item_id, committed)

    def _vad_answers(self) -> bool:
        """Server VAD answers each turn it commits (``create_response`` is on unless turned off)."""
        audio = self.session.audio
        detection = audio.input.turn_detection if audio is not None and audio.input is not None else None
        return not self.session.manual_turns() and (detection is None or detection.create_response is not False)

    def forget_turn_audio(self, e: EventData) -> None:
        """The server cleared its input buffer: so does the turn."""
        self._turn_start += len(self._turn)
        self._turn.clear()
        self._commit_point_ms = None
        self._turn_trimmed = False

    def restart_turn_count(self, e: EventData) -> None:
        """A new socket: buffer offsets count from zero again."""
        self._turn_start = 0
        self._commit_point_ms = None

    def on_message(self, payload: Any, binary: bool) -> None:
        """One whole message from the WebSocket layer: validated, queued, then handled.

        A BINARY message that holds a valid event is taken as one (liberal); any other is reported, not fatal.
        """
        try:
            event = ev.parse_server_event(payload)
        except ValidationError as exc:
            if binary:
                self.events.append(ev.InvalidServerEvent(None, repr(payload[:200]), "unexpected binary message"))
                return
            errors = exc.errors(include_url=False)
            if errors and errors[0]["type"] == "json_invalid":
                raise MalformedMessage(f"server sent malformed JSON ({errors[0]['msg']}): {payload[:200]!r}") from exc
            salvaged = ev.salvage(payload)
            if salvaged is None:
                loc = errors[0]["loc"] if errors else ()
                text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else payload
                self.events.append(ev.InvalidServerEvent(str(loc[0]) if loc else None, text, _short(exc)))
                return
            event = salvaged
        self.events.append(event)
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            try:
                handler(self, event)
            except ValueError as exc:  # a value the schema let through but the core cannot use (bad base64 audio)
                text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else str(payload)
                self.events[self.events.index(event)] = ev.InvalidServerEvent(event.type, text, str(exc))

    def _on_session_created(self, event: ev.SessionCreated) -> None:
        self.trigger("session_created")

    def _on_session_updated(self, event: ev.SessionUpdated) -> None:
        if event.session is not None:
            self.server_session = event.session.model_copy(deep=True)  # ours: the caller holds the event's
        self.trigger("session_updated")

    def _on_response_created(self, event: ev.ResponseCreated) -> None:
        self.outbox.response_started()
        self.conversation.active_response_id = event.response.id
        self.trigger("response_created")

    def _on_response_done(self, event: ev.ResponseDone) -> None:
        conv = self.conversation
        usage = event.effective_usage
        if usage is not None and event.response.id:
            conv.add_usage(event.response.id, usage)
        for item in event.response.output:
            conv.track(item, event.response.id)
        conv.finish_response([item.id for item in event.response.output])
        conv.active_response_id = None
        self.outbox.response_ended()
        self.trigger("response_done")

    def _on_output_item(self, event: ev.ResponseOutputItemAdded) -> None:
        self.conversation.track(event.item, event.response_id or None)

    def _on_output_item_done(self, event: ev.ResponseOutputItemDone) -> None:
        tracked = self.conversation.track(event.item, event.response_id or None)
        if tracked.text is not None:
            self.conversation.finish_text(event.item.id, tracked.text)

    def _on_item_added(self, event: ev.ConversationItemAdded) -> None:
        self.conversation.track(event.item)

    def _on_item_deleted(self, event: ev.ConversationItemDeleted) -> None:
        self.conversation.remove(event.item_id)

    def _on_transcription(self, event: ev.InputAudioTranscriptionCompleted) -> None:
        self.conversation.set_user_transcript(event.item_id, event.transcript)
        self.conversation.user_transcripts.completed(event.item_id)

    def _on_transcription_delta(self, event: ev.InputAudioTranscriptionDelta) -> None:
        """Rolling or additive, the event leaves with the item's whole transcript so far (see .transcripts)."""
        conv = self.conversation
        so_far = conv.user_transcripts.delta(event.item_id, event.delta)
        event.__dict__["transcript_so_far"] = so_far if so_far is not None else conv.transcript(event.item_id) or ""

    def _on_transcription_failed(self, event: ev.InputAudioTranscriptionFailed) -> None:
        self.conversation.user_transcripts.forget(event.item_id)

    def _on_speech_started(self, event: ev.InputAudioBufferSpeechStarted) -> None:
        self.turn_trigger("speech_started")

    def _on_speech_stopped(self, event: ev.InputAudioBufferSpeechStopped) -> None:
        self.turn_trigger("speech_stopped", audio_end_ms=event.audio_end_ms)

    def _on_committed(self, event: ev.InputAudioBufferCommitted) -> None:
        self.turn_trigger("committed", item_id=event.item_id)

    def _on_cleared(self, event: ev.InputAudioBufferCleared) -> None:
        self.turn_trigger("cleared")

    def _on_audio_delta(self, event: ev.ResponseOutputAudioDelta) -> None:
        raw = b64decode(event.delta)
        pcm = self._decode_output(raw) if self._decode_output else raw
        event.__dict__["pcm"] = pcm  # set before the event leaves the core (it is frozen for the caller)
        ar = self.conversation.audio_response
        if ar is None or ar.item_id != event.item_id:
            ar = self.conversation.start_audio(event.item_id, event.content_index, self.clock() * 1000,
                                               self.output_rate)
        ar.pcm_bytes += len(pcm)

    def _on_backchannel_delta(self, event: ev.ResponseBackchannelAudioDelta) -> None:
        raw = b64decode(event.delta)
        event.__dict__["pcm"] = self._decode_output(raw) if self._decode_output else raw

    def _on_text_delta(self, event: ev.ResponseOutputTextDelta) -> None:
        self.conversation.append_text(event.item_id, event.delta)

    def _on_transcript_done(self, event: ev.ResponseOutputAudioTranscriptDone) -> None:
        self.conversation.finish_text(event.item_id, event.transcript)

    def _on_text_done(self, event: ev.ResponseOutputTextDone) -> None:
        self.conversation.finish_text(event.item_id, event.text)

    def _on_arguments_done(self, event: ev.ResponseFunctionCallArgumentsDone) -> None:
        conv = self.conversation
        call = conv.function_calls.get(event.call_id)
        if call is None:
            call = conv.function_calls[event.call_id] = FunctionCall(event.call_id, event.name, event.item_id)
        if event.name is None and call.name is not None:
            event.__dict__["name"] = call.name  # filled before the event leaves the core
        call.name = call.name or event.name
        call.arguments = event.arguments
        tracked = conv.items.get(call.item_id or event.item_id or "")
        if tracked is not None:  # the core's own copy learns the arguments; the caller's event stays as it was
            tracked.item = tracked.item.model_copy(
                update={"arguments": event.arguments, "name": tracked.item.name or call.name})

    def _on_error(self, event: ev.ErrorEvent) -> None:
        if event.error.code == "session_expired":
            self.trigger("session_expired")

    def send(self, event: ev.ClientEvent) -> None:
        """Any client event: out now, held, or merged into the session, as the table says.

        The event is checked and copied on entry: what the caller does to it afterwards changes nothing here.
        """
        if not isinstance(event, ev.ClientEvent):
            raise ConfigurationError(f"send() takes a client event, not {type(event).__name__}")
        if isinstance(event, ev.InputAudioBufferAppend):
            self.send_audio(self.decode_append(event.audio))
            return
        event = _own_copy(event)
        if isinstance(event, ev.SessionUpdate):
            check_session(event.session, "session.update session")
            check_session(_merge_session(self.session, event.session), "the updated session")
        if isinstance(event, ev.InputAudioBufferCommit):
            self.flush_audio()  # the commit takes every byte sent so far
        self.trigger("send", event=event)

    def decode_append(self, audio: str) -> bytes:
        """16-bit PCM of an append's base64 ``audio`` in the session's input format."""
        try:
            return self._decode_input(b64decode(audio))
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"input_audio_buffer.append: audio is not base64 ({exc})") from None

    def cancel_response(self) -> bool:
        """Cancel the response in progress, or the one asked for and not created yet: a request still held is
        withdrawn unsent, one written is followed by ``response.cancel``. False when there is none."""
        conv, outbox = self.conversation, self.outbox
        if outbox.withdraw_response():
            return True
        pending = outbox.in_flight > 0 and not outbox.cancelled
        if conv.active_response_id is None and self.state is not S.RESPONDING and not pending:
            return False
        self.send(ev.ResponseCancel())  # once written, the outbox never owes what it cancels
        return True

    def check_can_send(self) -> None:
        """The audio path's guard (audio never goes through a trigger): the same refusal as the table's."""
        if self.state not in _SEND_SOURCES:
            raise LocalProtocolError(self._refusal("send"))

    def send_audio(self, pcm: bytes | bytearray | memoryview) -> bool:
        """Keep ``pcm`` and emit every whole chunk; False when it only joined the remainder (nothing emitted).

        The hot path, once per 20 ms frame: the type check is the append itself (any bytes-like object).
        """
        self.check_can_send()
        buf = self._pending_pcm
        try:
            buf += pcm
        except TypeError:
            raise ConfigurationError(f"send_audio() takes bytes of 16-bit PCM, not {type(pcm).__name__}") from None
        size = self._chunk_bytes
        if len(buf) < size:
            return False
        whole = len(buf) - len(buf) % size
        held = bytes(buf)
        del buf[:whole]
        for start in range(0, whole, size):
            self._emit_audio(held[start : start + size])  # frames adding up to one chunk: ``held`` itself, no copy
        return True

    def flush_audio(self) -> None:
        self.check_can_send()
        if len(self._pending_pcm) >= 2:
            whole = len(self._pending_pcm) - len(self._pending_pcm) % 2
            self._emit_audio(bytes(self._pending_pcm[:whole]))
            del self._pending_pcm[:whole]

    def reset(self) -> None:
        """Forget history, uncommitted and held audio: the next session starts fresh."""
        self.conversation.clear()
        self._turn.clear()
        self._pending_pcm.clear()
        self.outbox.clear()
        self.sessions_configured = 0
        self._turn_trimmed = False
        self._replay, self._replay_audio = [], []

    def _socket(self) -> ClientWebSocket:
        assert self.ws is not None
        return self.ws

    def _write(self, event: ev.ClientEvent) -> None:
        self._socket().send_text(event.to_json())
        self.outbox.wrote(event)

    def _emit_audio(self, chunk: bytes) -> None:
        """Send ``chunk`` now, or behind what a release still writes, or hold it for the next session."""
        if self.state in SENDING_STATES:
            if not self.outbox.releasing:
                self._send_append(chunk)
            else:  # behind the replay still leaving (no bound: it leaves as fast as the caller drains)
                self.outbox.hold_audio(chunk, None)
            return
        dropped = self.outbox.hold_audio(chunk, ms_to_bytes(self.max_held_audio_ms, self.input_rate))
        if dropped:
            self._report_dropped(pcm_ms(dropped, self.input_rate),
                                 f"more than max_held_audio_ms={self.max_held_audio_ms} waiting for a session")

    def _report_dropped(self, duration_ms: int, reason: str) -> None:
        """One ``AudioDropped`` per stretch: while the caller has not taken the last event, a drop for the same
        reason adds to it (an outage drops a chunk every 60 ms; the caller learns how much in all, once)."""
        events = self.events
        last = events[-1] if events else None
        if isinstance(last, ev.AudioDropped) and last.reason == reason:
            events[-1] = ev.AudioDropped(last.duration_ms + duration_ms, reason)
        else:
            events.append(ev.AudioDropped(duration_ms, reason))

    def _send_append(self, chunk: bytes) -> None:
        encode = self._encode_input
        # The hot path: JSON built as bytes, framed as TEXT without a str round trip or a pydantic model.
        body = b"".join((_APPEND_HEAD, b64encode(encode(chunk) if encode is not None else chunk), b'"}'))
        ws = self.ws
        assert ws is not None  # SENDING_STATES have a socket
        ws.send_text_bytes(body)
        if self._turn.append(chunk) > self._max_turn_bytes:
            self._trim_turn()

    def _trim_turn(self) -> None:
        """Keep the turn's last ``max_replay_audio_ms`` (what a reconnect replays); say so once per turn when
        what goes held speech (silence before it goes unsaid)."""
        excess = len(self._turn) - self._max_turn_bytes
        self._turn.drop(excess)
        self._turn_start += excess
        if not self._turn_trimmed and (self.turn is T.SPEAKING or self._manual_turns):
            self._turn_trimmed = True  # once per turn, however long it goes on
            self.events.append(ev.ReplayTrimmed(
                None, "turn_audio",
                f"the user turn in progress is longer than max_replay_audio_ms={self.max_replay_audio_ms}: "
                "a reconnect would replay only its last "
                f"{self.max_replay_audio_ms / 1000:g} s (the server has heard all of it)",
            ))

    def _report_trim(self, item_id: str, what: str) -> None:
        """The conversation let go of something a reconnect would have replayed: one event per item."""
        if what == "item":
            reason = (f"more than max_replay_items={self.max_replay_items} conversation items: "
                      "replay after a reconnect no longer covers this item")
        elif what == "item_audio":
            reason = (f"more than max_history_audio_ms={self.max_history_audio_ms} of untranscribed user audio: "
                      "replay after a reconnect no longer covers this user turn")
        else:
            reason = (f"user turn longer than max_history_audio_ms={self.max_history_audio_ms}: "
                      "replay after a reconnect covers only its end")
        self.events.append(ev.ReplayTrimmed(item_id, what, reason))

    def _discard_held(self, reason: str) -> None:
        dropped = self.outbox.clear()
        if dropped:
            self._report_dropped(pcm_ms(dropped, self.input_rate), reason)

    def _encode_b64(self, pcm: bytes) -> str:
        wire = self._encode_input(pcm) if self._encode_input else pcm
        return b64encode(wire).decode("ascii")

    def apply_formats(self) -> None:
        """Cache rates and codecs from the configured session (the wire formats we asked for), and whether the
        caller commits turns (the audio path asks per chunk)."""
        self._manual_turns = self.session.manual_turns()
        in_fmt, out_fmt = self.session.input_format(), self.session.output_format()
        self.input_rate = format_rate(in_fmt)
        self.output_rate = format_rate(out_fmt)
        self.input_wire_bytes_per_sample = wire_bytes_per_sample(in_fmt)
        self._encode_input = encoder_for(in_fmt)
        self._decode_input_fn = decoder_for(in_fmt)
        self._decode_output = decoder_for(out_fmt)
        self._chunk_bytes = max(2, ms_to_bytes(self.chunk_ms, self.input_rate))
        self._max_turn_bytes = ms_to_bytes(self.max_replay_audio_ms, self.input_rate)
        self.conversation.max_user_audio_bytes = ms_to_bytes(self.max_history_audio_ms, self.input_rate)

    def _decode_input(self, wire: bytes) -> bytes:
        return self._decode_input_fn(wire) if self._decode_input_fn else wire

    @property
    def held_audio_bytes(self) -> int:
        return self.outbox.audio_bytes

    @property
    def turn_audio_bytes(self) -> int:
        return len(self._turn)


class MalformedMessage(Exception):
    """A server message that is not JSON: the connection fails with 1007."""


# What the session does for a server event, by type (one table for every session: no per-instance dict).
_HANDLERS: dict[str | None, Callable[[SessionLayer, Any], None]] = {
    "session.created": SessionLayer._on_session_created,
    "session.updated": SessionLayer._on_session_updated,
    "response.created": SessionLayer._on_response_created,
    "response.done": SessionLayer._on_response_done,
    "response.output_item.added": SessionLayer._on_output_item,
    "response.output_item.done": SessionLayer._on_output_item_done,
    "conversation.item.added": SessionLayer._on_item_added,
    "conversation.item.done": SessionLayer._on_item_added,
    "conversation.item.deleted": SessionLayer._on_item_deleted,
    "conversation.item.input_audio_transcription.completed": SessionLayer._on_transcription,
    "conversation.item.input_audio_transcription.delta": SessionLayer._on_transcription_delta,
    "conversation.item.input_audio_transcription.failed": SessionLayer._on_transcription_failed,
    "input_audio_buffer.speech_started": SessionLayer._on_speech_started,
    "input_audio_buffer.speech_stopped": SessionLayer._on_speech_stopped,
    "input_audio_buffer.committed": SessionLayer._on_committed,
    "input_audio_buffer.cleared": SessionLayer._on_cleared,
    "response.output_audio.delta": SessionLayer._on_audio_delta,
    "response.backchannel.audio.delta": SessionLayer._on_backchannel_delta,
    "response.output_audio_transcript.delta": SessionLayer._on_text_delta,
    "response.output_text.delta": SessionLayer._on_text_delta,
    "response.output_audio_transcript.done": SessionLayer._on_transcript_done,
    "response.output_text.done": SessionLayer._on_text_done,
    "response.function_call_arguments.done": SessionLayer._on_arguments_done,
    "error": SessionLayer._on_error,
}


def _own_copy(event: ev.ClientEvent) -> ev.ClientEvent:
    """A validated copy of a caller's event: later changes to theirs reach neither the core nor the wire."""
    try:
        wire = event.model_dump(mode="json", exclude_unset=True, by_alias=True, warnings="error")
    except (PydanticSerializationError, ValueError) as exc:  # a value JSON cannot carry (set after it was built)
        raise ConfigurationError(f"invalid {event.type} event: {exc}") from None
    try:
        return type(event).model_validate(wire)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid {event.type} event: {_short(exc)}") from None


def _short(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[:3]
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in first)


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "format":
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _merge_session(base: SessionProperties, update: SessionProperties) -> SessionProperties:
    """What the server holds after ``update`` is applied to ``base`` (fields it names replace)."""
    return SessionProperties.model_validate(_deep_merge(base.to_wire(), update.to_wire()))
