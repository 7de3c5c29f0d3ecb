"""Writing the 16-bit mono WAV files the CLI, the emulator and the examples produce."""

from __future__ import annotations

import wave
from pathlib import Path


def write_wav(path: str | Path, pcm: bytes, rate: int) -> None:
    """Write 16-bit little-endian mono PCM at ``rate`` as a WAV file.

    The file is opened first: a path that cannot be written raises a plain ``OSError`` (``wave.open`` on a
    name leaves a half-built writer whose ``__del__`` prints a second traceback).
    """
    with open(path, "wb") as f, wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
