"""The ``inworld-realtime talk`` command end to end, run as a user runs it (a subprocess)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import socket
import struct
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread, ScriptedBrain
from inworld_realtime.emulator.faults import Faults
from inworld_realtime.io_adapters.cli import (
    EXIT_DROPPED,
    EXIT_NO_SPEECH,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from inworld_realtime.io_adapters.supervisor import Options
from tests.client_harness import raw_server

ROOT = Path(__file__).resolve().parents[1]
QUESTION = ROOT / "examples" / "question.wav"
PATH = "/api/v1/realtime/session"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "inworld_realtime", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout, cwd=ROOT)


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The run failed with ``code`` and said why in exactly one line on stderr, with no traceback."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    return lines[0]


def rms(path: Path) -> tuple[int, float, float]:
    with wave.open(str(path), "rb") as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    return rate, len(samples) / rate, math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def write_wav(path: Path, pcm: bytes, rate: int = 16000, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def question_speech() -> tuple[bytes, int]:
    """The spoken part of examples/question.wav (it has 0.5 s of silence before and 1.5 s after)."""
    with wave.open(str(QUESTION), "rb") as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return frames[rate : len(frames) - 3 * rate], rate


@contextlib.contextmanager
def tcp_server(reply: bytes | None) -> Iterator[int]:
    """A TCP server on loopback: answers every request with ``reply``, or (None) accepts and says nothing."""
    def answer(conn: socket.socket) -> None:
        if reply is not None:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(reply)
                conn.close()

    yield from raw_server(answer)


# ---------------------------------------------------------------- the exchange


def test_talk_against_the_embedded_emulator(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(QUESTION), "--out", str(out), "--fast")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "local emulator" in result.stdout
    assert "connecting to ws://127.0.0.1:" in result.stdout
    if importlib.util.find_spec("pocketsphinx") is None:  # else the emulator recognises the speech itself
        assert "you:       What is the weather like in Paris today?" in result.stdout
        assert "assistant: You said: What is the weather like in Paris today?" in result.stdout
    assert result.stdout.count("you:       ") == 1 and result.stdout.count("assistant: ") == 1
    assert "latency: first audio" in result.stdout
    rate, seconds, level = rms(out)
    assert rate == 24000
    assert seconds > 0.5
    assert level > 300  # audible, not silence
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # written whole through a temp file, as open() would
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.wav"]


def test_talk_in_manual_turn_mode_at_16k(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(QUESTION), "--out", str(out), "--fast", "--turn-detection", "manual",
                     "--rate", "16000", "--transcript", "Tell me a joke")
    assert result.returncode == 0, result.stderr
    assert "Tell me a joke" in result.stdout
    assert rms(out)[0] == 16000


def test_an_answer_cut_by_a_drop_is_kept_once(tmp_path: Path) -> None:
    """Finding 1: the fragments of aborted responses were kept and the re-asked answer appended (exit 0)."""
    brain = ScriptedBrain(transcripts=["What is the weather like in Paris today?"])
    clean, dropped = tmp_path / "clean.wav", tmp_path / "dropped.wav"
    with EmulatorThread(EmulatorOptions(brain=brain, pace=0)) as emulator:
        ok = run_cli("talk", str(QUESTION), "--out", str(clean), "--fast", "--url", emulator.url)
    assert ok.returncode == 0, ok.stderr
    faults = Faults(drop_after=20, first_connections=2)
    with EmulatorThread(EmulatorOptions(brain=brain, pace=0, faults=faults)) as emulator:
        result = run_cli("talk", str(QUESTION), "--out", str(dropped), "--fast", "--url", emulator.url)
        assert len(emulator.sessions) >= 3  # the drops really happened
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("reconnecting (attempt") == 2
    assert "discarded and asked for again" in result.stdout
    replies = [line for line in result.stdout.splitlines() if line.startswith("assistant:")]
    assert replies == ["assistant: You said: What is the weather like in Paris today?"]
    assert rms(dropped)[1] == pytest.approx(rms(clean)[1], abs=0.05)


def test_an_interrupted_answer_is_cut_and_the_whole_input_streamed(tmp_path: Path) -> None:
    """Finding 2: the second utterance interrupts the first answer; the CLI took the cancelled response.done as
    the answer, stopped streaming and exited 0 with a fraction of a second of audio."""
    speech, rate = question_speech()
    gap = bytes(5 * rate)  # 2.5 s of silence: the turn ends, and the answer plays a while before the user speaks
    wav = write_wav(tmp_path / "two.wav", bytes(rate) + speech + gap + speech + bytes(2 * rate), rate)
    long_reply = " ".join(["and then the story went on"] * 12)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"transcripts": ["Tell me a long story", "Stop. What time is it?"],
                                  "replies": [long_reply, "It is noon."]}))
    with EmulatorThread(EmulatorOptions(brain=ScriptedBrain(replies=[long_reply]), pace=0)) as emulator:
        full = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "full.wav"), "--fast", "--url", emulator.url)
    assert full.returncode == 0, full.stderr
    full_seconds = rms(tmp_path / "full.wav")[1]
    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(wav), "--out", str(out), "--script", str(script))
    assert result.returncode == 0, result.stderr
    assert "you:       Tell me a long story" in result.stdout
    assert "you:       Stop. What time is it?" in result.stdout  # the input was streamed to its end
    replies = [line for line in result.stdout.splitlines() if line.startswith("assistant:")]
    assert len(replies) == 2, result.stdout
    assert "[interrupted after" in replies[0]
    assert replies[1] == "assistant: It is noon."
    seconds = rms(out)[1]
    assert full_seconds > 8
    assert 1.0 < seconds < full_seconds - 3  # the first answer cut where the user spoke, then the second


def test_timeout_counts_from_the_end_of_the_input(tmp_path: Path) -> None:
    """Finding 4: --timeout counted the real-time streaming of the input; a WAV longer than it always failed."""
    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(QUESTION), "--out", str(out), "--timeout", "3")  # 4.5 s streamed in real time
    assert result.returncode == 0, result.stderr
    assert rms(out)[1] > 0.5


def test_no_answer_in_time_names_the_timeout_option(tmp_path: Path) -> None:
    with EmulatorThread(EmulatorOptions(response_delay_ms=5000, pace=0)) as emulator:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--timeout", "1",
                         "--url", emulator.url)
    line = one_line_error(result, EXIT_TIMEOUT)
    assert "--timeout" in line and "after the end of the input" in line
    assert not (tmp_path / "x.wav").exists()


def test_silent_input_says_no_speech_was_heard(tmp_path: Path) -> None:
    silent = write_wav(tmp_path / "silent.wav", bytes(16000 * 2 * 2))
    result = run_cli("talk", str(silent), "--out", str(tmp_path / "x.wav"), "--fast")
    assert "no speech heard" in one_line_error(result, EXIT_NO_SPEECH)


def test_a_server_that_drops_every_connection_gives_up_clearly(tmp_path: Path) -> None:
    """Each session is configured, then dropped at once: the client's supervisor counts these flaps as failed
    attempts and gives up after max_reconnect_attempts (the CLI kept a count of its own before)."""
    with EmulatorThread(EmulatorOptions(pace=0, faults=Faults(drop_after=12))) as emulator:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--url", emulator.url,
                         timeout=60)
    line = one_line_error(result, EXIT_DROPPED)
    assert "gave up reconnecting" in line
    assert result.stdout.count("reconnecting (attempt") == Options().max_reconnect_attempts
    assert "assistant:" not in result.stdout
    assert not (tmp_path / "x.wav").exists()


# ---------------------------------------------------------------- servers that are not what --url promised


def test_refused_key_is_one_clear_line(tmp_path: Path) -> None:
    with EmulatorThread(EmulatorOptions(api_key="the-right-key")) as emulator:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--url", emulator.url,
                         env={"INWORLD_API_KEY": "a-wrong-key"})
    line = one_line_error(result, EXIT_REFUSED)
    assert "refused the API key (HTTP 401" in line and "INWORLD_API_KEY" in line
    assert "a-wrong-key" not in result.stderr + result.stdout


def test_no_server_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--url",
                     f"ws://user:s3cret@127.0.0.1:{port}{PATH}", env={"INWORLD_API_KEY": "k"})
    line = one_line_error(result, EXIT_UNREACHABLE)
    assert f"cannot connect to 127.0.0.1:{port}" in line and "connection refused" in line
    assert "s3cret" not in result.stdout + result.stderr


HTML = b"<html>\n<head><title>Welcome</title></head>\n<body>\n<h1>It works</h1>\n</body>\n</html>\n"


@pytest.mark.parametrize(("reply", "expected"), [
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(HTML), HTML),
     "is not a WebSocket server (it answered the upgrade with HTTP 200 OK)"),
    (b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://example.com/\r\nContent-Length: 0\r\n\r\n",
     "is not a WebSocket server (it answered the upgrade with HTTP 301"),
    (b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n" + HTML, "has no realtime endpoint (HTTP 404"),
    (b"", "does not speak the realtime WebSocket protocol"),
], ids=["html-200", "redirect", "html-404", "closes"])
def test_a_server_that_is_not_a_websocket_server(reply: bytes, expected: str, tmp_path: Path) -> None:
    """Finding 5: an 11-line error quoting the HTML, calling a 200 OK "refused"."""
    with tcp_server(reply) as port:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--url",
                         f"ws://127.0.0.1:{port}{PATH}")
    line = one_line_error(result, EXIT_UNREACHABLE)
    assert expected in line and "--url" in line
    assert "<" not in line and "refused" not in line


def test_a_handshake_that_never_comes(tmp_path: Path) -> None:
    """Finding 5: reported as "no complete answer within 60 s"."""
    with tcp_server(None) as port:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--url",
                         f"ws://127.0.0.1:{port}{PATH}", "--connect-timeout", "1")
    line = one_line_error(result, EXIT_UNREACHABLE)
    assert "WebSocket" in line and "--connect-timeout" in line
    assert "answer" not in line


def test_a_wrong_path_is_a_clear_404(tmp_path: Path) -> None:
    with EmulatorThread(EmulatorOptions()) as emulator:
        result = run_cli("talk", str(QUESTION), "--out", str(tmp_path / "x.wav"), "--fast", "--url",
                         emulator.url.replace(PATH, "/wrong"))
    line = one_line_error(result, EXIT_UNREACHABLE)
    assert "404" in line and PATH in line


# ---------------------------------------------------------------- bad inputs: one line, exit 2, nothing sent


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    not_wav = tmp / "notes.wav"
    not_wav.write_text("hello")
    eight_bit = write_wav(tmp / "eight.wav", bytes(8000), rate=8000, width=1)
    empty = write_wav(tmp / "empty.wav", b"")
    out = str(tmp / "a.wav")
    q = str(QUESTION)
    return [
        (["talk", q, "--out", out, "--url", "http://127.0.0.1:9"], "try --url ws://127.0.0.1:9"),
        (["talk", q, "--out", out, "--url", "https://api.inworld.ai" + PATH], "try --url wss://api.inworld.ai"),
        (["talk", q, "--out", out, "--url", "notaurl"], "not a WebSocket URL"),
        (["talk", q, "--out", out, "--url", "ws://127.0.0.1:9"], f"try --url ws://127.0.0.1:9{PATH}"),
        (["talk", q, "--out", out, "--url", "ws://127.0.0.1:port/x"], "not a valid URL"),
        (["talk", q, "--out", out, "--url", "ws://example.com" + PATH], "--insecure"),
        (["talk", q, "--out", "/nonexistent/dir/a.wav"], "/nonexistent/dir does not exist"),
        (["talk", q, "--out", str(tmp)], "is a directory"),
        (["talk", str(tmp / "missing.wav"), "--out", out], "no such file"),
        (["talk", str(not_wav), "--out", out], "not a readable WAV"),
        (["talk", str(tmp), "--out", out], "is a directory"),
        (["talk", str(eight_bit), "--out", out], "16-bit PCM"),
        (["talk", str(empty), "--out", out], "holds no audio"),
        (["talk", q, "--out", out, "--rate", "12345"], "--rate"),
        (["talk", q, "--out", out, "--timeout", "0"], "--timeout"),
        (["talk", q, "--out", out, "--script", str(tmp / "nope.json")], "--script"),
        (["talk"], "required"),
    ]


def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """Finding 3: bad URLs and output paths escaped as tracebacks, the output ones only after the exchange."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0)
        for argv, expected in _bad_inputs(tmp_path):
            result = run_cli(*argv, env={"INWORLD_URL": f"ws://127.0.0.1:{listener.getsockname()[1]}{PATH}"})
            line = one_line_error(result, EXIT_USAGE)
            assert expected in line, (argv, line)
            assert "Exception ignored" not in result.stderr  # Wave_write.__del__
            assert not (tmp_path / "a.wav").exists()
            with pytest.raises(BlockingIOError):
                listener.accept()  # decided before connecting to anything


def test_help_is_plain_text_with_defaults_and_the_key_variable() -> None:
    result = run_cli("talk", "--help")
    assert result.returncode == 0
    text = result.stdout
    assert "``" not in text and ":class:" not in text
    assert "INWORLD_API_KEY" in text and "INWORLD_URL" in text
    assert "(default: 60.0)" in text and "(default: answer.wav)" in text
    assert "exit status:" in text
    for code in (EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_DROPPED, EXIT_NO_SPEECH, EXIT_TIMEOUT):
        assert f"\n  {code} " in text
