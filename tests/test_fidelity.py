"""Fidelity to Inworld itself: the table of sources, the shapes Inworld's clients use, replayed into the core and
into the emulator exactly as those clients send them (raw JSON on a plain WebSocket client, no event ids)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from inworld_realtime.emulator import Emulator, EmulatorOptions, Faults
from inworld_realtime.emulator.brain import ScriptedBrain, ToolRule
from inworld_realtime.emulator.formats import resolve
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol import g711
from inworld_realtime.protocol.session import NoiseReduction
from spec import examples, fidelity
from tests.emulator_helpers import rms, run, speech_like, speech_ms

SPEC = Path(__file__).resolve().parent.parent / "spec"
CLIENT_FLOWS = sorted((SPEC / "events" / "client" / "inworld").glob("*.json"))
SERVER_SHAPES = sorted((SPEC / "events" / "server" / "inworld").glob("*.json"))
GREETING = "Hello and welcome, this greeting is long enough to be interrupted by the caller. " * 3
TIMEOUT = 8.0


# ---------------------------------------------------------------- the table


def test_fidelity_markdown_is_generated_from_the_data() -> None:
    assert (SPEC / "FIDELITY.md").read_text() == fidelity.render(), "run: python -m spec.fidelity"


def test_every_model_field_has_a_source() -> None:
    table = fidelity.field_table()
    missing = [f"{cls}.{name}" for cls, names in fidelity.model_fields().items() for name in names
               if fidelity.field_sources(cls, name, table) is None]
    assert missing == [], f"add these fields to spec/fidelity.py FIELDS with their sources: {missing}"


def test_no_table_row_names_a_field_that_is_gone() -> None:
    models = fidelity.model_fields()
    stale = []
    for key in fidelity.field_table():
        cls, _, name = key.partition(".")
        if cls not in models or (name and name not in models[cls]):
            stale.append(key)
    assert stale == []


def test_every_emulator_behaviour_has_a_source() -> None:
    found = fidelity.emulator_behaviour_keys()
    listed = set(fidelity.CODE_BEHAVIOURS)
    assert sorted(found - listed) == [], "add these to spec/fidelity.py CODE_BEHAVIOURS"
    assert sorted(listed - found) == [], "the emulator no longer does these"
    assert {"emits:conversation.item.added", "emits:ping", "emits:response.backchannel.audio.delta"} <= found


def test_sources_and_options_named_in_the_table_exist() -> None:
    table = fidelity.field_table()
    behaviours = fidelity.all_behaviours()
    used = {s for b in behaviours for s in b.sources} | {s for srcs in table.values() for s in srcs}
    assert used <= set(fidelity.SOURCES)
    assert {kind for kind, _ in fidelity.SOURCES.values()} == set(fidelity.KINDS)
    knobs = {f.name for f in fields(EmulatorOptions)} | {f.name for f in fields(Faults)}
    assert {b.option for b in behaviours if b.option} <= knobs
    keys = [b.key for b in behaviours]
    assert len(keys) == len(set(keys))
    # What only OpenAI documents is sent by default only as the answer to a request Inworld documents
    # (truncate, delete, retrieve) or a failure report; anything else needs its option.
    answers = {"emits:conversation.item.truncated", "emits:conversation.item.deleted",
               "emits:conversation.item.retrieved", "emits:conversation.item.input_audio_transcription.failed"}
    openai_only = [b.key for b in behaviours if b.sources == ("openai",) and not b.option
                   and b.key.startswith(("emits:", "expiry", "extras"))]
    assert set(openai_only) <= answers, openai_only


def test_counts_cover_every_row() -> None:
    rendered = fidelity.render()
    total_fields = sum(len(v) for v in fidelity.model_fields().values())
    assert f"| total | {len(fidelity.all_behaviours())} | {total_fields} |" in rendered


# ---------------------------------------------------------------- the shapes, into the core


def _flow(path: Path) -> list[dict[str, Any]]:
    flow: list[dict[str, Any]] = json.loads(path.read_text())
    return flow


CORE_CASES = [pytest.param(event, id=f"{path.stem}-{i}-{event['type']}")
              for path in CLIENT_FLOWS for i, event in enumerate(_flow(path))]


@pytest.mark.parametrize("event", CORE_CASES)
def test_core_parses_what_inworlds_clients_send(event: dict[str, Any]) -> None:
    parsed = ev.client_event_adapter.validate_python(event)
    assert parsed.type == event["type"]
    wire = json.loads(parsed.to_json())
    if event["type"] == "session.update":
        sent = event["session"]
        assert wire["session"].get("providerData") == sent.get("providerData")
        assert wire["session"].get("tools") == sent.get("tools")
        assert (wire["session"].get("audio") or {}).get("input", {}).get("noise_reduction") == \
            (sent.get("audio") or {}).get("input", {}).get("noise_reduction")


SERVER_CASES = [pytest.param(path, id=path.stem) for path in SERVER_SHAPES]


@pytest.mark.parametrize("path", SERVER_CASES)
def test_core_reads_what_inworlds_clients_read(path: Path) -> None:
    sent = json.loads(path.read_text())
    event = ev.parse_server_event(path.read_text())
    assert not isinstance(event, ev.UnknownServerEvent | ev.UntypedServerMessage)
    assert event.type == sent["type"] or path.stem.startswith("alias_")
    dumped = event.model_dump()
    for key in ("backchannel_id", "phrase", "reason", "delta"):
        if key in sent:
            assert dumped.get(key) == sent[key], f"{key} lost"
    if event.type == "error":
        assert isinstance(event, ev.ErrorEvent)
        assert event.error.message == (sent.get("error") or sent)["message"]


def _read(name: str) -> Any:
    return ev.parse_server_event((SPEC / "events" / "server" / "inworld" / f"{name}.json").read_text())


def test_the_fields_inworlds_clients_read_are_typed_not_only_kept() -> None:
    """The model changes asked for after the merge: back-channel ids and phrase, flat errors, the transcript
    aliases and noise_reduction are fields of the models (attributes a caller can type), not extras."""
    delta, done, skipped = _read("backchannel_delta"), _read("backchannel_done"), _read("backchannel_skipped")
    assert isinstance(delta, ev.ResponseBackchannelAudioDelta) and delta.backchannel_id == "bc_7"
    assert isinstance(done, ev.ResponseBackchannelAudioDone) and (done.backchannel_id, done.phrase) == ("bc_7", "mm-hm")
    assert isinstance(skipped, ev.ResponseBackchannelSkipped)
    assert (skipped.backchannel_id, skipped.reason) == ("bc_8", "deadline_missed")
    assert delta.model_extra == done.model_extra == skipped.model_extra == {}
    for cls in (ev.ResponseBackchannelAudioDelta, ev.ResponseBackchannelAudioDone):
        assert not {"response_id", "item_id"} & set(cls.model_fields), "no source sends them"
    # A server that does send them loses nothing (the model keeps unknown fields).
    kept = ev.parse_server_event(json.dumps({"type": "response.backchannel.audio.done", "backchannel_id": "b",
                                             "response_id": "resp_1"}))
    assert kept.model_extra == {"response_id": "resp_1"}

    flat = _read("error_flat")
    assert isinstance(flat, ev.ErrorEvent) and flat.error.message == "Upstream model unavailable"
    for name in ("alias_input_audio_transcription_delta", "alias_input_audio_buffer_transcription_delta"):
        alias = _read(name)
        assert isinstance(alias, ev.InputAudioTranscriptionDelta)
        assert alias.type == "conversation.item.input_audio_transcription.delta" and alias.delta

    mobile = ev.client_event_adapter.validate_python(flow("mobile")[0])
    assert isinstance(mobile, ev.SessionUpdate)
    audio = mobile.session.audio
    assert audio is not None and audio.input is not None
    assert isinstance(audio.input.noise_reduction, NoiseReduction) and audio.input.noise_reduction.type == "far_field"
    assert audio.input.model_extra == {}
    assert json.loads(mobile.to_json())["session"]["audio"]["input"]["noise_reduction"] == {"type": "far_field"}


def test_examples_module_writes_the_inworld_shapes(tmp_path: Path) -> None:
    for sub in ("client", "server"):
        (tmp_path / "events" / sub).mkdir(parents=True)
    examples.write(tmp_path)
    for path in CLIENT_FLOWS + SERVER_SHAPES:
        rel = path.relative_to(SPEC)
        assert (tmp_path / rel).read_text() == path.read_text(), f"{rel} is stale: python -m spec.examples"


# ---------------------------------------------------------------- the shapes, into the emulator


class Wire:
    """A client as Inworld writes them: raw JSON text over a plain WebSocket, reading every message."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.got: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert isinstance(message, dict)
        self.got.append(message)
        return message

    async def until(self, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.next(max(0.01, deadline - loop.time()))
            if message.get("type") == kind:
                return message

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.got if m.get("type") == kind]

    def errors(self) -> list[dict[str, Any]]:
        return self.of("error")


