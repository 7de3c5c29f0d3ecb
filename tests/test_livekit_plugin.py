"""The LiveKit plugin in a real, headless ``AgentSession`` (no room) against the embedded emulator."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import Agent, AgentSession, RunContext, function_tool, llm
from livekit.agents.metrics import RealtimeModelMetrics

from inworld_realtime.emulator import Emulator, EmulatorOptions, Faults, ScriptedBrain, ToolRule
from inworld_realtime.io_adapters.livekit_plugin import RealtimeModel, RealtimeSession
from inworld_realtime.io_adapters.livekit_plugin.audio import InputAudio
from inworld_realtime.io_adapters.livekit_plugin.local_io import ClockSpeaker, FrameFeed
from inworld_realtime.protocol import TurnDetection
from inworld_realtime.protocol import events as ev
from tests.emulator_helpers import rms, run, speech_like

WEATHER = ToolRule("get_weather", keywords=("weather",), arguments={"city": "Paris"})
STORY = ("Once upon a time there was a small robot who wanted to learn every song in the world, "
         "so it walked from town to town and listened to the people singing in the evening.")


class Assistant(Agent):
    """An agent with one function tool, as LiveKit's examples write them."""

    def __init__(self) -> None:
        super().__init__(instructions="You are a helpful voice assistant.")
        self.calls: list[str] = []

    @function_tool
    async def get_weather(self, context: RunContext, city: str) -> str:
        """Look up the current weather in a city."""
        self.calls.append(city)
        return f"sunny and 21 degrees in {city}"


class Recorder:
    """Everything the AgentSession reports, with a way to wait for a condition."""

    def __init__(self, session: AgentSession[Any]) -> None:
        self.items: list[llm.ChatItem] = []
        self.transcripts: list[tuple[str, bool]] = []
        self.metrics: list[RealtimeModelMetrics] = []
        self.errors: list[Any] = []
        self.states: list[str] = []
        session.on("conversation_item_added", lambda e: self.items.append(e.item))
        session.on("user_input_transcribed", lambda e: self.transcripts.append((e.transcript, e.is_final)))
        session.on("metrics_collected", lambda e: self.metrics.append(e.metrics)
                   if isinstance(e.metrics, RealtimeModelMetrics) else None)
        session.on("error", lambda e: self.errors.append(e))
        session.on("user_state_changed", lambda e: self.states.append(e.new_state))

    def assistant(self, where: Callable[[str], bool] = lambda _: True) -> list[llm.ChatMessage]:
        return [i for i in self.items if isinstance(i, llm.ChatMessage) and i.role == "assistant"
                and where(i.text_content or "")]

    async def until(self, check: Callable[[], Any], timeout: float = 15.0, why: Callable[[], Any] = lambda: "") -> Any:
        async def poll() -> Any:
            while not (value := check()):
                await asyncio.sleep(0.02)
            return value

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out; items: {self.items}; errors: {self.errors}; {why()}") from None


@asynccontextmanager
async def agent_session(brain: ScriptedBrain, *, pace: float = 0.0, faults: Faults | None = None,
                        speaker: ClockSpeaker | None = None, mic: FrameFeed | None = None,
                        session_kw: dict[str, Any] | None = None,
                        **model_kw: Any) -> AsyncIterator[tuple[Emulator, AgentSession[Any], Recorder, Assistant]]:
    options = EmulatorOptions(brain=brain, voice_engine="tone", pace=pace, faults=faults or Faults())
    async with Emulator(options) as emulator:
        model = RealtimeModel(api_key="test-key", base_url=emulator.url, **model_kw)
        session: AgentSession[Any] = AgentSession(llm=model, **(session_kw or {}))
        if mic is not None:
            session.input.audio = mic
        if speaker is not None:
            session.output.audio = speaker
        recorder = Recorder(session)
        agent = Assistant()
        await session.start(agent)
        try:
            yield emulator, session, recorder, agent
        finally:
            await session.aclose()
            if speaker is not None:
                await speaker.aclose()
            await model.aclose()


def stereo(pcm: bytes) -> bytes:
    samples = np.frombuffer(pcm, dtype=np.int16)
    return np.stack([samples, samples], axis=1).reshape(-1).tobytes()


def client_events(emulator: Emulator, kind: type[ev.ClientEvent], index: int = 0) -> list[Any]:
    return [e for e in emulator.sessions[index].events if isinstance(e, kind)]


# ---------------------------------------------------------------- turns


