"""The WebSocket layer: our h11-free upgrade, then frames in (whole text messages out) and frames out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsproto.frame_protocol import CloseReason, FrameDecoder, Opcode, ParseFailed

from .frames import close_frame, parse_close, ping_frame, pong_frame, text_frame
from .handshake import DEFAULT_MAX_HEADER_BYTES, ResponseParser, Target, build_request, new_ws_key

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ClientWebSocket:
    """One socket's worth of client WebSocket: bytes in and out, messages and closes to callbacks.

    Frames are decoded with wsproto's ``FrameDecoder`` and assembled here (no generator, no UTF-8
    pass: the JSON parser checks UTF-8 itself); frames are written by ``protocol.frames``.
    Violations raise wsproto's ``ParseFailed`` with the close code to fail with.
    """

    __slots__ = ("_decoder", "_kind", "_parser", "_parts", "_size", "close_sent", "max_message_bytes",
                 "on_close", "on_message", "out")

    def __init__(
        self,
        out: list[bytes | bytearray],
        on_message: Callable[[Any, bool], None],
        on_close: Callable[[int, str], None],
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.out = out
        self.on_message = on_message
        self.on_close = on_close
        self.max_message_bytes = max_message_bytes
        self.close_sent = False
        self._parser: ResponseParser | None = None
        self._decoder = FrameDecoder(client=True, extensions=[])
        self._parts: list[Any] = []
        self._size = 0
        self._kind: Opcode | None = None

    def request(self, target: Target, authorization: str, extra_headers: dict[str, str],
                max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> None:
        """Queue the HTTP upgrade request."""
        ws_key = new_ws_key()
        self._parser = ResponseParser(ws_key, max_header_bytes)
        self.out.append(build_request(target, authorization, ws_key, extra_headers))

    def receive_handshake(self, data: bytes) -> tuple[dict[str, str], bytes] | None:
        """Feed the server's answer; (headers, bytes after it) once upgraded (see ``ResponseParser``)."""
        assert self._parser is not None
        result = self._parser.feed(data)
        if result is not None:
            self._parser = None
        return result

    def send_text(self, text: str) -> None:
        """Queue one TEXT message."""
        self.out.append(text_frame(text.encode("utf-8")))

    def send_text_bytes(self, body: bytes) -> None:
        """Queue one TEXT message already encoded as UTF-8 (the audio hot path)."""
        self.out.append(text_frame(body))

    def ping(self, payload: bytes = b"") -> None:
        """Queue a PING."""
        self.out.append(ping_frame(payload))

    def close(self, code: int, reason: str = "") -> None:
        """Queue our CLOSE (once)."""
        if not self.close_sent:
            self.close_sent = True
            self.out.append(close_frame(code, reason))

    def receive_frames(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes after the upgrade; complete messages go to ``on_message``, a CLOSE to ``on_close``."""
        decoder = self._decoder
        decoder.receive_bytes(data)  # type: ignore[arg-type]  # it appends to a bytearray: any buffer will do
        limit = self.max_message_bytes
        while (frame := decoder.process_buffer()) is not None:
            op = frame.opcode
            payload: Any = frame.payload
            if op is Opcode.CONTINUATION:
                if self._kind is None:
                    raise ParseFailed("unexpected CONTINUATION")
            elif op is Opcode.TEXT or op is Opcode.BINARY:
                if self._kind is not None:
                    raise ParseFailed(f"expected CONTINUATION, got {op!r}")
                if frame.frame_finished and frame.message_finished:  # the usual case: one whole frame
                    if len(payload) > limit:
                        self._too_big(len(payload))
                    self.on_message(payload, op is Opcode.BINARY)
                    continue
                self._kind = op
            elif op is Opcode.PING:
                if not self.close_sent:
                    self.out.append(pong_frame(payload))
                continue
            elif op is Opcode.CLOSE:
                code, reason = parse_close(payload)
                self.reset_message()
                if not self.close_sent:  # the peer spoke first: echo its close
                    self.close(code, reason)
                self.on_close(code, reason)
                return
            else:  # PONG
                continue
            self._parts.append(payload)
            self._size += len(payload)
            if self._size > limit:
                self._too_big(self._size)
            if frame.frame_finished and frame.message_finished:
                parts, self._parts = self._parts, []
                binary = self._kind is Opcode.BINARY
                self.reset_message()
                self.on_message(b"".join(parts), binary)

    def reset_message(self) -> None:
        """Free a partly received message at once."""
        self._parts = []
        self._size = 0
        self._kind = None

    @property
    def message_bytes(self) -> int:
        """Bytes of the message being assembled."""
        return self._size

    def _too_big(self, size: int) -> None:
        raise ParseFailed(f"server message of {size} bytes exceeds max_message_bytes={self.max_message_bytes}",
                          CloseReason.MESSAGE_TOO_BIG)
