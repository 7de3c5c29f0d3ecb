"""Speech for the emulator's replies: espeak-ng when installed, an audible tone pattern otherwise."""

from __future__ import annotations

import logging
import math
import re
import shutil
import struct
import subprocess
import zlib
from array import array
from functools import lru_cache
from typing import Literal

from .pcm import pcm_bytes, resample
from .voice import wheel_voice

log = logging.getLogger(__name__)

Engine = Literal["auto", "espeak", "tone"]
ESPEAK_WPM = 160
#: Inworld voice names heard as female; any other name gets a male espeak variant.
FEMALE_VOICES = frozenset({
    "ashley", "deborah", "elizabeth", "hana", "julia", "luna", "olivia", "priya", "sarah", "wendy", "pixie",
    "jessica", "alice", "emma", "sophia",
})


def _wavetable(size: int = 2048) -> list[float]:
    """One period of a buzzy vowel-like wave (decaying harmonics), peak-normalised."""
    amps = (1.0, 0.7, 0.45, 0.3, 0.2, 0.12, 0.08)
    table = [sum(a * math.sin(2 * math.pi * (h + 1) * i / size) for h, a in enumerate(amps)) for i in range(size)]
    peak = max(abs(v) for v in table)
    return [v / peak for v in table]


_TABLE = _wavetable()


def tone_speech(text: str, rate: int, voice: str | None = None, speed: float = 1.0) -> bytes:
    """Syllable-like voiced bursts whose rhythm follows the text: clearly audible, clearly not silence."""
    tokens = re.findall(r"[^\W_]+(?:'[^\W_]+)?|[.,!?;:]", text)
    base_f0 = 95.0 + (zlib.crc32((voice or "").lower().encode()) % 120)
    speed = max(0.25, min(4.0, speed))
    out = array("h")

    def silence(ms: float) -> None:
        out.extend(array("h", bytes(2 * int(rate * ms / speed / 1000))))

    size = len(_TABLE)
    phase = 0.0
    words = [t for t in tokens if t[0].isalnum()] or ["hm"]
    spoken = 0
    silence(60)
    for token in tokens or words:
        if not token[0].isalnum():
            silence(260 if token in ".!?" else 140)
            continue
        syllables = max(1, len(re.findall(r"[aeiouy]+", token.lower())))
        for s in range(syllables):
            progress = spoken / len(words)
            f0 = base_f0 * (1.15 - 0.25 * progress) * (1.0 + 0.06 * math.sin(1.7 * spoken + s))
            n = int(rate * 0.15 / speed)
            attack, release = max(1, int(rate * 0.015)), max(1, int(rate * 0.04))
            step = f0 * size / rate
            for i in range(n):
                env = min(1.0, i / attack, (n - i) / release)
                out.append(int(9000 * env * _TABLE[int(phase) % size]))
                phase += step
            silence(30)
        spoken += 1
        silence(70)
    silence(80)
    return pcm_bytes(out)


def espeak_voice(voice: str | None) -> str:
    """The espeak-ng voice standing in for an Inworld voice name."""
    name = (voice or "").strip().lower()
    # Of espeak-ng's variants these two are the ones pocketsphinx understands best (benchmarks.speech).
    if name in FEMALE_VOICES:
        return "en-us+f5"
    return "en-us+edward"


def _parse_wav(data: bytes) -> tuple[bytes, int]:
    """PCM and rate of a mono 16-bit WAV as espeak-ng writes it to a pipe (sizes may be placeholders)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
        elif chunk == b"data":
            if rate <= 0 or channels != 1 or bits != 16:
                raise ValueError(f"unexpected WAV format: {channels} channel(s), {bits} bits, {rate} Hz")
            return body[: len(body) - len(body) % 2], rate
        pos += 8 + size + (size & 1)
    raise ValueError("WAV stream has no data chunk")


#: What ``Synthesizer.backend`` and ``engines()`` call each voice.
WHEEL, SYSTEM, TONE = "espeak-ng (wheel)", "espeak-ng (system)", "tone pattern"


class Synthesizer:
    """Text to 16-bit PCM at a requested rate.

    ``engine="auto"`` uses espeak-ng's library from the ``espeakng-loader`` wheel
    (the ``speech`` extra), else the ``espeak-ng`` program on PATH, else the tone
    pattern; a failing espeak-ng also falls back to the tone (logged once). An
    explicit ``espeak_path`` means that program, not the wheel.
    """

    def __init__(self, engine: Engine = "auto", espeak_path: str | None = None) -> None:
        if engine not in ("auto", "espeak", "tone"):
            raise ValueError(f"voice engine must be auto, espeak or tone, not {engine!r}")
        self.wheel = wheel_voice() if engine != "tone" and espeak_path is None else None
        found = espeak_path or shutil.which("espeak-ng") or shutil.which("espeak")
        if engine == "espeak" and not found and self.wheel is None:
            raise ValueError("voice engine espeak asked for, but neither the espeakng-loader wheel (pip install "
                             "'inworld-realtime[speech]') nor the espeak-ng program is installed")
        self.espeak_path = found if engine != "tone" and self.wheel is None else None
        self.engine: Literal["espeak", "tone"] = "espeak" if self.wheel or self.espeak_path else "tone"
        self.backend = WHEEL if self.wheel else SYSTEM if self.espeak_path else TONE
        """Which voice speaks: ``WHEEL``, ``SYSTEM`` or ``TONE``."""
        self._warned = False

    def __repr__(self) -> str:
        return f"Synthesizer(engine={self.engine!r}, backend={self.backend!r})"

    def synthesize(self, text: str, rate: int, voice: str | None = None, speed: float = 1.0) -> bytes:
        """Speak ``text`` as 16-bit mono PCM at ``rate`` (blocking: call it off the event loop)."""
        if not text.strip():
            return b""
        try:
            if self.wheel is not None:
                pcm, src_rate = self.wheel.speak(text, espeak_voice(voice), _wpm(speed))
                return resample(pcm, src_rate, rate)
            if self.espeak_path:
                pcm, src_rate = _espeak(self.espeak_path, text, espeak_voice(voice), speed)
                return resample(pcm, src_rate, rate)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            if not self._warned:
                log.warning("espeak-ng failed (%s); speaking with the tone fallback", exc)
                self._warned = True
        return tone_speech(text, rate, voice, speed)


def _wpm(speed: float) -> int:
    return int(ESPEAK_WPM * max(0.25, min(4.0, speed)))


@lru_cache(maxsize=64)
def _espeak(path: str, text: str, voice: str, speed: float) -> tuple[bytes, int]:
    proc = subprocess.run([path, "--stdout", "-v", voice, "-s", str(_wpm(speed))], input=text.encode("utf-8"),
                          capture_output=True, timeout=30, check=False)
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip()[:200]
        raise ValueError(f"exit status {proc.returncode}: {detail or 'no audio'}")
    return _parse_wav(proc.stdout)


__all__ = ["Synthesizer", "espeak_voice", "tone_speech"]
