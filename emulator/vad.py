"""An energy voice activity detector: the emulator's stand-in for server_vad and semantic_vad."""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass

from inworld_realtime.protocol.session import TurnDetection

FRAME_MS = 10
#: Silence needed to end a turn, by semantic_vad eagerness (auto is medium, as in OpenAI's API).
EAGERNESS_SILENCE_MS = {"low": 900, "medium": 600, "auto": 600, "high": 300}
DEFAULT_SILENCE_MS = 500
DEFAULT_PREFIX_PADDING_MS = 300
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class VadSettings:
    """What the detector needs: a loudness threshold and how long speech and silence must last."""

    threshold_dbfs: float = -45.0
    silence_ms: int = DEFAULT_SILENCE_MS
    prefix_padding_ms: int = DEFAULT_PREFIX_PADDING_MS
    min_speech_ms: int = 60

    @classmethod
    def from_turn_detection(cls, td: TurnDetection) -> VadSettings:
        """Map the session's turn detection onto energy thresholds.

        ``threshold`` (0..1, default 0.5) maps linearly onto -70..-20 dBFS; semantic_vad
        has no threshold and takes its silence from ``eagerness``.
        """
        threshold = td.threshold if td.threshold is not None else DEFAULT_THRESHOLD
        if td.type == "semantic_vad":
            silence = EAGERNESS_SILENCE_MS[td.eagerness or "auto"]
        else:
            silence = td.silence_duration_ms if td.silence_duration_ms is not None else DEFAULT_SILENCE_MS
        padding = td.prefix_padding_ms if td.prefix_padding_ms is not None else DEFAULT_PREFIX_PADDING_MS
        return cls(threshold_dbfs=-70.0 + 50.0 * threshold, silence_ms=silence, prefix_padding_ms=padding)


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began; ``audio_start_ms`` counts from the session's first audio and includes the padding."""

    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """Speech ended; ``audio_end_ms`` is where the required silence ran out."""

    audio_end_ms: int


VadEvent = SpeechStarted | SpeechStopped


def frame_dbfs(samples: array[int]) -> float:
    """RMS level of 16-bit samples in dB relative to full scale (-120 for digital silence)."""
    if not samples:
        return -120.0
    energy = sum(s * s for s in samples) / len(samples)
    if energy <= 0:
        return -120.0
    return 10.0 * math.log10(energy / (32768.0 * 32768.0))


class EnergyVAD:
    """Feeds on 16-bit mono PCM in any slicing; reports speech starts and stops in session time."""

    def __init__(self, rate: int, settings: VadSettings | None = None) -> None:
        self.rate = rate
        self.settings = settings or VadSettings()
        self._frame_bytes = rate * FRAME_MS // 1000 * 2
        self._pending = bytearray()
        self._frames = 0  # 10 ms frames analysed since the session's first audio
        self._offset_ms = 0.0  # session time of frame 0 (moves when the rate changes)
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._floor_ms = 0  # speech may not start before this (the last commit or clear)

    @property
    def position_ms(self) -> float:
        """Session time of the audio analysed so far."""
        return self._offset_ms + self._frames * FRAME_MS

    @property
    def trailing_silence_ms(self) -> int:
        """Silence heard since the last voiced frame of the speech in progress (0 outside speech)."""
        return self._silent_run * FRAME_MS if self.in_speech else 0

    def reconfigure(self, rate: int, settings: VadSettings) -> None:
        """Apply new settings; a new rate restarts framing at the current position."""
        if rate != self.rate:
            self._offset_ms = self.position_ms + len(self._pending) / 2 * 1000 / self.rate
            self._frames = 0
            self._pending.clear()
            self.rate = rate
            self._frame_bytes = rate * FRAME_MS // 1000 * 2
        self.settings = settings

    def reset(self, at_ms: float) -> None:
        """Forget any speech in progress (after a commit or clear at ``at_ms``)."""
        self.in_speech = False
        self._voiced_run = 0
        self._silent_run = 0
        self._floor_ms = int(at_ms)

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Analyse more audio; returns the starts and stops it completes."""
        self._pending += pcm
        out: list[VadEvent] = []
        size = self._frame_bytes
        usable = len(self._pending) - len(self._pending) % size
        if usable == 0:
            return out
        samples = array("h")
        samples.frombytes(bytes(self._pending[:usable]))
        del self._pending[:usable]
        if sys.byteorder == "big":  # pragma: no cover - the wire is little-endian
            samples.byteswap()
        per_frame = size // 2
        s = self.settings
        for start in range(0, len(samples), per_frame):
            voiced = frame_dbfs(samples[start : start + per_frame]) >= s.threshold_dbfs
            self._frames += 1
            now = self.position_ms
            if not self.in_speech:
                self._voiced_run = self._voiced_run + 1 if voiced else 0
                if self._voiced_run * FRAME_MS >= s.min_speech_ms:
                    self.in_speech = True
                    self._silent_run = 0
                    first_voiced = now - self._voiced_run * FRAME_MS
                    begin = max(self._floor_ms, first_voiced - s.prefix_padding_ms, 0)
                    out.append(SpeechStarted(int(begin)))
            else:
                self._silent_run = 0 if voiced else self._silent_run + 1
                if self._silent_run * FRAME_MS >= s.silence_ms:
                    self.in_speech = False
                    self._voiced_run = 0
                    self._silent_run = 0
                    self._floor_ms = int(now)
                    out.append(SpeechStopped(int(now)))
        return out
