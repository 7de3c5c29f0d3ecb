"""The ``inworld-realtime talk`` command end to end, run as a user runs it (a subprocess)."""

from __future__ import annotations

import math
import os
import socket
import struct
import subprocess
import sys
import wave
from pathlib import Path

from io_adapters.emulator import EmulatorOptions, EmulatorThread

ROOT = Path(__file__).resolve().parents[1]
QUESTION = ROOT / "examples" / "question.wav"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "INWORLD_API_KEY"}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "io_adapters", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout, cwd=ROOT)


def rms(path: Path) -> tuple[int, float, float]:
    with wave.open(str(path), "rb") as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    return rate, len(samples) / rate, math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def test_talk_against_the_embedded_emulator(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(QUESTION), "--out", str(out), "--fast")
    assert result.returncode == 0, result.stderr
    assert "local emulator" in result.stdout
    assert "you:       What is the weather like in Paris today?" in result.stdout
    assert "assistant: " in result.stdout
    assert "latency: first audio" in result.stdout
    rate, seconds, level = rms(out)
    assert rate == 24000
    assert seconds > 0.5
    assert level > 300  # audible, not silence


def test_talk_in_manual_turn_mode_at_16k(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(QUESTION), "--out", str(out), "--fast", "--turn-detection", "manual",
                     "--rate", "16000", "--transcript", "Tell me a joke")
    assert result.returncode == 0, result.stderr
    assert "Tell me a joke" in result.stdout
    assert rms(out)[0] == 16000


def test_bad_wav_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    result = run_cli("talk", str(bad), "--out", str(tmp_path / "x.wav"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "not a readable WAV" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_refused_key_is_one_clear_line(tmp_path: Path) -> None:
    with EmulatorThread(EmulatorOptions(api_key="the-right-key")) as emulator:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--url", emulator.url,
                         env={"INWORLD_API_KEY": "a-wrong-key"})
    assert result.returncode == 2
    assert "refused (HTTP 401)" in result.stderr
    assert "a-wrong-key" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_no_server_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--url",
                     f"ws://127.0.0.1:{port}/api/v1/realtime/session", env={"INWORLD_API_KEY": "k"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
