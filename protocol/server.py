"""The server's side of the same wire: what the emulator and byte-level tests speak."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed

from . import events as ev
from .errors import LocalProtocolError, RemoteProtocolError
from .handshake import UpgradeRequest, build_accept, build_refusal, parse_request


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A text message from the client that is not a valid client event; kept whole."""

    raw: str
    error: str
    loc: tuple[str | int, ...] = ()
    """Where the first problem is (``("session", "audio", ...)``), for an error's ``param``."""


@dataclass(frozen=True, slots=True)
class ClientClosed:
    """The client closed (``code`` 1006 for EOF without a close frame)."""

    code: int
    reason: str = ""


ServerSideEvent = ev.ClientEvent | ClientMessage | ClientClosed


class ServerConnection:
    """Accepts one upgrade, then parses client events and frames server events (unmasked)."""

    def __init__(self, max_message_bytes: int = 16 * 1024 * 1024, *, upgraded: bool = False) -> None:
        """``upgraded=True`` skips the HTTP step (to decode frames of an already upgraded stream)."""
        self.request: UpgradeRequest | None = None
        self.max_message_bytes = max_message_bytes
        self.closed = False
        self._head = bytearray()
        self._frames = FrameProtocol(client=False, extensions=[])
        self._outbox = bytearray()
        self._events: deque[ServerSideEvent] = deque()
        self._parts: list[str] = []
        self._size = 0
        self._upgraded = upgraded

    def receive_request(self, data: bytes) -> UpgradeRequest | None:
        """Feed bytes until the upgrade request is complete; then decide with accept() or refuse()."""
        self._head += data
        parsed = parse_request(bytes(self._head))
        if parsed is None:
            return None
        self.request, rest = parsed
        self._head = bytearray(rest)
        return self.request

    def accept(self) -> None:
        """Answer 101 and start framing."""
        if self.request is None:
            raise LocalProtocolError("no complete request to accept")
        self._outbox += build_accept(self.request)
        self._upgraded = True
        rest, self._head = bytes(self._head), bytearray()
        if rest:
            self.receive_data(rest)

    def refuse(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        """Answer an HTTP error instead of upgrading."""
        self._outbox += build_refusal(status, body, headers)
        self.closed = True

    def send(self, event: ev.ServerEvent | str) -> None:
        """Queue a server event (or raw text, for fault injection)."""
        if self.closed:
            raise LocalProtocolError("cannot send after close")
        text = event if isinstance(event, str) else event.to_json()
        self._outbox += self._frames.send_data(text, True)

    def send_fragmented(self, text: str, pieces: int) -> None:
        """Queue one message split into continuation frames."""
        if self.closed:
            raise LocalProtocolError("cannot send after close")
        size = max(1, -(-len(text) // pieces))
        chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        for index, chunk in enumerate(chunks):
            self._outbox += self._frames.send_data(chunk, index == len(chunks) - 1)

    def ping(self, payload: bytes = b"") -> None:
        """Queue a WebSocket ping."""
        self._outbox += self._frames.ping(payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close frame."""
        if not self.closed:
            self._outbox += self._frames.close(code, reason or None)
            self.closed = True

    def data_to_send(self) -> bytes:
        """Bytes queued for the socket."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client after the upgrade; ``b""`` is EOF."""
        if not self._upgraded:
            raise LocalProtocolError("accept() the upgrade before feeding frames")
        if not data:
            self._events.append(ClientClosed(1006, "EOF"))
            self.closed = True
            return
        self._frames.receive_bytes(data)
        try:
            for frame in self._frames.received_frames():
                body: Any = frame.payload
                if frame.opcode is Opcode.TEXT:
                    self._parts.append(body)
                    self._size += len(body)
                    if self._size > self.max_message_bytes:
                        raise RemoteProtocolError("client message too large")
                    if frame.message_finished:
                        text, self._parts, self._size = "".join(self._parts), [], 0
                        self._on_text(text)
                elif frame.opcode is Opcode.PING:
                    self._outbox += self._frames.pong(body)
                elif frame.opcode is Opcode.CLOSE:
                    code, reason = body
                    if not self.closed:
                        self._outbox += self._frames.close(code, reason or None)
                        self.closed = True
                    self._events.append(ClientClosed(int(code), reason))
        except ParseFailed as exc:
            raise RemoteProtocolError(f"bad frame from client: {exc}") from exc

    def _on_text(self, text: str) -> None:
        try:
            self._events.append(ev.parse_client_event(text))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = errors[0] if errors else None
            self._events.append(ClientMessage(text, first["msg"] if first else str(exc),
                                              tuple(first["loc"]) if first else ()))

    def events(self) -> Iterator[ServerSideEvent]:
        """Client events received so far."""
        while self._events:
            yield self._events.popleft()