def test_text_turn_through_agent_session() -> None:
    """``session.run(user_input=...)`` as LiveKit's tests drive a model: the user item is created, then a reply."""
    async def main() -> None:
        async with agent_session(ScriptedBrain()) as (emulator, session, recorder, _):
            result = await session.run(user_input="Hello there")
            result.expect.next_event().is_message(role="assistant")
            result.expect.no_more_events()
            [reply] = recorder.assistant()
            assert reply.text_content == "You said: Hello there"
            created = client_events(emulator, ev.ConversationItemCreate)
            assert [(c.item.role, c.item.content[0].text) for c in created] == [("user", "Hello there")]
            # the session was configured with the agent's instructions
            assert any(u.instructions == "You are a helpful voice assistant." for u in emulator.sessions[0].updates)
            metrics = await recorder.until(lambda: [m for m in recorder.metrics if m.request_id])
            assert metrics[-1].total_tokens > 0 and metrics[-1].output_tokens > 0
            assert 0 <= metrics[-1].ttft < 5 and metrics[-1].label.endswith("RealtimeModel")

    run(main())


def test_tool_call_round_trip_by_text() -> None:
    """The model calls the Agent's function tool; LiveKit runs it, the output goes back, the model answers it."""
    async def main() -> None:
        async with agent_session(ScriptedBrain(tools=[WEATHER])) as (emulator, session, recorder, agent):
            result = await session.run(user_input="What is the weather like?")
            result.expect.next_event().is_function_call(name="get_weather", arguments={"city": "Paris"})
            result.expect.next_event().is_function_call_output(output="sunny and 21 degrees in Paris")
            result.expect.next_event().is_message(role="assistant")
            assert agent.calls == ["Paris"]
            [reply] = recorder.assistant()
            assert "sunny and 21 degrees in Paris" in (reply.text_content or "")
            outputs = [c.item for c in client_events(emulator, ev.ConversationItemCreate)
                       if c.item.type == "function_call_output"]
            assert [o.output for o in outputs] == ["sunny and 21 degrees in Paris"]
            # the tools reached the session as function schemas, and the server did not answer the tool itself
            tools = [t for u in emulator.sessions[0].updates for t in (u.tools or [])]
            assert any(getattr(t, "name", None) == "get_weather" for t in tools)
            assert emulator.sessions[0].config is not None
            assert (emulator.sessions[0].config.provider_data or {}).get("auto_tool_response") is False

    run(main())


def test_spoken_turn_with_tool_call_from_48k_stereo_frames() -> None:
    """Audio frames at 48 kHz stereo reach the server as 24 kHz mono; a spoken exchange with a tool call follows."""
    async def main() -> None:
        brain = ScriptedBrain(transcripts=["what is the weather in Paris"], tools=[WEATHER])
        mic, speaker = FrameFeed(), ClockSpeaker(speed=8.0)
        async with agent_session(brain, pace=8.0, mic=mic, speaker=speaker) as (emulator, _, recorder, agent):
            mic.push_pcm(stereo(speech_like(48000)), 48000, channels=2)
            mic.push_pcm(bytes(48000 * 2 * 2), 48000, channels=2)  # a second of silence ends the turn
            await recorder.until(lambda: recorder.assistant(lambda t: "sunny" in t))
            assert agent.calls == ["Paris"]
            assert ("what is the weather in Paris", True) in recorder.transcripts
            assert "speaking" in recorder.states  # the server's speech_started reached LiveKit
            users = [i for i in recorder.items if isinstance(i, llm.ChatMessage) and i.role == "user"]
            assert [u.text_content for u in users] == ["what is the weather in Paris"]
            record = emulator.sessions[0]
            # 48 kHz stereo in, 24 kHz mono on the wire: the duration is kept
            pushed_s = (len(speech_like(48000)) + 48000 * 2) / 2 / 48000
            assert abs(record.audio_bytes / 2 / 24000 - pushed_s) < 0.1
            assert rms(bytes(record.audio)) > 1000
            # the spoken answer came out as 24 kHz frames
            assert speaker.frames and {f.sample_rate for f in speaker.frames} == {24000}
            assert rms(b"".join(f.data.tobytes() for f in speaker.frames)) > 500

    run(main())


