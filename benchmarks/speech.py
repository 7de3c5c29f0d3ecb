"""The emulator's speech engines (the ``speech`` extra): recognition accuracy and CPU per second of audio.

Word error rate of pocketsphinx on the committed examples/question.wav and on sentences the espeak-ng wheel
speaks, at the rates a session may use (24 kHz and 16 kHz PCM, 8 kHz G.711 u-law); CPU seconds per second of
audio for recognition (resampling included) and for the voice (synthesis and resampling to 24 kHz).
Run: .venv/bin/python -m benchmarks.speech
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from inworld_realtime.emulator.formats import resolve
from inworld_realtime.emulator.recognition import Recognizer, available, word_error_rate
from inworld_realtime.emulator.speech import WHEEL, Synthesizer
from inworld_realtime.io_adapters.cli import read_wav

QUESTION = Path(__file__).resolve().parent.parent / "examples" / "question.wav"
QUESTION_TEXT = "What is the weather like in Paris today?"
SENTENCES = (
    "What is the weather like today?",
    "Please book a table for two people tonight.",
    "Can you tell me a joke about computers?",
    "I would like to order a large pizza.",
    "How far is it from here to the station?",
    "Thank you very much for your help.",
)


def main(argv: list[str] | None = None) -> None:
    """Print the figures (``--help`` says what it measures, and measures nothing)."""
    argparse.ArgumentParser(prog="python -m benchmarks.speech", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    if not available():
        print("pocketsphinx is not installed: pip install -e '.[speech]'")
        return
    synth = Synthesizer()
    recognizer = Recognizer()
    print(f"voice: {synth.backend}")
    if synth.backend != WHEEL:
        print("(the espeakng-loader wheel is not installed: the synthesised figures below are not the wheel's)")
    recognizer.recognize(b"\0\0" * 1600, 16000)  # load the model before measuring

    pcm, rate = read_wav(QUESTION)
    heard = recognizer.recognize(pcm, rate)
    print(f"examples/question.wav ({rate} Hz, {heard.audio_s:.2f} s): heard {heard.text!r}, "
          f"WER {word_error_rate(QUESTION_TEXT, heard.text):.0%}, CPU {heard.cpu_s / heard.audio_s:.3f} s per s")

    _recordings(recognizer)

    for label, out_rate, fmt in (("24 kHz PCM", 24000, None), ("16 kHz PCM", 16000, None),
                                 ("8 kHz G.711 u-law", 8000, "g711_ulaw")):
        edits = words = 0.0
        cpu = audio = 0.0
        revised = 0
        for sentence in SENTENCES:
            spoken = synth.synthesize(sentence, out_rate)
            if fmt is not None:
                wire = resolve(fmt)
                spoken = wire.decode(wire.encode(spoken))
            streamed: list[str] = []
            result = recognizer.recognize(spoken, out_rate, streamed.extend)
            revised += list(result.words) != streamed
            count = len(sentence.split())
            edits += word_error_rate(sentence, result.text) * count
            words += count
            cpu += result.cpu_s
            audio += result.audio_s
        print(f"synthesised sentences at {label}: WER {edits / words:.1%} over {words:.0f} words, "
              f"recognition CPU {cpu / audio:.3f} s per s of audio; the final revised a streamed word "
              f"in {revised} of {len(SENTENCES)}")

    started, audio = time.process_time(), 0.0
    for _ in range(5):
        for sentence in SENTENCES:
            audio += len(synth.synthesize(sentence, 24000)) / 2 / 24000
    cpu = time.process_time() - started
    print(f"voice ({synth.backend}) at 24 kHz: {cpu / audio:.4f} s of CPU per s of speech "
          f"({audio:.1f} s of speech in {cpu:.2f} s)")



RECORDING_VOICES = (("en-us", 160), ("en-us+klatt4", 150), ("en-us+edward", 150))
"""espeak-ng voices a demo recording could use: its default, and the two variants pocketsphinx hears best
(examples/make_question_wav.py uses the last)."""


def _recordings(recognizer: Recognizer) -> None:
    """Word error rate per espeak-ng voice over the question and the sentences, recorded as the demo's is."""
    from inworld_realtime.emulator.pcm import resample
    from inworld_realtime.emulator.voice import wheel_voice

    voice = wheel_voice()
    if voice is None:
        return
    for name, wpm in RECORDING_VOICES:
        edits = words = 0.0
        for sentence in (QUESTION_TEXT, *SENTENCES):
            pcm, rate = voice.speak(sentence, name, wpm)
            padded = bytes(16000) + resample(pcm, rate, 16000) + bytes(48000)  # as the demo's: silence around it
            heard = recognizer.recognize(padded, 16000)
            edits += word_error_rate(sentence, heard.text) * len(sentence.split())
            words += len(sentence.split())
        print(f"recordings by espeak-ng {name} at {wpm} wpm: WER {edits / words:.1%} over {words:.0f} words")


if __name__ == "__main__":
    main()
