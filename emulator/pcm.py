"""16-bit PCM as samples and back, and resampling: what the emulator's ears and voice both need."""

from __future__ import annotations

import math
import sys
from array import array


def samples(pcm: bytes) -> array[int]:
    """16-bit little-endian PCM as an array of samples (a trailing odd byte is dropped)."""
    out = array("h")
    out.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":  # pragma: no cover - PCM is little-endian
        out.byteswap()
    return out


def pcm_bytes(samples: array[int]) -> bytes:
    """An array of samples as 16-bit little-endian PCM."""
    if sys.byteorder == "big":  # pragma: no cover - PCM is little-endian
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Linear-interpolation resampling of 16-bit mono PCM, box-filtered first when going down."""
    if src_rate == dst_rate or not pcm:
        return pcm
    src = samples(pcm)
    ratio = src_rate / dst_rate
    width = math.ceil(ratio)
    if width > 1:  # a moving average keeps most of what would alias above the new Nyquist out
        prefix = [0]
        for s in src:
            prefix.append(prefix[-1] + s)
        n = len(src)
        half = width // 2
        filtered = [(prefix[min(n, i + width - half)] - prefix[max(0, i - half)]) / (min(n, i + width - half)
                    - max(0, i - half)) for i in range(n)]
    else:
        filtered = [float(s) for s in src]
    count = int(len(filtered) / ratio)
    out = array("h", bytes(2 * count))
    last = len(filtered) - 1
    for i in range(count):
        pos = i * ratio
        j = int(pos)
        frac = pos - j
        a = filtered[j]
        b = filtered[j + 1] if j < last else a
        out[i] = max(-32768, min(32767, int(a + (b - a) * frac)))
    return pcm_bytes(out)
