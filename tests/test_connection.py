"""RealtimeConnection fed bytes by hand: handshake, framing, states, conversation state."""

from __future__ import annotations

import ast
import base64
import json
import struct
from pathlib import Path

import pytest
from wsproto.frame_protocol import FrameProtocol

from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    ConfigurationError,
    ConnectionState,
    HandshakeError,
    LocalProtocolError,
    PCMAudioFormat,
    PCMUAudioFormat,
    RealtimeConnection,
    RemoteProtocolError,
    SessionProperties,
    TurnDetection,
    frames,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.conversation import RECENT_AUDIO_ITEMS
from inworld_realtime.protocol.handshake import accept_key, build_refusal
from inworld_realtime.protocol.items import ConversationItem, ItemContent, Response, Usage
from inworld_realtime.protocol.server import ServerConnection
from tests.core_helpers import FakeClock, configured, deliver, pump, upgrade

KEY = "c2VjcmV0LWtleTpzZWNyZXQtc2VjcmV0"  # what a portal key looks like (base64 key:secret)
S = ConnectionState


def session_16k(**kw: object) -> SessionProperties:
    return SessionProperties(
        instructions="Be brief.",
        audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=16000)),
                                 output=AudioOutput(format=PCMAudioFormat(rate=24000), voice="Clive")),
        **kw,  # type: ignore[arg-type]
    )


def appended_pcm(events: list[object]) -> bytes:
    return b"".join(base64.b64decode(e.audio) for e in events if isinstance(e, ev.InputAudioBufferAppend))


# ---------------------------------------------------------------- handshake


def test_upgrade_request_carries_session_key_protocol_and_basic_auth() -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    server = ServerConnection()
    request = server.receive_request(conn.data_to_send())
    assert request is not None
    assert request.path == "/api/v1/realtime/session"
    assert request.query["protocol"] == "realtime"
    assert request.query["key"].startswith("realtime-")
    assert request.headers["authorization"] == f"Basic {KEY}"
    assert request.headers["host"] == "api.inworld.ai"
    assert request.headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(request.headers["sec-websocket-key"])) == 16
    assert "inworld-realtime" in request.headers["user-agent"]
    assert conn.state is S.CONNECTING


def test_each_connect_uses_a_fresh_session_key_and_nonce() -> None:
    keys = set()
    nonces = set()
    for _ in range(3):
        conn = RealtimeConnection(KEY)
        conn.connect()
        req = ServerConnection().receive_request(conn.data_to_send())
        assert req is not None
        keys.add(req.query["key"])
        nonces.add(req.headers["sec-websocket-key"])
    assert len(keys) == 3 and len(nonces) == 3


def test_bearer_auth_sends_the_jwt() -> None:
    conn = RealtimeConnection("eyJhbGciOi.jwt.token", auth_type="bearer", url="ws://127.0.0.1:9/x")
    conn.connect()
    req = ServerConnection().receive_request(conn.data_to_send())
    assert req is not None
    assert req.headers["authorization"] == "Bearer eyJhbGciOi.jwt.token"
    assert req.headers["host"] == "127.0.0.1:9"


def test_bad_scheme_and_auth_type_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, url="https://api.inworld.ai/x")
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, auth_type="digest")  # type: ignore[arg-type]


def test_upgrade_then_frames_in_the_same_read() -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    server = ServerConnection()
    server.receive_request(conn.data_to_send())
    server.accept()
    server.send(ev.SessionCreated(session=SessionProperties()))
    conn.receive_data(server.data_to_send())
    kinds = [type(e) for e in conn.events()]
    assert kinds == [ev.Connected, ev.SessionCreated]
    assert conn.state is S.CONFIGURING


def test_wrong_accept_key_fails() -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    conn.data_to_send()
    answer = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: " + accept_key("not-our-key").encode() + b"\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="Accept"):
        conn.receive_data(answer)
    assert conn.state is S.FAILED


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_refused_handshake_is_a_handshake_error_with_status_headers_body(status: int) -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    conn.data_to_send()
    body = json.dumps({"error": {"message": "nope", "code": status}})
    raw = build_refusal(status, body, {"Retry-After": "7"} if status == 429 else None)
    with pytest.raises(HandshakeError) as info:
        for i in range(0, len(raw), 7):  # arrives in pieces
            conn.receive_data(raw[i : i + 7])
    err = info.value
    assert err.status == status
    assert "nope" in err.body
    assert KEY not in str(err) and KEY not in repr(err) and KEY not in repr(conn)
    if status == 401:
        assert "authentication failed" in str(err)
    if status == 429:
        assert err.retry_after == 7.0
    assert conn.state is S.FAILED


