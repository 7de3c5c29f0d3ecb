"""The local emulator over real loopback sockets, driven by the sans-IO core."""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from wsproto.frame_protocol import Opcode

from inworld_realtime.emulator import (
    CallTool,
    Emulator,
    EmulatorOptions,
    EmulatorThread,
    EnergyVAD,
    Faults,
    Say,
    ScriptedBrain,
    Synthesizer,
    ToolRule,
    ToolSpec,
    Turn,
    VadSettings,
)
from inworld_realtime.emulator.__main__ import build_parser, main, options_from_args
from inworld_realtime.emulator.pcm import resample
from inworld_realtime.emulator.speech import tone_speech
from inworld_realtime.emulator.vad import SpeechStarted, SpeechStopped
from inworld_realtime.emulator.voice import wheel_voice
from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    ConnectionState,
    ConversationItem,
    FunctionTool,
    HandshakeError,
    InputTranscription,
    PCMAAudioFormat,
    PCMAudioFormat,
    PCMUAudioFormat,
    RealtimeConnection,
    RemoteProtocolError,
    SessionProperties,
    TurnDetection,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.session import AudioFormat
from tests.emulator_helpers import (
    Driver,
    RawClient,
    host_port,
    read_wav,
    rms,
    run,
    speech_like,
    speech_ms,
    write_wav,
)

ROOT = Path(__file__).resolve().parents[1]
LONG_REPLY = "This answer is long on purpose, so that there is time to interrupt it. " * 4


def voice_session(in_fmt: AudioFormat | None = None, out_fmt: AudioFormat | None = None,
                  turn_detection: TurnDetection | None = None, **kw: Any) -> SessionProperties:
    return SessionProperties(
        audio=AudioConfiguration(
            input=AudioInput(format=in_fmt or PCMAudioFormat(rate=16000),
                             turn_detection=turn_detection or TurnDetection(type="server_vad")),
            output=AudioOutput(format=out_fmt or PCMAudioFormat(rate=24000), voice="Sarah"),
        ),
        **kw,
    )


def options(**kw: Any) -> EmulatorOptions:
    kw.setdefault("pace", 0)
    return EmulatorOptions(**kw)


