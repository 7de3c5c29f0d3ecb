"""The WebSocket layer: our h11-free upgrade, then frames in (whole text messages out) and frames out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsproto.frame_protocol import CloseReason, FrameDecoder, Opcode, ParseFailed

from .frames import FINAL_TEXT, client_frame, close_frame, parse_close, ping_frame, pong_frame, text_frame
from .handshake import DEFAULT_MAX_HEADER_BYTES, ResponseParser, Target, build_request, new_ws_key

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ClientWebSocket:
    """One socket's worth of client WebSocket: bytes in and out, messages and closes to callbacks.

    Whole unfragmented data frames are cut out directly; every other frame is decoded by wsproto's
    ``FrameDecoder`` and assembled here (no generator, no UTF-8 pass: the JSON parser checks UTF-8
    itself); frames are written by ``protocol.frames``.
    Violations raise wsproto's ``ParseFailed`` with the close code to fail with.
    """

    __slots__ = ("_decoder", "_head", "_kind", "_owed", "_parser", "_parts", "_pending", "_size", "close_sent",
                 "max_message_bytes", "on_close", "on_message", "out")

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
        self._pending = bytearray()  # the start of a frame not yet whole
        self._owed = 0  # bytes of the current frame still to go to wsproto's decoder
        self._head: bytearray | None = None  # the header so far of a frame going to wsproto

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
        self.out.append(client_frame(FINAL_TEXT, body))

    def ping(self, payload: bytes = b"") -> None:
        """Queue a PING."""
        self.out.append(ping_frame(payload))

    def close(self, code: int, reason: str = "") -> None:
        """Queue our CLOSE (once)."""
        if not self.close_sent:
            self.close_sent = True
            self.out.append(close_frame(code, reason))

    def receive_frames(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes after the upgrade; complete messages go to ``on_message``, a CLOSE to ``on_close``.

        Whole unfragmented TEXT/BINARY frames (nearly every frame a server sends) are cut out here, in one
        slice each; any other frame (control, fragment, continuation, or one wsproto must reject) goes to
        wsproto's decoder, byte for byte, up to the end of that frame, so its buffer is empty between frames.
        """
        pending = self._pending
        if pending:
            pending += data
            buf: bytes | bytearray | memoryview = pending
        else:
            buf = data
        view = memoryview(buf)
        try:
            used = self._frames(view)
        finally:
            view.release()
        if pending:
            del pending[:used]
        elif used < len(buf):
            pending += buf[used:]

    def _frames(self, view: memoryview) -> int:
        """Decode what ``view`` holds; the number of bytes used (the rest is the start of a whole data frame)."""
        pos, end, limit = 0, len(view), self.max_message_bytes
        while pos < end:
            if self._owed:  # the rest of a frame wsproto is decoding
                take = min(self._owed, end - pos)
                self._owed -= take
                pos += take
                if self._slow(view[pos - take : pos].tobytes()):
                    return end  # closed: what follows a CLOSE is ignored
                continue
            head = self._head
            if head is not None:  # the header of a frame for wsproto, fed as it comes (it judges it as it comes)
                take = min(_header_size(head) - len(head), end - pos)
                part = view[pos : pos + take].tobytes()
                pos += take
                head += part
                if len(head) == _header_size(head):
                    self._head = None
                    self._owed = _payload_size(head)
                if self._slow(part):
                    return end
                continue
            if end - pos < 2:
                break
            first, second = view[pos], view[pos + 1]
            if not ((first == 0x81 or first == 0x82) and second < 0x80 and self._kind is None):  # not FIN+unmasked
                self._head = bytearray()
                continue
            size, stop = second, pos + 2
            if size == 126:
                stop += 2
                if stop > end:
                    break
                size = (view[pos + 2] << 8) | view[pos + 3]
                minimal = size > 125
            elif size == 127:
                stop += 8
                if stop > end:
                    break
                size = int.from_bytes(view[pos + 2 : stop], "big")
                minimal = 65535 < size < 1 << 63
            else:
                minimal = True
            if not minimal:  # wsproto says what is wrong with it
                self._head = bytearray()
                continue
            if size > limit:
                self._too_big(size)
            start, stop = stop, stop + size
            if stop > end:
                break  # wait for the whole frame
            payload = view[start:stop].tobytes()
            pos = stop
            self.on_message(payload, first == 0x82)
        return pos

    def _slow(self, data: bytes) -> bool:
        """wsproto's decoder for the frames the fast path leaves to it; True once a CLOSE was handled."""
        decoder = self._decoder
        decoder.receive_bytes(data)
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
                if frame.frame_finished and frame.message_finished:  # one whole frame
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
                self._forget_parts()
                if not self.close_sent:  # the peer spoke first: echo its close
                    self.close(code, reason)
                self.on_close(code, reason)
                return True
            else:  # PONG
                continue
            self._parts.append(payload)
            self._size += len(payload)
            if self._size > limit:
                self._too_big(self._size)
            if frame.frame_finished and frame.message_finished:
                parts, self._parts = self._parts, []
                binary = self._kind is Opcode.BINARY
                self._forget_parts()
                self.on_message(b"".join(parts), binary)
        return False

    def reset_message(self) -> None:
        """Free a partly received message at once."""
        self._forget_parts()
        del self._pending[:]

    def _forget_parts(self) -> None:
        self._parts = []
        self._size = 0
        self._kind = None

    @property
    def message_bytes(self) -> int:
        """Bytes of the message being assembled (a partial frame's header not counted)."""
        pending = self._pending
        head = 0
        if len(pending) >= 2:
            size = pending[1] & 0x7F
            head = 2 if size < 126 else 4 if size == 126 else 10
        return self._size + max(0, len(pending) - head)

    def _too_big(self, size: int) -> None:
        raise ParseFailed(f"server message of {size} bytes exceeds max_message_bytes={self.max_message_bytes}",
                          CloseReason.MESSAGE_TOO_BIG)


def _header_size(head: bytes | bytearray) -> int:
    """Bytes in the header of the frame that ``head`` starts (2 until its second byte is known)."""
    if len(head) < 2:
        return 2
    size = head[1] & 0x7F
    return 2 + (2 if size == 126 else 8 if size == 127 else 0) + (4 if head[1] & 0x80 else 0)


def _payload_size(head: bytes | bytearray) -> int:
    """The payload length a whole frame header declares."""
    size = head[1] & 0x7F
    if size == 126:
        return int.from_bytes(head[2:4], "big")
    if size == 127:
        return int.from_bytes(head[2:10], "big")
    return size
