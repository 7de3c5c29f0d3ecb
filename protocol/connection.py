"""``RealtimeConnection``: the whole protocol as a state machine that eats bytes and makes bytes."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import ValidationError
from transitions import Machine, MachineError
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, Opcode, ParseFailed

from . import events as ev
from .audio import Chunks, b64decode, b64encode, decoder_for, encoder_for, format_rate, ms_to_bytes, pcm_ms
from .conversation import AudioResponse, Conversation, FunctionCall
from .errors import LocalProtocolError, RemoteProtocolError
from .handshake import (
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_URL,
    ResponseParser,
    Target,
    build_request,
    new_ws_key,
    parse_target,
)
from .items import ConversationItem
from .session import SessionProperties
from .states import HOLDING_STATES, OPEN_STATES, SENDING_STATES, TRANSITIONS, ConnectionState

S = ConnectionState
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
NON_FATAL_ERROR_CODES = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})
_APPEND_HEAD = b'{"type":"input_audio_buffer.append","event_id":"'


class _Lifecycle:
    """What the shared machine drives for one connection: only its state."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = S.CLOSED


#: The one machine, built once from the table and shared: each connection is a model it drives.
_MACHINE = Machine(
    model=None,
    states=list(ConnectionState),
    transitions=[{"trigger": t["trigger"], "source": t["source"], "dest": t["dest"]} for t in TRANSITIONS],
    initial=S.CLOSED,
    auto_transitions=False,
)
_EVENTS = _MACHINE.events