def of(events: list[Any], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def text_turn(d: Driver, text: str) -> None:
    d.send(ev.ConversationItemCreate(item=ConversationItem.user_text(text)))
    d.send(ev.ResponseCreate())


def test_session_lifecycle_and_what_the_emulator_records() -> None:
    async def scenario() -> None:
        async with Emulator(options()) as emu:
            assert emu.url == f"ws://127.0.0.1:{emu.port}/api/v1/realtime/session"
            d = await Driver(emu.url, SessionProperties(instructions="Be brief."), api_key="secret-key").open()
            created = of(d.seen, ev.SessionCreated)[0].session
            assert created.id.startswith("sess_") and created.object == "realtime.session"
            assert created.expires_at > time.time() + 60
            assert created.audio.input.turn_detection.type == "semantic_vad"
            updated = of(d.seen, ev.SessionUpdated)[0].session
            assert updated.instructions == "Be brief." and updated.id == created.id
            rec = emu.sessions[0]
            assert rec.accepted and rec.path == "/api/v1/realtime/session"
            assert rec.query["protocol"] == "realtime" and rec.query["key"].startswith("realtime-")
            assert rec.auth_scheme == "basic" and rec.headers["authorization"] == "Basic <redacted>"
            assert "secret-key" not in repr(rec) and "secret-key" not in repr(emu)
            assert rec.config is not None and rec.config.instructions == "Be brief."
            assert [e.type for e in emu.received] == ["session.update"]
            await d.aclose()
            closed = of(d.seen, ev.ConnectionClosed)
            assert closed and closed[0].clean and closed[0].code == 1000
            assert rec.close_code == 1000

    run(scenario())


def test_voice_turn_from_a_speech_like_wav(tmp_path: Path) -> None:
    write_wav(tmp_path / "question.wav", speech_like(16000), 16000)
    pcm, rate = read_wav(tmp_path / "question.wav")
    reply = "It is sunny and warm today."
    brain = ScriptedBrain(["what is the weather like"], [reply])

    async def scenario() -> None:
        async with Emulator(options(brain=brain)) as emu:
            d = await Driver(emu.url, voice_session()).open()
            d.send_audio(pcm)
            events = await d.until(ev.ResponseDone)
            order = [
                "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed", "conversation.item.added",
                "conversation.item.input_audio_transcription.completed", "response.created",
                "response.output_item.added", "response.content_part.added", "response.output_audio.delta",
                "response.output_audio.done", "response.output_audio_transcript.done",
                "response.content_part.done", "response.output_item.done", "response.done",
            ]
            types = [getattr(e, "type", None) for e in events]
            positions = [types.index(t) for t in order]
            assert positions == sorted(positions), types

            started = of(events, ev.InputAudioBufferSpeechStarted)[0]
            stopped = of(events, ev.InputAudioBufferSpeechStopped)[0]
            assert abs(started.audio_start_ms - (500 - 300)) <= 20  # speech at 500 ms, 300 ms prefix padding
            assert abs(stopped.audio_end_ms - (500 + speech_ms() + 500)) <= 30  # 500 ms silence ends it
            committed = of(events, ev.InputAudioBufferCommitted)[0]
            assert committed.item_id == started.item_id == stopped.item_id
            completed = of(events, ev.InputAudioTranscriptionCompleted)[0]
            assert completed.transcript == "what is the weather like" and completed.item_id == committed.item_id
            deltas = of(events, ev.InputAudioTranscriptionDelta)
            # rolling rewrites (Inworld): each delta is the whole transcript so far, the last one all of it
            assert deltas and deltas[-1].delta == completed.transcript
            assert all(completed.transcript.startswith(e.delta) for e in deltas)

            audio = b"".join(e.pcm for e in of(events, ev.ResponseOutputAudioDelta))
            assert len(audio) / 2 / 24000 > 0.8  # output at the session's 24 kHz
            assert rms(audio) > 500
            assert "".join(e.delta for e in of(events, ev.ResponseOutputAudioTranscriptDelta)) == reply
            assert of(events, ev.ResponseOutputAudioTranscriptDone)[0].transcript == reply
            done = events[-1]
            assert done.response.status == "completed" and done.usage is not None and done.usage.total_tokens > 0
            assert done.response.usage == done.usage
            assert done.response.output[0].content[0].transcript == reply
            rec = emu.sessions[0]
            assert rec.audio_bytes == len(pcm) and rate == 16000
            assert rec.responses[0].text == reply
            assert abs(rec.responses[0].audio_ms - len(audio) / 48) < 1
            assert d.conn.conversation.items[committed.item_id].text == "what is the weather like"
            write_wav(tmp_path / "answer.wav", audio, 24000)  # pytest --basetemp=DIR keeps it, to listen to
            await d.aclose()

    run(scenario())


@pytest.mark.parametrize(("eagerness", "turns", "chunk_ms"), [("high", 2, 60), ("low", 1, 60), ("high", 2, 2000)])
def test_semantic_vad_eagerness_sets_the_silence_that_ends_a_turn(eagerness: str, turns: int, chunk_ms: int) -> None:
    # Two bursts 450 ms apart: "high" (300 ms of silence) splits them, "low" (900 ms) does not.
    audio = speech_like(16000, syllables=3, tail_ms=450) + speech_like(16000, syllables=3, lead_ms=0)
    td = TurnDetection(type="semantic_vad", eagerness=eagerness, create_response=False)  # type: ignore[arg-type]

    async def scenario() -> None:
        async with Emulator(options(brain=ScriptedBrain(recognize=False))) as emu:  # words at once, no recogniser
            d = await Driver(emu.url, voice_session(turn_detection=td), chunk_ms=chunk_ms).open()
            d.send_audio(audio)  # in 60 ms appends, or 2 s ones (the first turn's end and the next start in one)
            d.send(ev.InputAudioBufferClear())  # a barrier: everything the audio caused comes before "cleared"
            events = await d.until(ev.InputAudioBufferCleared)
            assert len(of(events, ev.InputAudioBufferSpeechStarted)) == turns
            assert len(of(events, ev.InputAudioBufferSpeechStopped)) == turns
            assert len(of(events, ev.InputAudioTranscriptionCompleted)) == turns
            assert not of(events, ev.ResponseCreated)
            await d.aclose()

    run(scenario())


def test_speech_while_responding_interrupts_the_response() -> None:
    async def scenario() -> None:
        async with Emulator(options(pace=1, brain=ScriptedBrain(replies=[LONG_REPLY]))) as emu:
            d = await Driver(emu.url, voice_session()).open()
            text_turn(d, "tell me a story")
            await d.expect(ev.ResponseOutputAudioDelta)
            d.send_audio(speech_like(16000, tail_ms=0))
            started = await d.expect(ev.InputAudioBufferSpeechStarted)
            done = await d.expect(ev.ResponseDone)
            assert done.response.status == "cancelled"
            assert done.response.status_details == {"type": "cancelled", "reason": "turn_detected"}
            assert started.item_id
            await d.aclose()

    run(scenario())


def test_text_turn_is_answered_with_speech() -> None:
    async def scenario() -> None:
        async with Emulator(options()) as emu:
            d = await Driver(emu.url, voice_session()).open()
            text_turn(d, "hello there")
            events = await d.until(ev.ResponseDone)
            added = of(events, ev.ConversationItemAdded)[0]
            assert added.item.role == "user" and added.item.content[0].text == "hello there"
            transcript = "".join(e.delta for e in of(events, ev.ResponseOutputAudioTranscriptDelta))
            assert transcript == "You said: hello there"
            assert rms(b"".join(e.pcm for e in of(events, ev.ResponseOutputAudioDelta))) > 500
            assert events[-1].response.status == "completed"
            await d.aclose()

    run(scenario())


def test_text_only_session_streams_output_text() -> None:
    async def scenario() -> None:
        async with Emulator(options(brain=ScriptedBrain(replies=["Plain words, no voice."]))) as emu:
            d = await Driver(emu.url, SessionProperties(output_modalities=["text"])).open()
            text_turn(d, "write to me")
            events = await d.until(ev.ResponseDone)
            assert not of(events, ev.ResponseOutputAudioDelta)
            assert of(events, ev.ResponseContentPartAdded)[0].part.type == "text"
            assert "".join(e.delta for e in of(events, ev.ResponseOutputTextDelta)) == "Plain words, no voice."
            assert of(events, ev.ResponseOutputTextDone)[0].text == "Plain words, no voice."
            item = of(events, ev.ResponseOutputItemDone)[0].item
            assert item.content[0].type == "output_text" and item.status == "completed"
            await d.aclose()

    run(scenario())


def test_greeting_when_a_response_is_asked_for_with_nothing_said() -> None:
    async def scenario() -> None:
        async with Emulator(options(brain=ScriptedBrain(greeting="Hi, I am here."))) as emu:
            d = await Driver(emu.url, SessionProperties(output_modalities=["text"])).open()
            d.send(ev.ResponseCreate())
            events = await d.until(ev.ResponseDone)
            assert of(events, ev.ResponseOutputTextDone)[0].text == "Hi, I am here."
            await d.aclose()

    run(scenario())


WEATHER = FunctionTool(name="get_weather", description="Weather for a city",
                       parameters={"type": "object", "properties": {"city": {"type": "string"}}})
WEATHER_BRAIN = ScriptedBrain(tools=[ToolRule("get_weather", keywords=("weather",), arguments={"city": "Paris"})])


def test_function_call_round_trip_without_auto_tool_response() -> None:
    session = SessionProperties(tools=[WEATHER], output_modalities=["text"],
                                provider_data={"auto_tool_response": False})

    async def scenario() -> None:
        async with Emulator(options(brain=WEATHER_BRAIN)) as emu:
            d = await Driver(emu.url, session).open()
            text_turn(d, "What's the weather in Paris?")
            events = await d.until(ev.ResponseDone)
            item = of(events, ev.ResponseOutputItemAdded)[0].item
            assert item.type == "function_call" and item.name == "get_weather"
            arguments = "".join(e.delta for e in of(events, ev.ResponseFunctionCallArgumentsDelta))
            done_args = of(events, ev.ResponseFunctionCallArgumentsDone)[0]
            assert done_args.name == "get_weather" and done_args.call_id == item.call_id
            assert json.loads(arguments) == json.loads(done_args.arguments) == {"city": "Paris"}
            assert events[-1].response.output[0].arguments == done_args.arguments
            assert item.call_id in d.conn.conversation.function_calls

            d.send(ev.ConversationItemCreate(item=ConversationItem.function_output(item.call_id, '{"temp_c": 21}')))
            await d.expect(ev.ConversationItemDone)
            d.send(ev.ResponseCreate())  # auto_tool_response is off: the server waits for this
            after = await d.until(ev.ResponseDone)
            assert len(of(after, ev.ResponseCreated)) == 1 and not of(after, ev.ErrorEvent)
            assert of(after, ev.ResponseOutputTextDone)[0].text == 'The get_weather tool returned {"temp_c": 21}.'
            assert emu.sessions[0].responses[0].function_calls == [("get_weather", '{"city": "Paris"}')]
            await d.aclose()

    run(scenario())


def test_function_output_creates_the_response_by_itself_by_default() -> None:
    brain = ScriptedBrain(tools=[ToolRule("get_weather", keywords=("weather",), reply="It is {result} out.")])

    async def scenario() -> None:
        async with Emulator(options(brain=brain)) as emu:
            d = await Driver(emu.url, SessionProperties(tools=[WEATHER], output_modalities=["text"])).open()
            text_turn(d, "how is the weather")
            call = (await d.expect(ev.ResponseFunctionCallArgumentsDone))
            await d.expect(ev.ResponseDone)
            d.send(ev.ConversationItemCreate(item=ConversationItem.function_output(call.call_id, "mild")))
            text = await d.expect(ev.ResponseOutputTextDone)
            assert text.text == "It is mild out."
            await d.aclose()

    run(scenario())


def test_function_call_name_can_be_left_out_like_inworld_does() -> None:
    async def scenario() -> None:
        async with Emulator(options(brain=WEATHER_BRAIN, omit_function_call_name=True)) as emu:
            raw = RawClient(emu.url)
            await raw.open()
            assert json.loads(await raw.message())["type"] == "session.created"
            raw.send_text(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "output_modalities": ["text"], "tools": [WEATHER.to_wire()]}}))
            raw.send_text(json.dumps({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]}}))
            raw.send_text(json.dumps({"type": "response.create"}))
            while True:
                message = json.loads(await raw.message())
                if message["type"] == "response.function_call_arguments.done":
                    break
            assert "name" not in message and message["call_id"].startswith("call_")
            raw.close()
            # The core takes the name from the function-call item instead.
            d = await Driver(emu.url, SessionProperties(tools=[WEATHER], output_modalities=["text"])).open()
            text_turn(d, "weather?")
            done = await d.expect(ev.ResponseFunctionCallArgumentsDone)
            assert done.name == "get_weather"
            await d.aclose()

    run(scenario())