def session_url(emu: Emulator) -> str:
    """The URL the way Inworld's proxy and bridges build it."""
    return f"{emu.url}?key=voice-{int(time.time() * 1000)}&protocol=realtime"


@asynccontextmanager
async def wire(url: str, authorization: str = "Basic aW53b3JsZDprZXk=") -> AsyncIterator[Wire]:
    async with connect(url, additional_headers={"Authorization": authorization}, open_timeout=TIMEOUT) as ws:
        yield Wire(ws)


def flow(name: str) -> list[dict[str, Any]]:
    return [dict(e) for e in examples.INWORLD_CLIENTS[name]]


def chunks(data: bytes, size: int) -> list[str]:
    return [base64.b64encode(data[i : i + size]).decode("ascii") for i in range(0, len(data), size)]


def test_browser_client_greeting_voice_turn_and_barge_in() -> None:
    """realtime/*/websockets/*/index.html: configure on session.created, greet on session.updated, stream 24 kHz
    PCM in 100 ms chunks, and on every speech_started flush playback and send a bare response.cancel."""
    update, greeting, create, cancel = flow("browser")
    brain = ScriptedBrain(transcripts=["when do you open"], replies=[GREETING, "From nine."])

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=1, brain=brain)) as emu, wire(session_url(emu)) as w:
            await w.until("session.created")
            await w.send(update)
            await w.until("session.updated")
            await w.send(greeting)
            await w.send(create)
            first = await w.until("response.output_audio.delta")
            assert len(base64.b64decode(first["delta"])) == 2 * 2400  # 100 ms of 24 kHz 16-bit PCM
            voice = speech_like(24000)
            head = voice[: 2 * 24 * (500 + speech_ms())]  # up to the end of the words; the silence comes later
            for audio in chunks(head, 4800):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            await w.until("input_audio_buffer.speech_started")
            await w.send(cancel)  # the browser's barge-in
            for audio in chunks(voice[len(head) :], 4800):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            greeted = await w.until("response.done")
            assert greeted["response"]["status"] == "cancelled"
            heard = await w.until("conversation.item.input_audio_transcription.completed")
            assert heard["transcript"] == "when do you open"
            answer = await w.until("response.done")
            assert answer["response"]["status"] == "completed"
            said = "".join(m["delta"] for m in w.of("response.output_audio_transcript.delta")
                           if m["response_id"] == answer["response"]["id"])
            assert said == "From nine."
            assert w.errors() == []
            assert emu.sessions[0].auth_scheme == "basic" and emu.sessions[0].query["key"].startswith("voice-")

    run(scenario())