def test_interruption_truncates_at_what_was_heard() -> None:
    """The user talks over a long answer: LiveKit stops playback and the item is cut at the played position."""
    async def main() -> None:
        brain = ScriptedBrain(transcripts=["tell me a story", "stop please"], replies=[STORY, "Sure."])
        mic, speaker = FrameFeed(), ClockSpeaker(speed=1.0)
        # no echo-cancellation warm-up: LiveKit would hear silence for the first seconds of the answer
        async with agent_session(brain, pace=4.0, mic=mic, speaker=speaker,
                                 session_kw={"aec_warmup_duration": None}) as (emulator, _, recorder, _agent):
            mic.push_pcm(speech_like(24000), 24000)
            await recorder.until(lambda: speaker.played_seconds > 0.8)
            mic.push_pcm(speech_like(24000, lead_ms=0), 24000)
            await recorder.until(lambda: emulator.sessions[0].truncates)
            [truncate] = emulator.sessions[0].truncates
            [cut] = speaker.interruptions
            assert 800 <= truncate.audio_end_ms <= emulator.sessions[0].responses[0].audio_ms
            assert abs(truncate.audio_end_ms - cut * 1000) < 50
            story = await recorder.until(lambda: recorder.assistant(lambda t: t and STORY.startswith(t)))
            assert story[0].interrupted and len(story[0].text_content or "") < len(STORY)
            await recorder.until(lambda: recorder.assistant(lambda t: t == "Sure."),
                                 why=lambda: emulator.sessions[0].responses)

    run(main())


def test_reconnect_mid_answer_is_survived() -> None:
    """The socket drops while the answer streams; the client reconnects, replays, and the answer comes again."""
    async def main() -> None:
        faults = Faults(drop_after=60, first_connections=1)  # of ~165 events: mid-answer
        brain = ScriptedBrain(replies=[STORY, "Still here."])
        async with agent_session(brain, pace=4.0, faults=faults, speaker=ClockSpeaker(speed=16.0)) as (
                emulator, session, recorder, agent):
            reconnected: list[llm.RealtimeSessionReconnectedEvent] = []
            agent.realtime_llm_session.on("session_reconnected", reconnected.append)
            session.generate_reply(user_input="Tell me a story")
            await recorder.until(lambda: recorder.assistant(lambda t: t == STORY))
            assert len(emulator.sessions) == 2 and len(reconnected) == 1
            first = emulator.sessions[0].responses
            assert first and first[0].status == "in_progress"  # the drop came in the middle of the answer
            assert [e.error.recoverable for e in recorder.errors] == [True]  # the drop, reported as recoverable
            # the new session got the user's message back before answering it
            replayed = [c.item for c in client_events(emulator, ev.ConversationItemCreate, 1)]
            assert any(i.role == "user" and i.content and i.content[0].text == "Tell me a story" for i in replayed)
            result = await session.run(user_input="Are you there?")
            result.expect.next_event().is_message(role="assistant")
            assert recorder.assistant(lambda t: t == "Still here.")

    run(main())


def test_driven_like_livekits_examples() -> None:
    """``async with`` model and session, a greeting from ``generate_reply``, then ``session.run`` with a tool call.

    The model is given a bare ``http://host:port`` as base URL, as LiveKit users give the OpenAI plugin.
    """
    async def main() -> None:
        brain = ScriptedBrain(tools=[WEATHER])
        async with Emulator(EmulatorOptions(brain=brain, voice_engine="tone", pace=0)) as emulator:
            host = "http://" + emulator.url.split("/")[2]
            async with RealtimeModel(api_key="test-key", base_url=host) as model, \
                    AgentSession(llm=model) as session:
                await session.start(Assistant())
                await session.generate_reply(instructions="Greet the user.")
                greeting = [i for i in session.history.items if isinstance(i, llm.ChatMessage)]
                assert [(m.role, m.text_content) for m in greeting] == [("assistant", brain.greeting)]
                result = await session.run(user_input="What's the weather in Paris?")
                result.expect.next_event().is_function_call(name="get_weather")
                result.expect.next_event().is_function_call_output()
                message = result.expect.next_event().is_message(role="assistant").event().item
                assert "sunny and 21 degrees in Paris" in (message.text_content or "")
            assert emulator.sessions[0].path == "/api/v1/realtime/session"

    run(main())


# ---------------------------------------------------------------- the interface piece by piece


@asynccontextmanager
async def bare_session(brain: ScriptedBrain | None = None, **model_kw: Any) -> AsyncIterator[
        tuple[Emulator, RealtimeSession]]:
    options = EmulatorOptions(brain=brain or ScriptedBrain(), voice_engine="tone", pace=0)
    async with Emulator(options) as emulator:
        model = RealtimeModel(api_key="test-key", base_url=emulator.url, **model_kw)
        sess = model.session()
        try:
            await asyncio.wait_for(_configured(emulator), 5)
            yield emulator, sess
        finally:
            await sess.aclose()


async def _configured(emulator: Emulator) -> None:
    while not emulator.sessions or not emulator.sessions[0].updates:  # our session.update has been applied
        await asyncio.sleep(0.01)


