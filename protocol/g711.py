"""Table-driven G.711 (mu-law and A-law) to and from 16-bit little-endian PCM, without audioop."""

from __future__ import annotations

import sys

_BIAS = 0x84


def _ulaw_decode_sample(u: int) -> int:
    u = ~u & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -magnitude if sign else magnitude


def _ulaw_encode_sample(sample: int) -> int:
    # ITU-T G.711 works on 14-bit magnitudes: drop the two low bits first.
    value = sample >> 2
    mask = 0x7F if value < 0 else 0xFF
    value = min(-value if value < 0 else value, 8159) + 33
    segment = max(value.bit_length() - 6, 0)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _alaw_decode_sample(a: int) -> int:
    a ^= 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if sign else -magnitude


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(sample if sample >= 0 else -sample - 1, 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def _decode_tables(decode: object) -> tuple[bytes, bytes]:
    samples = [decode(i) & 0xFFFF for i in range(256)]  # type: ignore[operator]
    return bytes(s & 0xFF for s in samples), bytes(s >> 8 for s in samples)


def _encode_table(encode: object) -> bytes:
    # Indexed by the sample read as an unsigned 16-bit integer.
    return bytes(encode(i - 65536 if i >= 32768 else i) for i in range(65536))  # type: ignore[operator]


_ULAW_LO, _ULAW_HI = _decode_tables(_ulaw_decode_sample)
_ALAW_LO, _ALAW_HI = _decode_tables(_alaw_decode_sample)
_ULAW_ENC = _encode_table(_ulaw_encode_sample)
_ALAW_ENC = _encode_table(_alaw_encode_sample)


def _decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def _encode(pcm: bytes | bytearray | memoryview, table: bytes) -> bytes:
    view = memoryview(pcm)
    if len(view) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    if sys.byteorder == "big":  # pragma: no cover - the wire is little-endian
        swapped = bytearray(view)
        swapped[0::2], swapped[1::2] = bytes(view[1::2]), bytes(view[0::2])
        view = memoryview(swapped)
    return bytes(map(table.__getitem__, view.cast("B").cast("H")))


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 mu-law bytes into 16-bit little-endian PCM."""
    return _decode(data, _ULAW_LO, _ULAW_HI)


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 A-law bytes into 16-bit little-endian PCM."""
    return _decode(data, _ALAW_LO, _ALAW_HI)


def pcm16_to_ulaw(pcm: bytes | bytearray | memoryview) -> bytes:
    """Encode 16-bit little-endian PCM as G.711 mu-law."""
    return _encode(pcm, _ULAW_ENC)


def pcm16_to_alaw(pcm: bytes | bytearray | memoryview) -> bytes:
    """Encode 16-bit little-endian PCM as G.711 A-law."""
    return _encode(pcm, _ALAW_ENC)