def test_refusal_without_content_length_ends_at_eof() -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    conn.data_to_send()
    conn.receive_data(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nbusy")
    with pytest.raises(HandshakeError) as info:
        conn.receive_data(b"")
    assert info.value.status == 503 and info.value.body == "busy"


def test_oversized_handshake_headers_are_refused() -> None:
    conn = RealtimeConnection(KEY, max_header_bytes=1024)
    conn.connect()
    conn.data_to_send()
    with pytest.raises(RemoteProtocolError, match="exceed"):
        conn.receive_data(b"HTTP/1.1 101 OK\r\nX-Pad: " + b"a" * 2000)


def test_eof_during_handshake() -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    conn.data_to_send()
    with pytest.raises(RemoteProtocolError, match="handshake"):
        conn.receive_data(b"")
    assert conn.state is S.FAILED


# ---------------------------------------------------------------- session lifecycle


def test_session_update_is_sent_on_session_created_and_sends_are_held_until_updated() -> None:
    conn = RealtimeConnection(KEY, session_16k(), url="ws://127.0.0.1:1/s")
    conn.connect()
    conn.send_audio(b"\x01\x00" * 960 * 2)  # 120 ms at 16 kHz: two chunks
    conn.create_response()
    server = upgrade(conn)
    assert conn.held_audio_ms == 120
    deliver(conn, server, ev.SessionCreated(session=SessionProperties(model="default")))
    sent = pump(conn, server)
    assert [type(e) for e in sent] == [ev.SessionUpdate]  # nothing else escapes early
    update = sent[0]
    assert isinstance(update, ev.SessionUpdate)
    assert update.session.instructions == "Be brief."
    got = deliver(conn, server, ev.SessionUpdated(session=update.session))
    assert conn.state is S.READY
    assert isinstance(got[-1], ev.SessionConfigured) and not got[-1].resumed
    released = pump(conn, server)
    assert [e.type for e in released if isinstance(e, ev.ClientEvent)] == [
        "input_audio_buffer.append", "input_audio_buffer.append", "response.create"]
    assert appended_pcm(released) == b"\x01\x00" * 1920
    assert conn.held_audio_ms == 0


def test_manual_turns_send_turn_detection_null() -> None:
    props = SessionProperties(audio=AudioConfiguration(input=AudioInput(turn_detection=None)))
    text = ev.SessionUpdate(session=props).to_json()
    assert json.loads(text)["session"]["audio"]["input"] == {"turn_detection": None}
    assert props.manual_turns()
    auto = SessionProperties(audio=AudioConfiguration(input=AudioInput(turn_detection=TurnDetection())))
    assert json.loads(ev.SessionUpdate(session=auto).to_json())["session"]["audio"]["input"] == {
        "turn_detection": {"type": "semantic_vad"}}
    assert not auto.manual_turns()


def test_provider_data_uses_the_camel_case_alias_and_response_create_output_modalities() -> None:
    props = SessionProperties(provider_data={"auto_tool_response": False})
    assert json.loads(props.to_json())["providerData"] == {"auto_tool_response": False}
    create = ev.ResponseCreate(response=ev.ResponseProperties(output_modalities=["text"]))
    assert json.loads(create.to_json())["response"] == {"output_modalities": ["text"]}


def test_update_session_merges_into_what_reconnect_sends() -> None:
    conn = RealtimeConnection(KEY, session_16k(temperature=0.5), url="ws://h/s")
    server = configured(conn)
    conn.update_session(SessionProperties(instructions="New rules."))
    sent = pump(conn, server)
    assert isinstance(sent[0], ev.SessionUpdate)
    assert sent[0].session.instructions == "New rules."
    assert sent[0].session.temperature is None  # only what was named goes on the wire
    assert conn.session.instructions == "New rules."
    assert conn.session.temperature == 0.5  # the rest is kept for the next session
    assert conn.input_rate == 16000


def test_send_before_connect_and_after_close_is_local_misuse() -> None:
    conn = RealtimeConnection(KEY)
    with pytest.raises(LocalProtocolError):
        conn.send(ev.ResponseCreate())
    server = configured(conn)
    conn.close()
    assert conn.state is S.CLOSING
    with pytest.raises(LocalProtocolError):
        conn.send_audio(b"\x00\x00")
    closing = pump(conn, server)
    assert any(getattr(e, "code", None) == 1000 for e in closing)
    conn.receive_data(server.data_to_send())  # the server's echo
    assert conn.state is S.CLOSED
    assert [type(e) for e in conn.events()] == [ev.ConnectionClosed]
    with pytest.raises(LocalProtocolError):
        conn.send(ev.ResponseCreate())


def test_connect_twice_is_misuse() -> None:
    conn = RealtimeConnection(KEY)
    conn.connect()
    with pytest.raises(LocalProtocolError):
        conn.connect()


# ---------------------------------------------------------------- framing


def test_ping_is_answered_with_pong() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    pump(conn, server)
    server.ping(b"are you there")
    conn.receive_data(server.data_to_send())
    decoder = FrameProtocol(client=False, extensions=[])
    decoder.receive_bytes(conn.data_to_send())
    frames = list(decoder.received_frames())
    assert [(f.opcode.name, f.payload) for f in frames] == [("PONG", b"are you there")]


@pytest.mark.parametrize(("code", "state", "clean"), [
    (1000, S.CLOSED, True), (1001, S.DISCONNECTED, False), (1011, S.DISCONNECTED, False),
    (4000, S.DISCONNECTED, False)])
def test_server_close_is_echoed_and_classified(code: int, state: ConnectionState, clean: bool) -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    pump(conn, server)
    server.close(code, "bye")
    conn.receive_data(server.data_to_send())
    assert conn.state is state
    closed = [e for e in conn.events() if isinstance(e, ev.ConnectionClosed)]
    assert closed == [ev.ConnectionClosed(code, "bye", clean)]
    decoder = FrameProtocol(client=False, extensions=[])
    decoder.receive_bytes(conn.data_to_send())
    assert [f.payload for f in decoder.received_frames()] == [(code, "bye")]


def test_eof_mid_stream_is_an_abnormal_close() -> None:
    conn = RealtimeConnection(KEY)
    configured(conn)
    conn.receive_data(b"")
    assert conn.state is S.DISCONNECTED
    assert list(conn.events()) == [ev.ConnectionClosed(1006, "connection lost without a close frame", False)]


def test_fragmented_message_is_reassembled() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    server.send_fragmented(ev.ResponseOutputAudioTranscriptDelta(item_id="i", delta="héllo wörld").to_json(), 5)
    data = server.data_to_send()
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
    got = list(conn.events())
    assert len(got) == 1 and isinstance(got[0], ev.ResponseOutputAudioTranscriptDelta)
    assert got[0].delta == "héllo wörld"


def test_message_over_the_limit_fails_with_1009() -> None:
    conn = RealtimeConnection(KEY, max_message_bytes=1000)
    server = configured(conn)
    pump(conn, server)
    server.send_fragmented(json.dumps({"type": "x", "pad": "a" * 3000}), 6)
    with pytest.raises(RemoteProtocolError, match="max_message_bytes"):
        conn.receive_data(server.data_to_send())
    assert conn.state is S.FAILED
    decoder = FrameProtocol(client=False, extensions=[])
    decoder.receive_bytes(conn.data_to_send())
    assert next(iter(decoder.received_frames())).payload[0] == 1009


def test_default_limit_admits_messages_over_one_mebibyte() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    audio = base64.b64encode(bytes(3 * 1024 * 1024)).decode()
    item = ConversationItem(role="user", content=[ItemContent(type="input_audio", audio=audio)])
    got = deliver(conn, server, ev.ConversationItemAdded(item=item))
    assert isinstance(got[0], ev.ConversationItemAdded)


def test_malformed_json_is_a_remote_error_with_close_1007() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    pump(conn, server)
    server.send("{not json")
    with pytest.raises(RemoteProtocolError, match="malformed JSON"):
        conn.receive_data(server.data_to_send())
    assert conn.state is S.FAILED


def test_unknown_untyped_and_invalid_messages_are_events_not_errors() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    got = deliver(conn, server, '{"type":"future.thing","x":1}', '{"errorType":"SESSION_RESOURCES_EXHAUSTED"}',
                  '{"type":"response.output_audio.delta","delta":5}')
    unknown, untyped, invalid = got
    assert isinstance(unknown, ev.UnknownServerEvent) and unknown.payload == {"type": "future.thing", "x": 1}
    assert isinstance(untyped, ev.UntypedServerMessage) and untyped.error_type == "SESSION_RESOURCES_EXHAUSTED"
    assert isinstance(invalid, ev.InvalidServerEvent) and invalid.type == "response.output_audio.delta"
    assert "delta" in invalid.error
    assert conn.state is S.READY


def test_beta_event_names_arrive_as_their_ga_events() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    pcm = struct.pack("<4h", 1, -1, 300, -300)
    got = deliver(conn, server,
                  json.dumps({"type": "response.audio.delta", "item_id": "a", "delta": base64.b64encode(pcm).decode()}),
                  json.dumps({"type": "response.text.delta", "item_id": "a", "delta": "hi"}),
                  json.dumps({"type": "response.audio_transcript.delta", "item_id": "a", "delta": "yo"}))
    kinds = (ev.ResponseOutputAudioDelta, ev.ResponseOutputTextDelta, ev.ResponseOutputAudioTranscriptDelta)
    assert len(got) == 3 and all(isinstance(e, k) for e, k in zip(got, kinds, strict=True))
    assert got[0].type == "response.output_audio.delta" and got[0].pcm == pcm


def test_events_parse_alike_whatever_the_order_of_their_keys_and_the_form_of_their_base64() -> None:
    """The one-pass parse (known types told apart inside pydantic-core) and strict base64 first: a delta with
    ``type`` last, one whose base64 is wrapped in lines and one with JSON-escaped slashes all give the same PCM;
    an invalid known event still goes through the full parse (salvage keeps what it can)."""
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    pcm = bytes(range(256)) * 3
    text = base64.b64encode(pcm).decode()
    assert "/" in text
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    escaped = json.dumps({"type": "response.output_audio.delta", "item_id": "a", "delta": text}).replace("/", "\\/")
    got = deliver(conn, server,
                  json.dumps({"item_id": "a", "delta": text, "event_id": "e1", "type": "response.output_audio.delta"}),
                  json.dumps({"type": "response.output_audio.delta", "item_id": "a", "delta": wrapped}),
                  escaped,
                  json.dumps({"type": "response.created", "response": {"id": "r1", "status": 7}}))
    assert [type(e) for e in got[:3]] == [ev.ResponseOutputAudioDelta] * 3
    assert [e.pcm for e in got[:3]] == [pcm] * 3 and got[0].event_id == "e1"
    assert isinstance(got[3], ev.ResponseCreated) and got[3].response.id == "r1"  # salvaged: the bad status left out


# ---------------------------------------------------------------- audio


def test_send_audio_chunks_at_60ms_and_keeps_the_remainder_until_commit() -> None:
    conn = RealtimeConnection(KEY)  # 24 kHz default: 2880 bytes per 60 ms
    server = configured(conn)
    pcm = bytes(range(256)) * 30  # 7680 bytes
    conn.send_audio(pcm[:5000])
    conn.send_audio(pcm[5000:])
    sent = pump(conn, server)
    sizes = [len(base64.b64decode(e.audio)) for e in sent if isinstance(e, ev.InputAudioBufferAppend)]
    assert sizes == [2880, 2880]
    conn.commit()
    sent += pump(conn, server)
    assert [e.type for e in sent if isinstance(e, ev.ClientEvent)][-2:] == [
        "input_audio_buffer.append", "input_audio_buffer.commit"]
    assert appended_pcm(sent) == pcm


def test_g711_session_encodes_input_and_decodes_output() -> None:
    session = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMUAudioFormat()),
                                                         output=AudioOutput(format=PCMUAudioFormat())))
    conn = RealtimeConnection(KEY, session)
    server = configured(conn)
    pcm = struct.pack("<480h", *([1000, -1000] * 240))  # 60 ms at 8 kHz
    conn.send_audio(pcm)
    sent = [e for e in pump(conn, server) if isinstance(e, ev.InputAudioBufferAppend)]
    wire = base64.b64decode(sent[0].audio)
    assert len(wire) == 480  # one byte per sample on the wire
    got = deliver(conn, server, ev.ResponseOutputAudioDelta(item_id="a", delta=base64.b64encode(wire).decode()))
    out = got[0]
    assert isinstance(out, ev.ResponseOutputAudioDelta)
    decoded = struct.unpack("<480h", out.pcm)
    assert all(abs(a - b) < 40 for a, b in zip(decoded, [1000, -1000] * 240, strict=True))