async def drain(generation: llm.GenerationCreatedEvent) -> tuple[str, list[rtc.AudioFrame], list[llm.FunctionCall]]:
    text, frames = "", []
    async for message in generation.message_stream:
        async for chunk in message.text_stream:
            text += chunk
        frames += [f async for f in message.audio_stream]
    calls = [c async for c in generation.function_stream]
    return text, frames, calls


def test_generate_reply_future_carries_message_and_function_streams() -> None:
    async def main() -> None:
        async with bare_session(ScriptedBrain(tools=[WEATHER])) as (_, sess):
            generations: list[llm.GenerationCreatedEvent] = []
            sess.on("generation_created", generations.append)
            await sess.update_tools(Assistant().tools)
            ctx = llm.ChatContext.empty()
            ctx.add_message(role="user", content="weather please")
            await sess.update_chat_ctx(ctx)
            assert [i.id for i in sess.chat_ctx.items] == [i.id for i in ctx.items]
            created = await asyncio.wait_for(sess.generate_reply(), 5)
            assert created.user_initiated and generations == [created]
            text, frames, calls = await asyncio.wait_for(drain(created), 5)
            assert text == "" and frames == []
            assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
            # the function output goes back through update_chat_ctx, then a reply is asked for
            with_output = sess.chat_ctx.copy()
            with_output.items.append(llm.FunctionCallOutput(call_id=calls[0].call_id, output="rainy",
                                                            is_error=False, name="get_weather"))
            await sess.update_chat_ctx(with_output)
            text, frames, calls = await asyncio.wait_for(drain(await sess.generate_reply()), 5)
            assert text == "The get_weather tool returned rainy." and not calls
            assert frames and all(f.sample_rate == 24000 and f.num_channels == 1 for f in frames)

    run(main())


def test_truncate_names_its_message_after_the_next_answer_started() -> None:
    """LiveKit truncates the message just played; the core cuts that one, clamped to its own audio."""
    async def main() -> None:
        async with bare_session(ScriptedBrain(replies=["First answer.", "Second answer, a little longer."])) \
                as (emulator, sess):
            ctx = llm.ChatContext.empty()
            ctx.add_message(role="user", content="hello")
            await sess.update_chat_ctx(ctx)
            ids: list[str] = []
            for _ in range(2):
                generation = await asyncio.wait_for(sess.generate_reply(), 5)
                ids += [m.message_id async for m in generation.message_stream]
            first, second = ids
            record = emulator.sessions[0]
            sess.truncate(message_id="never-heard", modalities=["audio", "text"], audio_end_ms=500)
            sess.truncate(message_id=first, modalities=["audio", "text"], audio_end_ms=60_000)
            truncates = await asyncio.wait_for(_until(lambda: record.truncates), 5)
            assert [t.item_id for t in truncates] == [first]  # not the second, current answer; the unknown one: nothing
            assert 0 < truncates[0].audio_end_ms <= round(record.responses[0].audio_ms)
            assert truncates[0].audio_end_ms < round(record.responses[1].audio_ms)
            sess.truncate(message_id=second, modalities=["audio", "text"], audio_end_ms=0)  # nothing heard: deleted
            await asyncio.wait_for(_until(lambda: client_events(emulator, ev.ConversationItemDelete)), 5)
            assert [d.item_id for d in client_events(emulator, ev.ConversationItemDelete)] == [second]

    run(main())


async def _until(check: Callable[[], Any]) -> Any:
    while not (value := check()):
        await asyncio.sleep(0.01)
    return value


def test_update_chat_ctx_deletes_and_inserts_to_match() -> None:
    async def main() -> None:
        async with bare_session() as (emulator, sess):
            ctx = llm.ChatContext.empty()
            a = ctx.add_message(role="user", content="first")
            b = ctx.add_message(role="assistant", content="second")
            c = ctx.add_message(role="user", content="third")
            await sess.update_chat_ctx(ctx)
            wanted = llm.ChatContext([a, llm.ChatMessage(role="system", content=["inserted"]), c])
            await sess.update_chat_ctx(wanted)
            assert [i.id for i in sess.chat_ctx.items] == [i.id for i in wanted.items]
            deleted = [e.item_id for e in client_events(emulator, ev.ConversationItemDelete)]
            assert deleted == [b.id]
            inserted = client_events(emulator, ev.ConversationItemCreate)[-1]
            assert inserted.previous_item_id == a.id and inserted.item.role == "system"
            # nothing left to do: no events
            before = len(emulator.sessions[0].events)
            await sess.update_chat_ctx(wanted)
            assert len(emulator.sessions[0].events) == before

    run(main())


