"""What the talk command prints for a turn: the question as written, and one line per turn for dropped audio."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inworld_realtime.io_adapters.cli import Exchange, as_written
from inworld_realtime.io_adapters.wav import write_wav
from inworld_realtime.protocol import events as ev

from .emulator_helpers import speech_like

ROOT = Path(__file__).resolve().parents[1]
QUESTION = ROOT / "examples" / "question.wav"
REPLAY = ("the user turn in progress is longer than max_replay_audio_ms=10000: a reconnect would replay only its "
          "last 10 s (the server has heard all of it)")  # the core's ReplayTrimmed reason, once per turn


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
    return {**env, "PYTHONPATH": str(ROOT)}


def test_the_demo_prints_its_question_word_for_word() -> None:
    """The README's first command, offline: the recogniser hears the recording's every word."""
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("espeakng_loader")
    result = subprocess.run([sys.executable, "-m", "inworld_realtime", "talk", str(QUESTION), "--fast", "--out",
                             os.devnull], capture_output=True, text=True, env=_env(), timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = (ROOT / "examples" / "question.txt").read_text(encoding="utf-8").strip()
    assert f"you:       {expected}" in lines
    assert "(emulator engines: recognition pocketsphinx, voice espeak-ng (wheel))" in lines


def test_the_streamed_words_are_the_final_words() -> None:
    pytest.importorskip("pocketsphinx")
    from inworld_realtime.emulator.recognition import Recognizer
    from inworld_realtime.io_adapters.cli import read_wav

    pcm, rate = read_wav(QUESTION)
    streamed: list[str] = []
    heard = Recognizer().recognize(pcm, rate, streamed.extend)
    assert streamed == list(heard.words) == ["what", "is", "the", "weather", "like", "in", "paris", "today"]


def test_the_recording_is_what_the_generator_makes(tmp_path: Path) -> None:
    """examples/question.wav is reproducible: the generator writes the same bytes (with the speech extra)."""
    pytest.importorskip("espeakng_loader")
    made = tmp_path / "question.wav"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "make_question_wav.py"), str(made)],
                            capture_output=True, text=True, env=_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert made.read_bytes() == QUESTION.read_bytes()


@pytest.mark.parametrize(("heard", "shown"), [
    ("what is the weather like in paris today", "What is the weather like in Paris today?"),
    ("what is the weather like in the day", "what is the weather like in the day"),  # misheard: as heard
    ("What is the weather like in Paris today?", "What is the weather like in Paris today?"),
    ("What is the weather like in paris today", "What is the weather like in paris today"),  # a server's casing
])
def test_bare_words_are_shown_as_written_only_when_they_are_the_very_words(heard: str, shown: str) -> None:
    assert as_written(heard, "What is the weather like in Paris today?") == shown
    assert as_written(heard, None) == heard


def _lines(exchange: Exchange, events: list[object]) -> list[str]:
    return [line for event in events for line in exchange.feed(event, 0.0)]


def test_a_long_turn_says_once_that_replay_no_longer_covers_it() -> None:
    exchange = Exchange(24000, realtime=False)
    turn = [ev.InputAudioBufferSpeechStarted(audio_start_ms=0, item_id="u1")]
    turn += [ev.ReplayTrimmed(None, "turn_audio", REPLAY) for _ in range(2)]  # the core's one, and a repeat
    lines = _lines(exchange, turn)
    assert lines == ["(your turn is longer than 10 s: the server hears all of it, but were the connection to drop "
                     "now, only its last 10 s could be sent again)"]
    lines = _lines(exchange, [ev.InputAudioBufferSpeechStopped(audio_end_ms=60000, item_id="u1"),
                              ev.InputAudioBufferCommitted(item_id="u1"),
                              ev.InputAudioBufferSpeechStarted(audio_start_ms=61000, item_id="u2"),
                              *[ev.ReplayTrimmed(None, "turn_audio", REPLAY) for _ in range(2)]])
    assert len(lines) == 1 and "longer than 10 s" in lines[0]  # the next long turn: one line of its own


def test_audio_that_never_reached_the_server_is_said_once_with_its_total() -> None:
    exchange = Exchange(24000, realtime=False)
    held = "more than max_held_audio_ms=10000 waiting for a session"
    lines = _lines(exchange, [ev.InputAudioBufferSpeechStarted(audio_start_ms=0, item_id="u1"),
                              *[ev.AudioDropped(60, held) for _ in range(50)],
                              ev.InputAudioBufferSpeechStopped(audio_end_ms=20000, item_id="u1"),
                              ev.InputAudioBufferCommitted(item_id="u1")])
    assert lines == [
        f"(the server heard only part of this turn: 60 ms of your audio never reached it ({held}))",
        "(the server heard only part of this turn: 3000 ms of your audio in all never reached it)",
    ]


def test_a_60_s_turn_prints_no_flood(tmp_path: Path) -> None:
    """A generated 60 s spoken turn, streamed fast: one answered turn, at most one line about replay."""
    wav = tmp_path / "long.wav"
    write_wav(wav, speech_like(16000, syllables=250), 16000)  # 250 syllables, 60 ms apart: one 61 s turn
    result = subprocess.run([sys.executable, "-m", "inworld_realtime", "talk", str(wav), "--fast", "--out",
                             str(tmp_path / "a.wav"), "--transcript", "a very long question"],
                            capture_output=True, text=True, env=_env(), timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "you:       a very long question" in lines
    assert sum("longer than" in line for line in lines) <= 1
    assert not any("ms of your audio dropped" in line for line in lines)
    assert len(lines) < 12, lines


@pytest.mark.parametrize("module", ["benchmarks.speech", "benchmarks.io_paths"])
def test_a_benchmarks_help_measures_nothing(module: str) -> None:
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, env=_env(),
                            timeout=30, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("usage: "), result.stdout[:500]
    assert "WER" not in result.stdout.split("\n\n", 1)[0]


def test_talk_help_describes_every_option_and_its_default() -> None:
    result = subprocess.run([sys.executable, "-m", "inworld_realtime", "talk", "--help"], capture_output=True,
                            text=True, env=_env(), timeout=30, cwd=ROOT)
    options = result.stdout.split("\noptions:\n", 1)[1].split("\nexit status:", 1)[0]
    entries = re.split(r"\n  (?=-)", options)
    for entry in entries[1:]:  # after -h
        assert "default" in entry or "(manual:" in entry, entry
    assert '"transcripts"' in options and '"replies"' in options  # what a --script holds


def test_the_engines_line_names_each_engine_once() -> None:
    from inworld_realtime.emulator import Emulator, EmulatorOptions, SessionRecord, describe_engines

    emulator = Emulator(EmulatorOptions())
    for _ in range(2):  # two sessions of three turns each, all heard by one engine
        record = SessionRecord.__new__(SessionRecord)
        record.transcribed_by = ["pocketsphinx"] * 3
        emulator.sessions.append(record)
    assert describe_engines(emulator).startswith("(emulator engines: recognition pocketsphinx, voice ")