@pytest.mark.parametrize("codec", ["g711_ulaw", "g711_alaw"])
def test_phone_bridge_speaks_and_hears_g711_at_8khz(codec: str) -> None:
    """integrations/{twilio,telnyx}: format as a beta string, audio passed through as 400-byte (50 ms) chunks,
    greeting on session.updated, bare cancel on speech_started."""
    update, greeting, create, cancel = flow("phone")
    update = json.loads(json.dumps(update).replace("g711_ulaw", codec))
    encode, decode = (g711.pcm16_to_ulaw, g711.ulaw_to_pcm16) if codec == "g711_ulaw" else \
        (g711.pcm16_to_alaw, g711.alaw_to_pcm16)
    brain = ScriptedBrain(transcripts=["i would like a cake"], replies=[GREETING, "Which flavour?"])

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=1, brain=brain)) as emu, wire(session_url(emu)) as w:
            await w.until("session.created")
            await w.send(update)
            updated = await w.until("session.updated")
            assert resolve(updated["session"]["audio"]["output"]["format"]).codec == codec[-4:].replace("ulaw",
                                                                                                        "pcmu") \
                .replace("alaw", "pcma")
            await w.send(greeting)
            await w.send(create)
            first = await w.until("response.output_audio.delta")
            wire_bytes = base64.b64decode(first["delta"])
            assert len(wire_bytes) == 800  # 100 ms at 8 kHz, one byte a sample
            assert rms(decode(wire_bytes)) > 300
            caller = speech_like(8000)
            head = encode(caller)[: 8 * (500 + speech_ms())]
            for audio in chunks(head, 400):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            started = await w.until("input_audio_buffer.speech_started")
            await w.send(cancel)
            for audio in chunks(encode(caller)[len(head) :], 400):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            assert 150 <= started["audio_start_ms"] <= 600  # speech begins 500 ms in (less prefix padding)
            heard = await w.until("conversation.item.input_audio_transcription.completed")
            assert heard["transcript"] == "i would like a cake"
            await w.until("response.done")
            assert [m["response"]["status"] for m in w.of("response.done")] == ["cancelled", "completed"]
            assert w.of("input_audio_buffer.speech_stopped")[0]["audio_end_ms"] > 1700
            answer = b"".join(base64.b64decode(m["delta"]) for m in w.of("response.output_audio.delta")[1:])
            assert rms(decode(answer)) > 300
            assert w.errors() == []
            record = emu.sessions[0]
            assert len(record.audio) == len(caller) == 2 * len(encode(caller))  # one byte a sample in, 16-bit inside
            assert rms(record.audio) > 1000

    run(scenario())


