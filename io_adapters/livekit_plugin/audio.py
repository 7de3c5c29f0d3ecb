"""Audio between LiveKit frames and the session's 16-bit mono PCM."""

from __future__ import annotations

import numpy as np
from livekit import rtc


class InputAudio:
    """Any ``rtc.AudioFrame`` (rate, channels) as mono PCM at the session's input rate."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler: rtc.AudioResampler | None = None
        self._from_rate = rate

    def convert(self, frame: rtc.AudioFrame) -> bytes:
        """The frame mixed down to mono and resampled (the resampler keeps state across frames)."""
        samples = np.frombuffer(frame.data, dtype=np.int16)
        if frame.num_channels > 1:
            mixed = samples.reshape(-1, frame.num_channels).mean(axis=1)
            samples = np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
        if frame.sample_rate == self.rate:
            self._resampler = None
            return samples.tobytes()
        if self._resampler is None or self._from_rate != frame.sample_rate:
            self._resampler = rtc.AudioResampler(frame.sample_rate, self.rate, num_channels=1)
            self._from_rate = frame.sample_rate
        mono = rtc.AudioFrame(samples.tobytes(), frame.sample_rate, 1, len(samples))
        return b"".join(out.data.tobytes() for out in self._resampler.push(mono))


def output_frame(pcm: bytes, rate: int) -> rtc.AudioFrame:
    """Speech from the server (16-bit mono PCM, decoded by the core) as a LiveKit frame."""
    return rtc.AudioFrame(pcm, rate, 1, len(pcm) // 2)
