"""Hypothesis properties of the core: chunking invariance, garbage tolerance, client event round trips."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inworld_realtime.protocol import ConnectionState, RealtimeConnection, RemoteProtocolError, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import Chunks
from inworld_realtime.protocol.items import ConversationItem, ItemContent, Response
from inworld_realtime.protocol.server import ServerConnection
from tests.core_helpers import ready

KEY = "a2V5OnNlY3JldA=="


def _server_script() -> tuple[RealtimeConnection, bytes]:
    """A fresh connection and the complete byte stream a server sends it for one turn."""
    conn = RealtimeConnection(KEY, url="ws://127.0.0.1:1/s")
    conn.connect()
    server = ServerConnection()
    server.receive_request(conn.data_to_send())
    server.accept()
    server.send(ev.SessionCreated(event_id="e1", session=SessionProperties()))
    server.send(ev.SessionUpdated(event_id="e2", session=SessionProperties(instructions="x")))
    server.ping(b"p")
    server.send(ev.ResponseCreated(event_id="e3", response=Response(id="r1")))
    for i in range(3):
        pcm = bytes([i]) * 2880
        server.send(ev.ResponseOutputAudioDelta(event_id=f"a{i}", response_id="r1", item_id="it",
                                                delta=base64.b64encode(pcm).decode()))
    text = ev.ResponseOutputAudioTranscriptDelta(event_id="t", item_id="it", delta="ünïcode ✓").to_json()
    server.send_fragmented(text, 4)
    server.send('{"errorType":"SESSION_RESOURCES_EXHAUSTED"}')
    server.send(ev.ResponseDone(event_id="e4", response=Response(id="r1", status="completed")))
    server.close(1000, "done")
    return conn, server.data_to_send()


def _observe(conn: RealtimeConnection, stream: bytes, cuts: list[int]) -> tuple[list[Any], list[Any], str]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    sent = ServerConnection(upgraded=True)  # decodes the client's frames
    for a, b in itertools.pairwise(points):
        conn.receive_data(stream[a:b])
    events = [(type(e).__name__, e.model_dump() if hasattr(e, "model_dump") else e) for e in conn.events()
              if not isinstance(e, ev.Connected)]  # its headers carry the per-connection accept key
    sent.receive_data(conn.data_to_send())
    client = [(type(e).__name__, getattr(e, "type", None)) for e in sent.events()]
    return events, client, conn.state.value


REFERENCE = _observe(*_server_script(), [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=100_000), max_size=40))
def test_any_split_of_the_stream_gives_the_same_events(cuts: list[int]) -> None:
    conn, stream = _server_script()
    assert _observe(conn, stream, cuts) == REFERENCE
    assert REFERENCE[2] == ConnectionState.CLOSED.value


def _ready() -> RealtimeConnection:
    return ready(4096)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=20))
def test_garbage_after_the_handshake_is_a_remote_error_or_events(chunks: list[bytes]) -> None:
    conn = _ready()
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            for _ in conn.events():
                pass
    except RemoteProtocolError:
        assert conn.state is ConnectionState.FAILED
    assert conn._layer.ws is not None and conn._layer.ws.message_bytes <= conn.max_message_bytes


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(ev.SERVER_EVENT_TYPES)), st.dictionaries(
    st.sampled_from(["item_id", "delta", "response", "item", "error", "session", "audio_end_ms", "call_id",
                     "content_index", "transcript", "usage", "timestamp"]), _json_values, max_size=5))
def test_right_type_wrong_fields_never_raise_past_the_core(kind: str, fields: dict[str, Any]) -> None:
    conn = _ready()
    server = ServerConnection(upgraded=True)
    server.send(json.dumps({"type": kind, **fields}))
    conn.receive_data(server.data_to_send())
    got = list(conn.events())
    assert len(got) == 1
    assert isinstance(got[0], ev.ServerEvent | ev.InvalidServerEvent)
    assert conn.state in (ConnectionState.READY, ConnectionState.RESPONDING)


_text = st.text(max_size=30)
_items = st.builds(
    ConversationItem,
    id=st.text(min_size=1, max_size=12),
    type=st.sampled_from(["message", "function_call", "function_call_output"]),
    role=st.sampled_from(["user", "assistant", "system"]) | st.none(),
    content=st.lists(st.builds(ItemContent, type=st.sampled_from(["input_text", "output_text", "input_audio"]),
                               text=_text | st.none()), max_size=2) | st.none(),
    call_id=_text | st.none(),
    output=_text | st.none(),
)
client_events = st.one_of(
    st.builds(ev.SessionUpdate, session=st.builds(SessionProperties, instructions=_text | st.none(),
                                                  temperature=st.floats(0, 2) | st.none())),
    st.builds(ev.InputAudioBufferAppend, audio=st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())),
    st.builds(ev.InputAudioBufferCommit),
    st.builds(ev.InputAudioBufferClear),
    st.builds(ev.OutputAudioBufferClear),
    st.builds(ev.ConversationItemCreate, item=_items, previous_item_id=_text | st.none()),
    st.builds(ev.ConversationItemTruncate, item_id=_text, content_index=st.integers(0, 3),
              audio_end_ms=st.integers(0, 10**6)),
    st.builds(ev.ConversationItemDelete, item_id=_text),
    st.builds(ev.ConversationItemRetrieve, item_id=_text),
    st.builds(ev.ResponseCreate, response=st.builds(
        ev.ResponseProperties, output_modalities=st.sampled_from([["text"], ["audio"], ["audio", "text"]]) | st.none(),
        instructions=_text | st.none()) | st.none()),
    st.builds(ev.ResponseCancel, response_id=_text | st.none()),
)


@settings(max_examples=300, deadline=None)
@given(client_events)
def test_every_client_event_round_trips(event: ev.ClientEvent) -> None:
    text = event.to_json()
    back = ev.parse_client_event(text)
    assert type(back) is type(event)
    assert back.to_json() == text
    assert json.loads(text)["type"] == event.type


@given(st.lists(st.one_of(
    st.tuples(st.just("append"), st.binary(max_size=40)),
    st.tuples(st.just("take"), st.integers(-5, 120)),
    st.tuples(st.just("drop"), st.integers(-5, 120)),
    st.tuples(st.just("clear"), st.just(0)),
), max_size=60))
def test_chunks_behave_like_a_bytearray_trimmed_at_the_front(ops: list[tuple[str, Any]]) -> None:
    """The uncommitted-turn store keeps chunks uncopied; whatever the operations, it holds what a bytearray would."""
    chunks, model = Chunks(), bytearray()
    for op, arg in ops:
        if op == "append":
            chunks.append(arg)
            model += arg
        elif op == "take":
            n = max(arg, 0)
            assert chunks.take(arg) == bytes(model[:n])
            del model[:n]
        elif op == "drop":
            chunks.drop(arg)
            del model[: max(arg, 0)]
        else:
            chunks.clear()
            model.clear()
        assert len(chunks) == len(model)
        assert bytes(chunks) == bytes(model)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_session_keys = st.sampled_from(["audio", "type", "id", "expires_at", "tools", "output_modalities", "model",
                                 "max_output_tokens", "temperature", "providerData", "tool_choice"])
_audio_like = st.fixed_dictionaries({}, optional={
    "input": st.fixed_dictionaries({}, optional={"format": _json_values, "turn_detection": _json_values,
                                                 "noise_reduction": _json_values}),
    "output": st.fixed_dictionaries({}, optional={"format": _json_values, "voice": _json_values}),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=st.dictionaries(_session_keys, _json_values, max_size=5) | _audio_like.map(lambda a: {"audio": a})
       | _json_values)
def test_any_session_created_body_configures_the_session(session: Any) -> None:
    conn = RealtimeConnection(KEY, url="ws://127.0.0.1:1/s")
    conn.connect()
    server = ServerConnection()
    server.receive_request(conn.data_to_send())
    server.accept()
    server.send(json.dumps({"type": "session.created", "session": session}))
    conn.receive_data(server.data_to_send())
    assert [type(e) for e in conn.events()] == [ev.Connected, ev.SessionCreated]
    assert conn.state is ConnectionState.CONFIGURING
    server.receive_data(conn.data_to_send())
    assert any(isinstance(e, ev.SessionUpdate) for e in server.events())
