"""Issue 21, part A: Inworld as its other clients know it (Mastra, Inworld's Android app and feature tester).

Rolling user transcripts streamed during speech, smart-turn suggestions, the idle timeout, ``transcription:
null``, the flat per-response voice, float32 audio, output-buffer signals, the stt/tts/memory providerData
branches, a URL without ``protocol`` and the ``realtime`` subprotocol, and token minting with bearer auth.
Emulator checks talk to it with a plain WebSocket client (raw JSON), as those clients do.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import struct
from array import array
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from inworld_realtime.emulator import Emulator, EmulatorOptions
from inworld_realtime.emulator.brain import ScriptedBrain
from inworld_realtime.io_adapters import cli
from inworld_realtime.io_adapters.token import api_key_from_env, mint_token, mint_token_sync
from inworld_realtime.protocol import Float32AudioFormat, ProviderData, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import decoder_for, encoder_for
from inworld_realtime.protocol.errors import ConfigurationError, ProtocolError
from inworld_realtime.protocol.session import format_rate, wire_bytes_per_sample
from inworld_realtime.protocol.token import (
    ApiKey,
    MintError,
    SignedAuthorization,
    build_mint_request,
    parse_mint_response,
    signature,
)
from spec import examples
from tests.emulator_helpers import read_wav, rms, run, speech_like
from tests.test_fidelity import Wire, chunks

QUESTION = Path(__file__).resolve().parent.parent / "examples" / "question.wav"
KEY_ID, SECRET = "kid-demo", "s3cr3t-Never-Printed"
BASIC = base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
TRANSCRIPT = "what is the weather like in paris this weekend"
SERVER_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
              "create_response": True, "interrupt_response": True}


def opts(**kw: Any) -> EmulatorOptions:
    kw.setdefault("pace", 0)
    kw.setdefault("ping_interval_s", None)
    return EmulatorOptions(**kw)


@asynccontextmanager
async def plain(emu: Emulator, query: str = "&protocol=realtime", authorization: str = "Basic aW53b3JsZDprZXk=",
                **kw: Any) -> AsyncIterator[Wire]:
    """A plain WebSocket client, raw JSON, the URL as Inworld's clients build it."""
    url = f"{emu.url}?key=voice-1{query}"
    async with connect(url, additional_headers={"Authorization": authorization}, open_timeout=8, **kw) as ws:
        w = Wire(ws)
        await w.until("session.created")
        yield w


async def configure(w: Wire, **session: Any) -> dict[str, Any]:
    await w.send({"type": "session.update", "session": {"type": "realtime", **session}})
    return await w.until("session.updated")


async def stream(w: Wire, pcm: bytes, chunk_ms: int = 100, rate: int = 24000, pause_s: float = 0.0) -> None:
    for audio in chunks(pcm, rate * 2 * chunk_ms // 1000):
        await w.send({"type": "input_audio_buffer.append", "audio": audio})
        if pause_s:
            await asyncio.sleep(pause_s)


def before(w: Wire, first: str, second: str) -> list[dict[str, Any]]:
    """Messages of type ``first`` received before the first ``second``."""
    out = []
    for m in w.got:
        if m.get("type") == second:
            break
        if m.get("type") == first:
            out.append(m)
    return out


# ---------------------------------------------------------------- rolling transcripts


def test_rolling_transcript_deltas_arrive_while_the_user_speaks() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain([TRANSCRIPT]))) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": SERVER_VAD}})
            await stream(w, speech_like(24000, syllables=12))
            done = await w.until("conversation.item.input_audio_transcription.completed")
            started = w.of("input_audio_buffer.speech_started")[0]
            during = before(w, "conversation.item.input_audio_transcription.delta", "input_audio_buffer.speech_stopped")
            assert len(during) >= 2, "recognition runs during speech, not only at the commit"
            deltas = [m["delta"] for m in w.of("conversation.item.input_audio_transcription.delta")]
            assert deltas[-1] == done["transcript"] == TRANSCRIPT  # the last one is the whole transcript
            assert all(TRANSCRIPT.startswith(d) for d in deltas)  # each is the transcript so far, not a piece
            assert [len(d) for d in deltas] == sorted(len(d) for d in deltas) and len(set(deltas)) == len(deltas)
            assert {m["item_id"] for m in w.of("conversation.item.input_audio_transcription.delta")} == \
                {started["item_id"]} == {done["item_id"]}

    run(scenario())