def test_mobile_app_options_and_back_channel() -> None:
    """realtime/{android,ios}: session.update, greeting and response.create sent at once on open; web_search
    tool, noise_reduction, providerData back-channel and responsiveness; back-channel events while speaking."""
    update, greeting, create, cancel = flow("mobile")

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, voice_engine="tone")) as emu, \
                wire(session_url(emu), "Bearer eyJhbGciOi.test.jwt") as w:
            for event in (update, greeting, create):
                await w.send(event)
            created = await w.until("session.created")
            updated = await w.until("session.updated")
            assert updated["session"]["expires_at"] >= created["session"]["expires_at"]
            session = updated["session"]
            assert session["tools"] == update["session"]["tools"]
            assert session["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
            assert session["providerData"]["backchannel"]["max_per_turn"] == 2
            assert session["audio"]["input"]["transcription"]["language"] == "en"
            assert (await w.until("response.done"))["response"]["status"] == "completed"
            voice = speech_like(24000)
            head = voice[: 2 * 24 * (500 + speech_ms())]
            for audio in chunks(head, 4800):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            await w.until("input_audio_buffer.speech_started")
            await w.send(cancel)
            for audio in chunks(voice[len(head) :], 4800):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            delta = await w.until("response.backchannel.audio.delta")
            done = await w.until("response.backchannel.audio.done")
            assert delta["backchannel_id"] == done["backchannel_id"] and done["phrase"]
            pcm = b"".join(base64.b64decode(m["delta"]) for m in w.of("response.backchannel.audio.delta"))
            assert rms(pcm) > 100  # PCM16 at 24 kHz, as the apps' BackchannelAudioPlayer plays it
            await w.until("response.done")
            assert len(w.of("response.backchannel.audio.done")) == 1  # max_per_turn and min_gap_ms
            assert w.errors() == []
            assert emu.sessions[0].auth_scheme == "bearer"

    run(scenario())


def test_no_back_channel_unless_enabled() -> None:
    update = flow("browser")[0]

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, voice_engine="tone")) as emu, wire(session_url(emu)) as w:
            await w.send(update)
            await w.until("session.updated")
            for audio in chunks(speech_like(24000), 4800):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            await w.until("response.done")
            assert w.of("response.backchannel.audio.delta") == [] and w.errors() == []

    run(scenario())


@pytest.mark.parametrize("name", ["mobile_server_vad", "format_spellings"])
def test_other_client_shapes_get_no_error(name: str) -> None:
    events = flow(name)

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, voice_engine="tone")) as emu, wire(session_url(emu)) as w:
            await w.until("session.created")
            updates = [e for e in events if e["type"] == "session.update"]
            for event in events:
                await w.send(event)
            answers = [await w.until("session.updated") for _ in updates]
            for sent, got in zip(updates, answers, strict=True):
                for side in ("input", "output"):
                    given = sent["session"].get("audio", {}).get(side, {}).get("format")
                    if given is not None:
                        echoed = got["session"]["audio"][side]["format"]
                        assert resolve(echoed) == resolve(given) and resolve(echoed).known
            if any(e["type"] == "response.create" for e in events):
                await w.until("response.done")
            assert w.errors() == []

    run(scenario())


def test_strict_mode_still_refuses_what_openai_refuses() -> None:
    update = flow("mobile")[0]

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, strict=True)) as emu, wire(session_url(emu)) as w:
            await w.until("session.created")
            await w.send(update)
            error = await w.until("error")
            assert error["error"]["param"] == "session.tools[0].type"
            await w.send({"type": "session.update", "session": {"audio": {"input": {"format": "g711_ulaw"}}}})
            assert (await w.until("error"))["error"]["code"] == "invalid_value"

    run(scenario())


