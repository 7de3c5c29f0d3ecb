"""The emulator hears (pocketsphinx) and speaks (espeak-ng from its wheel): the ``speech`` extra, offline.

The tests that need an engine skip only where the extra is not installed; CI installs it. Word error
rate bounds are set above what ``python -m benchmarks.speech`` measures, to allow for other engine builds.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest

from inworld_realtime.emulator import Emulator, EmulatorOptions, ScriptedBrain, ToolRule, engines
from inworld_realtime.emulator.recognition import Recognizer, word_error_rate
from inworld_realtime.emulator.speech import TONE, WHEEL, Synthesizer
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol import g711
from inworld_realtime.protocol.items import ConversationItem, ItemContent
from inworld_realtime.protocol.session import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    FunctionTool,
    PCMAudioFormat,
    PCMUAudioFormat,
    SessionProperties,
    TurnDetection,
)

from .emulator_helpers import Driver, read_wav, rms, run

ROOT = Path(__file__).resolve().parent.parent
QUESTION = ROOT / "examples" / "question.wav"
QUESTION_TEXT = "What is the weather like in Paris today?"
SENTENCES = (
    "What is the weather like today?",
    "Please book a table for two people tonight.",
    "I would like to order a large pizza.",
    "How far is it from here to the station?",
)
#: Measured: 0% on examples/question.wav; on sentences the wheel voice speaks 6.5% at 24 and 16 kHz, 24% at
#: 8 kHz G.711 (python -m benchmarks.speech).
QUESTION_WER = 0.4
SENTENCE_WER = 0.3


def needs_speech() -> None:
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("espeakng_loader")


def session(in_fmt: Any = None, rate: int = 24000, **kw: Any) -> SessionProperties:
    return SessionProperties(audio=AudioConfiguration(
        input=AudioInput(format=in_fmt or PCMAudioFormat(rate=rate), turn_detection=TurnDetection(type="server_vad")),
        output=AudioOutput(format=PCMAudioFormat(rate=24000), voice="Clive")), **kw)


def of(events: list[Any], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def padded(pcm: bytes, rate: int) -> bytes:
    """Speech with silence around it, so the emulator's VAD hears one turn."""
    return bytes(rate) + pcm + bytes(rate * 3)


def test_the_wheel_voice_says_words_the_recogniser_hears_back() -> None:
    needs_speech()
    synth, recognizer = Synthesizer(), Recognizer()
    assert synth.backend == WHEEL and synth.engine == "espeak"
    edits = words = 0.0
    for sentence in SENTENCES:
        pcm = synth.synthesize(sentence, 24000, "Clive")
        assert rms(pcm) > 1000
        heard = recognizer.recognize(pcm, 24000)
        assert heard.audio_s == pytest.approx(len(pcm) / 48000) and heard.cpu_s > 0
        edits += word_error_rate(sentence, heard.text) * len(sentence.split())
        words += len(sentence.split())
    assert edits / words <= SENTENCE_WER, edits / words


def test_the_same_audio_gives_the_same_words_whatever_came_before() -> None:
    needs_speech()
    pcm, rate = read_wav(QUESTION)
    recognizer = Recognizer()
    settled: list[list[str]] = []
    first = recognizer.recognize(pcm, rate, settled.append).words
    assert settled == [list(first)]  # reported once the final pass chose them: what streams is what is final

    def gone(words: list[str]) -> None:
        raise RuntimeError("Event loop is closed")  # what call_soon_threadsafe says once a test's loop is gone

    with pytest.raises(RuntimeError):
        recognizer.recognize(pcm, rate, gone)  # once left the decoder inside an utterance, refusing all later turns
    recognizer.recognize(bytes(3200), 16000)  # digital silence once left the decoder's mean broken
    recognizer.recognize(Synthesizer().synthesize("Thank you very much.", 24000), 24000)
    assert recognizer.recognize(pcm, rate).words == first


def test_word_error_rate() -> None:
    assert word_error_rate("What is it?", "what is it") == 0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == 1.0  # two insertions
    assert word_error_rate("", "") == 0