# ---------------------------------------------------------------- conversation state


def audio_delta(item: str, nbytes: int) -> ev.ResponseOutputAudioDelta:
    return ev.ResponseOutputAudioDelta(response_id="r1", item_id=item, delta=base64.b64encode(bytes(nbytes)).decode())


def test_truncate_is_clamped_to_received_audio_and_absent_without_audio() -> None:
    clock = FakeClock()
    conn = RealtimeConnection(KEY, clock=clock)
    server = configured(conn)
    assert conn.truncate(500) is None  # no audio at all: nothing to truncate
    assert pump(conn, server) == []
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")), audio_delta("item_a", 48000))  # 1 s
    event = conn.truncate(played_ms=5000)
    assert event is not None and event.audio_end_ms == 1000 and event.item_id == "item_a"
    sent = pump(conn, server)
    assert isinstance(sent[0], ev.ConversationItemTruncate) and sent[0].audio_end_ms == 1000
    deliver(conn, server, audio_delta("item_b", 4800))  # 100 ms
    clock.now += 0.040
    event = conn.truncate()  # played time from the clock: 40 ms
    assert event is not None and event.item_id == "item_b" and event.audio_end_ms == 40


def test_truncate_by_item_id_cuts_that_item_after_the_next_answer_started() -> None:
    """A truncate that names an earlier item cuts that one, clamped to its own audio (not the current answer's)."""
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")),
            ev.ResponseOutputItemAdded(response_id="r1", item=ConversationItem(id="item_a", role="assistant")),
            audio_delta("item_a", 24000), audio_delta("item_a", 24000),  # 1 s in two deltas
            ev.ResponseOutputAudioTranscriptDone(response_id="r1", item_id="item_a", transcript="abcdefghij"),
            ev.ResponseCreated(response=Response(id="r2")), audio_delta("item_b", 4800 * 30))  # 3 s, now current
    assert conn.truncate(500, item_id="nobody") is None  # unknown item: nothing sent
    assert pump(conn, server) == []
    event = conn.truncate(5000, item_id="item_a")
    assert event is not None and (event.item_id, event.audio_end_ms) == ("item_a", 1000)  # its own 1 s, not 3 s
    sent = pump(conn, server)
    truncates = [(e.item_id, e.audio_end_ms) for e in sent if isinstance(e, ev.ConversationItemTruncate)]
    assert truncates == [("item_a", 1000)]
    conn.truncate(500, item_id="item_a")
    pump(conn, server)
    assert conn.conversation.items["item_a"].text == "abcde"  # the heard share of its own audio
    current = conn.truncate(5000)  # the current answer is untouched by the truncates by id
    assert current is not None and (current.item_id, current.audio_end_ms) == ("item_b", 3000)