def test_cancel_with_and_without_an_active_response() -> None:
    async def scenario() -> None:
        async with Emulator(options(pace=1, brain=ScriptedBrain(replies=[LONG_REPLY, "Okay."]))) as emu:
            d = await Driver(emu.url, voice_session()).open()
            text_turn(d, "talk to me")
            await d.expect(ev.ResponseOutputAudioDelta)
            assert d.conn.cancel_response()
            d.flush()
            done = await d.expect(ev.ResponseDone)
            assert done.response.status == "cancelled"
            assert done.response.status_details["reason"] == "client_cancelled"
            assert done.response.output[0].status == "incomplete"
            rec = emu.sessions[0].responses[0]
            assert rec.status == "cancelled" and rec.audio_ms < 3000

            d.send(ev.ResponseCancel())  # nothing to cancel: Inworld's clients do this on every barge-in
            text_turn(d, "again")
            after = await d.until(ev.ResponseDone)
            assert after[-1].response.status == "completed"
            assert not any(isinstance(e, ev.ErrorEvent) for e in after) and not emu.sessions[0].errors
            await d.aclose()

        async with Emulator(options(cancel_without_response_error=True)) as emu:  # OpenAI's answer, on request
            d = await Driver(emu.url, voice_session()).open()
            d.send(ev.ResponseCancel())
            error = await d.expect(ev.ErrorEvent)
            assert error.error.code == "response_cancel_not_active" and error.error.event_id
            assert d.conn.state is ConnectionState.READY
            await d.aclose()

    run(scenario())