def test_update_chat_ctx_reports_a_rejected_item_without_stalling() -> None:
    async def main() -> None:
        async with bare_session() as (_, sess):
            ctx = llm.ChatContext.empty()
            ctx.items.append(llm.FunctionCall(call_id="", name="", arguments="{}"))  # the server refuses it
            ctx.add_message(role="user", content="fine")
            await asyncio.wait_for(sess.update_chat_ctx(ctx), 3)
            assert [i.type for i in sess.chat_ctx.items] == ["message"]

    run(main())


def test_interrupt_cancels_and_manual_turns_commit() -> None:
    async def main() -> None:
        async with bare_session(ScriptedBrain(replies=[STORY]), turn_detection=None) as (emulator, sess):
            assert not sess.capabilities.turn_detection
            sess.push_audio(rtc.AudioFrame(speech_like(16000), 16000, 1, len(speech_like(16000)) // 2))
            sess.commit_audio()
            created = await asyncio.wait_for(sess.generate_reply(), 5)
            sess.interrupt()
            await asyncio.wait_for(drain(created), 5)
            record = emulator.sessions[0]
            assert client_events(emulator, ev.InputAudioBufferCommit)
            assert record.responses[0].status == "cancelled"
            sess.clear_audio()
            sess.commit_audio()  # nothing pushed since: no commit is sent
            await asyncio.sleep(0.2)
            assert len(client_events(emulator, ev.InputAudioBufferCommit)) == 1
            assert client_events(emulator, ev.InputAudioBufferClear)

    run(main())


def test_options_instructions_and_text_modality() -> None:
    async def main() -> None:
        async with bare_session(modalities=["text"], voice="Dennis", temperature=0.6) as (emulator, sess):
            assert not sess.capabilities.audio_output
            config = emulator.sessions[0].config
            assert config is not None and config.output_modalities == ["text"] and config.temperature == 0.6
            assert config.audio is not None and config.audio.output is not None
            assert config.audio.output.voice == "Dennis"
            await sess.update_instructions("Be brief.")
            sess.update_options(voice="Olivia", tool_choice="none")
            text, frames, _ = await asyncio.wait_for(drain(await sess.generate_reply(instructions="Say hi.")), 5)
            assert text and frames == []
            config = emulator.sessions[0].config
            assert config is not None
            assert config.instructions == "Be brief." and config.tool_choice == "none"
            assert config.audio is not None and config.audio.output is not None
            assert config.audio.output.voice == "Olivia"
            [create] = client_events(emulator, ev.ResponseCreate)
            assert create.response is not None and create.response.instructions == "Be brief.\nSay hi."
            # the model's options reach its open sessions; an empty change sends nothing
            before = len(emulator.sessions[0].updates)
            sess.update_options()
            model = sess.realtime_model
            assert isinstance(model, RealtimeModel)
            model.update_options(voice="Ashley", speed=1.2)
            await asyncio.sleep(0.3)
            [update] = emulator.sessions[0].updates[before:]
            assert update.audio is not None and update.audio.output is not None
            assert (update.audio.output.voice, update.audio.output.speed) == ("Ashley", 1.2)
            assert update.tools is None and update.instructions is None

    run(main())


def test_turn_detection_can_be_disabled_per_session() -> None:
    """``session(turn_detection_disabled=True)`` sends manual turns for that session only."""
    async def main() -> None:
        async with Emulator(EmulatorOptions(voice_engine="tone")) as emulator:
            model = RealtimeModel(api_key="test-key", base_url=emulator.url)
            assert model.capabilities.can_disable_turn_detection and model.capabilities.turn_detection
            sess = model.session(turn_detection_disabled=True)
            try:
                await asyncio.wait_for(_configured(emulator), 5)
                assert not sess.capabilities.turn_detection and model.capabilities.turn_detection
                config = emulator.sessions[0].config
                assert config is not None and config.audio is not None and config.audio.input is not None
                assert config.audio.input.turn_detection is None
            finally:
                await sess.aclose()

    run(main())


def test_connect_failure_is_an_unrecoverable_error() -> None:
    async def main() -> None:
        options = EmulatorOptions(api_key="right-key", voice_engine="tone")
        async with Emulator(options) as emulator:
            model = RealtimeModel(api_key="wrong-key", base_url=emulator.url)
            sess = model.session()
            errors: list[llm.RealtimeModelError] = []
            sess.on("error", errors.append)
            reply = sess.generate_reply()
            with pytest.raises(llm.RealtimeError):
                await asyncio.wait_for(reply, 5)
            assert len(errors) == 1 and not errors[0].recoverable
            assert "wrong-key" not in repr(errors[0]) + str(errors[0].error) + repr(sess) + repr(model)
            await sess.aclose()

    run(main())


def test_api_key_from_environment_and_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INWORLD_API_KEY", raising=False)
    monkeypatch.delenv("INWORLD_URL", raising=False)
    with pytest.raises(ValueError, match="INWORLD_API_KEY"):
        RealtimeModel()
    monkeypatch.setenv("INWORLD_URL", "wss://realtime.example.com")
    with pytest.raises(ValueError, match="INWORLD_API_KEY"):
        RealtimeModel()
    monkeypatch.setenv("INWORLD_URL", "ws://localhost:8765")  # the local emulator takes any key
    assert "ws://localhost:8765/api/v1/realtime/session" in repr(RealtimeModel())
    monkeypatch.setenv("INWORLD_API_KEY", "env-secret")
    model = RealtimeModel(turn_detection=TurnDetection(type="server_vad", create_response=False))
    assert "env-secret" not in repr(model)
    assert not model.capabilities.turn_detection and model.capabilities.user_transcription
    assert not model.capabilities.can_disable_turn_detection
    with pytest.raises(ValueError):
        RealtimeModel(modalities=["video"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        RealtimeModel(input_sample_rate=11025)


def test_input_audio_resamples_any_rate_and_channel_count() -> None:
    audio = InputAudio(24000)
    tone = (np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440) * 8000).astype(np.int16)
    out = b""
    for start in range(0, len(tone), 480):  # a second of 10 ms stereo frames at 48 kHz
        chunk = np.repeat(tone[start : start + 480], 2).tobytes()
        out += audio.convert(rtc.AudioFrame(chunk, 48000, 2, 480))
    assert 24000 - 1200 <= len(out) // 2 <= 24000  # a second at 24 kHz, less the resampler's latency (< 50 ms)
    assert rms(out) > 4000
    same = audio.convert(rtc.AudioFrame(tone[:240].tobytes(), 24000, 1, 240))
    assert same == tone[:240].tobytes()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_emulator(tmp_path: Path) -> Iterator[str]:
    """``python -m inworld_realtime.emulator`` in its own process, scripted to hear the question and call the tool."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({
        "transcripts": [(ROOT / "examples" / "question.txt").read_text().strip()],
        "tools": [{"name": "get_weather", "keywords": ["weather"], "arguments": {"city": "Paris"}}],
    }))
    proc = subprocess.Popen([sys.executable, "-m", "inworld_realtime.emulator", "--port", "0", "--script", str(script)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on " in line, line
        yield line.split("listening on ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(10)


def run_example(tmp_path: Path, **env_extra: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
    env.update(PYTHONPATH=str(ROOT), **env_extra)
    out = tmp_path / "agent.wav"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "livekit_agent.py"), "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=90, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with wave.open(str(out), "rb") as w:
        assert w.getframerate() == 24000 and w.getnframes() > 24000
    return result.stdout.splitlines()


def test_a_spoken_exchange_with_a_tool_call_against_the_emulator_process(tmp_path: Path, cli_emulator: str) -> None:
    """The example agent, pointed at ``python -m inworld_realtime.emulator`` (INWORLD_URL, no key) as at Inworld."""
    lines = run_example(tmp_path, INWORLD_URL=cli_emulator)
    assert not any(line.startswith("(local emulator") for line in lines)
    assert lines[0].startswith("assistant: ")  # the greeting
    assert "user: What is the weather like in Paris today?" in lines
    assert "(tool) get_weather(city='Paris')" in lines
    assert "assistant: The get_weather tool returned sunny and 21 degrees in Paris." in lines


# ---------------------------------------------------------------- issue 21: transcripts and defects


def test_rolling_transcript_deltas_become_interim_transcripts_without_repeats() -> None:
    """Inworld's deltas are the whole transcript so far: LiveKit sees each once, not "what what is what is the"."""
    from tests.client_harness import Peer, ScriptedServer
    from tests.test_transcripts import ITEM, ROLLING, ROLLING_FINAL, rolling_stream

    async def script(peer: Peer) -> None:
        await peer.open_session()
        for event in rolling_stream():
            await peer.send(event)
        await peer.recv(timeout=30)

    async def main(url: str) -> None:
        model = RealtimeModel(api_key="test-key", base_url=url)
        sess = model.session()
        seen: list[llm.InputTranscriptionCompleted] = []
        sess.on("input_audio_transcription_completed", seen.append)
        try:
            await asyncio.wait_for(_until(lambda: any(t.is_final for t in seen)), 5)
        finally:
            await sess.aclose()
        assert [t.transcript for t in seen if not t.is_final] == ROLLING
        assert [(t.item_id, t.transcript) for t in seen if t.is_final] == [(ITEM, ROLLING_FINAL)]

    with ScriptedServer(script) as server:
        run(main(server.url))


def test_a_rejected_generate_reply_fails_at_once() -> None:
    """A response.create refused while one is active fails its future with the server's error, not a timeout."""
    async def main() -> None:
        options = EmulatorOptions(brain=ScriptedBrain(replies=[STORY, STORY]), voice_engine="tone", pace=1.0)
        async with Emulator(options) as emulator:
            sess = RealtimeModel(api_key="test-key", base_url=emulator.url).session()
            try:
                await asyncio.wait_for(_configured(emulator), 5)
                ctx = llm.ChatContext.empty()
                ctx.add_message(role="user", content="tell me a story")
                await sess.update_chat_ctx(ctx)
                first = await asyncio.wait_for(sess.generate_reply(), 5)
                with pytest.raises(llm.RealtimeError) as refused:
                    await asyncio.wait_for(sess.generate_reply(), 3)  # REPLY_TIMEOUT is 10 s
                assert refused.value.code == "conversation_already_has_active_response"
                [create, _] = client_events(emulator, ev.ResponseCreate)
                assert create.response is not None and create.response.metadata == {"client_event_id": create.event_id}
                sess.interrupt()
                await asyncio.wait_for(drain(first), 5)
            finally:
                await sess.aclose()

    run(main())


def test_truncating_a_text_message_reaches_the_server() -> None:
    """Text has no audio to cut: the server's item is replaced by the words heard, and the mirror follows."""
    async def main() -> None:
        async with bare_session(ScriptedBrain(replies=["One two three four five."]), modalities=["text"]) \
                as (emulator, sess):
            ctx = llm.ChatContext.empty()
            ctx.add_message(role="user", content="count")
            await sess.update_chat_ctx(ctx)
            generation = await asyncio.wait_for(sess.generate_reply(), 5)
            [message_id] = [m.message_id async for m in generation.message_stream]
            await asyncio.wait_for(_until(lambda: emulator.sessions[0].responses
                                          and emulator.sessions[0].responses[-1].status != "in_progress"), 5)
            await asyncio.sleep(0.1)
            sess.truncate(message_id=message_id, modalities=["text"], audio_end_ms=800, audio_transcript="One two")
            deleted = await asyncio.wait_for(_until(lambda: client_events(emulator, ev.ConversationItemDelete)), 5)
            assert [d.item_id for d in deleted] == [message_id]
            created = await asyncio.wait_for(_until(
                lambda: [c for c in client_events(emulator, ev.ConversationItemCreate) if c.item.id == message_id]), 5)
            assert created[0].item.role == "assistant" and created[0].item.content is not None
            assert created[0].item.content[0].text == "One two"
            await asyncio.wait_for(_until(lambda: [i for i in sess.chat_ctx.items if i.id == message_id]), 5)
            [mirrored] = [i for i in sess.chat_ctx.items if i.id == message_id]
            assert isinstance(mirrored, llm.ChatMessage) and mirrored.text_content == "One two"
            assert [i.id for i in sess.chat_ctx.items][-1] == message_id

    run(main())


def test_an_item_inserted_at_the_head_is_mirrored_there() -> None:
    async def main() -> None:
        async with bare_session() as (emulator, sess):
            ctx = llm.ChatContext.empty()
            a = ctx.add_message(role="user", content="first")
            b = ctx.add_message(role="assistant", content="second")
            await sess.update_chat_ctx(ctx)
            head = llm.ChatMessage(role="system", content=["before everything"])
            wanted = llm.ChatContext([head, a, b])
            await sess.update_chat_ctx(wanted)
            inserted = client_events(emulator, ev.ConversationItemCreate)[-1]
            assert inserted.item.id == head.id and inserted.previous_item_id == "root"
            assert [i.id for i in sess.chat_ctx.items] == [head.id, a.id, b.id]
            before = len(emulator.sessions[0].events)
            await sess.update_chat_ctx(wanted)  # identical: nothing to send
            assert len(emulator.sessions[0].events) == before

    run(main())


def test_stt_model_none_sends_transcription_null() -> None:
    async def main() -> None:
        async with bare_session(stt_model=None) as (emulator, sess):
            assert not sess.capabilities.user_transcription
            first = client_events(emulator, ev.SessionUpdate)[0].session
            assert first.audio is not None and first.audio.input is not None
            assert "transcription" in first.audio.input.model_fields_set
            assert first.audio.input.transcription is None
            assert first.to_wire()["audio"]["input"]["transcription"] is None

    run(main())


def test_update_options_covers_turns_transcription_noise_reduction_and_output_tokens() -> None:
    async def main() -> None:
        async with bare_session() as (emulator, sess):
            record = emulator.sessions[0]
            before = len(record.updates)
            sess.update_options(turn_detection=None, stt_model=None, noise_reduction="far_field",
                                max_output_tokens=256)
            await asyncio.wait_for(_until(lambda: len(record.updates) > before), 5)
            wire = client_events(emulator, ev.SessionUpdate)[-1].session.to_wire()
            assert wire["audio"] == {"input": {"turn_detection": None, "transcription": None,
                                               "noise_reduction": {"type": "far_field"}}}
            assert wire["max_output_tokens"] == 256 and "instructions" not in wire
            assert not sess.capabilities.turn_detection and not sess.capabilities.user_transcription
            config = record.config
            assert config is not None and config.max_output_tokens == 256
            assert config.audio is not None and config.audio.input is not None
            assert config.audio.input.turn_detection is None
            # back on, through the model (which also changes what later sessions get)
            model = sess.realtime_model
            assert isinstance(model, RealtimeModel)
            before = len(record.updates)
            model.update_options(turn_detection=TurnDetection(type="server_vad"), stt_model="soniox/stt-rt-v4",
                                 noise_reduction=None, max_output_tokens=None)
            await asyncio.wait_for(_until(lambda: len(record.updates) > before), 5)
            wire = client_events(emulator, ev.SessionUpdate)[-1].session.to_wire()
            assert wire["audio"]["input"] == {"turn_detection": {"type": "server_vad"},
                                              "transcription": {"model": "soniox/stt-rt-v4"},
                                              "noise_reduction": None}
            assert wire["max_output_tokens"] == "inf"
            assert sess.capabilities.turn_detection and model.capabilities.user_transcription
            later = model._opts.session().to_wire()["audio"]["input"]
            assert later["transcription"] == {"model": "soniox/stt-rt-v4"} and "noise_reduction" not in later

    run(main())


def test_rolling_transcripts_reach_an_agent_session_once_each() -> None:
    """Through LiveKit's own ``AgentSession``: ``user_input_transcribed`` shows the words so far, then the final."""
    from tests.client_harness import Peer, ScriptedServer
    from tests.test_transcripts import ROLLING, ROLLING_FINAL, rolling_stream

    async def script(peer: Peer) -> None:
        await peer.open_session()
        while "instructions" not in (await peer.recv("session.update", timeout=10))["session"]:
            pass  # the agent's own instructions: the AgentSession is listening
        for event in rolling_stream():
            await peer.send(event)
        await peer.recv(timeout=30)

    async def main(url: str) -> None:
        async with RealtimeModel(api_key="test-key", base_url=url) as model, AgentSession(llm=model) as session:
            heard: list[tuple[str, bool]] = []
            session.on("user_input_transcribed", lambda e: heard.append((e.transcript, e.is_final)))
            await session.start(Assistant())
            await asyncio.wait_for(_until(lambda: any(final for _, final in heard)), 10)
            # (LiveKit itself reports an empty interim transcript when the user stops speaking)
            assert [h for h in heard if h[0]] == [*((t, False) for t in ROLLING), (ROLLING_FINAL, True)]
            user = [i for i in session.history.items if isinstance(i, llm.ChatMessage) and i.role == "user"]
            assert [m.text_content for m in user] == [ROLLING_FINAL]

    with ScriptedServer(script) as server:
        run(main(server.url))


def test_head_insert_against_a_server_that_never_names_the_previous_item() -> None:
    """A server answering every create with ``previous_item_id: null``: appends stay appends, "root" goes first."""
    from tests.client_harness import Peer, ScriptedServer

    async def script(peer: Peer) -> None:
        await peer.open_session()
        while True:
            create = await peer.recv("conversation.item.create", timeout=30)
            item = {**create["item"], "object": "realtime.item", "status": "completed"}
            await peer.send({"type": "conversation.item.added", "event_id": f"e_{item['id']}",
                             "previous_item_id": None, "item": item})

    async def main(url: str) -> None:
        sess = RealtimeModel(api_key="test-key", base_url=url).session()
        try:
            ctx = llm.ChatContext.empty()
            a = ctx.add_message(role="user", content="first")
            b = ctx.add_message(role="assistant", content="second")
            await asyncio.wait_for(sess.update_chat_ctx(ctx), 5)
            assert [i.id for i in sess.chat_ctx.items] == [a.id, b.id]
            head = llm.ChatMessage(role="system", content=["before everything"])
            await asyncio.wait_for(sess.update_chat_ctx(llm.ChatContext([head, a, b])), 5)
            assert [i.id for i in sess.chat_ctx.items] == [head.id, a.id, b.id]
        finally:
            await sess.aclose()

    with ScriptedServer(script) as server:
        run(main(server.url))