def test_audio_is_remembered_for_the_last_few_items_only() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    deliver(conn, server, *(audio_delta(f"item_{i}", 480) for i in range(RECENT_AUDIO_ITEMS + 1)))
    assert conn.truncate(10, item_id="item_0") is None  # the oldest was forgotten
    assert conn.truncate(10, item_id="item_1") is not None
    assert len(conn.conversation.audio_items) == RECENT_AUDIO_ITEMS
    conn.conversation.clear()
    assert conn.conversation.audio_items == {} and conn.truncate(10, item_id="item_2") is None


def test_function_call_name_is_filled_from_the_output_item() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    call = ConversationItem(type="function_call", call_id="call_1", name="get_weather", arguments="")
    got = deliver(conn, server,
                  ev.ResponseOutputItemAdded(response_id="r1", item=call),
                  ev.ResponseFunctionCallArgumentsDone(call_id="call_1", arguments='{"city":"Paris"}'))
    done = got[-1]
    assert isinstance(done, ev.ResponseFunctionCallArgumentsDone) and done.name == "get_weather"
    assert conn.conversation.function_calls["call_1"].arguments == '{"city":"Paris"}'
    assert "call_1" in conn.conversation.function_calls
    done_item = call.model_copy(update={"status": "completed", "arguments": '{"city":"Paris"}'})
    deliver(conn, server, ev.ResponseOutputItemDone(response_id="r1", item=done_item))
    assert "call_1" in conn.conversation.function_calls  # completed arguments, output still owed
    conn.send(ev.ConversationItemCreate(item=ConversationItem.function_output("call_1", '{"temp":21}')))
    assert "call_1" not in conn.conversation.function_calls
    deliver(conn, server, ev.ResponseDone(response=Response(id="r1", status="completed", output=[done_item])))
    assert "call_1" not in conn.conversation.function_calls  # a late response.done does not revive it