def test_second_response_create_during_a_response_is_refused() -> None:
    async def scenario() -> None:
        async with Emulator(options(pace=1, brain=ScriptedBrain(replies=[LONG_REPLY]))) as emu:
            d = await Driver(emu.url, voice_session()).open()
            text_turn(d, "talk")
            await d.expect(ev.ResponseCreated)
            d.send(ev.ResponseCreate())
            error = await d.expect(ev.ErrorEvent)
            assert error.error.code == "conversation_already_has_active_response"
            assert error.error.type == "invalid_request_error"
            d.send(ev.ResponseCancel())
            await d.expect(ev.ResponseDone)
            assert len(of(d.seen, ev.ResponseCreated)) == 1 and len(emu.sessions[0].responses) == 1
            await d.aclose()

    run(scenario())


def test_truncate_valid_and_invalid() -> None:
    async def scenario() -> None:
        async with Emulator(options()) as emu:
            d = await Driver(emu.url, voice_session()).open()
            text_turn(d, "say something long enough to cut")
            events = await d.until(ev.ResponseDone)
            user_item = of(events, ev.ConversationItemAdded)[0].item.id
            assistant_item = events[-1].response.output[0].id
            heard_ms = sum(len(e.pcm) for e in of(events, ev.ResponseOutputAudioDelta)) / 48
            assert heard_ms > 1000

            sent = d.conn.truncate(played_ms=500)
            d.flush()
            assert sent is not None and sent.audio_end_ms == 500
            truncated = await d.expect(ev.ConversationItemTruncated)
            assert (truncated.item_id, truncated.audio_end_ms) == (assistant_item, 500)
            assert emu.sessions[0].truncates[0].audio_end_ms == 500

            bad = [
                (ev.ConversationItemTruncate(item_id=assistant_item, audio_end_ms=int(heard_ms) + 1000),
                 "audio_end_ms"),
                (ev.ConversationItemTruncate(item_id=user_item, audio_end_ms=0), "item_id"),
                (ev.ConversationItemTruncate(item_id="item_nope", audio_end_ms=0), "item_id"),
                (ev.ConversationItemTruncate(item_id=assistant_item, content_index=3, audio_end_ms=0), "content_index"),
            ]
            for event, param in bad:
                d.send(event)
                error = await d.expect(ev.ErrorEvent)
                assert (error.error.code, error.error.param, error.error.event_id) == (
                    "invalid_value", param, event.event_id)
            assert len(emu.sessions[0].truncates) == 1
            await d.aclose()

    run(scenario())


def test_manual_mode_commits_and_clears_only_on_request() -> None:
    session = SessionProperties(audio=AudioConfiguration(input=AudioInput(
        format=PCMAudioFormat(rate=16000), turn_detection=None)))
    assert session.manual_turns()
    brain = ScriptedBrain(["a manual turn"])

    async def scenario() -> None:
        async with Emulator(options(brain=brain)) as emu:
            d = await Driver(emu.url, session).open()
            d.send(ev.InputAudioBufferCommit())
            empty = await d.expect(ev.ErrorEvent)
            assert empty.error.code == "input_audio_buffer_commit_empty"

            pcm = speech_like(16000)
            d.send_audio(pcm)
            d.conn.commit()
            d.flush()
            events = await d.until(ev.ConversationItemDone)
            assert not of(events, ev.InputAudioBufferSpeechStarted)
            assert of(events, ev.InputAudioTranscriptionCompleted)[0].transcript == "a manual turn"
            d.send(ev.ResponseCreate())
            after = await d.until(ev.ResponseDone)
            assert of(d.seen, ev.ResponseCreated) == of(after, ev.ResponseCreated)  # none before we asked

            d.send_audio(pcm[:32000])
            d.send(ev.InputAudioBufferClear())
            await d.expect(ev.InputAudioBufferCleared)
            d.send(ev.InputAudioBufferCommit())
            assert (await d.expect(ev.ErrorEvent)).error.code == "input_audio_buffer_commit_empty"
            assert emu.sessions[0].audio_bytes == len(pcm) + 32000
            await d.aclose()

    run(scenario())


