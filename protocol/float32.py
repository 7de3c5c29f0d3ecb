"""32-bit float PCM (``audio/float32``) to and from the 16-bit PCM the rest of the code sees."""

from __future__ import annotations

import sys
from array import array


def pcm16_to_float32(pcm: bytes) -> bytes:
    """16-bit little-endian samples as little-endian floats in [-1, 1)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - the wire is little-endian
        samples.byteswap()
    out = array("f", [s / 32768.0 for s in samples])
    if sys.byteorder == "big":  # pragma: no cover
        out.byteswap()
    return out.tobytes()


def float32_to_pcm16(wire: bytes) -> bytes:
    """Little-endian floats (clipped to [-1, 1]) as 16-bit little-endian samples; NaN becomes silence."""
    floats = array("f")
    floats.frombytes(wire[: len(wire) - len(wire) % 4])
    if sys.byteorder == "big":  # pragma: no cover
        floats.byteswap()
    out = array("h", [0 if f != f else max(-32768, min(32767, round(f * 32768.0))) for f in floats])
    if sys.byteorder == "big":  # pragma: no cover
        out.byteswap()
    return out.tobytes()


__all__ = ["float32_to_pcm16", "pcm16_to_float32"]