def test_unknown_session_fields_are_kept_and_echoed() -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0)) as emu, wire(session_url(emu)) as w:
            await w.until("session.created")
            await w.send({"type": "session.update", "session": {"modelId": "inworld/llama", "model": "claude-x",
                                                                "truncation": "auto"}})
            session = (await w.until("session.updated"))["session"]
            assert (session["modelId"], session["model"], session["truncation"]) == ("inworld/llama", "claude-x",
                                                                                      "auto")
            assert w.errors() == []

    run(scenario())


def test_assistant_and_function_call_items_are_announced_in_the_conversation() -> None:
    tool = {"type": "function", "name": "get_hours", "description": "Opening hours",
            "parameters": {"type": "object", "properties": {"day": {"type": "string"}}}}
    brain = ScriptedBrain(replies=["Fine."], tools=[ToolRule("get_hours", ("open",), {"day": "monday"})])

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=brain)) as emu, wire(session_url(emu)) as w:
            await w.send({"type": "session.update", "session": {"tools": [tool], "output_modalities": ["text"]}})
            await w.until("session.updated")
            await w.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": "are you open?"}]}})
            await w.send({"type": "response.create"})
            await w.until("response.done")
            call = w.of("response.output_item.added")[0]["item"]
            assert call["type"] == "function_call"
            await w.send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call["call_id"], "output": "{\"hours\": \"9-5\"}"}})
            await w.until("response.done")  # the server answers by itself (auto_tool_response not false)
            assert w.errors() == []
            order = [(m["type"], m["item"]["id"]) for m in w.got if m["type"] in (
                "response.output_item.added", "conversation.item.added", "response.output_item.done",
                "conversation.item.done") and m["item"].get("role") != "user"
                and m["item"]["type"] != "function_call_output"]
            outputs = [m["item"]["id"] for m in w.of("response.output_item.added")]
            assert len(outputs) == 2
            for item_id in outputs:
                assert [kind for kind, i in order if i == item_id] == [
                    "response.output_item.added", "conversation.item.added", "response.output_item.done",
                    "conversation.item.done"]

    run(scenario())


def test_ping_is_on_by_default_and_expiry_is_not() -> None:
    assert EmulatorOptions().ping_interval_s is not None and EmulatorOptions().session_ttl_s is None

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, ping_interval_s=0.05)) as emu, wire(session_url(emu)) as w:
            created = await w.until("session.created")
            assert created["session"]["expires_at"] > time.time() + 60  # announced, not enforced
            ping = await w.until("ping", timeout=2)
            assert abs(ping["timestamp"] / 1000 - time.time()) < 5
        async with Emulator(EmulatorOptions(pace=0, ping_interval_s=None)) as emu, wire(session_url(emu)) as w:
            await w.until("session.created")
            with pytest.raises(TimeoutError):
                await w.until("ping", timeout=0.3)

    run(scenario())


def test_openai_only_answers_need_their_option() -> None:
    async def scenario() -> None:
        for extras in (False, True):
            opts = EmulatorOptions(pace=0, openai_extras=extras, cancel_without_response_error=extras)
            async with Emulator(opts) as emu, wire(session_url(emu)) as w:
                await w.until("session.created")
                await w.send({"type": "output_audio_buffer.clear"})
                await w.send({"type": "response.cancel"})
                for audio in chunks(speech_like(24000), 4800):
                    await w.send({"type": "input_audio_buffer.append", "audio": audio})
                heard = await w.until("conversation.item.input_audio_transcription.completed")
                await w.until("response.done")
                assert bool(w.of("output_audio_buffer.cleared")) is extras
                assert ("usage" in heard and heard["usage"] is not None) is extras
                assert [e["error"]["code"] for e in w.errors()] == (["response_cancel_not_active"] if extras else [])

    run(scenario())


@pytest.mark.parametrize("authorization, status", [("Basic sekret", 101), ("Bearer sekret", 101),
                                                   ("Basic other", 401), (None, 401)])
def test_basic_and_bearer_auth(authorization: str | None, status: int) -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, api_key="sekret")) as emu:
            headers = {"Authorization": authorization} if authorization else {}
            if status == 101:
                async with connect(session_url(emu), additional_headers=headers) as ws:
                    assert json.loads(await ws.recv())["type"] == "session.created"
            else:
                with pytest.raises(InvalidStatus) as info:
                    async with connect(session_url(emu), additional_headers=headers):
                        pass
                assert info.value.response.status_code == status

    run(scenario())