@pytest.mark.parametrize("fmt", [PCMUAudioFormat(), PCMAAudioFormat()], ids=["pcmu", "pcma"])
def test_g711_in_and_out(fmt: PCMUAudioFormat | PCMAAudioFormat) -> None:
    async def scenario() -> None:
        async with Emulator(options()) as emu:
            d = await Driver(emu.url, voice_session(in_fmt=fmt, out_fmt=fmt)).open()
            d.send_audio(speech_like(8000))
            events = await d.until(ev.ResponseDone)
            assert of(events, ev.InputAudioBufferSpeechStarted)  # the VAD heard the decoded G.711
            deltas = of(events, ev.ResponseOutputAudioDelta)
            wire = b"".join(base64.b64decode(e.delta) for e in deltas)
            pcm = b"".join(e.pcm for e in deltas)
            assert len(pcm) == 2 * len(wire)  # one byte per sample on the wire
            assert abs(len(wire) / 8 - emu.sessions[0].responses[0].audio_ms) < 1  # 8 kHz
            assert rms(pcm) > 500
            await d.aclose()

    run(scenario())


@pytest.mark.parametrize("name", ["ulaw", "audio/x-mulaw", "alaw"])
def test_input_format_aliases_the_validation_accepts_are_decoded_as_g711(name: str) -> None:
    from inworld_realtime.emulator.records import SessionRecord
    from inworld_realtime.emulator.session import RealtimeSession

    session = RealtimeSession(SessionRecord(index=0), options(), Synthesizer("tone"), lambda _: None)
    update = ev.client_event_adapter.validate_python(
        {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": name}}}})
    session.handle(update)
    assert not session.record.errors
    assert session.input_rate == 8000 and session.input_wire.width == 1
    session.handle(ev.InputAudioBufferAppend(audio=base64.b64encode(bytes(800)).decode("ascii")))
    assert session.record.audio_bytes == 1600  # one byte per sample on the wire, two in the buffer


def test_api_key_is_enforced_with_401_and_a_json_body() -> None:
    async def scenario() -> None:
        async with Emulator(options(api_key="right-key")) as emu:
            d = await Driver(emu.url, api_key="wrong-key").open(configured=False)
            error = await d.expect(HandshakeError)
            assert error.status == 401 and json.loads(error.body)["code"] == 16
            assert "wrong-key" not in str(error)
            ok = await Driver(emu.url, api_key="right-key", auth_type="bearer").open()
            assert [s.status for s in emu.sessions] == [401, 101]
            assert emu.sessions[1].auth_scheme == "bearer"
            await ok.aclose()

    run(scenario())


def test_wrong_path_is_404() -> None:
    async def scenario() -> None:
        async with Emulator(options()) as emu:
            d = await Driver(emu.url.replace("/api/v1/realtime/session", "/v1/realtime")).open(configured=False)
            assert (await d.expect(HandshakeError)).status == 404

    run(scenario())


def test_bad_session_update_gets_an_error_like_the_api_and_changes_nothing() -> None:
    bad = [
        (SessionProperties(temperature=5.0), "session.temperature", "decimal_out_of_range"),
        (SessionProperties(audio=AudioConfiguration(input=AudioInput(
            transcription=InputTranscription(model="nonsense")))),
         "session.audio.input.transcription.model", "invalid_value"),
        (SessionProperties.model_validate({"foo": "bar"}), "session.foo", "unknown_parameter"),
        (SessionProperties(tools=[{"type": "function"}]), "session.tools[0].name", "missing_required_parameter"),
        (SessionProperties(tool_choice="sometimes"), "session.tool_choice", "invalid_value"),
    ]

    async def scenario() -> None:
        async with Emulator(options(strict=True)) as emu:
            d = await Driver(emu.url).open()
            for session, param, code in bad:
                update = ev.SessionUpdate(session=session)
                d.send(update)
                error = await d.expect(ev.ErrorEvent)
                assert (error.error.type, error.error.code, error.error.param, error.error.event_id) == (
                    "invalid_request_error", code, param, update.event_id)
            config = emu.sessions[0].config
            assert config is not None and config.temperature is None and config.tool_choice == "auto"
            d.send(ev.SessionUpdate(session=SessionProperties(temperature=0.4)))
            assert (await d.expect(ev.SessionUpdated)).session.temperature == 0.4
            await d.aclose()

    run(scenario())


def test_malformed_client_messages_get_errors_and_the_session_goes_on() -> None:
    cases = [
        ("{not json", "invalid_json", None),
        ('{"type": "response.make"}', "invalid_value", "type"),
        ('{"type": "input_audio_buffer.append"}', "missing_required_parameter", "audio"),
        ('{"type": "input_audio_buffer.append", "audio": "!!!"}', "invalid_value", "audio"),
        ('{"type": "session.update", "session": {"audio": {"input": {"format": '
         '{"type": "audio/pcm", "rate": 12345}}}}}',
         "invalid_value", "session.audio.input.format.rate"),
    ]

    async def scenario() -> None:
        async with Emulator(options()) as emu:
            raw = RawClient(emu.url)
            await raw.open()
            await raw.message()
            for text, code, param in cases:
                raw.send_text(text)
                error = json.loads(await raw.message())
                assert error["type"] == "error", error
                assert (error["error"]["code"], error["error"]["param"]) == (code, param)
            raw.send_text('{"type": "input_audio_buffer.clear"}')
            assert json.loads(await raw.message())["type"] == "input_audio_buffer.cleared"
            assert len(emu.sessions[0].invalid) == 3  # the odd rate parses (open models); the API check refuses it
            raw.close()

    run(scenario())


def test_fault_drop_after_n_events() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(drop_after=4))) as emu:
            d = await Driver(emu.url).open()
            text_turn(d, "hi")
            closed = await d.expect(ev.ConnectionClosed)
            assert (closed.code, closed.clean) == (1006, False)
            assert [e.type for e in d.seen if isinstance(e, ev.ServerEvent)] == [
                "session.created", "session.updated", "conversation.item.added", "conversation.item.done"]
            assert d.conn.state is ConnectionState.DISCONNECTED
            assert emu.sessions[0].sent == 4

    run(scenario())


