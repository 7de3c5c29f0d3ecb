"""PCM arithmetic and the codecs the wire formats need (base64, G.711, float32)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from . import float32, g711
from .session import Float32AudioFormat, KnownAudioFormat, PCMAAudioFormat, PCMUAudioFormat, format_rate

try:  # pybase64 is a drop-in C/SIMD base64; the standard library is the fallback.
    from pybase64 import b64decode as _b64decode
    from pybase64 import b64encode as _b64encode
except ImportError:  # pragma: no cover - depends on the environment
    from base64 import b64decode as _b64decode  # type: ignore[assignment]
    from base64 import b64encode as _b64encode  # type: ignore[assignment]

AnyFormat = KnownAudioFormat | None


#: Base64 of bytes (pybase64's when installed: the audio path calls it per chunk, so it is bound here, not wrapped).
b64encode: Callable[[bytes | bytearray | memoryview], bytes] = _b64encode


def b64decode(text: str | bytes) -> bytes:
    """Bytes of base64 ``text``: strict decoding first (pybase64's fast path, half the time of its lenient one on
    a 60 ms delta), the lenient one (characters outside the alphabet skipped) for what it refuses."""
    try:
        return _b64decode(text, validate=True)
    except ValueError:
        return _b64decode(text)


def bytes_per_ms(rate: int) -> float:
    """Bytes of 16-bit mono PCM per millisecond at ``rate``."""
    return rate * 2 / 1000


def pcm_ms(nbytes: int, rate: int) -> int:
    """Duration in whole milliseconds of ``nbytes`` of 16-bit mono PCM."""
    return int(nbytes * 1000 // (rate * 2))


def ms_to_bytes(ms: float, rate: int) -> int:
    """Bytes of 16-bit mono PCM in ``ms`` milliseconds, whole samples."""
    return int(ms * rate / 1000) * 2


def encoder_for(fmt: AnyFormat) -> Callable[[bytes], bytes] | None:
    """PCM16 to wire bytes for ``fmt`` (None when the wire is PCM16 already)."""
    if isinstance(fmt, PCMUAudioFormat):
        return g711.pcm16_to_ulaw
    if isinstance(fmt, PCMAAudioFormat):
        return g711.pcm16_to_alaw
    if isinstance(fmt, Float32AudioFormat):
        return float32.pcm16_to_float32
    return None


def decoder_for(fmt: AnyFormat) -> Callable[[bytes], bytes] | None:
    """Wire bytes to PCM16 for ``fmt`` (None when the wire is PCM16 already)."""
    if isinstance(fmt, PCMUAudioFormat):
        return g711.ulaw_to_pcm16
    if isinstance(fmt, PCMAAudioFormat):
        return g711.alaw_to_pcm16
    if isinstance(fmt, Float32AudioFormat):
        return float32.float32_to_pcm16
    return None



class Chunks:
    """PCM kept as the chunks it was sent in: appending and trimming from the front copy nothing.

    (A bytearray trimmed at the front and grown at the back moves the whole buffer on every append.)
    """

    __slots__ = ("_chunks", "_size")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        return b"".join(self._chunks)

    def append(self, chunk: bytes) -> int:
        """Keep ``chunk``; the size after it (the audio path checks its bound on every chunk)."""
        self._chunks.append(chunk)
        self._size += len(chunk)
        return self._size

    def take(self, count: int) -> bytes:
        """Remove the first ``count`` bytes and return them."""
        kept: list[bytes] = []
        self._remove(count, kept)
        return b"".join(kept)

    def drop(self, count: int) -> None:
        """Remove the first ``count`` bytes (once past its bound, the turn drops about a chunk per chunk sent)."""
        self._remove(count, None)

    def clear(self) -> None:
        self._chunks.clear()
        self._size = 0

    def _remove(self, count: int, kept: list[bytes] | None) -> None:
        """Remove the first ``count`` bytes, whole chunks as they are and the oldest cut where it must be; what is
        removed goes to ``kept`` when given (no copy of what is only dropped)."""
        count = min(max(count, 0), self._size)
        self._size -= count
        chunks = self._chunks
        while count:
            head = chunks[0]
            if len(head) > count:
                chunks[0] = head[count:]
                if kept is not None:
                    kept.append(head[:count])
                return
            chunks.popleft()
            count -= len(head)
            if kept is not None:
                kept.append(head)


__all__ = ["Chunks", "b64decode", "b64encode", "bytes_per_ms", "decoder_for", "encoder_for", "format_rate",
           "ms_to_bytes", "pcm_ms"]