def test_the_emulator_command_serves_a_phone_bridge() -> None:
    """``python -m inworld_realtime.emulator`` itself, as a deployment would run it, against the phone bridge."""
    update, greeting, create, _ = flow("phone")

    async def scenario() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inworld_realtime.emulator", "--port", "0", "--pace", "0", "--voice-engine", "tone",
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=str(SPEC.parent))
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            url = line.split(" on ", 1)[1].split()[0]
            async with wire(f"{url}?key=voice-{int(time.time() * 1000)}&protocol=realtime") as w:
                await w.until("session.created")
                await w.send(update)
                await w.until("session.updated")
                await w.send(greeting)
                await w.send(create)
                await w.until("response.done")
                audio = [base64.b64decode(m["delta"]) for m in w.of("response.output_audio.delta")]
                assert audio and all(len(a) <= 800 for a in audio) and rms(g711.ulaw_to_pcm16(b"".join(audio))) > 300
                assert w.errors() == []
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)

    run(scenario())


def test_command_line_defaults_follow_inworld_and_flags_switch_openai_behaviour() -> None:
    from inworld_realtime.emulator.__main__ import build_parser, options_from_args

    default = options_from_args(build_parser().parse_args([]))
    assert (default.ping_interval_s, default.session_ttl_s, default.strict, default.cancel_without_response_error,
            default.openai_extras) == (15.0, None, False, False, False)
    flagged = options_from_args(build_parser().parse_args([
        "--ping-interval", "0", "--session-ttl", "1800", "--strict", "--cancel-without-response-error",
        "--openai-extras"]))
    assert (flagged.ping_interval_s, flagged.session_ttl_s, flagged.strict, flagged.cancel_without_response_error,
            flagged.openai_extras) == (None, 1800.0, True, True, True)



def test_what_the_emulator_sends_has_every_field_of_the_spec_examples() -> None:
    """The server shapes as data, checked against the emulator: each event it sends in a voice call with a
    back-channel and a function call carries at least the fields of that type's example in spec/events/server."""
    update, greeting, create, _ = flow("mobile")
    tool = {"type": "function", "name": "get_hours", "description": "Opening hours", "parameters": {"type": "object"}}
    update = {**update, "session": {**update["session"], "tools": [*update["session"]["tools"], tool]}}
    brain = ScriptedBrain(transcripts=["when are you open"], replies=["Hi.", "Nine to five."],
                          tools=[ToolRule("get_hours", ("open",), {})])

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, brain=brain, voice_engine="tone")) as emu, \
                wire(session_url(emu)) as w:
            for event in (update, greeting, create):
                await w.send(event)
            await w.until("response.done")
            for audio in chunks(speech_like(24000), 4800):
                await w.send({"type": "input_audio_buffer.append", "audio": audio})
            await w.until("response.done")
            call = [m["item"] for m in w.of("response.output_item.added") if m["item"]["type"] == "function_call"]
            await w.send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call[0]["call_id"], "output": "{}"}})
            await w.until("response.done")
            seen = {m["type"] for m in w.got}
            assert {"response.backchannel.audio.delta", "response.function_call_arguments.done",
                    "conversation.item.input_audio_transcription.completed"} <= seen
            for message in w.got:
                example = SPEC / "events" / "server" / f"{message['type']}.json"
                missing = set(json.loads(example.read_text())) - set(message)
                assert missing == set(), f"{message['type']} lacks {missing}"
            assert w.errors() == []

    run(scenario())


@pytest.mark.parametrize("auth_type", ["basic", "bearer"])
def test_our_core_keeps_the_deployments_key_convention_and_auth(auth_type: str) -> None:
    """The proxy's ``key=voice-<epoch ms>`` given in the URL is kept; the key goes out as given (Basic) or as
    the token (Bearer), and the emulator accepts both."""
    from tests.emulator_helpers import Driver

    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, api_key="aW53b3JsZDprZXk=")) as emu:
            key = f"voice-{int(time.time() * 1000)}"
            d = await Driver(f"{emu.url}?key={key}", api_key="aW53b3JsZDprZXk=", auth_type=auth_type).open()
            record = emu.sessions[0]
            assert record.query == {"key": key, "protocol": "realtime"} and record.auth_scheme == auth_type
            await d.aclose()

    run(scenario())