def test_fault_close_with_code_after_n_events() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(close_after=2, close_code=4001, close_reason="bye"))) as emu:
            d = await Driver(emu.url).open()
            closed = await d.expect(ev.ConnectionClosed)
            assert (closed.code, closed.reason, closed.clean) == (4001, "bye", False)
            assert emu.sessions[0].sent == 2

    run(scenario())


def test_fault_delay_every_event() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(delay_ms=150))) as emu:
            began = time.monotonic()
            d = await Driver(emu.url).open()
            assert time.monotonic() - began >= 0.29  # session.created and session.updated, 150 ms each
            await d.aclose()

    run(scenario())


def test_fault_fragmented_frames() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(fragment=3))) as emu:
            raw = RawClient(emu.url)
            await raw.open()
            frames = [await raw.frame()]
            while not frames[-1].message_finished:
                frames.append(await raw.frame())
            assert len(frames) == 3
            assert json.loads("".join(str(f.payload) for f in frames))["type"] == "session.created"
            raw.close()
            d = await Driver(emu.url, SessionProperties(output_modalities=["text"])).open()
            text_turn(d, "in pieces")
            assert (await d.expect(ev.ResponseOutputTextDone)).text == "You said: in pieces"
            await d.aclose()

    run(scenario())


def test_fault_websocket_pings_and_inworld_ping_events() -> None:
    async def scenario() -> None:
        faults = Faults(ws_ping_interval_s=0.05, ping_event_interval_s=0.05)
        async with Emulator(options(faults=faults)) as emu:
            raw = RawClient(emu.url)
            await raw.open()
            pings = 0
            while pings < 2:
                pings += (await raw.frame()).opcode is Opcode.PING
            raw.close()
            d = await Driver(emu.url).open()
            ping = await d.expect(ev.Ping)
            assert abs(ping.timestamp - time.time() * 1000) < 60_000
            assert d.conn.state is ConnectionState.READY
            await d.aclose()

    run(scenario())


def test_fault_malformed_message_fails_the_client() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(malformed_after=2))) as emu:
            d = await Driver(emu.url).open()
            error = await d.expect(RemoteProtocolError)
            assert "malformed JSON" in str(error)
            assert d.conn.state is ConnectionState.FAILED
            assert emu.sessions[0].sent == 2

    run(scenario())


def test_fault_untyped_error_frame() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(untyped_after=2))) as emu:
            d = await Driver(emu.url, SessionProperties(output_modalities=["text"])).open()
            untyped = await d.expect(ev.UntypedServerMessage)
            assert untyped.error_type == "SESSION_RESOURCES_EXHAUSTED"
            text_turn(d, "still there?")
            assert (await d.expect(ev.ResponseDone)).response.status == "completed"
            await d.aclose()

    run(scenario())


def test_fault_refuse_handshake_with_retry_after_for_the_first_connection_only() -> None:
    async def scenario() -> None:
        faults = Faults(refuse_status=429, retry_after="2", first_connections=1)
        async with Emulator(options(faults=faults)) as emu:
            d = await Driver(emu.url).open(configured=False)
            error = await d.expect(HandshakeError)
            assert (error.status, error.retry_after) == (429, 2.0)
            assert d.conn.state is ConnectionState.FAILED
            d.conn.connect()  # the same connection object tries again and gets in
            d2 = await Driver(emu.url).open()
            assert [s.status for s in emu.sessions] == [429, 101]
            await d2.aclose()

    run(scenario())


def test_fault_silent_server_accepts_then_says_nothing() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(silent=True))) as emu:
            d = await Driver(emu.url).open(configured=False)
            await d.expect(ev.Connected)
            with pytest.raises(TimeoutError):
                await d.expect(ev.SessionCreated, timeout=0.3)
            assert d.conn.state is ConnectionState.AWAITING_SESSION
            assert emu.sessions[0].sent == 0 and emu.sessions[0].accepted

    run(scenario())