@pytest.mark.parametrize("code", ["response_cancel_not_active", "conversation_already_has_active_response",
                                  "invalid_value"])
def test_error_events_do_not_fail_the_connection(code: str) -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    got = deliver(conn, server, ev.ErrorEvent(error={"type": "invalid_request_error", "code": code, "message": "x"}))
    assert isinstance(got[0], ev.ErrorEvent) and conn.state is S.READY


def test_cancel_without_active_response_sends_nothing() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    assert conn.cancel_response() is False
    assert pump(conn, server) == []
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r9")))
    assert conn.state is S.RESPONDING
    assert conn.cancel_response() is True
    assert [e.type for e in pump(conn, server) if isinstance(e, ev.ClientEvent)] == ["response.cancel"]


def test_usage_is_tracked_per_response_including_top_level_usage() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")),
            ev.ResponseDone(response=Response(id="r1", status="completed"),
                            usage=Usage(total_tokens=30, input_tokens=20, output_tokens=10)),
            ev.ResponseCreated(response=Response(id="r2")),
            ev.ResponseDone(response=Response(id="r2", status="completed", usage=Usage(total_tokens=5))))
    assert conn.conversation.usage["r1"].input_tokens == 20
    assert conn.conversation.total_usage.total_tokens == 35
    assert conn.state is S.READY