def test_additive_transcript_deltas_are_an_option() -> None:
    async def scenario() -> None:
        options = opts(brain=ScriptedBrain([TRANSCRIPT]), transcript_deltas="additive")
        async with Emulator(options) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": SERVER_VAD}})
            await stream(w, speech_like(24000, syllables=12))
            done = await w.until("conversation.item.input_audio_transcription.completed")
            deltas = [m["delta"] for m in w.of("conversation.item.input_audio_transcription.delta")]
            assert len(deltas) > 1 and "".join(deltas) == done["transcript"] == TRANSCRIPT
            assert not before(w, "conversation.item.input_audio_transcription.delta", "input_audio_buffer.committed")

    run(scenario())


def test_transcription_null_sends_no_transcription_events_but_the_model_still_hears() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(["book a table"]))) as emu, plain(emu) as w:
            updated = await configure(w, audio={"input": {"transcription": None, "turn_detection": SERVER_VAD}})
            assert updated["session"]["audio"]["input"]["transcription"] is None
            await stream(w, speech_like(24000, syllables=8))
            await w.until("response.done")
            kinds = {m["type"] for m in w.got}
            assert "input_audio_buffer.committed" in kinds and "conversation.item.done" in kinds
            assert not {k for k in kinds if "input_audio_transcription" in k}, kinds
            spoken = "".join(m["delta"] for m in w.of("response.output_audio_transcript.delta"))
            assert spoken == "You said: book a table"  # the words reached the model, not the client

    run(scenario())


# ---------------------------------------------------------------- server VAD: smart turn and idle timeout


def test_server_vad_suggests_the_turn_end_and_revokes_it_when_speech_resumes() -> None:
    rate = 24000
    first = speech_like(rate, syllables=4, lead_ms=500, tail_ms=400)  # a 400 ms pause: shorter than 800 ms
    second = speech_like(rate, syllables=4, lead_ms=0, tail_ms=1500)

    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(["hello there"]))) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": {**SERVER_VAD, "silence_duration_ms": 800}}})
            await stream(w, first + second)
            await w.until("input_audio_buffer.committed")
            started = w.of("input_audio_buffer.speech_started")
            assert len(started) == 1
            turn = [m for m in w.got if m["type"].startswith("input_audio_buffer.turn_suggestion")]
            assert [(m["type"].rsplit(".", 1)[1], m["utterance_index"]) for m in turn] == [
                ("turn_suggestion", 0), ("turn_suggestion_revoked", 0), ("turn_suggestion", 1)]
            hint = turn[0]
            assert hint["item_id"] == started[0]["item_id"] == turn[1]["item_id"]
            assert 0 < hint["probability"] < 1 and hint["trailing_silence_ms"] >= 200
            assert hint["audio_duration_ms"] > 0 and "inference_ms" in hint
            # the typed models read them
            assert isinstance(ev.parse_server_event(json.dumps(hint)), ev.InputAudioBufferTurnSuggestion)
            assert isinstance(ev.parse_server_event(json.dumps(turn[1])), ev.InputAudioBufferTurnSuggestionRevoked)

    run(scenario())


def test_semantic_vad_sends_no_turn_suggestions() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(["hello"]))) as emu, plain(emu) as w:
            await stream(w, speech_like(24000))  # the default session: semantic_vad
            await w.until("input_audio_buffer.committed")
            assert not [m for m in w.got if "turn_suggestion" in m["type"]]

    run(scenario())