def test_the_committed_recording_is_recognised_not_read_from_its_txt() -> None:
    needs_speech()
    pcm, rate = read_wav(QUESTION)

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0)) as emu:  # ScriptedBrain() has no transcript to give
            d = await Driver(emu.url, session(rate=rate)).open()
            d.send_audio(padded(pcm, rate))
            d.send(ev.SessionUpdate(session=SessionProperties(instructions="still listening")))
            events = await d.until(ev.ResponseDone)
            assert of(events, ev.InputAudioTranscriptionCompleted), [getattr(e, "type", e) for e in events]
            completed = of(events, ev.InputAudioTranscriptionCompleted)[0]
            assert word_error_rate(QUESTION_TEXT, completed.transcript) <= QUESTION_WER, completed.transcript
            deltas = [e.delta for e in of(events, ev.InputAudioTranscriptionDelta)]
            # rolling rewrites, one per settled word: "what", "what is", ... the last is the whole transcript
            assert deltas[-1] == completed.transcript and len(deltas) == len(completed.transcript.split())
            assert all(completed.transcript.startswith(d) for d in deltas)
            types = [getattr(e, "type", None) for e in events]
            # recognition runs off the loop: the session answered the update while it recognised
            assert types.index("session.updated") < types.index(completed.type) < types.index("response.created")
            assert emu.sessions[0].transcribed_by == ["pocketsphinx"]
            assert engines(emu) == {"recognition": "pocketsphinx", "voice": WHEEL}
            said = "".join(e.delta for e in of(events, ev.ResponseOutputAudioTranscriptDelta))
            assert said == f"You said: {completed.transcript}"  # the brain answers what it heard
            await d.aclose()

    run(scenario())


def test_an_explicit_transcript_still_wins() -> None:
    pcm, rate = read_wav(QUESTION)

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=ScriptedBrain([QUESTION_TEXT]))) as emu:
            d = await Driver(emu.url, session(rate=rate)).open()
            d.send_audio(padded(pcm, rate))
            completed = await d.expect(ev.InputAudioTranscriptionCompleted)
            assert completed.transcript == QUESTION_TEXT
            assert emu.sessions[0].transcribed_by == ["given transcript"]
            assert engines(emu)["recognition"] == "given transcript"
            await d.aclose()

    run(scenario())


@pytest.mark.parametrize("in_fmt", [PCMAudioFormat(rate=24000), PCMUAudioFormat()], ids=["pcm24k", "g711"])
def test_tool_calls_trigger_on_recognised_words(in_fmt: Any) -> None:
    needs_speech()
    rate = 24000 if isinstance(in_fmt, PCMAudioFormat) else 8000
    spoken = Synthesizer().synthesize("Tell me the weather forecast.", rate, "Clive")
    brain = ScriptedBrain(tools=[ToolRule("get_weather", keywords=("weather",), arguments={"city": "Paris"})])
    tool = FunctionTool(name="get_weather", description="Weather in a city", parameters={"type": "object"})

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=brain)) as emu:
            d = await Driver(emu.url, session(in_fmt, tools=[tool])).open()
            d.send_audio(padded(spoken, rate))  # the core encodes G.711 when the session asks for it
            events = await d.until(ev.ResponseDone)
            heard = of(events, ev.InputAudioTranscriptionCompleted)[0].transcript
            calls = of(events, ev.ResponseFunctionCallArgumentsDone)
            assert "weather" in heard.split(), heard
            assert calls and calls[0].name == "get_weather" and calls[0].arguments == '{"city": "Paris"}'

            await d.aclose()

    run(scenario())


def test_an_audio_item_created_by_the_client_is_recognised() -> None:
    needs_speech()
    spoken = Synthesizer().synthesize("Tell me the weather forecast.", 24000, "Clive")
    item = ConversationItem(role="user", content=[ItemContent(type="input_audio",
                                                              audio=base64.b64encode(spoken).decode("ascii"))])

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0)) as emu:
            d = await Driver(emu.url, session()).open()
            d.send(ev.ConversationItemCreate(item=item))
            d.send(ev.ResponseCreate())
            events = await d.until(ev.ResponseDone)
            completed = of(events, ev.InputAudioTranscriptionCompleted)[0]
            assert "weather" in completed.transcript.split(), completed.transcript
            said = "".join(e.delta for e in of(events, ev.ResponseOutputAudioTranscriptDelta))
            assert said == f"You said: {completed.transcript}"  # the response waited for the words
            await d.aclose()

    run(scenario())


