"""Generate examples/question.wav: a spoken question with silence around it, 16 kHz mono 16-bit.

The voice is espeak-ng's ``en-us+edward`` variant at 150 words a minute: of the variants it ships, the one the
emulator's recogniser hears best on sentences of every kind (``python -m benchmarks.speech`` measures it), so
the demo hears its question word for word without tuning anything to this sentence. It comes from the
``espeakng-loader`` wheel (the ``speech`` extra) or else the ``espeak-ng`` program. Without either, the
committed recording is left alone; given another path, it writes a voiced, speech-like signal there
(harmonics with a syllable envelope, so that voice activity detection still hears a turn).
Run: .venv/bin/python examples/make_question_wav.py [OUT.wav]
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

from inworld_realtime.emulator.pcm import resample
from inworld_realtime.emulator.voice import wheel_voice

RATE = 16000
TEXT = Path(__file__).resolve().with_name("question.txt").read_text(encoding="utf-8").strip()
VOICE = "en-us+edward"
WPM = 150


def speak(text: str, voice: str = VOICE, wpm: int = WPM) -> bytes | None:
    """``text`` spoken at 16 kHz by the wheel's espeak-ng, else the espeak-ng program; None without either."""
    wheel = wheel_voice()
    if wheel is not None:
        pcm, rate = wheel.speak(text, voice, wpm)
        return resample(pcm, rate, RATE)
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", str(wpm), "-w", str(out), text], check=True, capture_output=True)
        with wave.open(str(out), "rb") as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return resample(frames, rate, RATE)


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
    speech = speak(TEXT)
    if speech is None:
        if path.resolve() == COMMITTED:
            raise SystemExit(f"espeak-ng is not installed (neither the speech extra's wheel nor the program): "
                             f"{COMMITTED} is left as it is (give another path to write a synthetic, speech-like "
                             "signal there)")
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
