"""A pipecat voice bot on the shim: speaks examples/question.wav to the model and records the answer.

Run: python examples/pipecat_bot.py [IN.wav] [--out FILE.wav]. It talks to INWORLD_URL when set, else to Inworld
with INWORLD_API_KEY, else to a local emulator it starts in the process. The answer goes to --out (default: a
fresh temporary directory, printed at the end). The only line that differs from a bot on pipecat's own service
is the import of InworldRealtimeLLMService.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import wave
from contextlib import AsyncExitStack
from pathlib import Path

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
from inworld_realtime.io_adapters.pipecat_shim import InworldRealtimeLLMService  # the one import that differs
from inworld_realtime.io_adapters.wav import write_wav

HERE = Path(__file__).resolve().parent


class Recorder(FrameProcessor):
    """Prints what the bot hears and says, keeps its audio, and notices the end of each answer."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = bytearray()
        self.rate = 24000
        self.answers = 0
        self.answered = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            print(f"user: {frame.text}", flush=True)
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
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="pipecat-bot-")) / "bot.wav"
    with wave.open(str(args.wav), "rb") as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    async with AsyncExitStack() as stack:
        url = os.environ.get("INWORLD_URL")
        key = os.environ.get("INWORLD_API_KEY")
        if key is None and url is None:
            sidecar = args.wav.with_suffix(".txt")
            heard = [sidecar.read_text().strip()] if sidecar.is_file() else []
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
        heard, recorder = Recorder(), Recorder()  # transcriptions travel upstream, the answer downstream
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
