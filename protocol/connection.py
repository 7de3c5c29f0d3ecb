"""``RealtimeConnection``: the WebSocket layer and the session layer composed; bytes in, bytes and events out."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import ValidationError
from wsproto.frame_protocol import ParseFailed

from . import events as ev
from .audio import pcm_ms
from .conversation import Conversation
from .errors import ConfigurationError, LocalProtocolError, RemoteProtocolError
from .handshake import (
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_URL,
    Target,
    check_header_value,
    check_headers,
    check_url,
    parse_target,
)
from .session import SessionProperties, check_session
from .session_layer import MalformedMessage, SessionLayer
from .states import OPEN_STATES, ConnectionState
from .websocket import DEFAULT_MAX_MESSAGE_BYTES, ClientWebSocket

S = ConnectionState
NON_FATAL_ERROR_CODES = frozenset({"response_cancel_not_active", "conversation_already_has_active_response"})


class _Secret:
    """Holds the credential; its repr never shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"


def _count(name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as a whole number of at least ``minimum``, or ``ConfigurationError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a str, not {type(value).__name__}")
    return value


#: Close codes an endpoint may send (RFC 6455 7.4: 1004-1006 and 1015 are never sent; 3000-4999 are free to use).
_SENDABLE_CLOSE_CODES = frozenset({*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)})


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
        max_replay_items: int = 200,
        max_history_audio_ms: int = 30_000,
    ) -> None:
        if auth_type not in ("basic", "bearer"):
            raise ConfigurationError(f"auth_type must be 'basic' or 'bearer', not {auth_type!r}")
        if api_key is not None and not isinstance(api_key, str):
            raise ConfigurationError(f"api_key must be a str, not {type(api_key).__name__}")
        check_header_value("Authorization", api_key or "")  # says which header, never the key
        if not callable(clock):
            raise ConfigurationError("clock must be a callable returning seconds")
        _count("chunk_ms", chunk_ms, 1)
        _count("max_message_bytes", max_message_bytes, 1)
        _count("max_header_bytes", max_header_bytes, 1)
        _count("max_replay_audio_ms", max_replay_audio_ms)
        _count("max_held_audio_ms", max_held_audio_ms)
        _count("max_replay_items", max_replay_items)
        _count("max_history_audio_ms", max_history_audio_ms)
        if session is not None:
            check_session(session)
        check_url(url)  # fail early on a bad URL
        self.url = url
        self.auth_type = auth_type
        self._credential = _Secret(api_key or "")
        self.max_message_bytes = max_message_bytes
        self.max_header_bytes = max_header_bytes
        self.extra_headers = check_headers(extra_headers)
        self.target: Target | None = None
        self._out: list[bytes | bytearray] = []  # joined once per data_to_send()
        self._layer = SessionLayer(session, self._open_socket, clock, chunk_ms, max_replay_audio_ms,
                                   max_held_audio_ms, max_replay_items, max_history_audio_ms)

    def __repr__(self) -> str:
        host = self.target.host if self.target else self.url.split("?")[0]
        return f"<RealtimeConnection state={self.state.value} host={host}>"

    @property
    def state(self) -> ConnectionState:
        """The current state (see ``inworld_realtime.protocol.states``)."""
        return self._layer.state

    @property
    def session(self) -> SessionProperties:
        """The configuration sent on every (re)connect, with ``update_session`` changes merged in (a copy)."""
        return self._layer.session.model_copy(deep=True)

    @property
    def server_session(self) -> SessionProperties | None:
        """The session as the server last reported it (``session.updated``; a copy)."""
        server = self._layer.server_session
        return server.model_copy(deep=True) if server is not None else None

    @property
    def more_to_send(self) -> bool:
        """A release (the replay after a reconnect, held events) still waits to be produced by ``data_to_send``."""
        return self._layer.outbox.releasing and self._layer.ws is not None

    @property
    def conversation(self) -> Conversation:
        """What the core remembers of the conversation (its own copies)."""
        return self._layer.conversation

    @property
    def clock(self) -> Callable[[], float]:
        return self._layer.clock

    @property
    def chunk_ms(self) -> int:
        return self._layer.chunk_ms

    @property
    def input_rate(self) -> int:
        """Sample rate of the input audio the session is configured for."""
        return self._layer.input_rate

    @property
    def output_rate(self) -> int:
        """Sample rate of the output audio the session is configured for."""
        return self._layer.output_rate

    @property
    def held_audio_ms(self) -> int:
        """Audio waiting for the session to be configured (or re-established)."""
        return pcm_ms(self._layer.held_audio_bytes, self.input_rate)

    @property
    def turn_audio_ms(self) -> int:
        """Audio sent in the current user turn that the server has not committed yet."""
        return pcm_ms(self._layer.turn_audio_bytes, self.input_rate)

    def queued_audio_seconds(self, wire_bytes: int) -> float:
        """Audio not on the wire yet: what the core holds plus ``wire_bytes`` of appends an adapter still queues."""
        _count("wire_bytes", wire_bytes)
        layer = self._layer
        per_second = layer.input_rate * layer.input_wire_bytes_per_sample * 4 / 3  # base64
        wire_rate = per_second + 100 * 1000 / layer.chunk_ms  # plus JSON and framing per chunk
        return self.held_audio_ms / 1000 + wire_bytes / wire_rate

    def connect(self) -> None:
        """Queue the upgrade request; allowed at first and again after a drop or failure.

        The URL and headers are checked first: a mistake raises ``ConfigurationError`` with the state unchanged.
        """
        self._check_url()
        self.extra_headers = check_headers(self.extra_headers)
        self._layer.trigger("connect")

    def _check_url(self) -> None:
        """What ``connect`` checks of the URL (a connection over another transport checks its own)."""
        check_url(self.url)

    def _open_socket(self) -> ClientWebSocket:
        """The ``connect`` transition's work: a fresh socket and its upgrade request."""
        self._out.clear()  # anything still queued belonged to the previous socket
        self.target = parse_target(self.url)
        layer = self._layer
        ws = ClientWebSocket(self._out, layer.on_message, self._on_close, self.max_message_bytes)
        scheme = "Basic" if self.auth_type == "basic" else "Bearer"
        ws.request(self.target, f"{scheme} {self._credential.value}", self.extra_headers, self.max_header_bytes)
        return ws

    def data_to_send(self, max_bytes: int | None = None) -> bytes:
        """What is queued for the socket since the last call.

        After a (re)connect the replay and held events are produced here, as the caller drains them:
        ``max_bytes`` bounds how much of that one call produces (about; whole messages), and
        ``more_to_send`` says whether more waits. Without it, everything is produced at once.
        """
        writes = self._take_writes(max_bytes)
        return b"".join(writes) if writes else b""

    def _take_writes(self, max_bytes: int | None) -> list[bytes | bytearray]:
        """The socket's queued writes, in order, after producing the next part of a release (``data_to_send``).

        The one pull every transport drains through: a transport that sends whole messages (a data channel)
        takes them from here as they are, a WebSocket joins them into bytes.
        """
        if max_bytes is not None:
            _count("max_bytes", max_bytes, 1)
        if self.more_to_send:
            self._layer.release(max_bytes)
        out = self._out
        if not out:
            return []
        writes = out.copy()
        out.clear()
        return writes

    def events(self) -> Iterator[ev.Event]:
        """Typed events produced so far, oldest first; each is handed out once."""
        queue = self._layer.events
        while queue:
            yield queue.popleft()

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it (EOF)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ConfigurationError(f"receive_data() takes bytes, not {type(data).__name__}")
        state = self._layer.state
        if state is S.CONNECTING:
            self._receive_handshake(bytes(data))
        elif state in OPEN_STATES or state is S.CLOSING:
            if not data:
                self._on_eof()
                return
            ws = self._layer.ws
            assert ws is not None
            try:
                ws.receive_frames(data)
            except ParseFailed as exc:
                self._fail(f"invalid WebSocket data from the server: {exc}", int(exc.code))
            except MalformedMessage as exc:
                self._fail(str(exc), 1007)
        # Bytes after the connection is over are meaningless; they are ignored.

    def connection_lost(self, reason: str = "connection lost") -> None:
        """The adapter saw the transport die (reset, keepalive timeout): same as EOF."""
        self._layer.trigger("dropped", code=1006, reason=_text("reason", reason))

    def send(self, event: ev.ClientEvent) -> None:
        """Queue any client event; held until the session is configured, sent after."""
        self._layer.send(event)

    def decode_append(self, audio: str) -> bytes:
        """16-bit PCM of an ``input_audio_buffer.append``'s base64 ``audio`` (the session's input format); for a
        transport that carries audio another way (WebRTC's track). ``ConfigurationError`` if it is not base64."""
        return self._layer.decode_append(audio)

    def send_audio(self, pcm: bytes | bytearray | memoryview) -> bool:
        """Stream 16-bit PCM of any length; sent in ``chunk_ms`` chunks, the rest kept for later.

        True when ``data_to_send`` has bytes; False when ``pcm`` only joined the remainder (a 20 ms
        frame between 60 ms chunks), so a transport can skip draining.
        """
        return self._layer.send_audio(pcm) or bool(self._out)

    def flush_audio(self) -> None:
        """Send the remainder kept by ``send_audio`` (done automatically on commit)."""
        self._layer.flush_audio()

    def commit(self) -> None:
        """Flush audio and commit the input buffer as a user turn (manual turn mode)."""
        self.send(ev.InputAudioBufferCommit())

    def create_response(self, **properties: Any) -> ev.ResponseCreate:
        """Ask for a response; keyword arguments become ``ResponseProperties``."""
        try:
            response = ev.ResponseProperties(**properties) if properties else None
        except ValidationError as exc:
            raise ConfigurationError(f"create_response: {exc.errors(include_url=False)[0]['msg']}") from None
        except TypeError as exc:  # a keyword that is not a str
            raise ConfigurationError(f"create_response: {exc}") from None
        event = ev.ResponseCreate(response=response) if response is not None else ev.ResponseCreate()
        self.send(event)
        return event

    def cancel_response(self) -> bool:
        """Cancel the response in progress or asked for (a ``response.create`` not answered yet, withdrawn if
        still held); does nothing (returns False) when there is none."""
        return self._layer.cancel_response()

    def truncate(
        self, played_ms: float | None = None, item_id: str | None = None
    ) -> ev.ConversationItemTruncate | None:
        """Tell the server how much of an assistant item's audio was heard.

        ``item_id`` names the item (default: the current audio response); ``played_ms`` is what
        the caller actually played (default: wall time since the item's first delta). It is
        clamped to the audio received for that item; when none was received (or the item is
        older than the last few remembered) nothing is sent and None is returned.
        """
        if played_ms is not None and (isinstance(played_ms, bool) or not isinstance(played_ms, int | float)
                                      or not math.isfinite(played_ms)):
            raise ConfigurationError(f"played_ms must be a finite number of milliseconds, not {played_ms!r}")
        if item_id is not None:
            _text("item_id", item_id)
        conv = self.conversation
        ar = conv.audio_response if item_id is None else conv.audio_items.get(item_id)
        if ar is None or ar.pcm_bytes == 0:
            return None
        if played_ms is None:
            played_ms = self.clock() * 1000 - ar.start_ms
        end = int(max(0, min(played_ms, ar.received_ms)))
        event = ev.ConversationItemTruncate(item_id=ar.item_id, content_index=ar.content_index, audio_end_ms=end)
        self.send(event)
        if conv.audio_response is ar:
            conv.audio_response = None
        return event

    def update_session(self, session: SessionProperties) -> None:
        """Change what ``session`` sets on the live session (and on every reconnect)."""
        self.send(ev.SessionUpdate(session=check_session(session)))

    def ping(self, payload: bytes = b"") -> bool:
        """Queue a WebSocket ping (for keepalive); False when no socket is open to carry it."""
        if not isinstance(payload, bytes | bytearray) or len(payload) > 125:
            raise ConfigurationError("ping payload must be at most 125 bytes")
        ws = self._layer.ws
        if self.state not in OPEN_STATES or ws is None:
            return False
        ws.ping(payload)
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the WebSocket close handshake (or just end, if not connected). Idempotent."""
        if isinstance(code, bool) or not isinstance(code, int) or code not in _SENDABLE_CLOSE_CODES:
            raise ConfigurationError(f"close code must be 1000-1003, 1007-1014 or 3000-4999, not {code!r}")
        if len(_text("reason", reason).encode("utf-8")) > 123:
            raise ConfigurationError("close reason must be at most 123 bytes of UTF-8")
        self._layer.trigger("close", code=code, reason=reason)

    def reset_conversation(self) -> None:
        """Forget history, uncommitted and held audio: the next session starts fresh."""
        self._layer.reset()

    def _receive_handshake(self, data: bytes) -> None:
        ws = self._layer.ws
        if ws is None:  # pragma: no cover - CONNECTING always has its socket
            raise LocalProtocolError("no upgrade request was sent")
        try:
            result = ws.receive_handshake(data)
        except RemoteProtocolError:
            self._layer.trigger("fail", reason="handshake failed")
            raise
        if result is None:
            return
        headers, rest = result
        self._layer.trigger("upgraded", headers=headers)
        if rest:
            self.receive_data(rest)

    def _on_close(self, code: int, reason: str) -> None:
        self._layer.trigger("closed_by_server", code=code, reason=reason)

    def _on_eof(self) -> None:
        closing = self.state is S.CLOSING
        reason = "connection lost during close" if closing else "connection lost without a close frame"
        self._layer.trigger("dropped", code=1006, reason=reason)

    def _fail(self, message: str, ws_code: int) -> None:
        ws = self._layer.ws
        if ws is not None:
            ws.reset_message()  # free a partial message at once
            if self.state in OPEN_STATES:
                ws.close(ws_code, message[:120])  # best effort: we are failing anyway
        self._layer.trigger("fail", reason=message)
        raise RemoteProtocolError(message)