class _Secret:
    """Holds the credential; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


class RealtimeConnection:
    """A sans-IO client connection to the Inworld Realtime API.

    Feed it what the socket reads (``receive_data``), write what it queues
    (``data_to_send``), and read typed events (``events``). It answers pings,
    echoes close frames, sends ``session.update`` when the server says
    ``session.created``, holds client events until the session is configured,
    and remembers enough of the conversation to truncate and to replay it into
    a new session after a drop (call ``connect()`` again on the same object).
    """

    def __init__(
        self,
        api_key: str | None = None,
        session: SessionProperties | None = None,
        url: str = DEFAULT_URL,
        auth_type: Literal["basic", "bearer"] = "basic",
        *,
        clock: Callable[[], float] = time.monotonic,
        chunk_ms: int = 60,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_replay_audio_ms: int = 10_000,
        max_held_audio_ms: int = 10_000,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        if auth_type not in ("basic", "bearer"):
            raise LocalProtocolError(f"auth_type must be 'basic' or 'bearer', not {auth_type!r}")
        if chunk_ms <= 0:
            raise LocalProtocolError("chunk_ms must be positive")
        parse_target(url)  # fail early on a bad URL
        self.url = url
        self.auth_type = auth_type
        self._credential = _Secret(api_key or "")
        self.session = session.model_copy(deep=True) if session is not None else SessionProperties()
        self.server_session: SessionProperties | None = None
        self.conversation = Conversation()
        self.clock = clock
        self.chunk_ms = chunk_ms
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self.max_replay_audio_ms = max_replay_audio_ms
        self.max_held_audio_ms = max_held_audio_ms
        self.extra_headers = dict(extra_headers or {})
        self.target: Target | None = None

        self._model = _Lifecycle()
        self._outbox: list[bytes | bytearray] = []  # joined once per data_to_send()
        self._events: deque[ev.Event] = deque()
        self._frames: FrameProtocol | None = None
        self._parser: ResponseParser | None = None
        self._message: list[Any] = []
        self._message_bytes = 0
        self._message_kind: Opcode | None = None
        self._decoder: FrameDecoder | None = None
        self._held: deque[tuple[str | None, bytes | None]] = deque()
        self._held_audio = 0
        self._pending_pcm = bytearray()
        self._turn = Chunks()
        self._turn_start = 0
        self._sent_bytes = 0
        self._commit_point_ms: int | None = None
        self._in_speech = False
        self._configured_once = False
        self._resume_response = False
        self._response_requested = False
        self._session_expired = False
        self._apply_formats()

    def __repr__(self) -> str:
        host = self.target.host if self.target else self.url.split("?")[0]
        return f"<RealtimeConnection state={self.state.value} host={host}>"

    # ------------------------------------------------------------ public surface

    @property
    def state(self) -> ConnectionState:
        """The current state (see ``protocol.states``)."""
        return self._model.state

    @property
    def held_audio_ms(self) -> int:
        """Audio waiting for the session to be configured (or re-established)."""
        return pcm_ms(self._held_audio, self.input_rate)

    @property
    def turn_audio_ms(self) -> int:
        """Audio sent in the current user turn that the server has not committed yet."""
        return pcm_ms(len(self._turn), self.input_rate)

    def queued_audio_seconds(self, wire_bytes: int) -> float:
        """Audio not on the wire yet: what the core holds plus ``wire_bytes`` of appends an adapter still queues."""
        wire_rate = self.input_rate * 2 * 4 / 3 + 100 * 1000 / self.chunk_ms  # base64 plus JSON per chunk
        return self.held_audio_ms / 1000 + wire_bytes / wire_rate

    def connect(self) -> None:
        """Queue the upgrade request; allowed at first and again after a drop or failure."""
        self._trigger("connect", local=True)
        self._outbox.clear()  # anything still queued belonged to the previous socket
        self.target = parse_target(self.url)
        ws_key = new_ws_key()
        self._parser = ResponseParser(ws_key, self.max_header_bytes)
        self._frames = FrameProtocol(client=True, extensions=[])  # frames we send
        self._decoder = FrameDecoder(client=True, extensions=[])  # frames we receive
        self._message_kind = None
        self._message.clear()
        self._message_bytes = 0
        self._session_expired = False
        self._sent_bytes = 0
        self._turn_start = 0
        self._commit_point_ms = None
        self._in_speech = False
        scheme = "Basic" if self.auth_type == "basic" else "Bearer"
        authorization = f"{scheme} {self._credential.value}"
        self._outbox.append(build_request(self.target, authorization, ws_key, self.extra_headers))

    def data_to_send(self) -> bytes:
        """Everything queued for the socket since the last call."""
        if not self._outbox:
            return b""
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    def events(self) -> Iterator[ev.Event]:
        """Typed events produced so far, oldest first; each is handed out once."""
        queue = self._events
        while queue:
            yield queue.popleft()

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it (EOF)."""
        state = self._model.state
        if state is S.CONNECTING:
            self._receive_handshake(bytes(data))
        elif state in OPEN_STATES or state is S.CLOSING:
            if not data:
                self._on_eof()
            else:
                self._receive_frames(data)
        # Bytes after the connection is over are meaningless; they are ignored.

    def connection_lost(self, reason: str = "connection lost") -> None:
        """The adapter saw the transport die (reset, keepalive timeout): same as EOF."""
        state = self._model.state
        if state is S.CONNECTING or state in OPEN_STATES:
            self._drop(1006, reason)
        elif state is S.CLOSING:
            self._trigger("dropped")
            self._events.append(ev.ConnectionClosed(1006, reason, clean=False))

    def send(self, event: ev.ClientEvent) -> None:
        """Queue any client event; held until the session is configured, sent after."""
        self._check_can_send()
        if isinstance(event, ev.InputAudioBufferAppend):
            self.send_audio(self._decode_input(b64decode(event.audio)))
            return
        if isinstance(event, ev.InputAudioBufferCommit):
            self.flush_audio()
        elif isinstance(event, ev.InputAudioBufferClear):
            self._pending_pcm.clear()
        elif isinstance(event, ev.SessionUpdate):
            self.session = _merge_session(self.session, event.session)
            self._apply_formats()
            state = self._model.state
            if state is S.CONFIGURING:  # configuration goes out at once: it may be what the server awaits
                self._write(event.to_json())
                return
            if state in HOLDING_STATES:  # the automatic session.update will carry it
                return
        elif isinstance(event, ev.ConversationItemCreate):
            self.conversation.track(event.item)
            if event.item.type == "function_call_output" and event.item.call_id:
                self.conversation.answer(event.item.call_id)
        elif isinstance(event, ev.ConversationItemTruncate):
            ar = self.conversation.audio_response
            received = ar.received_ms if ar and ar.item_id == event.item_id else event.audio_end_ms
            self.conversation.truncate(event.item_id, event.audio_end_ms, received)
        elif isinstance(event, ev.ConversationItemDelete):
            self.conversation.items.pop(event.item_id, None)
        self._send_text(event.to_json())

    def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Stream 16-bit PCM of any length; sent in ``chunk_ms`` chunks, the rest kept for later."""
        self._check_can_send()
        buf = self._pending_pcm
        buf += pcm
        size = self._chunk_bytes
        if len(buf) < size:
            return
        whole = len(buf) - len(buf) % size
        view = memoryview(buf)
        try:
            for start in range(0, whole, size):
                self._emit_audio(bytes(view[start : start + size]))
        finally:
            view.release()
        del buf[:whole]

    def flush_audio(self) -> None:
        """Send the remainder kept by ``send_audio`` (done automatically on commit)."""
        self._check_can_send()
        if len(self._pending_pcm) >= 2:
            whole = len(self._pending_pcm) - len(self._pending_pcm) % 2
            self._emit_audio(bytes(self._pending_pcm[:whole]))
            del self._pending_pcm[:whole]

    def commit(self) -> None:
        """Flush audio and commit the input buffer as a user turn (manual turn mode)."""
        self.send(ev.InputAudioBufferCommit())

    def create_response(self, **properties: Any) -> ev.ResponseCreate:
        """Ask for a response; keyword arguments become ``ResponseProperties``."""
        event = ev.ResponseCreate(response=ev.ResponseProperties(**properties)) if properties else ev.ResponseCreate()
        self.send(event)
        return event

    def cancel_response(self) -> bool:
        """Cancel the response in progress; does nothing (returns False) when none is."""
        if self.conversation.active_response_id is None and self._model.state is not S.RESPONDING:
            return False
        self.send(ev.ResponseCancel())
        return True

    def truncate(self, played_ms: float | None = None) -> ev.ConversationItemTruncate | None:
        """Tell the server how much of the current assistant audio was heard.

        ``played_ms`` is what the caller actually played (default: wall time since
        the first delta). It is clamped to the audio received for the item; with no
        audio received nothing is sent and None is returned.
        """
        ar = self.conversation.audio_response
        if ar is None or ar.pcm_bytes == 0:
            return None
        if played_ms is None:
            played_ms = self.clock() * 1000 - ar.start_ms
        end = int(max(0, min(played_ms, ar.received_ms)))
        event = ev.ConversationItemTruncate(item_id=ar.item_id, content_index=ar.content_index, audio_end_ms=end)
        self.send(event)
        self.conversation.audio_response = None
        return event

    def update_session(self, session: SessionProperties) -> None:
        """Change what ``session`` sets on the live session (and on every reconnect)."""
        self.send(ev.SessionUpdate(session=session))

    def ping(self, payload: bytes = b"") -> bool:
        """Queue a WebSocket ping (for keepalive); False when no socket is open to carry it."""
        if self._model.state not in OPEN_STATES or self._frames is None:
            return False
        self._outbox.append(self._frames.ping(payload))
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the WebSocket close handshake (or just end, if not connected). Idempotent."""
        state = self._model.state
        if state in OPEN_STATES:
            assert self._frames is not None
            self._outbox.append(self._frames.close(code, reason or None))
            self._trigger("close")
        elif state in (S.CONNECTING, S.DISCONNECTED, S.FAILED):
            self._trigger("close")
        self._discard_held("connection closed")

    def reset_conversation(self) -> None:
        """Forget history, uncommitted and held audio: the next session starts fresh."""
        self.conversation.clear()
        self._turn.clear()
        self._pending_pcm.clear()
        self._held.clear()
        self._held_audio = 0
        self._resume_response = False
        self._configured_once = False

    # ------------------------------------------------------------ incoming

    def _receive_handshake(self, data: bytes) -> None:
        assert self._parser is not None
        try:
            result = self._parser.feed(data)
        except RemoteProtocolError:
            self._trigger("fail")
            raise
        if result is None:
            return
        headers, rest = result
        self._parser = None
        self._trigger("upgraded")
        self._events.append(ev.Connected(headers))
        if rest:
            self._receive_frames(rest)

    def _receive_frames(self, data: bytes | bytearray | memoryview) -> None:
        """Frames via wsproto's frame decoder; messages are assembled here and validated as bytes.

        Going below ``FrameProtocol`` saves its generator and its UTF-8 pass (pydantic's JSON
        parser checks UTF-8 itself); the rules it enforces on top of the decoder are kept here.
        """
        decoder = self._decoder
        assert decoder is not None and self._frames is not None
        decoder.receive_bytes(data)  # type: ignore[arg-type]  # it appends to a bytearray: any buffer will do
        try:
            while (frame := decoder.process_buffer()) is not None:
                op = frame.opcode
                payload: Any = frame.payload
                if op is Opcode.CONTINUATION:
                    if self._message_kind is None:
                        raise ParseFailed("unexpected CONTINUATION")
                elif op is Opcode.TEXT or op is Opcode.BINARY:
                    if self._message_kind is not None:
                        raise ParseFailed(f"expected CONTINUATION, got {op!r}")
                    if frame.frame_finished and frame.message_finished:  # the usual case: one whole frame
                        if len(payload) > self.max_message_bytes:
                            self._too_big(len(payload))
                        self._on_message(payload, op is Opcode.BINARY)
                        continue
                    self._message_kind = op
                elif op is Opcode.PING:
                    if self._model.state is not S.CLOSING:
                        self._outbox.append(self._frames.pong(payload))
                    continue
                elif op is Opcode.CLOSE:
                    closing: Any = self._frames._process_close(frame).payload  # checks code and reason
                    self._on_close(int(closing[0]), str(closing[1]))
                    return
                else:  # PONG
                    continue
                self._message.append(payload)
                self._message_bytes += len(payload)
                if self._message_bytes > self.max_message_bytes:
                    self._too_big(self._message_bytes)
                if frame.frame_finished and frame.message_finished:
                    parts, self._message = self._message, []
                    self._message_bytes = 0
                    binary = self._message_kind is Opcode.BINARY
                    self._message_kind = None
                    self._on_message(b"".join(parts), binary)
        except ParseFailed as exc:
            self._fail(f"invalid WebSocket data from the server: {exc}", int(exc.code))

    def _too_big(self, size: int) -> None:
        self._fail(
            f"server message of {size} bytes exceeds max_message_bytes={self.max_message_bytes}", 1009
        )

    def _on_message(self, payload: Any, binary: bool) -> None:
        if binary:
            self._events.append(ev.InvalidServerEvent(None, repr(payload[:200]), "unexpected binary message"))
            return
        try:
            event = ev.server_event_adapter.validate_json(payload)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if errors and errors[0]["type"] == "json_invalid":
                self._fail(f"server sent malformed JSON ({errors[0]['msg']}): {payload[:200]!r}", 1007)
            loc = errors[0]["loc"] if errors else ()
            kind = str(loc[0]) if loc else None
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes | bytearray) else payload
            self._events.append(ev.InvalidServerEvent(kind, text, _short(exc)))
            return
        self._events.append(event)
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)

    def _on_close(self, code: int, reason: str) -> None:
        frames = self._frames
        assert frames is not None
        if self._model.state is S.CLOSING:
            self._trigger("close_complete")
            self._events.append(ev.ConnectionClosed(code, reason, clean=True))
            return
        self._outbox.append(frames.close(code, reason or None))
        if code == 1000 and not self._session_expired:
            self._abort_response("server closed the connection")
            self._trigger("remote_closed")
            self._discard_held("server closed the connection")
            self._events.append(ev.ConnectionClosed(code, reason, clean=True))
        else:
            self._drop(code, reason)

    def _on_eof(self) -> None:
        if self._model.state is S.CLOSING:
            self._trigger("dropped")
            self._events.append(ev.ConnectionClosed(1006, "connection lost during close", clean=False))
        else:
            self._drop(1006, "connection lost without a close frame")

    def _drop(self, code: int, reason: str) -> None:
        self._abort_response(reason or "connection lost")
        self._trigger("dropped")
        self._events.append(ev.ConnectionClosed(code, reason, clean=False))

    def _fail(self, message: str, ws_code: int) -> None:
        self._message.clear()  # free a partial message at once
        self._message_bytes = 0
        self._message_kind = None
        if self._model.state in OPEN_STATES and self._frames is not None:
            with contextlib.suppress(Exception):  # best effort: we are failing anyway
                self._outbox.append(self._frames.close(ws_code, message[:120]))
        self._abort_response(message)
        self._trigger("fail")
        raise RemoteProtocolError(message)

    def _abort_response(self, reason: str) -> None:
        conv = self.conversation
        if conv.active_response_id is not None or self._model.state is S.RESPONDING:
            self._events.append(ev.ResponseAborted(conv.active_response_id, reason))
            conv.forget_response(conv.active_response_id)
            self._resume_response = True
        elif self._response_requested:  # asked for, never acknowledged: still owed
            self._resume_response = True
        self._response_requested = False
        conv.active_response_id = None
        conv.audio_response = None
        self._in_speech = False

    # ------------------------------------------------------------ server event handlers

    def _on_session_created(self, event: ev.SessionCreated) -> None:
        if self._model.state is S.AWAITING_SESSION:
            self._trigger("session_created")
            self._send_text(ev.SessionUpdate(session=self.session).to_json(), direct=True)

    def _on_session_updated(self, event: ev.SessionUpdated) -> None:
        if event.session is not None:
            self.server_session = event.session
        if self._model.state is not S.CONFIGURING:
            return
        self._trigger("session_updated")
        resumed = self._configured_once
        self._configured_once = True
        items = self.conversation.replay_items(self._encode_b64) if resumed else []
        for item in items:
            self._send_text(ev.ConversationItemCreate(item=item).to_json(), direct=True)
        replay = bytes(self._turn)
        self._turn.clear()
        size = self._chunk_bytes
        for start in range(0, len(replay), size):
            self._send_append(replay[start : start + size])
        resume = self._resume_response
        self._resume_response = False
        held, self._held = self._held, deque()
        self._held_audio = 0
        for text, pcm in held:
            if pcm is not None:
                self._send_append(pcm)
            else:
                assert text is not None
                resume = resume and '"response.create"' not in text
                self._write(text)
        if not resume and items and not self.session.manual_turns():
            # Server VAD would have answered a user turn the old session had committed.
            last = items[-1]
            resume = last.role == "user" or last.type == "function_call_output"
        if resume and items:
            self._send_text(ev.ResponseCreate().to_json(), direct=True)
            self._response_requested = True
        self._events.append(
            ev.SessionConfigured(self.session, resumed, len(items), pcm_ms(len(replay), self.input_rate))
        )

    def _on_response_created(self, event: ev.ResponseCreated) -> None:
        self._response_requested = False
        self.conversation.active_response_id = event.response.id
        if self._model.state is S.READY:
            self._trigger("response_created")

    def _on_response_done(self, event: ev.ResponseDone) -> None:
        conv = self.conversation
        usage = event.effective_usage
        if usage is not None and event.response.id:
            conv.usage[event.response.id] = usage
        for item in event.response.output:
            conv.track(item, event.response.id)
        conv.active_response_id = None
        if self._model.state is S.RESPONDING:
            self._trigger("response_done")

    def _on_output_item(self, event: ev.ResponseOutputItemAdded) -> None:
        self.conversation.track(event.item, event.response_id or None)

    def _on_output_item_done(self, event: ev.ResponseOutputItemDone) -> None:
        tracked = self.conversation.track(event.item, event.response_id or None)
        if tracked.text is not None:
            self.conversation.finish_text(event.item.id, tracked.text)

    def _on_item_added(self, event: ev.ConversationItemAdded) -> None:
        self.conversation.track(event.item)

    def _on_item_deleted(self, event: ev.ConversationItemDeleted) -> None:
        self.conversation.items.pop(event.item_id, None)

    def _on_transcription(self, event: ev.InputAudioTranscriptionCompleted) -> None:
        self.conversation.set_user_transcript(event.item_id, event.transcript)

    def _on_speech_started(self, event: ev.InputAudioBufferSpeechStarted) -> None:
        self._in_speech = True

    def _on_speech_stopped(self, event: ev.InputAudioBufferSpeechStopped) -> None:
        self._in_speech = False
        self._commit_point_ms = event.audio_end_ms

    def _on_committed(self, event: ev.InputAudioBufferCommitted) -> None:
        turn = self._turn
        cut = len(turn)
        if self._commit_point_ms is not None:
            cut = max(0, min(cut, ms_to_bytes(self._commit_point_ms, self.input_rate) - self._turn_start))
        committed = turn.take(cut)
        self._turn_start += cut
        self._commit_point_ms = None
        if event.item_id:
            tracked = self.conversation.items.get(event.item_id)
            if tracked is None:
                tracked = self.conversation.track(ConversationItem(id=event.item_id, type="message", role="user"))
            if tracked.text is None and committed:
                tracked.user_audio = committed

    def _on_cleared(self, event: ev.InputAudioBufferCleared) -> None:
        self._turn_start += len(self._turn)
        self._turn.clear()
        self._commit_point_ms = None

    def _on_audio_delta(self, event: ev.ResponseOutputAudioDelta) -> None:
        raw = b64decode(event.delta)
        pcm = self._decode_output(raw) if self._decode_output else raw
        event.__dict__["pcm"] = pcm
        ar = self.conversation.audio_response
        if ar is None or ar.item_id != event.item_id:
            ar = self.conversation.audio_response = AudioResponse(
                event.item_id, event.content_index, self.clock() * 1000, self.output_rate
            )
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
        call = self.conversation.function_calls.get(event.call_id)
        if call is None:
            call = FunctionCall(event.call_id, event.name, event.item_id)
            self.conversation.function_calls[event.call_id] = call
        if event.name is None and call.name is not None:
            event.__dict__["name"] = call.name
        call.name = call.name or event.name
        call.arguments = event.arguments
        tracked = self.conversation.items.get(call.item_id or event.item_id or "")
        if tracked is not None:
            tracked.item.arguments = event.arguments
            tracked.item.name = tracked.item.name or call.name

    def _on_error(self, event: ev.ErrorEvent) -> None:
        if event.error.code == "session_expired":
            self._session_expired = True

    # ------------------------------------------------------------ outgoing

    def _check_can_send(self) -> None:
        state = self._model.state
        if state in SENDING_STATES or state in HOLDING_STATES:
            return
        if state is S.CLOSED:
            raise LocalProtocolError("cannot send: the connection is closed (call connect() first)")
        raise LocalProtocolError(f"cannot send in state {state.value}")

    def _send_text(self, text: str, direct: bool = False) -> None:
        if direct or self._model.state in SENDING_STATES:
            self._write(text)
        else:
            self._held.append((text, None))

    def _write(self, text: str) -> None:
        assert self._frames is not None
        self._outbox.append(self._frames.send_data(text, True))
        if text.startswith('{"type":"response.create"'):
            self._response_requested = True

    def _emit_audio(self, chunk: bytes) -> None:
        if self._model.state in SENDING_STATES:
            self._send_append(chunk)
            return
        self._held.append((None, chunk))
        self._held_audio += len(chunk)
        limit = ms_to_bytes(self.max_held_audio_ms, self.input_rate)
        dropped = 0
        while self._held_audio > limit:
            for index, (_, pcm) in enumerate(self._held):
                if pcm is not None:
                    del self._held[index]
                    self._held_audio -= len(pcm)
                    dropped += len(pcm)
                    break
        if dropped:
            self._events.append(ev.AudioDropped(
                pcm_ms(dropped, self.input_rate),
                f"more than max_held_audio_ms={self.max_held_audio_ms} waiting for a session",
            ))

    def _send_append(self, chunk: bytes) -> None:
        wire = self._encode_input(chunk) if self._encode_input else chunk
        # The hot path: JSON built as bytes, framed as TEXT without a str round trip or a pydantic model.
        body = b"".join((_APPEND_HEAD, ev.new_event_id().encode(), b'","audio":"', b64encode(wire), b'"}'))
        assert self._frames is not None
        self._outbox.append(self._frames._serialize_frame(Opcode.TEXT, body, fin=True))
        self._sent_bytes += len(chunk)
        turn = self._turn
        turn.append(chunk)
        excess = len(turn) - self._max_turn_bytes
        if excess > 0:
            turn.drop(excess)
            self._turn_start += excess
            if self._in_speech or self.session.manual_turns():
                self._events.append(ev.AudioDropped(
                    pcm_ms(excess, self.input_rate),
                    f"user turn longer than max_replay_audio_ms={self.max_replay_audio_ms}: "
                    "the oldest audio can no longer be replayed after a reconnect",
                ))

    def _discard_held(self, reason: str) -> None:
        if self._held_audio:
            self._events.append(ev.AudioDropped(pcm_ms(self._held_audio, self.input_rate), reason))
        self._held.clear()
        self._held_audio = 0

    def _encode_b64(self, pcm: bytes) -> str:
        wire = self._encode_input(pcm) if self._encode_input else pcm
        return b64encode(wire).decode("ascii")

    # ------------------------------------------------------------ helpers

    def _apply_formats(self) -> None:
        """Cache rates and codecs from the configured session (the wire formats we asked for)."""
        in_fmt, out_fmt = self.session.input_format(), self.session.output_format()
        self.input_rate = format_rate(in_fmt)
        self.output_rate = format_rate(out_fmt)
        self._encode_input = encoder_for(in_fmt)
        self._decode_input_fn = decoder_for(in_fmt)
        self._decode_output = decoder_for(out_fmt)
        self._chunk_bytes = max(2, ms_to_bytes(self.chunk_ms, self.input_rate))
        self._max_turn_bytes = ms_to_bytes(self.max_replay_audio_ms, self.input_rate)

    def _decode_input(self, wire: bytes) -> bytes:
        return self._decode_input_fn(wire) if self._decode_input_fn else wire

    def _trigger(self, name: str, local: bool = False) -> None:
        try:
            _EVENTS[name].trigger(self._model)
        except MachineError as exc:
            error = LocalProtocolError if local else RemoteProtocolError
            raise error(f"{name} is not allowed in state {self.state.value}") from exc