# ---------------------------------------------------------------- reconnect and replay


def full_turn(conn: RealtimeConnection, server: ServerConnection) -> None:
    """A user turn 'hello' and an answer 'hi there', as the server reports them."""
    user = ConversationItem(id="u1", role="user", content=[ItemContent(type="input_audio")])
    answer = ConversationItem(id="a1", role="assistant",
                              content=[ItemContent(type="output_audio", transcript="hi there")])
    deliver(conn, server,
            ev.InputAudioBufferSpeechStarted(audio_start_ms=0, item_id="u1"),
            ev.InputAudioBufferSpeechStopped(audio_end_ms=120, item_id="u1"),
            ev.InputAudioBufferCommitted(item_id="u1"),
            ev.ConversationItemAdded(item=user),
            ev.InputAudioTranscriptionCompleted(item_id="u1", transcript="hello"),
            ev.ResponseCreated(response=Response(id="r1")),
            ev.ResponseOutputItemAdded(response_id="r1", item=answer.model_copy(update={"content": []})),
            ev.ResponseOutputAudioTranscriptDelta(item_id="a1", delta="hi "),
            ev.ResponseOutputAudioTranscriptDelta(item_id="a1", delta="there"),
            ev.ResponseOutputAudioTranscriptDone(item_id="a1", transcript="hi there"),
            ev.ResponseOutputItemDone(response_id="r1", item=answer),
            ev.ResponseDone(response=Response(id="r1", status="completed", output=[answer])))


def reconnect(conn: RealtimeConnection) -> tuple[ServerConnection, list[object]]:
    server = upgrade(conn)
    deliver(conn, server, ev.SessionCreated(session=SessionProperties()))
    update = pump(conn, server)
    assert [type(e) for e in update] == [ev.SessionUpdate]
    got = deliver(conn, server, ev.SessionUpdated(session=conn.session))
    return server, got


def test_drop_mid_answer_replays_history_uncommitted_and_gap_audio_then_resumes() -> None:
    conn = RealtimeConnection(KEY, session_16k())  # 16 kHz: 32 bytes per ms
    server = configured(conn)
    conn.send_audio(b"\x01\x00" * 1920)  # 120 ms: the turn that gets committed
    pump(conn, server)
    full_turn(conn, server)
    conn.send_audio(b"\x02\x00" * 960)  # 60 ms of the next turn, not committed
    deliver(conn, server, ev.InputAudioBufferSpeechStarted(audio_start_ms=120),
            ev.ResponseCreated(response=Response(id="r2")), audio_delta("a2", 960))
    pump(conn, server)
    conn.receive_data(b"")  # dropped mid-answer
    got = list(conn.events())
    assert ev.ResponseAborted("r2", "connection lost without a close frame") in got
    assert conn.state is S.DISCONNECTED
    conn.send_audio(b"\x03\x00" * 960)  # spoken during the gap
    assert conn.held_audio_ms == 60
    server2, got = reconnect(conn)
    configured_event = got[-1]
    assert isinstance(configured_event, ev.SessionConfigured)
    assert configured_event.resumed and configured_event.replayed_items == 2
    assert configured_event.replayed_audio_ms == 60
    replay = pump(conn, server2)
    creates = [e for e in replay if isinstance(e, ev.ConversationItemCreate)]
    assert [(c.item.role, c.item.content[0].type, c.item.content[0].text) for c in creates if c.item.content] == [
        ("user", "input_text", "hello"), ("assistant", "output_text", "hi there")]
    assert appended_pcm(replay) == b"\x02\x00" * 960 + b"\x03\x00" * 960  # no word lost, in order
    assert replay[-1].type == "response.create"  # type: ignore[union-attr]


def test_committed_audio_without_transcript_is_replayed_as_audio() -> None:
    conn = RealtimeConnection(KEY, session_16k())
    server = configured(conn)
    conn.send_audio(b"\x05\x00" * 1920)
    pump(conn, server)
    deliver(conn, server, ev.InputAudioBufferCommitted(item_id="u1"),
            ev.ConversationItemAdded(item=ConversationItem(id="u1", role="user",
                                                           content=[ItemContent(type="input_audio")])))
    conn.connection_lost("keepalive timeout")
    assert list(conn.events()) == [ev.ConnectionClosed(1006, "keepalive timeout", False)]
    server2, _ = reconnect(conn)
    creates = [e for e in pump(conn, server2) if isinstance(e, ev.ConversationItemCreate)]
    assert len(creates) == 1
    content = creates[0].item.content
    assert content is not None and content[0].type == "input_audio"
    assert base64.b64decode(content[0].audio or "") == b"\x05\x00" * 1920


