"""The examples and the optional parts as a newcomer meets them: nothing overwritten, left behind or unexplained."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread
from inworld_realtime.io_adapters import RealtimeClient
from inworld_realtime.protocol import HandshakeError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def _without_espeak(*argv: str) -> list[str]:
    """make_question_wav.py run as on a machine with neither the speech extra's wheel nor espeak-ng."""
    code = ("import runpy, sys; sys.modules['espeakng_loader'] = None; "
            f"sys.argv = {[str(EXAMPLES / 'make_question_wav.py'), *argv]!r}; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    return [sys.executable, "-c", code]


def test_make_question_wav_never_overwrites_the_recording_without_espeak(tmp_path: Path) -> None:
    committed = EXAMPLES / "question.wav"
    before = hashlib.sha256(committed.read_bytes()).hexdigest()
    no_espeak = _env(PATH=str(tmp_path))  # an empty PATH: neither espeak-ng nor espeak
    result = subprocess.run(_without_espeak(), capture_output=True, text=True, env=no_espeak, timeout=60)
    assert result.returncode == 1
    assert "espeak-ng is not installed" in result.stderr and "Traceback" not in result.stderr
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == before
    elsewhere = tmp_path / "synthetic.wav"
    result = subprocess.run(_without_espeak(str(elsewhere)), capture_output=True, text=True, env=no_espeak,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert elsewhere.stat().st_size > 16000  # a synthetic question, written where it was asked for


ANSWERS = {
    "pipecat_bot.py": ["You said: what is the weather like in paris today"],  # it echoes what it heard
    "livekit_agent.py": ["(tool) get_weather(city='Paris')",
                         "assistant: The get_weather tool returned sunny and 21 degrees in Paris."],
}


@pytest.mark.parametrize("example", ["pipecat_bot.py", "livekit_agent.py"])
def test_each_example_hears_as_the_cli_and_leaves_nothing_where_it_runs(example: str, tmp_path: Path) -> None:
    """Run where a user runs it; its default output lands in a fresh temporary directory (this test's own, so
    that nothing stays behind after the test either); it hears the question, not its .txt, and logs quietly."""
    here, temp = tmp_path / "cwd", tmp_path / "tmp"
    here.mkdir()
    temp.mkdir()
    result = subprocess.run([sys.executable, str(EXAMPLES / example)], capture_output=True, text=True,
                            env=_env(TMPDIR=str(temp)), timeout=120, cwd=here)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(here.iterdir()) == []
    wrote = [line for line in result.stdout.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1
    out = Path(wrote[0].split()[1])
    assert out.is_file() and out.is_relative_to(temp)
    assert "user: What is the weather like in Paris today?" in result.stdout.splitlines()
    for line in ANSWERS[example]:  # what each example's own scripted emulator answers
        assert line in result.stdout.splitlines(), result.stdout
    with wave.open(str(out), "rb") as w:
        assert w.getframerate() == 24000 and w.getnframes() > 24000  # a second or more of the spoken answer
    assert "DEBUG" not in result.stdout + result.stderr
    assert len((result.stdout + result.stderr).splitlines()) <= 8, result.stdout + result.stderr


def test_the_pipecat_bot_hears_the_wav_not_its_text(tmp_path: Path) -> None:
    """With the speech extra, the emulator the bot starts listens, as the talk command's does: a .txt that
    says something else is not what it hears."""
    pytest.importorskip("pocketsphinx")
    wav = tmp_path / "question.wav"
    wav.write_bytes((EXAMPLES / "question.wav").read_bytes())
    wav.with_suffix(".txt").write_text("Book a table for two.", encoding="utf-8")
    result = subprocess.run([sys.executable, str(EXAMPLES / "pipecat_bot.py"), str(wav), "--out",
                             str(tmp_path / "bot.wav")], capture_output=True, text=True, env=_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "user: what is the weather like in paris today" in result.stdout.splitlines()


def test_importing_the_shim_without_pipecat_names_the_extra() -> None:
    code = "import sys; sys.modules['pipecat'] = None; import inworld_realtime.io_adapters.pipecat_shim"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ") and "[pipecat]" in last and "pip install" in last


def test_the_emulator_logs_a_refused_key_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inworld_realtime.emulator")
    with EmulatorThread(EmulatorOptions(api_key="the-right-key")) as emulator, pytest.raises(HandshakeError):
        RealtimeClient("a-wrong-key", url=emulator.url, reconnect=False, connect_timeout=5).connect()
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused and "401" in refused[0]
    assert not any("the-right-key" in r.getMessage() or "a-wrong-key" in r.getMessage() for r in caplog.records)
