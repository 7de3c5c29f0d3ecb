"""The frames a client writes (RFC 6455: masked, unfragmented) and the close payload it reads.

Our own small writer rather than wsproto's private frame serialiser: audio appends are framed as
TEXT straight from bytes, without a str round trip.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from wsproto.frame_protocol import CloseReason, Opcode, ParseFailed

from .errors import LocalProtocolError

_HEAD_SHORT = struct.Struct("!BB")
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")
_CODE = struct.Struct("!H")
#: Close codes a peer may not put on the wire (RFC 6455 7.4.1): "no status", "abnormal", "TLS".
_LOCAL_ONLY = frozenset({1005, 1006, 1015})


#: The first byte of a final TEXT frame (the audio path frames one per chunk: no enum arithmetic per frame).
FINAL_TEXT = 0x80 | Opcode.TEXT


def client_frame(opcode: Opcode | int, payload: bytes) -> bytes:
    """One final frame, masked with a fresh key as a client must (``opcode`` may carry the FIN bit already)."""
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        head = _HEAD_SHORT.pack(first, 0x80 | size)
    elif size < 65536:
        head = _HEAD_16.pack(first, 0xFE, size)
    else:
        head = _HEAD_64.pack(first, 0xFF, size)
    key = os.urandom(4)
    if not size:
        return head + key
    return b"".join((head, key, mask(payload, key)))


def mask_pure(payload: bytes | bytearray, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated: one big-integer XOR, not a loop over bytes.

    The repeated key is ``key * (1 + 2**32 + 2**64 + ...)``; that multiplier is cached per length (appends
    of one chunk size all have the same length).
    """
    size = len(payload)
    multiplier = _REPEAT.get(size)
    if multiplier is None:
        if len(_REPEAT) >= 64:
            _REPEAT.clear()
        words = (size + 3) // 4
        multiplier = _REPEAT[size] = (int.from_bytes(b"\x01\x00\x00\x00" * words, "little"), (1 << 8 * size) - 1)
    keys = (int.from_bytes(key, "little") * multiplier[0]) & multiplier[1]
    return (int.from_bytes(payload, "little") ^ keys).to_bytes(size, "little")


_REPEAT: dict[int, tuple[int, int]] = {}

def _compiled_mask() -> Callable[[bytes | bytearray, bytes], bytes] | None:
    """The websockets package's C masker (the ``fast`` extra), if installed and it behaves as ours: about 30x
    faster than the big-integer XOR on an append. Optional: everything works without it."""
    try:
        from websockets.speedups import apply_mask
    except ImportError:
        return None
    try:
        if apply_mask(b"\x00\x01\x02\x03\x04", b"\x10\x20\x30\x40") != b"\x10\x21\x32\x43\x14":
            return None
    except (TypeError, ValueError):  # pragma: no cover - a websockets release that changed its helper
        return None
    return apply_mask


mask: Callable[[bytes | bytearray, bytes], bytes] = _compiled_mask() or mask_pure


def text_frame(body: bytes) -> bytes:
    """A TEXT frame of UTF-8 ``body``."""
    return client_frame(FINAL_TEXT, body)


def close_frame(code: int, reason: str = "") -> bytes:
    """A CLOSE frame; the reason is cut to fit the 125-byte control frame limit."""
    if code in _LOCAL_ONLY:
        return client_frame(Opcode.CLOSE, b"")
    raw = reason.encode("utf-8")[:123].decode("utf-8", "ignore").encode("utf-8")
    return client_frame(Opcode.CLOSE, _CODE.pack(code) + raw)


def ping_frame(payload: bytes = b"") -> bytes:
    """A PING frame (at most 125 bytes of payload)."""
    if len(payload) > 125:
        raise LocalProtocolError("a ping payload is at most 125 bytes")
    return client_frame(Opcode.PING, payload)


def pong_frame(payload: bytes) -> bytes:
    """The PONG that answers a PING with ``payload``."""
    return client_frame(Opcode.PONG, payload)


def parse_close(payload: bytes | bytearray) -> tuple[int, str]:
    """Code and reason of a received CLOSE frame; ``ParseFailed`` for what RFC 6455 forbids."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ParseFailed("CLOSE with 1 byte payload")
    (code,) = _CODE.unpack_from(payload)
    if code < 1000 or code >= 5000 or code in _LOCAL_ONLY or 1016 <= code < 3000 or code == 1004:
        raise ParseFailed(f"CLOSE with invalid code {code}")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseFailed("CLOSE reason is not valid UTF-8", CloseReason.INVALID_FRAME_PAYLOAD_DATA) from exc
    return code, reason