def test_idle_timeout_triggers_commits_and_asks_for_a_response() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(replies=["Are you still there?"]))) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": {**SERVER_VAD, "idle_timeout_ms": 1000}}})
            await stream(w, bytes(2 * 24000 * 3 // 2))  # 1.5 s of silence
            timeout = await w.until("input_audio_buffer.timeout_triggered")
            assert timeout["audio_end_ms"] - timeout["audio_start_ms"] >= 1000
            committed = await w.until("input_audio_buffer.committed")
            assert committed["item_id"] == timeout["item_id"]
            await w.until("response.done")
            spoken = "".join(m["delta"] for m in w.of("response.output_audio_transcript.delta"))
            assert spoken == "Are you still there?"
            assert not w.of("input_audio_buffer.speech_started")
            typed = ev.parse_server_event(json.dumps(timeout))
            assert isinstance(typed, ev.InputAudioBufferTimeoutTriggered) and typed.item_id == timeout["item_id"]

    run(scenario())


def test_no_idle_timeout_without_idle_timeout_ms() -> None:
    async def scenario() -> None:
        async with Emulator(opts()) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": SERVER_VAD}})
            await stream(w, bytes(2 * 24000 * 2))
            await w.send({"type": "input_audio_buffer.clear"})
            await w.until("input_audio_buffer.cleared")
            assert not w.of("input_audio_buffer.timeout_triggered")

    run(scenario())


# ---------------------------------------------------------------- per-response voice, output signals


def test_flat_response_voice_is_honoured_and_the_nested_one_ignored() -> None:
    async def scenario() -> None:
        options = opts(brain=ScriptedBrain(replies=["The same words."] * 4), voice_engine="tone")
        async with Emulator(options) as emu, plain(emu) as w:

            async def spoken(**create: Any) -> bytes:
                w.got.clear()
                await w.send({"type": "response.create", **create})
                await w.until("response.done")
                return b"".join(base64.b64decode(m["delta"]) for m in w.of("response.output_audio.delta"))

            await configure(w, audio={"output": {"voice": "Clive"}})
            flat = await spoken(response={"voice": "Hades"})
            nested = await spoken(response={"audio": {"output": {"voice": "Hades"}}})
            session_voice = await spoken()
            await configure(w, audio={"output": {"voice": "Hades"}})
            hades = await spoken()
            assert flat == hades != session_voice == nested  # heard on the wire: the voice's own sound
            assert [r.voice for r in emu.sessions[0].responses] == ["Hades", "Clive", "Clive", "Hades"]
            assert not w.errors()

    run(scenario())


def test_output_audio_buffer_started_and_stopped_bracket_the_audio() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(replies=["Hello there, friend."]))) as emu, plain(emu) as w:
            await w.send({"type": "response.create"})
            await w.until("response.done")
            types = [m["type"] for m in w.got]
            started, stopped = types.index("output_audio_buffer.started"), types.index("output_audio_buffer.stopped")
            first_audio = types.index("response.output_audio.delta")
            last_audio = len(types) - 1 - types[::-1].index("response.output_audio.delta")
            assert started < first_audio and last_audio < stopped < types.index("response.done")
            assert "response_id" not in w.of("output_audio_buffer.started")[0]  # Mastra: none on the wire

    run(scenario())


# ---------------------------------------------------------------- float32


def to_float32(pcm: bytes) -> bytes:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return struct.pack(f"<{len(samples)}f", *(s / 32768 for s in samples))


