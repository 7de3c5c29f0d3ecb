"""pipecat-ai 1.14's own InworldRealtimeLLMService, in a real pipeline, against the local emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.inworld.realtime.llm import InworldRealtimeLLMService
from pipecat.services.llm_service import FunctionCallParams
from pipecat.workers.runner import WorkerRunner

from inworld_realtime.emulator import Emulator, EmulatorOptions, ScriptedBrain, ToolRule
from inworld_realtime.protocol import events as ev
from tests.emulator_helpers import rms, run, speech_like

TIMEOUT = 10.0


class Tap(FrameProcessor):
    """Passes frames on and remembers them, so the test can await the ones it expects."""

    def __init__(self, direction: FrameDirection) -> None:
        super().__init__()
        self.direction = direction
        self.frames: list[Frame] = []
        self._changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self.direction:
            self.frames.append(frame)
            self._changed.set()
        await self.push_frame(frame, direction)

    async def wait_for(self, kind: type[Frame], after: int = 0, where: Callable[[Any], bool] = lambda _: True,
                       timeout: float = TIMEOUT) -> tuple[int, Any]:
        """Index and frame of the first ``kind`` at or after ``after`` that satisfies ``where``."""
        async def scan() -> tuple[int, Any]:
            while True:
                for index in range(after, len(self.frames)):
                    frame = self.frames[index]
                    if isinstance(frame, kind) and where(frame):
                        return index, frame
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            names = [type(f).__name__ for f in self.frames[after:]]
            raise AssertionError(f"no {kind.__name__} after frame {after}; saw {names}") from None


class Harness:
    """InworldRealtimeLLMService between context aggregators, with taps on both sides, run by a WorkerRunner."""

    def __init__(self, url: str, context: LLMContext, service: type[Any] = InworldRealtimeLLMService,
                 **llm_kw: Any) -> None:
        self.llm = service(api_key="test-key", base_url=url, **llm_kw)
        pair = LLMContextAggregatorPair(context)
        self.up = Tap(FrameDirection.UPSTREAM)
        self.down = Tap(FrameDirection.DOWNSTREAM)
        pipeline = Pipeline([pair.user(), self.up, self.llm, self.down, pair.assistant()])
        self.worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=16000,
                                                                     audio_out_sample_rate=24000),
                                     cancel_on_idle_timeout=False)
        self.runner = WorkerRunner(handle_sigint=False)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.runner.add_workers(self.worker)
        self._task = asyncio.create_task(self.runner.run())

    async def stop(self, graceful: bool = True) -> None:
        """End the pipeline (cancel it when it does not end by itself)."""
        if self._task is None or self._task.done():
            return
        if graceful:
            await self.worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self._task), TIMEOUT if graceful else 0.01)
        except TimeoutError:
            await self.worker.cancel()
            await asyncio.wait_for(self._task, TIMEOUT)


def test_pipecat_service_completes_a_voice_turn() -> None:
    brain = ScriptedBrain(transcripts=["hello emulator"])
    pcm = speech_like(16000)

    async def turn(h: Harness) -> None:
        await h.worker.queue_frame(LLMRunFrame())
        greeting_end, _ = await h.down.wait_for(LLMFullResponseEndFrame)
        frames = [InputAudioRawFrame(audio=pcm[i : i + 640], sample_rate=16000, num_channels=1)
                  for i in range(0, len(pcm), 640)]
        # Like a microphone: the start of the speech reaches pipecat (and interrupts) before its end is heard.
        await h.worker.queue_frames(frames[:45])
        await h.down.wait_for(UserStartedSpeakingFrame, after=greeting_end)
        await h.worker.queue_frames(frames[45:])
        _, transcription = await h.up.wait_for(TranscriptionFrame)
        assert transcription.text == "hello emulator"
        start, _ = await h.down.wait_for(LLMFullResponseStartFrame, after=greeting_end + 1)
        end, _ = await h.down.wait_for(LLMFullResponseEndFrame, after=start)
        frames_out = h.down.frames[start:end]
        audio = [f for f in frames_out if isinstance(f, TTSAudioRawFrame)]
        assert audio and all(f.sample_rate == 24000 and f.num_channels == 1 for f in audio)
        assert rms(b"".join(f.audio for f in audio)) > 500
        assert any(isinstance(f, TTSStartedFrame) for f in frames_out)
        assert any(isinstance(f, TTSStoppedFrame) for f in frames_out)
        assert "".join(f.text for f in frames_out if isinstance(f, TTSTextFrame)) == "You said: hello emulator"

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=brain)) as emu:
            settings = InworldRealtimeLLMService.Settings(system_instruction="Be brief.")
            h = Harness(emu.url, LLMContext(), settings=settings)
            await h.start()
            try:
                await turn(h)
                await h.stop()
            finally:
                await h.stop(graceful=False)
            rec = emu.sessions[0]
            assert rec.updates[0].provider_data == {"metadata": {"sdk": "pipecat-realtime"},
                                                    "auto_tool_response": False}
            assert rec.config is not None and rec.config.instructions == "Be brief."
            assert rec.query["key"].startswith("pipecat-realtime-") and rec.auth_scheme == "basic"
            assert rec.audio_bytes >= len(pcm) - 16000 * 2 * 60 // 1000  # all but pipecat's unsent partial chunk
            assert [r.status for r in rec.responses] == ["completed", "completed"]
            assert not rec.errors

    run(scenario(), timeout=60)


def test_pipecat_service_function_call_round_trip() -> None:
    brain = ScriptedBrain(tools=[ToolRule("get_weather", keywords=("weather",), arguments={"city": "Paris"})])
    weather = FunctionSchema(name="get_weather", description="Current weather for a city",
                             properties={"city": {"type": "string"}}, required=["city"])
    calls: list[dict[str, Any]] = []
    reply = 'The get_weather tool returned {"temp_c": 21, "sky": "clear"}.'

    async def get_weather(params: FunctionCallParams) -> None:
        calls.append(dict(params.arguments))
        await params.result_callback({"temp_c": 21, "sky": "clear"})

    async def round_trip(h: Harness) -> None:
        await h.worker.queue_frame(LLMRunFrame())
        result_at, result = await h.down.wait_for(FunctionCallResultFrame)
        assert result.function_name == "get_weather" and result.result == {"temp_c": 21, "sky": "clear"}
        await h.down.wait_for(TTSTextFrame, after=result_at)
        end, _ = await h.down.wait_for(LLMFullResponseEndFrame, after=result_at)
        after = h.down.frames[result_at:end]
        assert "".join(f.text for f in after if isinstance(f, TTSTextFrame)) == reply
        assert any(isinstance(f, TTSAudioRawFrame) for f in after)

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=brain)) as emu:
            context = LLMContext([{"role": "user", "content": "What is the weather in Paris?"}],
                                 tools=ToolsSchema(standard_tools=[weather]))
            h = Harness(emu.url, context)
            h.llm.register_function("get_weather", get_weather)
            await h.start()
            try:
                await round_trip(h)
                await h.stop()
            finally:
                await h.stop(graceful=False)
            assert calls == [{"city": "Paris"}]
            outputs = [e for e in emu.received if isinstance(e, ev.ConversationItemCreate)
                       and e.item.type == "function_call_output"]
            assert len(outputs) == 1 and json.loads(outputs[0].item.output or "") == {"temp_c": 21, "sky": "clear"}
            rec = emu.sessions[0]
            assert rec.responses[0].function_calls == [("get_weather", '{"city": "Paris"}')]
            assert [r.status for r in rec.responses] == ["completed", "completed"]
            assert rec.responses[1].text == reply
            assert not rec.errors

    run(scenario(), timeout=60)
