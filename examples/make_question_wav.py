"""Generate examples/question.wav: a spoken question with silence around it, 16 kHz mono 16-bit.

Uses espeak-ng when installed. Without it, the committed recording is left alone; given another path, it
writes a voiced, speech-like signal there (harmonics with a syllable envelope, so that voice activity
detection still hears a turn). Run: python examples/make_question_wav.py [OUT.wav]
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

RATE = 16000
TEXT = "What is the weather like in Paris today?"


def _espeak(text: str) -> bytes | None:
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", "en-us", "-s", "160", "-w", str(out), text], check=True, capture_output=True)
        with wave.open(str(out), "rb") as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return _resample(frames, rate, RATE)


def _resample(pcm: bytes, src: int, dst: int) -> bytes:
    """Linear interpolation; good enough for a test utterance."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    n = int(len(samples) * dst / src)
    out = []
    for i in range(n):
        pos = i * src / dst
        j = int(pos)
        frac = pos - j
        a = samples[min(j, len(samples) - 1)]
        b = samples[min(j + 1, len(samples) - 1)]
        out.append(int(a + (b - a) * frac))
    return struct.pack(f"<{n}h", *out)


def _synthetic(seconds: float = 2.0) -> bytes:
    """Voiced syllables: a 140 Hz buzz with formant-ish harmonics under a 4 Hz envelope."""
    out = []
    for i in range(int(seconds * RATE)):
        t = i / RATE
        env = max(0.0, math.sin(math.pi * 4 * t)) ** 0.5
        value = sum(math.sin(2 * math.pi * 140 * k * t) / k for k in (1, 2, 3, 5, 7))
        out.append(int(9000 * env * value / 2))
    return struct.pack(f"<{len(out)}h", *out)


COMMITTED = Path(__file__).resolve().with_name("question.wav")


def make(path: Path) -> Path:
    """Write the question to ``path``; without espeak-ng, never over the committed recording."""
    speech = _espeak(TEXT)
    if speech is None:
        if path.resolve() == COMMITTED:
            raise SystemExit(f"espeak-ng is not installed: {COMMITTED} is left as it is (give another path to "
                             "write a synthetic, speech-like signal there)")
        speech = _synthetic()
    silence = bytes(int(0.5 * RATE) * 2)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(silence + speech + silence * 3)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else COMMITTED
    print(make(target))