def test_audio_beyond_the_replay_bound_is_reported_when_it_holds_speech() -> None:
    conn = RealtimeConnection(KEY, session_16k(), max_replay_audio_ms=120)
    server = configured(conn)
    conn.send_audio(bytes(32 * 240))  # 240 ms of silence before speech: trimmed without a word lost
    assert not [e for e in conn.events() if isinstance(e, ev.AudioDropped | ev.ReplayTrimmed)]
    deliver(conn, server, ev.InputAudioBufferSpeechStarted(audio_start_ms=200))
    conn.send_audio(bytes(32 * 120))
    conn.send_audio(bytes(32 * 120))
    got = list(conn.events())
    trimmed = [e for e in got if isinstance(e, ev.ReplayTrimmed)]
    assert [(t.item_id, t.what) for t in trimmed] == [(None, "turn_audio")]  # one report per turn, not per chunk
    assert not [e for e in got if isinstance(e, ev.AudioDropped)]  # nothing was dropped: the server heard it all
    assert conn.turn_audio_ms == 120


def test_held_audio_beyond_its_bound_is_dropped_oldest_first_with_an_event() -> None:
    conn = RealtimeConnection(KEY, session_16k(), max_held_audio_ms=120)
    conn.connect()
    conn.send_audio(b"\x01\x00" * 960)
    conn.send_audio(b"\x02\x00" * 960)
    conn.send_audio(b"\x03\x00" * 960)
    dropped = [e for e in conn.events() if isinstance(e, ev.AudioDropped)]
    assert [d.duration_ms for d in dropped] == [60]
    server = upgrade(conn)
    deliver(conn, server, ev.SessionCreated())
    pump(conn, server)
    deliver(conn, server, ev.SessionUpdated())
    assert appended_pcm(pump(conn, server)) == b"\x02\x00" * 960 + b"\x03\x00" * 960


def test_session_expired_then_normal_close_is_treated_as_a_drop() -> None:
    conn = RealtimeConnection(KEY)
    server = configured(conn)
    deliver(conn, server, ev.ErrorEvent(error={"type": "invalid_request_error", "code": "session_expired",
                                               "message": "Your session hit the maximum duration"}))
    server.close(1000, "")
    conn.receive_data(server.data_to_send())
    assert conn.state is S.DISCONNECTED


def test_reset_conversation_forgets_history() -> None:
    conn = RealtimeConnection(KEY, session_16k())
    server = configured(conn)
    full_turn(conn, server)
    assert conn.conversation.items
    conn.close()
    conn.receive_data(b"")
    conn.reset_conversation()
    server2, got = reconnect(conn)
    assert isinstance(got[-1], ev.SessionConfigured) and not got[-1].resumed
    assert [e for e in pump(conn, server2) if isinstance(e, ev.ConversationItemCreate)] == []


# ---------------------------------------------------------------- purity


def test_protocol_package_does_no_io() -> None:
    forbidden = {"asyncio", "socket", "ssl", "threading", "selectors", "subprocess"}
    for path in Path(__file__).resolve().parents[1].joinpath("protocol").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & forbidden, f"{path.name} imports {names & forbidden}"
        assert "time.sleep" not in path.read_text(), path.name


def test_ping_is_queued_only_while_open() -> None:
    conn = RealtimeConnection(KEY)
    assert conn.ping(b"x") is False
    server = configured(conn)
    pump(conn, server)
    assert conn.ping(b"keepalive") is True
    decoder = FrameProtocol(client=False, extensions=[])
    decoder.receive_bytes(conn.data_to_send())
    assert [(f.opcode.name, f.payload) for f in decoder.received_frames()] == [("PING", b"keepalive")]


def test_session_update_while_not_configured_is_merged_or_sent_at_once() -> None:
    conn = RealtimeConnection(KEY, session_16k())
    conn.connect()
    conn.update_session(SessionProperties(temperature=0.3))  # before the socket: carried by the automatic update
    server = upgrade(conn)
    deliver(conn, server, ev.SessionCreated())
    sent = pump(conn, server)
    assert len(sent) == 1 and isinstance(sent[0], ev.SessionUpdate)
    assert sent[0].session.temperature == 0.3 and sent[0].session.instructions == "Be brief."
    deliver(conn, server, ev.ErrorEvent(error={"type": "invalid_request_error", "code": "invalid_value",
                                               "message": "bad model", "param": "session.model"}))
    assert conn.state is S.CONFIGURING
    conn.update_session(SessionProperties(model="openai/gpt-4.1-mini"))  # the fix goes out now, not held
    fixed = pump(conn, server)
    assert [type(e) for e in fixed] == [ev.SessionUpdate]
    deliver(conn, server, ev.SessionUpdated())
    assert conn.state is S.READY