def test_float32_audio_in_and_out() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(["hello"]))) as emu, plain(emu) as w:
            fmt = {"type": "audio/float32", "rate": 16000}
            updated = await configure(w, audio={"input": {"format": fmt, "turn_detection": SERVER_VAD},
                                                "output": {"format": "float32"}})
            assert updated["session"]["audio"]["input"]["format"] == fmt
            assert updated["session"]["audio"]["output"]["format"] == "float32"  # kept as given
            wire = to_float32(speech_like(16000))
            for audio in chunks(wire, 16000 * 4 // 10):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            await w.until("response.done")
            assert not w.errors(), w.errors()
            started = w.of("input_audio_buffer.speech_started")[0]  # the VAD heard the decoded floats
            assert 150 <= started["audio_start_ms"] <= 250
            out = b"".join(base64.b64decode(m["delta"]) for m in w.of("response.output_audio.delta"))
            assert len(out) % 4 == 0
            floats = array("f")
            floats.frombytes(out)
            assert max(abs(f) for f in floats) <= 1.0
            assert rms(struct.pack(f"<{len(floats)}h", *(int(f * 32767) for f in floats))) > 500
            assert abs(len(out) / 4 / 24 - emu.sessions[0].responses[0].audio_ms) < 1  # 24 kHz, 4 bytes a sample

    run(scenario())


def test_float32_in_the_core() -> None:
    fmt = Float32AudioFormat(rate=16000)
    session = SessionProperties.model_validate({"audio": {"input": {"format": "float32"},
                                                          "output": {"format": {"type": "audio/float32"}}}})
    assert isinstance(session.input_format(), Float32AudioFormat) and isinstance(session.output_format(),
                                                                                 Float32AudioFormat)
    assert wire_bytes_per_sample(fmt) == 4 and format_rate(fmt) == 16000
    pcm = struct.pack("<4h", 0, 16384, -32768, 32767)
    encode, decode = encoder_for(fmt), decoder_for(fmt)
    assert encode is not None and decode is not None
    wire = encode(pcm)
    assert struct.unpack("<4f", wire) == (0.0, 0.5, -1.0, 32767 / 32768)
    assert decode(wire) == pcm
    assert decode(struct.pack("<3f", 2.0, -7.0, float("nan"))) == struct.pack("<3h", 32767, -32768, 0)


# ---------------------------------------------------------------- providerData: stt voice profile, memory, tts


def test_voice_profile_rides_on_the_completed_transcript_when_asked_for() -> None:
    async def scenario() -> None:
        async with Emulator(opts(brain=ScriptedBrain(["one", "two"]))) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": SERVER_VAD}})
            await stream(w, speech_like(24000))
            plain_done = await w.until("conversation.item.input_audio_transcription.completed")
            assert "providerData" not in plain_done
            await w.until("response.done")
            await configure(w, providerData={"stt": {"voice_profile": True}})
            await stream(w, speech_like(24000))
            done = await w.until("conversation.item.input_audio_transcription.completed")
            typed = ev.parse_server_event(json.dumps(done))
            assert isinstance(typed, ev.InputAudioTranscriptionCompleted)
            profile = typed.voice_profile
            assert profile is not None and profile.gender and profile.age
            assert profile.gender[0].label == "male"  # speech_like's pitch is 130-200 Hz: low
            assert all(0 < label.confidence <= 1 for label in profile.gender if label.confidence is not None)

    run(scenario())


def test_memory_is_extracted_every_turn_interval_and_echoed_in_session_updated() -> None:
    async def scenario() -> None:
        brain = ScriptedBrain(["my name is ana", "i stay two nights"])
        async with Emulator(opts(brain=brain)) as emu, plain(emu) as w:
            await configure(w, audio={"input": {"turn_detection": SERVER_VAD}},
                            providerData={"memory": {"enabled": True, "turn_interval": 2, "max_facts": 10}})
            await stream(w, speech_like(24000))
            await w.until("response.done")
            assert not w.of("response.memory.extracted")  # one turn of two
            await stream(w, speech_like(24000))
            extracted = await w.until("response.memory.extracted")
            typed = ev.parse_server_event(json.dumps(extracted))
            assert isinstance(typed, ev.ResponseMemoryExtracted) and typed.state is not None
            assert typed.state.version == 1 and typed.state.total_turns == 2 and typed.state.turns_since_gen == 0
            assert typed.state.facts is not None and any("ana" in f for f in typed.state.facts)
            await w.until("response.done")
            updated = await configure(w, instructions="Be brief.")
            echoed = ev.parse_server_event(json.dumps(updated))
            assert isinstance(echoed, ev.SessionUpdated) and echoed.memory_state == typed.state

    run(scenario())


def test_stt_tts_memory_settings_are_typed_and_kept() -> None:
    flow = {"type": "realtime", "providerData": {
        "stt": {"voice_profile": True, "language_hints": ["en", "es"], "end_of_turn_confidence_threshold": 0.7,
                "min_end_of_turn_silence": 300, "future_knob": 1},
        "tts": {"segmenter_strategy": "sentence", "delivery_mode": "CREATIVE", "user_turn_mode": "audio_only",
                "conversational": True, "steering_handling": "emit_once", "language": "es"},
        "memory": {"enabled": True, "turn_interval": 5, "max_facts": 50, "state": {"version": 3, "facts": ["x"]}},
        "user_id": "guest-17", "metadata": {"sdk": "ours"}, "new_branch": {"a": 1}}}
    session = SessionProperties.model_validate(flow)
    settings = session.provider_settings()
    assert settings.stt is not None and settings.stt.language_hints == ["en", "es"]
    assert settings.stt.model_extra == {"future_knob": 1}
    assert settings.tts is not None and settings.tts.delivery_mode == "CREATIVE" and settings.tts.conversational
    assert settings.memory is not None and settings.memory.state is not None and settings.memory.state.version == 3
    assert settings.user_id == "guest-17" and settings.model_extra == {"new_branch": {"a": 1}}
    assert session.memory_state() == settings.memory.state
    assert json.loads(session.to_json())["providerData"] == flow["providerData"]  # sent back exactly as given
    # liberal: a branch that does not fit is left out of the typed view, the rest still read
    odd = SessionProperties.model_validate({"providerData": {"stt": {"voice_profile": "perhaps"},
                                                             "tts": {"language": "fr"}}})
    assert odd.provider_settings().stt is None and odd.provider_settings().tts is not None
    built = ProviderData(memory={"enabled": True}).to_wire()  # type: ignore[arg-type]
    assert built == {"memory": {"enabled": True}}

    async def scenario() -> None:
        async with Emulator(opts()) as emu, plain(emu) as w:
            updated = await configure(w, **{k: v for k, v in flow.items() if k != "type"})
            assert not w.errors()
            assert updated["session"]["providerData"]["tts"] == flow["providerData"]["tts"]

    run(scenario())


def test_response_create_voice_model() -> None:
    create = ev.parse_client_event('{"type": "response.create", "response": {"voice": "Hades"}}')
    assert isinstance(create, ev.ResponseCreate) and create.response is not None
    assert create.response.voice == "Hades" and create.response.model_extra == {}
    assert json.loads(ev.ResponseCreate(response=ev.ResponseProperties(voice="Dennis")).to_json())["response"] == \
        {"voice": "Dennis"}


# ---------------------------------------------------------------- the URL and the subprotocol


def test_url_without_protocol_and_the_realtime_subprotocol_are_accepted() -> None:
    async def scenario() -> None:
        async with Emulator(opts()) as emu:
            async with plain(emu, query="", subprotocols=["realtime"]) as w:  # inworld.ai/voice-agents' snippet
                assert w.ws.subprotocol == "realtime"
            async with plain(emu, query="") as w:
                assert w.ws.subprotocol is None
            with pytest.raises(InvalidStatus) as refused:
                async with plain(emu, query="&protocol=other"):
                    pass
            assert refused.value.response.status_code == 400

    run(scenario())


# ---------------------------------------------------------------- tokens


def test_signature_follows_inworlds_chain() -> None:
    digest = f"IW1{SECRET}".encode()
    for part in ("20261202013000", "api-engine.inworld.ai", "ai.inworld.engine.WorldEngine/GenerateToken", "abc"):
        digest = hmac.new(digest, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(digest, b"iw1_request", hashlib.sha256).hexdigest()
    assert signature(SECRET, "20261202013000", "abc", "api-engine.inworld.ai:443") == expected
    request = build_mint_request(ApiKey(KEY_ID, SECRET), "my-ws", now=1796175000.0, nonce="0123456789a")
    assert request.url == "https://api.inworld.ai/auth/v1/tokens/token:generate" and request.method == "POST"
    assert json.loads(request.body) == {"key": KEY_ID, "resources": ["workspaces/my-ws"]}
    header = request.headers["Authorization"]
    assert header.startswith(f"IW1-HMAC-SHA256 ApiKey={KEY_ID},DateTime=20261202") and ",Nonce=0123456789a," in header
    signed = SignedAuthorization.parse(header)
    assert signed.verify(SECRET, now=1796175000.0) and not signed.verify("other", now=1796175000.0)
    assert not signed.verify(SECRET, now=1796175000.0 + 3600)  # stale date-time
    token = parse_mint_response(200, b'{"token": "a.b.c", "type": "Bearer", "expirationTime": '
                                     b'"2026-12-02T02:30:00.123456789Z", "sessionId": "s1", "more": 1}')
    assert token.authorization == "Bearer a.b.c" and token.session_id == "s1" and token.extra == {"more": 1}
    assert token.expires_at == pytest.approx(1796178600.123, abs=0.01) and not token.expired(1796178000)
    with pytest.raises(MintError) as refused:
        parse_mint_response(401, b'{"message": "bad signature"}')
    assert refused.value.status == 401 and isinstance(refused.value, ProtocolError)
    with pytest.raises(MintError):
        parse_mint_response(200, b"<html>")


def test_the_secret_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = ApiKey.from_basic(BASIC)
    assert (key.key, key.secret) == (KEY_ID, SECRET)
    request = build_mint_request(key)
    shown = [repr(key), str(key), repr(request), str(request)]
    for bad in (base64.b64encode(SECRET.encode()).decode(), SECRET, "!!" + BASIC):
        with pytest.raises(ConfigurationError) as err:
            ApiKey.from_basic(bad)
        shown.append(str(err.value))
    with pytest.raises(ConfigurationError) as err:
        api_key_from_env({"INWORLD_KEY": KEY_ID})
    shown.append(str(err.value))

    async def scenario() -> None:
        async with Emulator(opts(api_key=BASIC)) as emu:
            shown.append(repr(emu.tokens))
            with pytest.raises(MintError) as refused:
                await mint_token(ApiKey(KEY_ID, SECRET + "x"), url=emu.token_url)
            shown.append(str(refused.value))
            token = await mint_token(key, url=emu.token_url)
            shown.append(repr(token))
            assert token.token not in repr(token)

    run(scenario())
    for text in [*shown, caplog.text]:
        assert SECRET not in text and BASIC not in text


def test_minted_token_connects_with_bearer_and_expired_or_forged_ones_get_401() -> None:
    async def scenario() -> None:
        async with Emulator(opts(api_key=BASIC)) as emu, Emulator(opts(api_key=BASIC)) as other:
            token = await mint_token(ApiKey(KEY_ID, SECRET), url=emu.token_url)
            assert token.type == "Bearer" and token.session_id and token.expires_at is not None
            async with plain(emu, authorization=token.authorization) as w:
                await w.send({"type": "response.create"})
                await w.until("response.done")
            assert emu.sessions[-1].auth_scheme == "bearer" and emu.sessions[-1].accepted
            head, payload, sig = token.token.split(".")
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            claims["exp"] += 3600  # a longer life, under the same signature
            longer = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            expired = emu.tokens.issue(KEY_ID, ttl_s=-60)["token"]
            strangers = other.tokens.issue(KEY_ID)["token"]  # minted by another server
            for bad in (f"{head}.{longer}.{sig}", f"{head}.{payload}.{sig[:-4]}AAAA", expired, strangers):
                with pytest.raises(InvalidStatus) as refused:
                    async with plain(emu, authorization=f"Bearer {bad}"):
                        pass
                assert refused.value.response.status_code == 401
            with pytest.raises(MintError) as wrong:
                await asyncio.to_thread(mint_token_sync, ApiKey("someone-else", SECRET), url=emu.token_url)
            assert wrong.value.status == 401

    run(scenario())


def test_token_command_prints_a_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("INWORLD_KEY", raising=False)
    monkeypatch.delenv("INWORLD_SECRET", raising=False)
    monkeypatch.setenv("INWORLD_API_KEY", BASIC)

    async def scenario() -> None:
        async with Emulator(opts(api_key=BASIC)) as emu:
            code = await asyncio.to_thread(cli.main, ["token", "--url", emu.token_url])
            assert code == 0
            printed = capsys.readouterr()
            assert printed.out.count(".") == 2 and emu.tokens.check(printed.out.strip()) is None
            code = await asyncio.to_thread(cli.main, ["token", "--url", emu.token_url, "--json"])
            answer = json.loads(capsys.readouterr().out)
            assert code == 0 and set(answer) == {"token", "type", "expirationTime", "sessionId"}
            monkeypatch.setenv("INWORLD_KEY", KEY_ID)
            monkeypatch.setenv("INWORLD_SECRET", "wrong-" + SECRET)
            code = await asyncio.to_thread(cli.main, ["token", "--url", emu.token_url])
            refused = capsys.readouterr()
            assert code == cli.EXIT_REFUSED and refused.out == "" and "401" in refused.err
            assert SECRET not in refused.err + refused.out

    run(scenario())


def test_mastras_flow_into_the_emulator_and_the_shapes_it_reads_are_typed() -> None:
    update, create = (dict(e) for e in examples.INWORLD_CLIENTS["mastra"])

    async def scenario() -> None:
        async with Emulator(opts(voice_engine="tone")) as emu, plain(emu) as w:
            await w.send(update)
            updated = await w.until("session.updated")
            assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/float32", "rate": 24000}
            assert updated["session"]["audio"]["input"]["transcription"] is None
            assert updated["session"]["providerData"]["stt"] == update["session"]["providerData"]["stt"]
            await w.send(create)
            await w.until("response.done")
            assert not w.errors(), w.errors()
            assert emu.sessions[0].responses[0].voice == "Hades"
            out = b"".join(base64.b64decode(m["delta"]) for m in w.of("response.output_audio.delta"))
            assert out and len(out) % 4 == 0  # "float32" output, four bytes a sample

    run(scenario())
    shapes = examples.INWORLD_SERVER
    profile = ev.parse_server_event(json.dumps(shapes["transcription_completed_voice_profile"]))
    assert isinstance(profile, ev.InputAudioTranscriptionCompleted) and profile.voice_profile is not None
    assert profile.voice_profile.gender and profile.voice_profile.gender[0].label == "female"
    assert profile.voice_profile.model_extra == {}
    memory = ev.parse_server_event(json.dumps(shapes["session_updated_memory_state"]))
    assert isinstance(memory, ev.SessionUpdated) and memory.memory_state is not None
    assert memory.memory_state.version == 2 and memory.memory_state.facts == ["The guest is Ana."]
    started = ev.parse_server_event(json.dumps(shapes["output_audio_buffer_started_response_id"]))
    assert isinstance(started, ev.OutputAudioBufferStarted) and started.response_id == "resp_1"


def test_live_speech_is_recognised_while_it_is_spoken() -> None:
    """pocketsphinx (the speech extra) on a real recording streamed at real time: rolling deltas before the
    commit, the whole transcript last; an upload faster than real time is recognised once, at the commit."""
    pytest.importorskip("pocketsphinx")
    pcm, rate = read_wav(QUESTION)
    audio = bytes(rate) + pcm + bytes(rate * 5 // 2)  # half a second of lead, 1.25 s of tail (16-bit)

    async def scenario(live: bool) -> list[dict[str, Any]]:
        async with Emulator(opts(voice_engine="tone")) as emu, plain(emu, close_timeout=1) as w:  # no script
            await configure(w, audio={"input": {"format": {"type": "audio/pcm", "rate": rate},
                                                "turn_detection": SERVER_VAD}})
            await stream(w, audio, rate=rate, pause_s=0.08 if live else 0.0)  # about real time, or an upload
            done = await w.until("conversation.item.input_audio_transcription.completed", timeout=30)
            early = before(w, "conversation.item.input_audio_transcription.delta", "input_audio_buffer.committed")
            deltas = [m["delta"] for m in w.of("conversation.item.input_audio_transcription.delta")]
            assert deltas and deltas[-1] == done["transcript"] and done["transcript"]
            return early

    assert run(scenario(live=True), timeout=90), "no transcript while the user was speaking"
    assert run(scenario(live=False), timeout=90) == []


def test_our_core_connects_with_a_minted_token() -> None:
    """The whole path offline: mint with the key's id and secret, connect the sans-IO core with bearer auth,
    hear the same float32 audio back as 16-bit PCM (the core converts at the edge)."""
    from inworld_realtime.protocol import AudioConfiguration, AudioInput, AudioOutput, TurnDetection
    from tests.emulator_helpers import Driver

    async def scenario() -> None:
        async with Emulator(opts(api_key=BASIC, brain=ScriptedBrain(replies=["Hello."]))) as emu:
            token = await mint_token(ApiKey.from_basic(BASIC), url=emu.token_url)
            fmt = Float32AudioFormat(rate=24000)
            session = SessionProperties(audio=AudioConfiguration(
                input=AudioInput(format=fmt, turn_detection=TurnDetection(type="server_vad")),
                output=AudioOutput(format=fmt)))
            d = await Driver(f"{emu.url}?key=voice-2", session, api_key=token.token, auth_type="bearer").open()
            assert emu.sessions[0].auth_scheme == "bearer"
            d.send(ev.ResponseCreate())
            events = await d.until(ev.ResponseDone)
            deltas = [e for e in events if isinstance(e, ev.ResponseOutputAudioDelta)]
            wire = b"".join(base64.b64decode(e.delta) for e in deltas)
            pcm = b"".join(e.pcm for e in deltas)
            assert len(wire) == 2 * len(pcm) and rms(pcm) > 500  # four bytes a sample in, two out
            await d.aclose()

    run(scenario())