def test_the_voice_speaks_g711_when_the_session_asks() -> None:
    needs_speech()
    reply = "The weather in Paris is sunny today."
    props = SessionProperties(audio=AudioConfiguration(output=AudioOutput(format=PCMUAudioFormat(), voice="Clive")))

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=ScriptedBrain(replies=[reply]))) as emu:
            d = await Driver(emu.url, props).open()
            d.send(ev.ConversationItemCreate(item=ConversationItem.user_text("how is the weather")))
            d.send(ev.ResponseCreate())
            events = await d.until(ev.ResponseDone)
            wire = b"".join(base64.b64decode(e.delta) for e in of(events, ev.ResponseOutputAudioDelta))
            spoken = Synthesizer().synthesize(reply, 8000, "Clive")  # the wheel voice, resampled to 8 kHz
            assert len(spoken) / 2 / 8000 > 1.0 and wire == g711.pcm16_to_ulaw(spoken)
            await d.aclose()

    run(scenario())


def test_talk_command_recognises_a_recording_and_answers_with_speech(tmp_path: Path) -> None:
    needs_speech()
    wav = tmp_path / "question.wav"
    shutil.copy(QUESTION, wav)  # no .txt beside it: the emulator has to listen
    answer = tmp_path / "answer.wav"
    proc = subprocess.run([sys.executable, "-m", "inworld_realtime", "talk", str(wav), "--fast", "--out", str(answer)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "INWORLD_API_KEY"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    you = next(line for line in lines if line.startswith("you:"))
    assert word_error_rate(QUESTION_TEXT, you.removeprefix("you:")) <= QUESTION_WER, you
    assert "(emulator engines: recognition pocketsphinx, voice espeak-ng (wheel))" in lines
    assistant = next(line for line in lines if line.startswith("assistant:")).removeprefix("assistant:").strip()
    with wave.open(str(answer), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    assert rate == 24000 and len(pcm) / 2 / rate > 1.0
    heard = Recognizer().recognize(pcm, rate).text  # the answer is speech: the recogniser hears its words
    assert word_error_rate(assistant, heard) <= 0.5, (assistant, heard)


def test_engines_without_the_extra(tmp_path: Path) -> None:
    # As on a machine without the extra: the modules cannot be imported. The talk still works, on the fallbacks.
    wav = tmp_path / "question.wav"
    shutil.copy(QUESTION, wav)
    code = (
        "import sys\n"
        "sys.modules['pocketsphinx'] = None\n"
        "sys.modules['espeakng_loader'] = None\n"
        "import shutil\n"
        "shutil.which = lambda *a, **k: None\n"  # and no espeak-ng program on PATH
        "from inworld_realtime.emulator import engines\n"
        "print(engines())\n"
        "from inworld_realtime.io_adapters.cli import main\n"
        f"sys.exit(main(['talk', {str(wav)!r}, '--fast', '--out', {str(tmp_path / 'a.wav')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "INWORLD_API_KEY"})
    assert proc.returncode == 0, proc.stderr
    assert f"{{'recognition': 'none', 'voice': '{TONE}'}}" in proc.stdout
    assert re.search(r"^you: +\[\d+\.\d seconds of speech\]$", proc.stdout, re.M), proc.stdout
    assert f"(emulator engines: recognition none, voice {TONE})" in proc.stdout


def test_the_library_and_clients_never_import_the_engines() -> None:
    code = ("import sys, protocol, io_adapters\n"
            "from inworld_realtime.io_adapters import AsyncRealtimeClient, RealtimeClient\n"
            "import inworld_realtime.emulator\n"
            "print(sorted(m for m in ('pocketsphinx', 'espeakng_loader') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