# What the connection does for a server event, by type (one table for every connection: no per-instance dict).
_HANDLERS: dict[str | None, Callable[[RealtimeConnection, Any], None]] = {
    "session.created": RealtimeConnection._on_session_created,
    "session.updated": RealtimeConnection._on_session_updated,
    "response.created": RealtimeConnection._on_response_created,
    "response.done": RealtimeConnection._on_response_done,
    "response.output_item.added": RealtimeConnection._on_output_item,
    "response.output_item.done": RealtimeConnection._on_output_item_done,
    "conversation.item.added": RealtimeConnection._on_item_added,
    "conversation.item.done": RealtimeConnection._on_item_added,
    "conversation.item.deleted": RealtimeConnection._on_item_deleted,
    "conversation.item.input_audio_transcription.completed": RealtimeConnection._on_transcription,
    "input_audio_buffer.speech_started": RealtimeConnection._on_speech_started,
    "input_audio_buffer.speech_stopped": RealtimeConnection._on_speech_stopped,
    "input_audio_buffer.committed": RealtimeConnection._on_committed,
    "input_audio_buffer.cleared": RealtimeConnection._on_cleared,
    "response.output_audio.delta": RealtimeConnection._on_audio_delta,
    "response.backchannel.audio.delta": RealtimeConnection._on_backchannel_delta,
    "response.output_audio_transcript.delta": RealtimeConnection._on_text_delta,
    "response.output_text.delta": RealtimeConnection._on_text_delta,
    "response.output_audio_transcript.done": RealtimeConnection._on_transcript_done,
    "response.output_text.done": RealtimeConnection._on_text_done,
    "response.function_call_arguments.done": RealtimeConnection._on_arguments_done,
    "error": RealtimeConnection._on_error,
}


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