def test_fault_stop_reading_makes_the_client_block() -> None:
    async def scenario() -> None:
        async with Emulator(options(faults=Faults(stop_reading_after=1))) as emu:
            d = await Driver(emu.url).open()
            chunk = bytes(1_000_000)
            written = 0
            with pytest.raises(TimeoutError):
                while written < 200_000_000:
                    d.send_audio(chunk)
                    written += len(chunk)
                    await d.drain(timeout=0.5)
            assert emu.sessions[0].audio_bytes == 0 and written >= 1_000_000
            assert [e.type for e in emu.received] == ["session.update"]

    run(scenario())


def test_session_expiry() -> None:
    async def scenario() -> None:
        async with Emulator(options(session_ttl_s=0.2)) as emu:
            d = await Driver(emu.url).open()
            error = await d.expect(ev.ErrorEvent)
            assert error.error.code == "session_expired"
            closed = await d.expect(ev.ConnectionClosed)
            assert closed.clean is False  # an expired session is a drop the client may resume from
            assert emu.sessions[0].closed or emu.sessions[0].sent == 3

    run(scenario())


def test_beta_event_names_option() -> None:
    async def scenario() -> None:
        async with Emulator(options(beta_event_names=True)) as emu:
            raw = RawClient(emu.url)
            await raw.open()
            await raw.message()
            raw.send_text('{"type": "conversation.item.create", "item": {"type": "message", "role": "user", '
                          '"content": [{"type": "input_text", "text": "hi"}]}}')
            raw.send_text('{"type": "response.create"}')
            seen = set()
            while "response.done" not in seen:
                seen.add(json.loads(await raw.message())["type"])
            assert {"response.audio.delta", "response.audio_transcript.delta", "conversation.item.created"} <= seen
            assert "response.output_audio.delta" not in seen
            raw.close()

    run(scenario())


def test_closing_the_emulator_says_going_away() -> None:
    async def scenario() -> None:
        emu = Emulator(options())
        await emu.start()
        d = await Driver(emu.url).open()
        await emu.close()
        closed = await d.expect(ev.ConnectionClosed)
        assert (closed.code, closed.reason) == (1001, "going away")
        assert emu.sessions[0].closed

    run(scenario())


def test_emulator_thread_serves_blocking_code() -> None:
    with EmulatorThread(options()) as emu:
        conn = RealtimeConnection("k", SessionProperties(instructions="hi"), emu.url)
        conn.connect()
        with socket.create_connection(host_port(emu.url), timeout=5) as sock:
            sock.sendall(conn.data_to_send())
            configured = False
            while not configured:
                data = sock.recv(65536)
                conn.receive_data(data)
                configured = any(isinstance(e, ev.SessionConfigured) for e in conn.events())
                sock.sendall(conn.data_to_send())
                assert data
        assert emu.sessions[0].accepted and emu.received[0].type == "session.update"
        url = emu.url
    with pytest.raises(OSError), socket.create_connection(host_port(url), timeout=2):
        pass


def test_energy_vad_finds_speech_in_session_time() -> None:
    vad = EnergyVAD(16000, VadSettings(silence_ms=400, prefix_padding_ms=100))
    found = []
    pcm = speech_like(16000, lead_ms=700, tail_ms=600)
    for start in range(0, len(pcm), 1234):  # any slicing
        found += vad.feed(pcm[start : start + 1234])
    assert found == [SpeechStarted(600), SpeechStopped(700 + speech_ms() + 400)]
    quiet = speech_like(16000, amplitude=20.0)  # about -65 dBFS: below the threshold
    assert EnergyVAD(16000).feed(quiet) == []


def test_turn_detection_maps_onto_vad_settings() -> None:
    server = VadSettings.from_turn_detection(TurnDetection(type="server_vad", threshold=0.8, silence_duration_ms=700,
                                                           prefix_padding_ms=200))
    assert (server.threshold_dbfs, server.silence_ms, server.prefix_padding_ms) == (-30.0, 700, 200)
    silences = [VadSettings.from_turn_detection(TurnDetection(type="semantic_vad", eagerness=e)).silence_ms
                for e in ("high", "medium", "auto", "low")]
    assert silences == sorted(silences) and silences[0] < silences[-1]


def test_scripted_brain() -> None:
    brain = ScriptedBrain(["first"], ["one"], [ToolRule("get_weather", ("forecast",), {"city": "Oslo"})])
    assert brain.transcribe(b"\0\0" * 16000, 16000, 0) == "first"
    assert brain.transcribe(b"\0\0" * 16000, 16000, 1) is None  # left to the recogniser
    assert ScriptedBrain(recognize=False).transcribe(b"\0\0" * 16000, 16000, 0) == "[1.0 seconds of speech]"
    tools = (ToolSpec("get_weather"), ToolSpec("book_table"))
    assert brain.respond(Turn("any forecast?", tools=tools)) == CallTool("get_weather", {"city": "Oslo"})
    assert brain.respond(Turn("please book table for two", tools=tools)) == CallTool("book_table", {})
    assert brain.respond(Turn("the forecaster", tools=tools, reply_index=1)) == Say("You said: the forecaster")
    assert brain.respond(Turn("the forecast", tools=(), reply_index=0)) == Say("one")
    assert isinstance(brain.respond(Turn(None, reply_index=5)), Say)


