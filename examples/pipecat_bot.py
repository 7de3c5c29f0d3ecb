"""A pipecat voice bot on the shim: speaks examples/question.wav to the model and records the answer.

Run: .venv/bin/python examples/pipecat_bot.py [IN.wav] [--out FILE.wav] [-v]. It talks to INWORLD_URL when set,
else to Inworld with INWORLD_API_KEY, else to a local emulator it starts in the process, which hears the WAV as
the ``inworld-realtime talk`` command's does: it recognises the speech with the [speech] extra installed, else
it takes the WAV's .txt sibling as the transcript. The answer goes to --out (default: a fresh temporary
directory, printed at the end). pipecat's own log shows warnings only (-v: everything). The only line that
differs from a bot on pipecat's own service is the import of InworldRealtimeLLMService.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import wave
from contextlib import AsyncExitStack
from pathlib import Path

from loguru import logger
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMRunFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from inworld_realtime.emulator import Emulator, EmulatorOptions, ScriptedBrain
from inworld_realtime.emulator.recognition import available as recognises
from inworld_realtime.io_adapters.cli import as_written
from inworld_realtime.io_adapters.pipecat_shim import InworldRealtimeLLMService  # the one import that differs
from inworld_realtime.io_adapters.wav import write_wav

HERE = Path(__file__).resolve().parent


class Recorder(FrameProcessor):
    """Prints what the bot hears and says, keeps its audio, and notices the end of each answer."""

    def __init__(self, reference: str | None = None) -> None:
        super().__init__()
        self.reference = reference
        self.audio = bytearray()
        self.rate = 24000
        self.answers = 0
        self.answered = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            print(f"user: {as_written(frame.text, self.reference)}", flush=True)
        elif isinstance(frame, TTSTextFrame):
            print(frame.text, end="", flush=True)
        elif isinstance(frame, TTSAudioRawFrame):
            self.audio += frame.audio
            self.rate = frame.sample_rate
        elif isinstance(frame, LLMFullResponseEndFrame):
            print(flush=True)
            self.answers += 1
            self.answered.set()
        await self.push_frame(frame, direction)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("wav", nargs="?", type=Path, default=HERE / "question.wav")
    parser.add_argument("--out", type=Path, default=None, help="where to write the bot's voice")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pipecat's debug log")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="DEBUG" if args.verbose else "WARNING")
    sidecar = args.wav.with_suffix(".txt")
    reference = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else None
    out = args.out or Path(tempfile.mkdtemp(prefix="pipecat-bot-")) / "bot.wav"
    with wave.open(str(args.wav), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    async with AsyncExitStack() as stack:
        url = os.environ.get("INWORLD_URL")
        key = os.environ.get("INWORLD_API_KEY")
        if key is None and url is None:
            heard = [] if recognises() or reference is None else [reference]  # as the talk command hears
            emulator = await stack.enter_async_context(Emulator(EmulatorOptions(brain=ScriptedBrain(heard))))
            url = emulator.url
            print(f"(local emulator at {url})")
        base_url = url or "wss://api.inworld.ai/api/v1/realtime/session"
        llm = InworldRealtimeLLMService(api_key=key or "local", base_url=base_url,
                                        llm_model="openai/gpt-4.1-nano", voice="Sarah",
                                        tts_model="inworld-tts-1.5-max",
                                        settings=InworldRealtimeLLMService.Settings(
                                            system_instruction="You are a friendly voice assistant. Be brief."))
        pair = LLMContextAggregatorPair(LLMContext())
        heard, recorder = Recorder(reference), Recorder()  # transcriptions travel upstream, the answer downstream
        pipeline = Pipeline([pair.user(), heard, llm, recorder, pair.assistant()])
        worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=rate,
                                                                audio_out_sample_rate=24000),
                                cancel_on_idle_timeout=False)
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        running = asyncio.create_task(runner.run())
        await worker.queue_frame(LLMRunFrame())  # the bot greets first
        await asyncio.wait_for(recorder.answered.wait(), 30)
        recorder.answered.clear()
        step = rate * 2 * 20 // 1000  # 20 ms frames, in real time, like a microphone
        for offset in range(0, len(pcm), step):
            await worker.queue_frame(InputAudioRawFrame(audio=pcm[offset : offset + step], sample_rate=rate,
                                                        num_channels=1))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(recorder.answered.wait(), 30)
        await worker.queue_frame(EndFrame())
        await asyncio.wait_for(running, 30)
    write_wav(out, bytes(recorder.audio), recorder.rate)
    print(f"wrote {out} ({len(recorder.audio) / 2 / recorder.rate:.1f} s of the bot's voice)")


if __name__ == "__main__":
    asyncio.run(main())