def test_a_response_asked_for_but_never_acknowledged_is_asked_for_again() -> None:
    conn = RealtimeConnection(KEY, session_16k())
    server = configured(conn)
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("Hi")))
    conn.create_response()
    pump(conn, server)
    conn.receive_data(b"")  # dropped before response.created
    assert [type(e) for e in conn.events()] == [ev.ConnectionClosed]  # nothing was running: no ResponseAborted
    server2, _ = reconnect(conn)
    replay = pump(conn, server2)
    assert [e.type for e in replay if isinstance(e, ev.ClientEvent)] == ["conversation.item.create",
                                                                        "response.create"]


def test_manual_turns_do_not_get_an_unasked_response_after_replay() -> None:
    manual = SessionProperties(audio=AudioConfiguration(input=AudioInput(turn_detection=None)))
    conn = RealtimeConnection(KEY, manual)
    server = configured(conn)
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("Hold on")))
    pump(conn, server)
    conn.receive_data(b"")
    server2, _ = reconnect(conn)
    assert [e.type for e in pump(conn, server2) if isinstance(e, ev.ClientEvent)] == ["conversation.item.create"]


def test_bytes_fed_from_a_reused_buffer_are_copied_before_the_next_read() -> None:
    """The asyncio adapter reads every socket into one shared buffer: the core must keep copies, not views."""
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    server = configured(conn)
    pump(conn, server)
    list(conn.events())
    pcm = bytes(range(256)) * 12
    server.send(ev.ResponseOutputAudioDelta(response_id="r", item_id="i", delta=base64.b64encode(pcm).decode()))
    server.send(ev.ResponseOutputAudioDelta(response_id="r", item_id="i", delta=base64.b64encode(pcm[::-1]).decode()))
    wire = server.data_to_send()
    shared = bytearray(1024)
    view = memoryview(shared)
    for start in range(0, len(wire), 1024):  # message and frame boundaries fall mid-buffer
        piece = wire[start : start + 1024]
        view[: len(piece)] = piece
        conn.receive_data(view[: len(piece)])
        view[:] = b"\xff" * 1024  # the next read overwrites it
    deltas = [e.pcm for e in conn.events() if isinstance(e, ev.ResponseOutputAudioDelta)]
    assert deltas == [pcm, pcm[::-1]]


def test_send_audio_says_whether_the_socket_has_bytes_and_appends_are_type_and_audio_only() -> None:
    conn = RealtimeConnection(KEY, session_16k(), url="ws://127.0.0.1:1/s")
    configured(conn)
    conn.data_to_send()
    frame20 = bytes(640)  # 20 ms at 16 kHz: a 60 ms chunk is three of them
    assert conn.send_audio(frame20) is False and conn.data_to_send() == b""
    assert conn.send_audio(frame20) is False
    assert conn.send_audio(frame20) is True
    data = conn.data_to_send()
    assert data[0] == 0x81 and data[1] == 0xFE  # one masked TEXT frame with a 16-bit length
    size = struct.unpack("!H", data[2:4])[0]
    body = frames.mask_pure(data[8:], data[4:8])
    assert len(body) == size == len(data) - 8
    # What Inworld's own clients send (browser example, Twilio and Telnyx bridges): no event_id per chunk.
    assert json.loads(body) == {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(1920)).decode()}
    with pytest.raises(ConfigurationError, match="not str"):
        conn.send_audio("not audio")  # type: ignore[arg-type]
    assert conn.send_audio(bytearray(1920)) is True  # any bytes-like object


def test_an_outage_drops_audio_in_one_event_until_the_caller_reads() -> None:
    conn = RealtimeConnection(KEY, session_16k(), max_held_audio_ms=120)
    conn.connect()  # no session yet: audio is held, and past 120 ms the oldest goes
    for _ in range(100):
        conn.send_audio(bytes(1920))  # 60 ms each: 6 s in all
    dropped = [e for e in conn.events() if isinstance(e, ev.AudioDropped)]
    assert [d.duration_ms for d in dropped] == [6000 - 120]  # one event, not 98
    conn.send_audio(bytes(1920))
    assert [e.duration_ms for e in conn.events() if isinstance(e, ev.AudioDropped)] == [60]  # read: a new one
