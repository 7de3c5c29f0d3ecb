"""The core's reshape: each finding that led to it, reproduced on bytes, and shown fixed."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

import inworld_realtime.protocol as protocol
from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    ConnectionState,
    LocalProtocolError,
    PCMUAudioFormat,
    ProtocolError,
    RealtimeConnection,
    RemoteProtocolError,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ConversationItem, Response
from inworld_realtime.protocol.server import ServerConnection
from tests.core_helpers import configured, deliver, pump, upgrade

S = ConnectionState
ROOT = Path(__file__).resolve().parent.parent


def reconnect(conn: RealtimeConnection, created: dict[str, Any] | None = None) -> tuple[ServerConnection, list[Any]]:
    """Open a new socket on the same core and configure it; returns the server and what the client sent."""
    server = upgrade(conn)
    deliver(conn, server, json.dumps(created or {"type": "session.created", "session": {}}))
    sent = pump(conn, server)
    update = [e for e in sent if isinstance(e, ev.SessionUpdate)]
    assert update, "no session.update after session.created"
    deliver(conn, server, ev.SessionUpdated(session=update[0].session))
    return server, sent + pump(conn, server)


def drop(conn: RealtimeConnection) -> None:
    conn.receive_data(b"")
    list(conn.events())
    assert conn.state is S.DISCONNECTED


# ---------------------------------------------------------------- 1. a session.created we don't fully know

ODD_SESSIONS: list[dict[str, Any]] = [
    {"audio": {"input": {"format": "g711_ulaw"}, "output": {"format": "g711_ulaw"}}},
    {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 22050}}}},
    {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "very_eager"}}}},
    {"audio": {"input": {"turn_detection": {"type": "future_vad"}, "noise_reduction": {"type": "near_field"}}}},
    {"expires_at": "2026-11-25T21:00:00Z", "output_modalities": ["audio", "video"]},
    {"audio": {"input": {"format": {"type": "audio/opus", "rate": 48000}}}},
    {"tools": [{"type": "web_search", "providerData": {"engine": "x"}}], "max_output_tokens": "unlimited"},
    {"audio": "not an object", "id": 7},
]


@pytest.mark.parametrize("session", ODD_SESSIONS)
def test_session_created_outside_our_enums_still_configures(session: dict[str, Any]) -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = upgrade(conn)
    list(conn.events())
    events = deliver(conn, server, json.dumps({"type": "session.created", "event_id": "e1", "session": session}))
    assert [type(e) for e in events] == [ev.SessionCreated]
    assert conn.state is S.CONFIGURING
    assert any(isinstance(e, ev.SessionUpdate) for e in pump(conn, server))


def test_session_properties_accept_what_inworlds_own_clients_send() -> None:
    pasted = {
        "type": "realtime",
        "model": "openai/gpt-4.1-mini",
        "output_modalities": ["audio", "text"],
        "audio": {
            "input": {
                "format": "g711_ulaw",
                "noise_reduction": {"type": "near_field"},
                "transcription": {"model": "assemblyai/universal-streaming-multilingual"},
                "turn_detection": {"type": "semantic_vad", "eagerness": "auto", "create_response": True},
            },
            "output": {"format": "audio/pcma", "model": "inworld-tts-2", "voice": "Sarah"},
        },
        "tools": [
            {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}},
            {"type": "web_search", "providerData": {"engine": "x"}},
        ],
        "some_future_field": {"a": 1},
    }
    props = SessionProperties.model_validate(pasted)
    assert props.to_wire() == pasted  # nothing dropped, nothing added, sent back as given
    assert isinstance(props.input_format(), PCMUAudioFormat)
    assert props.output_format() is not None and props.output_format().type == "audio/pcma"  # type: ignore[union-attr]
    conn = RealtimeConnection("k", props, url="ws://127.0.0.1:1/s")
    assert conn.input_rate == 8000


@pytest.mark.parametrize("text", ["pcm16", "g711_ulaw", "g711_alaw", "audio/pcm", "audio/pcmu", "audio/pcma"])
def test_format_strings_inworld_accepts(text: str) -> None:
    props = SessionProperties.model_validate({"audio": {"input": {"format": text}, "output": {"format": text}}})
    fmt = props.input_format()
    assert fmt is not None
    rate = 24000 if text in ("pcm16", "audio/pcm") else 8000
    assert RealtimeConnection("k", props, url="ws://127.0.0.1:1/s").input_rate == rate
    assert props.to_wire()["audio"]["input"]["format"] == text


#: What Inworld's Android and iOS apps decode (their ServerEventDecodingTest), and the bridges read.
CLIENT_SHAPES: list[tuple[str, type]] = [
    ('{"type": "response.output_text.delta", "delta": "Hel"}', ev.ResponseOutputTextDelta),
    ('{"type": "response.text.delta", "delta": "Hel"}', ev.ResponseOutputTextDelta),
    ('{"type": "response.audio_transcript.delta", "delta": "Hel"}', ev.ResponseOutputAudioTranscriptDelta),
    ('{"type": "response.output_audio_transcript.delta", "delta": "Hel"}', ev.ResponseOutputAudioTranscriptDelta),
    ('{"type": "response.output_audio_transcript.done", "transcript": "Hello there."}',
     ev.ResponseOutputAudioTranscriptDone),
    ('{"type": "response.content_part.done", "part": {"transcript": "Hi!"}}', ev.ResponseContentPartDone),
    ('{"type": "response.content_part.done", "part": {}}', ev.ResponseContentPartDone),
    ('{"type": "conversation.item.input_audio_transcription.delta", "item_id": "i1", "delta": "what"}',
     ev.InputAudioTranscriptionDelta),
    ('{"type": "conversation.item.input_audio_transcription.completed", "transcript": "What time is it?"}',
     ev.InputAudioTranscriptionCompleted),
    ('{"type": "input_audio_transcription.delta", "delta": "what"}', ev.InputAudioTranscriptionDelta),
    ('{"type": "input_audio_buffer.transcription.delta", "delta": "what"}', ev.InputAudioTranscriptionDelta),
    ('{"type": "input_audio_buffer.speech_started"}', ev.InputAudioBufferSpeechStarted),
    ('{"type": "response.output_item.added", "item": {}}', ev.ResponseOutputItemAdded),
    ('{"type": "response.done", "response": {"status": "completed"}}', ev.ResponseDone),
    ('{"type": "response.done", "response": {"status": "paused", "output": [{"type": "reasoning"}]}}',
     ev.ResponseDone),
    ('{"type": "response.backchannel.audio.delta", "backchannel_id": "b1", "delta": "AAEC"}',
     ev.ResponseBackchannelAudioDelta),
    ('{"type": "response.backchannel.audio.done", "backchannel_id": "b1", "phrase": "uh-huh"}',
     ev.ResponseBackchannelAudioDone),
    ('{"type": "response.backchannel.skipped", "backchannel_id": "b1", "reason": "deadline_missed"}',
     ev.ResponseBackchannelSkipped),
    ('{"type": "error", "error": {"message": "bad things"}}', ev.ErrorEvent),
    ('{"type": "error", "message": "top-level"}', ev.ErrorEvent),
    ('{"type": "response.output_audio.delta", "delta": "AAAA"}', ev.ResponseOutputAudioDelta),
    ('{"type": "conversation.item.added", "item": {"type": "mcp_call", "status": "searching",'
     ' "content": [{"type": "image"}]}}', ev.ConversationItemAdded),
]


@pytest.mark.parametrize(("text", "kind"), CLIENT_SHAPES)
def test_shapes_inworlds_clients_decode_become_typed_events(text: str, kind: type) -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pump(conn, server)
    events = deliver(conn, server, text)
    assert len(events) == 1 and isinstance(events[0], kind)


def test_nested_and_flat_errors_both_give_their_message() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    nested, flat = deliver(conn, server, '{"type":"error","error":{"message":"bad things","code":"x"}}',
                           '{"type":"error","message":"top-level","code":"y"}')
    assert isinstance(nested, ev.ErrorEvent) and isinstance(flat, ev.ErrorEvent)
    assert (nested.error.message, nested.error.code) == ("bad things", "x")
    assert (flat.error.message, flat.error.code) == ("top-level", "y")


def test_a_known_type_with_a_bad_body_still_drives_the_machine() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pump(conn, server)
    events = deliver(conn, server, '{"type":"response.created","response":{"id":"r1","output":7}}')
    assert isinstance(events[0], ev.ResponseCreated) and events[0].response.id == "r1"
    assert conn.state is S.RESPONDING


# ---------------------------------------------------------------- 2. an item created while disconnected


def test_item_created_while_disconnected_goes_out_once_after_reconnect() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    configured(conn)
    drop(conn)
    item = ConversationItem.user_text("hello while away")
    conn.send(ev.ConversationItemCreate(item=item))
    _, sent = reconnect(conn)
    creates = [e for e in sent if isinstance(e, ev.ConversationItemCreate) and e.item.id == item.id]
    assert len(creates) == 1


# ---------------------------------------------------------------- 3. client JSON sniffed as text


def test_a_held_item_whose_text_is_response_create_does_not_cancel_the_owed_response() -> None:
    manual = SessionProperties(audio=AudioConfiguration(input=AudioInput(turn_detection=None)))
    conn = RealtimeConnection("k", manual, url="ws://127.0.0.1:1/s")
    server = configured(conn)
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("tell me a story")))
    conn.create_response()
    pump(conn, server)
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")))
    drop(conn)
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("response.create")))
    _, sent = reconnect(conn)
    assert [type(e) for e in sent].count(ev.ResponseCreate) == 1
    assert isinstance(sent[-1], ev.ResponseCreate)


# ---------------------------------------------------------------- 4. a greeting cut off by a drop


def test_a_greeting_cut_off_by_a_drop_is_asked_for_again() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    conn.create_response(instructions="Greet the user.")
    pump(conn, server)
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")))
    conn.receive_data(b"")
    assert any(isinstance(e, ev.ResponseAborted) for e in conn.events())
    _, sent = reconnect(conn)
    assert [type(e) for e in sent].count(ev.ResponseCreate) == 1


# ---------------------------------------------------------------- 5. events change after they were handed out


def test_events_handed_out_never_change() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pump(conn, server)
    item = ConversationItem(id="fc1", type="function_call", call_id="c1", name="lookup")
    (added,) = deliver(conn, server, ev.ResponseOutputItemAdded(response_id="r1", item=item))
    assert isinstance(added, ev.ResponseOutputItemAdded)
    deliver(conn, server, ev.ResponseFunctionCallArgumentsDone(call_id="c1", item_id="fc1", arguments='{"q":1}'))
    assert added.item.arguments is None
    assert conn.conversation.items["fc1"].item.arguments == '{"q":1}'  # the core's own copy learned it
    with pytest.raises(ValueError):
        added.response_id = "changed"  # type: ignore[misc]


def test_decoded_pcm_is_on_the_event_as_it_is_handed_out() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pcm = bytes(range(200))
    (delta,) = deliver(conn, server, ev.ResponseOutputAudioDelta(item_id="a", delta=base64.b64encode(pcm).decode()))
    assert isinstance(delta, ev.ResponseOutputAudioDelta) and delta.pcm == pcm


def test_audio_that_is_not_base64_is_reported_and_the_session_goes_on() -> None:
    """A delta the schema accepts but whose audio cannot be decoded: one InvalidServerEvent, nothing raised."""
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    state = conn.state
    for kind in ("response.output_audio.delta", "response.backchannel.audio.delta"):
        (bad,) = deliver(conn, server, json.dumps({"type": kind, "item_id": "a", "delta": "0"}))
        assert isinstance(bad, ev.InvalidServerEvent) and bad.type == kind and '"delta": "0"' in bad.raw
    assert conn.state is state and conn.conversation.audio_response is None
    pcm = bytes(range(20))
    (good,) = deliver(conn, server, ev.ResponseOutputAudioDelta(item_id="a", delta=base64.b64encode(pcm).decode()))
    assert isinstance(good, ev.ResponseOutputAudioDelta) and good.pcm == pcm


# ---------------------------------------------------------------- 6. the table is the behaviour


def test_the_table_declares_what_each_transition_does() -> None:
    from inworld_realtime.protocol.states import TRANSITIONS

    callbacks = {name for t in TRANSITIONS for key in ("before", "after", "conditions", "unless")
                 for name in t.get(key, [])}  # type: ignore[attr-defined]
    for needed in ("send_session_update", "release_held", "replay_history", "abort_response",
                   "owe_unanswered_turn", "write_event", "hold_event"):
        assert needed in callbacks
    assert all("sends" not in t for t in TRANSITIONS)  # no prose column: the callbacks are the behaviour


def test_the_machine_refuses_what_the_table_does_not_allow() -> None:
    from transitions import MachineError

    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    with pytest.raises(LocalProtocolError) as info:
        conn.send(ev.ResponseCreate())
    assert isinstance(info.value.__cause__, MachineError)
    configured(conn)
    with pytest.raises(LocalProtocolError) as info:
        conn.connect()
    assert isinstance(info.value.__cause__, MachineError)


def test_the_connection_has_no_flags_beside_the_machine() -> None:
    source = (ROOT / "protocol").glob("*.py")
    text = "\n".join(p.read_text() for p in source)
    for flag in ("_configured_once", "_resume_response", "_response_requested", "_session_expired", "_in_speech"):
        assert flag not in text
    assert not re.search(r"if [^\n]*state is S\.\w+[^\n]*:\n\s*self\._trigger", text)


def test_server_events_out_of_order_are_kept_and_never_stall() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = upgrade(conn)
    list(conn.events())
    early = deliver(conn, server, ev.SessionUpdated(session=SessionProperties()),
                    ev.ResponseDone(response=Response(id="x")))
    assert [type(e) for e in early] == [ev.SessionUpdated, ev.ResponseDone]
    assert conn.state is S.AWAITING_SESSION
    deliver(conn, server, ev.SessionCreated(session=SessionProperties()))
    assert conn.state is S.CONFIGURING


# ---------------------------------------------------------------- 7. one error tree


def test_one_error_tree_configuration_mistakes_are_value_errors() -> None:
    with pytest.raises(ValueError):
        RealtimeConnection("k", auth_type="digest")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RealtimeConnection("k", url="http://example.com/")
    with pytest.raises(ValueError):
        RealtimeConnection("k", chunk_ms=0)
    assert issubclass(protocol.ConfigurationError, ProtocolError)
    assert issubclass(protocol.ConfigurationError, ValueError)
    assert issubclass(protocol.ConnectError, ProtocolError) and issubclass(protocol.ConnectError, ConnectionError)
    assert issubclass(protocol.ConnectTimeout, protocol.ConnectError)
    assert issubclass(protocol.ConnectTimeout, TimeoutError)
    assert issubclass(protocol.HandshakeError, RemoteProtocolError)
    import inworld_realtime.io_adapters as io_adapters

    assert io_adapters.ConnectError is protocol.ConnectError
    assert io_adapters.ConnectTimeout is protocol.ConnectTimeout


# ---------------------------------------------------------------- 8. private API of a dependency


def test_no_private_names_of_wsproto_are_used() -> None:
    for path in (ROOT / "protocol").glob("*.py"):
        text = path.read_text()
        assert "_serialize_frame" not in text and "_process_close" not in text, path.name
        assert not re.search(r"from wsproto[.\w]* import [^\n]*\b_\w", text), path.name


def test_our_frames_are_what_a_server_reads() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pump(conn, server)
    conn.send_audio(bytes(range(256)) * 30)
    conn.flush_audio()
    conn.ping(b"hi")
    conn.close(1000, "bye")
    got = pump(conn, server)
    pcm = b"".join(base64.b64decode(e.audio) for e in got if isinstance(e, ev.InputAudioBufferAppend))
    assert pcm == bytes(range(256)) * 30
    assert got[-1].code == 1000 and got[-1].reason == "bye"  # type: ignore[union-attr]


@pytest.mark.parametrize("payload", [b"\x03\xe8\xff\xfe", b"\x00\x05", b"\x03"])
def test_a_bad_close_frame_from_the_server_fails_with_1002_or_1007(payload: bytes) -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    configured(conn)
    conn.data_to_send()
    frame = bytes([0x88, len(payload)]) + payload
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(frame)
    assert conn.state is S.FAILED


# ---------------------------------------------------------------- 9. queued audio on a G.711 wire


def test_queued_audio_seconds_counts_one_byte_per_sample_on_g711() -> None:
    session = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMUAudioFormat()),
                                                         output=AudioOutput(format=PCMUAudioFormat())))
    conn = RealtimeConnection("k", session, url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pump(conn, server)
    conn.send_audio(bytes(16000))  # one second of 8 kHz PCM16
    wire = conn.data_to_send()
    assert 0.9 < conn.queued_audio_seconds(len(wire)) < 1.1
    server.receive_data(wire)


# ---------------------------------------------------------------- a new server event: model, example, done


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def unregistered() -> list[str]:
    """Server event models that parsing would never produce, or that have no spec example."""
    problems = []
    for cls in _subclasses(ev.ServerEvent):
        if cls is ev.UnknownServerEvent:
            continue
        kind = cls.model_fields["type"].default
        if kind in ev.EVENT_ALIASES:  # another spelling of a registered GA event
            if not issubclass(cls, ev.SERVER_EVENT_TYPES[ev.EVENT_ALIASES[kind]]):
                problems.append(cls.__name__)
        elif not isinstance(kind, str) or ev.SERVER_EVENT_TYPES.get(kind) is not cls:
            problems.append(f"{cls.__name__} is defined but not registered")
        elif not (ROOT / "spec" / "events" / "server" / f"{kind}.json").exists():
            problems.append(f"no spec example for {kind}")
    return problems


def test_every_server_event_model_is_registered() -> None:
    assert unregistered() == []


def test_a_model_defined_outside_the_registry_is_caught() -> None:
    import gc
    from typing import Literal

    class Stray(ev.ServerEvent):
        type: Literal["stray.event"] = "stray.event"

    assert unregistered() == ["Stray is defined but not registered"]
    del Stray
    gc.collect()


def test_held_events_are_applied_once_when_sent_not_again_when_released() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    configured(conn)
    drop(conn)
    conn.send(ev.InputAudioBufferClear())
    conn.send_audio(bytes(100))  # less than a chunk: kept back until a flush
    _, sent = reconnect(conn)
    assert [type(e) for e in sent].count(ev.InputAudioBufferClear) == 1
    conn.flush_audio()
    server = ServerConnection(upgraded=True)
    server.receive_data(conn.data_to_send())
    appended = [e for e in server.events() if isinstance(e, ev.InputAudioBufferAppend)]
    assert sum(len(base64.b64decode(e.audio)) for e in appended) == 100


def test_an_event_in_a_binary_frame_still_configures_and_garbage_in_one_is_reported() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = upgrade(conn)
    list(conn.events())
    body = b'{"type":"session.created","session":{}}'
    conn.receive_data(bytes([0x82, len(body)]) + body)
    assert [type(e) for e in conn.events()] == [ev.SessionCreated]
    assert conn.state is S.CONFIGURING
    conn.receive_data(bytes([0x82, 3]) + b"\x00\xff\x01")
    assert [type(e) for e in conn.events()] == [ev.InvalidServerEvent]
    assert any(isinstance(e, ev.SessionUpdate) for e in pump(conn, server))


def test_audio_held_when_the_session_ends_is_reported_with_why() -> None:
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = upgrade(conn)
    conn.send_audio(bytes(46080))  # 960 ms (16 whole chunks) held: the session is not configured yet
    server.close(1000)
    conn.receive_data(server.data_to_send())
    dropped = [e for e in conn.events() if isinstance(e, ev.AudioDropped)]
    assert [(d.duration_ms, d.reason) for d in dropped] == [(960, "server closed the connection")]
    conn.connect()
    conn.send_audio(bytes(46080))
    conn.close()
    dropped = [e for e in conn.events() if isinstance(e, ev.AudioDropped)]
    assert [(d.duration_ms, d.reason) for d in dropped] == [(960, "connection closed")]