def test_scripted_brain_from_file(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"transcripts": ["hi"], "replies": ["hello"],
                                  "tools": [{"name": "lookup", "keywords": ["find"], "arguments": {"q": 1}}]}))
    brain = ScriptedBrain.from_file(script)
    assert brain.transcripts == ("hi",) and brain.tools[0].arguments == {"q": 1}
    for bad, words in [("[1]", "JSON object"), ('{"replies": "x"}', "replies"), ('{"tool": []}', "unknown field"),
                       ('{"tools": [{"keywords": []}]}', "name"), ("{", "not valid JSON")]:
        script.write_text(bad)
        with pytest.raises(ValueError, match=words):
            ScriptedBrain.from_file(script)


def test_speech_engines_and_fallback() -> None:
    auto = Synthesizer()
    installed = wheel_voice() or shutil.which("espeak-ng") or shutil.which("espeak")
    assert auto.engine == ("espeak" if installed else "tone")
    for synth in (auto, Synthesizer("tone")):
        pcm = synth.synthesize("Testing one two three.", 24000)
        assert 0.5 < len(pcm) / 48000 < 5 and rms(pcm) > 1000
    broken = Synthesizer("auto", espeak_path="/nonexistent/espeak-ng")
    text = "The fallback still speaks."
    assert broken.synthesize(text, 16000, "Clive") == tone_speech(text, 16000, "Clive")
    short, long = (len(Synthesizer("tone").synthesize(t, 16000)) for t in ("Hi.", "Hi. " * 10))
    assert long > 5 * short
    assert Synthesizer().synthesize("   ", 16000) == b""
    with pytest.raises(ValueError):
        Synthesizer("festival")  # type: ignore[arg-type]


def test_resample_keeps_duration_and_level() -> None:
    tone = tone_speech("one two three", 24000)
    for rate in (8000, 16000, 48000):
        out = resample(tone, 24000, rate)
        assert abs(len(out) / 2 / rate - len(tone) / 48000) < 0.01
        assert 0.7 < rms(out) / rms(tone) < 1.2


def test_options_and_faults_are_checked() -> None:
    with pytest.raises(ValueError, match="pace"):
        EmulatorOptions(pace=-1)
    with pytest.raises(ValueError, match="refuse_status"):
        Faults(refuse_status=200)
    with pytest.raises(ValueError, match="close_code"):
        Faults(close_code=1006)
    with pytest.raises(ValueError, match="drop_after"):
        Faults(drop_after=-1)
    assert Faults(first_connections=2).applies_to(1) and not Faults(first_connections=2).applies_to(2)
    assert not Faults().any and Faults(silent=True).any


def test_command_line_options() -> None:
    args = build_parser().parse_args([
        "--port", "0", "--api-key", "k", "--transcript", "one", "--reply", "two",
        "--tool", 'get_weather={"city": "Rome"}', "--drop-after", "5", "--fragment", "2", "--refuse", "503",
        "--retry-after", "1", "--pace", "0", "--omit-function-name", "--faulty-connections", "1",
    ])
    opts = options_from_args(args)
    assert opts.api_key == "k" and opts.pace == 0 and opts.omit_function_call_name and not opts.keep_history
    assert isinstance(opts.brain, ScriptedBrain) and opts.brain.transcripts == ("one",)
    assert opts.brain.tools[0].arguments == {"city": "Rome"}
    assert opts.faults == Faults(drop_after=5, fragment=2, refuse_status=503, retry_after="1", first_connections=1)


def test_command_line_say_writes_a_wav_to_listen_to(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "voice.wav"
    assert main(["--say", "Hello from the emulator.", "--out", str(out), "--rate", "16000"]) == 0
    pcm, rate = read_wav(out)
    assert rate == 16000 and len(pcm) > 16000 and rms(pcm) > 1000
    assert f"wrote {out}" in capsys.readouterr().out


def test_command_line_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--tool", "x={bad"]) == 2
    assert main(["--script", str(tmp_path / "missing.json")]) == 2
    assert main(["--refuse", "200"]) == 2
    assert main(["--say", "hi", "--out", str(tmp_path / "no" / "such" / "dir.wav")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_python_dash_m_runs_a_server_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "inworld_realtime.emulator", "--port", "0", "--pace", "0", "--reply", "From the CLI."],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on ws://127.0.0.1:" in line
        url = line.split()[5]
        if importlib.util.find_spec("aiortc") is not None:  # the WebRTC base URL too, and it answers
            webrtc = line.split()[7]
            assert line.split()[6:9:2] == ["and", "(WebRTC)"] and webrtc.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(urllib.request.Request(
                    f"{webrtc}/ice-servers", headers={"Authorization": "Bearer k"}), timeout=5) as reply:
                assert json.loads(reply.read()) == {"ice_servers": []}

        async def scenario() -> None:
            d = await Driver(url, SessionProperties(output_modalities=["text"])).open()
            text_turn(d, "hello")
            assert (await d.expect(ev.ResponseOutputTextDone)).text == "From the CLI."
            await d.aclose()

        run(scenario())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
