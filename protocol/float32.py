"""32-bit float PCM (``audio/float32``) to and from the 16-bit PCM the rest of the code sees."""

from __future__ import annotations

import functools
import struct
import sys
from array import array

_BIG = sys.byteorder == "big"


@functools.cache
def _to_float() -> list[bytes]:
    """The little-endian float32 bytes of every 16-bit sample, indexed by its unsigned value: built on first use
    (about 3 MB and 11 ms), so a session that never speaks float32 does not pay for it at import."""
    return [struct.pack("<f", (u - 65536 if u >= 32768 else u) / 32768.0) for u in range(65536)]


def pcm16_to_float32(pcm: bytes) -> bytes:
    """16-bit little-endian samples as little-endian floats in [-1, 1) (exact: a power-of-two scale)."""
    samples = array("H")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if _BIG:  # pragma: no cover - the wire is little-endian
        samples.byteswap()
    return b"".join(map(_to_float().__getitem__, samples))


def float32_to_pcm16(wire: bytes) -> bytes:
    """Little-endian floats as 16-bit little-endian samples: clipped to [-1, 1], NaN as silence."""
    floats = array("f")
    floats.frombytes(wire[: len(wire) - len(wire) % 4])
    if _BIG:  # pragma: no cover
        floats.byteswap()
    out = array("h", [int(f * 32768.0) if -1.0 < f < 1.0 else 32767 if f >= 1.0 else -32768 if f <= -1.0 else 0
                      for f in floats])
    if _BIG:  # pragma: no cover
        out.byteswap()
    return out.tobytes()


__all__ = ["float32_to_pcm16", "pcm16_to_float32"]
