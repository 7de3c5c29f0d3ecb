"""Sessions that last (issue 20): bounded memory, a lazy replay, re-asking only what is owed, objects that stay
the caller's, and configuration mistakes caught where they are made. Each group fails on the core before it."""

from __future__ import annotations

import base64
import contextlib
import json
import math
from dataclasses import fields, is_dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from benchmarks.simulated import Simulation, vad_session
from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    ConfigurationError,
    ConnectionState,
    ConversationItem,
    ItemContent,
    PCMAudioFormat,
    ProtocolError,
    RealtimeConnection,
    Response,
    SessionProperties,
    TurnDetection,
    Usage,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ServerConnection

from .core_helpers import configured, deliver, pump, upgrade

S = ConnectionState
KEY = "test-key"
URL = "ws://127.0.0.1:1/s"


def reconnect(conn: RealtimeConnection) -> tuple[ServerConnection, list[object]]:
    """A new socket up to ``session.updated``; returns the server and the client's events."""
    server = upgrade(conn)
    deliver(conn, server, ev.SessionCreated(session=SessionProperties()))
    update = pump(conn, server)
    assert [type(e) for e in update] == [ev.SessionUpdate]
    return server, deliver(conn, server, ev.SessionUpdated(session=conn.session))


def client_types(sent: list[Any]) -> list[str]:
    return [e.type for e in sent if isinstance(e, ev.ClientEvent)]


# ---------------------------------------------------------------- 1. bounded memory


def test_history_and_user_audio_stop_growing_after_warm_up_with_one_report_per_trimmed_item() -> None:
    sim = Simulation(parse=True)  # the defaults: 200 items, 30 s of untranscribed user audio
    sim.connect()
    sizes = []
    for n in range(130):
        sim.turn(speech_ms=1000)
        if n + 1 in (110, 130):
            conv = sim.conn.conversation
            held = sum(len(t.user_audio or b"") for t in conv.items.values())
            sizes.append((len(conv.items), held, len(conv.usage)))
    assert sizes[0] == sizes[1]  # flat after warm-up
    items, held, usage = sizes[1]
    assert items == 200 and 0 < held <= 30_000 * 32 and usage <= 16
    assert sim.conn.conversation.total_usage.total_tokens == 130 * 30  # totals still count every response
    # Every turn is either still replayable or was reported once (a user turn when its audio went; the
    # later trim of its empty item is not reported again); no report per chunk, none twice.
    reported = [t.item_id for t in sim.trims]
    assert len(reported) == len(set(reported))
    replayable = {t.id for t in sim.conn.conversation.replay_items(lambda pcm: "")}
    everything = {f"item_{who}{n}" for who in "ua" for n in range(1, 131)}
    assert set(reported) | replayable == everything and not set(reported) & replayable
    assert {t.what for t in sim.trims} == {"item", "item_audio"}
    assert sim.counts["AudioDropped"] == 0


def test_a_long_turn_is_reported_once_as_not_fully_replayable_not_once_per_chunk() -> None:
    sim = Simulation()
    sim.connect()
    sim.deliver(ev.InputAudioBufferSpeechStarted(audio_start_ms=0, item_id="u1"))
    got: list[Any] = []
    for _ in range(1000):  # 60 s of speech in 60 ms chunks
        sim.conn.send_audio(bytes(1920))
        got.extend(sim.conn.events())
        sim.flush()
    trimmed = [e for e in got if isinstance(e, ev.ReplayTrimmed)]
    assert len(trimmed) == 1 and trimmed[0].item_id is None and trimmed[0].what == "turn_audio"
    assert "max_replay_audio_ms=10000" in trimmed[0].reason and "replay" in trimmed[0].reason
    assert not [e for e in got if isinstance(e, ev.AudioDropped)]  # nothing was dropped: the server heard it all
    assert sim.conn.turn_audio_ms == 10_000


def test_committed_user_audio_is_let_go_once_transcribed() -> None:
    sim = Simulation(transcribe=True)
    sim.connect()
    for _ in range(5):
        sim.turn(speech_ms=2000)
    assert all(t.user_audio is None for t in sim.conn.conversation.items.values())
    texts = [t.text for t in sim.conn.conversation.items.values()]
    assert texts[:2] == ["user turn 1", "Answer number 1, brief as asked."]


def test_a_user_audio_item_the_caller_adds_is_kept_once_as_pcm_within_the_bound() -> None:
    conn = RealtimeConnection(KEY, vad_session(), url=URL, max_history_audio_ms=1000)
    server = configured(conn)
    pcm = b"\x05\x00" * 8000  # 500 ms at 16 kHz
    audio = base64.b64encode(pcm).decode("ascii")
    for n in range(3):
        conn.send(ev.ConversationItemCreate(item=ConversationItem(
            id=f"c{n}", role="user", content=[ItemContent(type="input_audio", audio=audio)])))
    pump(conn, server)
    trimmed = [(e.item_id, e.what) for e in conn.events() if isinstance(e, ev.ReplayTrimmed)]
    assert trimmed == [("c0", "item_audio")]
    deliver(conn, server, ev.ConversationItemAdded(item=ConversationItem(  # the server's echo, audio and all
        id="c2", role="user", content=[ItemContent(type="input_audio", audio=audio)])))
    kept = conn.conversation.items
    assert all(p.audio is None for t in kept.values() for p in t.item.content or ())  # no base64 copy kept
    assert [k for k, t in kept.items() if t.user_audio] == ["c1", "c2"]  # 1 s of audio: the last two
    conn.receive_data(b"")
    server2, _ = reconnect(conn)
    creates = [e for e in pump(conn, server2) if isinstance(e, ev.ConversationItemCreate)]
    assert [c.item.id for c in creates] == ["c1", "c2"]
    assert all(base64.b64decode(c.item.content[0].audio or "") == pcm for c in creates if c.item.content)


# ---------------------------------------------------------------- 2. a replay bounded in time


def test_the_replay_is_produced_as_the_bytes_are_drained_in_order_before_new_audio() -> None:
    sim = Simulation(parse=True, options={"max_replay_items": 40})
    sim.connect()
    for _ in range(30):
        sim.turn(speech_ms=1000, answer=True)
    sim.deliver(ev.InputAudioBufferSpeechStarted(audio_start_ms=sim.offset_ms))
    sim.conn.send_audio(b"\x07\x00" * 960)  # 60 ms of a turn in progress
    sim.flush()
    sim.conn.receive_data(b"")
    sim.conn.send_audio(b"\x08\x00" * 960)  # spoken during the gap
    sim.sent.clear()
    sim.server = upgrade(sim.conn)
    sim.deliver(ev.SessionCreated())
    sim.flush()
    sim.sent.clear()
    sim.server.send(ev.SessionUpdated(session=sim.conn.session))
    sim.conn.receive_data(sim.server.data_to_send())
    assert sim.conn.more_to_send  # resuming encoded nothing yet
    first = sim.conn.data_to_send(4096)
    assert 0 < len(first) < 4096 + 64 * 1024  # one bounded step of the replay, not all of it
    assert sim.conn.more_to_send
    sim.server.receive_data(first)
    sim.sent.extend(sim.server.events())
    sim.conn.send_audio(b"\x09\x00" * 960)  # new audio while the replay leaves: it goes after
    steps = 1
    while sim.conn.more_to_send:
        sim.flush(4096)
        steps += 1
    sim.flush()
    assert steps > 3
    types = client_types(sim.sent)
    assert types.count("conversation.item.create") == 40  # the kept history, every item once
    assert types.index("input_audio_buffer.append") > max(i for i, t in enumerate(types)
                                                          if t == "conversation.item.create")
    audio = b"".join(base64.b64decode(e.audio) for e in sim.sent if isinstance(e, ev.InputAudioBufferAppend))
    # the turn (after the silence left uncommitted by the last one), the gap, then the new audio
    assert audio.lstrip(b"\0") == b"\x07\x00" * 960 + b"\x08\x00" * 960 + b"\x09\x00" * 960


def test_a_drop_while_the_replay_leaves_keeps_the_unsent_audio_for_the_next_session() -> None:
    sim = Simulation(parse=True)
    sim.connect()
    sim.conn.send_audio(b"\x01\x00" * 960)
    sim.flush()
    sim.conn.receive_data(b"")
    sim.conn.send_audio(b"\x02\x00" * 960 * 3)
    sim.server = upgrade(sim.conn)
    sim.deliver(ev.SessionCreated())
    sim.flush()
    sim.server.send(ev.SessionUpdated(session=sim.conn.session))
    sim.conn.receive_data(sim.server.data_to_send())
    sim.conn.data_to_send(1)  # one message leaves, then the socket drops
    sim.conn.receive_data(b"")
    sim.sent.clear()
    sim.server = upgrade(sim.conn)
    sim.deliver(ev.SessionCreated())
    sim.flush()
    sim.deliver(ev.SessionUpdated(session=sim.conn.session))
    sim.flush()
    audio = b"".join(base64.b64decode(e.audio) for e in sim.sent if isinstance(e, ev.InputAudioBufferAppend))
    assert audio == b"\x01\x00" * 960 + b"\x02\x00" * 960 * 3


# ---------------------------------------------------------------- 3. re-ask exactly what was owed


def vad_conn() -> tuple[RealtimeConnection, ServerConnection]:
    conn = RealtimeConnection(KEY, vad_session(), url=URL)
    return conn, configured(conn)


def test_context_added_without_asking_is_not_answered_after_a_reconnect() -> None:
    conn, server = vad_conn()
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("The user's name is Ada.")))
    conn.send(ev.ConversationItemCreate(item=ConversationItem.function_output("call_9", '{"ok": true}')))
    pump(conn, server)
    conn.receive_data(b"")
    server2, _ = reconnect(conn)
    assert "response.create" not in client_types(pump(conn, server2))


def test_a_requested_response_cut_off_is_asked_for_once_more() -> None:
    conn, server = vad_conn()
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("Hi")))
    conn.create_response()
    pump(conn, server)
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")))
    conn.receive_data(b"")
    conn.create_response()  # the caller asks again during the gap: still one request
    server2, _ = reconnect(conn)
    sent = client_types(pump(conn, server2))
    assert sent.count("response.create") == 1 and sent[-1] == "response.create"


def test_a_requested_response_cancelled_before_the_drop_is_not_asked_for_again() -> None:
    conn, server = vad_conn()
    conn.create_response()
    pump(conn, server)
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")))
    assert conn.cancel_response()
    pump(conn, server)
    conn.receive_data(b"")
    server2, _ = reconnect(conn)
    assert "response.create" not in client_types(pump(conn, server2))


def test_a_vad_response_cut_off_or_owed_is_asked_for_once() -> None:
    for started in (True, False):  # created by VAD and cut off; committed but not started yet
        conn, server = vad_conn()
        conn.send_audio(bytes(32 * 120))
        pump(conn, server)
        deliver(conn, server, ev.InputAudioBufferSpeechStarted(audio_start_ms=0),
                ev.InputAudioBufferSpeechStopped(audio_end_ms=100), ev.InputAudioBufferCommitted(item_id="u1"))
        if started:
            deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")))
        conn.receive_data(b"")
        server2, _ = reconnect(conn)
        assert client_types(pump(conn, server2)).count("response.create") == 1, started


def test_a_response_completed_before_the_drop_is_not_asked_for_again() -> None:
    conn, server = vad_conn()
    conn.send(ev.ConversationItemCreate(item=ConversationItem.user_text("Hi")))
    conn.create_response()
    pump(conn, server)
    answer = ConversationItem(id="a1", role="assistant", content=[ItemContent(type="output_text", text="Hello")])
    deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")),
            ev.ResponseDone(response=Response(id="r1", status="completed", output=[answer])))
    conn.send(ev.ConversationItemCreate(item=ConversationItem.function_output("c1", "{}")))  # context after it
    pump(conn, server)
    conn.receive_data(b"")
    server2, _ = reconnect(conn)
    assert "response.create" not in client_types(pump(conn, server2))


# ---------------------------------------------------------------- 4. objects stay the caller's


def test_objects_handed_out_or_passed_in_can_be_changed_without_touching_the_core_or_the_wire() -> None:
    session = SessionProperties(instructions="Be brief.", audio=AudioConfiguration(
        input=AudioInput(format=PCMAudioFormat(rate=16000), turn_detection=TurnDetection(type="server_vad"))))
    conn = RealtimeConnection(KEY, session, url=URL)
    session.instructions = "changed after the constructor"
    server = configured(conn)
    handed: list[Any] = []

    # SessionConfigured.session, conn.session and conn.server_session are copies
    server2_events: list[Any] = []
    conn.receive_data(b"")
    server2 = upgrade(conn)
    server2_events += deliver(conn, server2, ev.SessionCreated())
    pump(conn, server2)
    server2_events += deliver(conn, server2, ev.SessionUpdated(session=conn.session))
    configured_event = next(e for e in server2_events if isinstance(e, ev.SessionConfigured))
    assert configured_event.session is not None
    configured_event.session.instructions = "changed from the event"
    conn.session.instructions = "changed from the property"
    server_session = conn.server_session
    assert server_session is not None
    server_session.instructions = "changed server view"
    assert conn.server_session is not None and conn.server_session.instructions == "Be brief."
    server = server2

    # usage of a response and the totals
    done = deliver(conn, server, ev.ResponseCreated(response=Response(id="r1")),
                   ev.ResponseDone(response=Response(id="r1", status="completed"),
                                   usage=Usage(total_tokens=10, input_tokens=6, output_tokens=4)))
    handed += done
    usage_done = next(e for e in done if isinstance(e, ev.ResponseDone))
    assert usage_done.usage is not None
    usage_done.usage.total_tokens = 10_000
    usage_done.response.id = "tampered"
    total = conn.conversation.total_usage
    total.total_tokens = 99
    assert conn.conversation.total_usage.total_tokens == 10
    assert conn.conversation.usage["r1"].total_tokens == 10

    # items handed out in events
    added = deliver(conn, server, ev.ConversationItemAdded(item=ConversationItem.user_text("ten euros", id="u1")))
    item_event = next(e for e in added if isinstance(e, ev.ConversationItemAdded))
    assert item_event.item.content is not None
    item_event.item.content[0].text = "tampered"

    # what send() is given: held while the socket is down, then mutated before it leaves
    conn.receive_data(b"")
    item = ConversationItem.user_text("10 EUR", id="u2")
    create = ev.ConversationItemCreate(item=item)
    conn.send(create)
    assert item.content is not None
    item.content[0].text = "10000 EUR"
    create.previous_item_id = "tampered"
    asked = conn.create_response(instructions="Answer in French.")
    assert asked.response is not None
    asked.response.instructions = "Answer in Klingon."
    update = SessionProperties(temperature=0.5)
    conn.update_session(update)
    update.temperature = 1.5

    server3 = upgrade(conn)
    deliver(conn, server3, ev.SessionCreated())
    sent_update = pump(conn, server3)
    deliver(conn, server3, ev.SessionUpdated())
    replay = pump(conn, server3)
    assert isinstance(sent_update[0], ev.SessionUpdate)
    assert sent_update[0].session.instructions == "Be brief." and sent_update[0].session.temperature == 0.5
    texts = [p.text for e in replay if isinstance(e, ev.ConversationItemCreate) for p in e.item.content or ()]
    assert texts == ["ten euros", "10 EUR"]
    creates = [e for e in replay if isinstance(e, ev.ConversationItemCreate)]
    assert creates[-1].previous_item_id is None
    responses = [e for e in replay if isinstance(e, ev.ResponseCreate)]
    assert len(responses) == 1 and responses[0].response is not None
    assert responses[0].response.instructions == "Answer in French."
    assert conn.session.temperature == 0.5


def tamper(obj: Any, seen: set[int] | None = None) -> None:
    """Change everything reachable in ``obj`` that Python lets a caller change (frozen models are left)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, BaseModel):
        frozen = obj.model_config.get("frozen", False)
        for name, value in list(obj.__dict__.items()):
            tamper(value, seen)
            if not frozen and isinstance(value, str) and name not in ("type", "role"):
                setattr(obj, name, f"tampered {name}")
            elif not frozen and isinstance(value, int | float) and not isinstance(value, bool):
                setattr(obj, name, 123_456)
    elif isinstance(obj, list):
        for value in obj:
            tamper(value, seen)
        obj.append("tampered")
    elif isinstance(obj, dict):
        for value in list(obj.values()):
            tamper(value, seen)
        obj["tampered"] = "tampered"
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            tamper(getattr(obj, f.name), seen)


def wire_of_a_resumed_session(mutate: bool) -> tuple[list[dict[str, Any]], list[int | None]]:
    """A conversation of turns, tool calls and caller events, a drop and a resume; what goes out on resuming."""
    sim = Simulation(parse=True, transcribe=True, on_event=tamper if mutate else None)
    sim.connect()
    for _ in range(3):
        sim.turn(speech_ms=400)
    call = ConversationItem(id="fc1", type="function_call", call_id="c1", name="weather", arguments='{"q":1}')
    sim.deliver(ev.ResponseCreated(response=Response(id="rf")),
                ev.ResponseOutputItemAdded(response_id="rf", item=call),
                ev.ResponseFunctionCallArgumentsDone(response_id="rf", item_id="fc1", call_id="c1",
                                                     arguments='{"q":1}'),
                ev.ResponseDone(response=Response(id="rf", status="completed", output=[call]),
                                usage=Usage(total_tokens=5, input_tokens=3, output_tokens=2)))
    given: list[Any] = [ev.ConversationItemCreate(item=ConversationItem.function_output("c1", '{"t": 20}', id="fo1")),
                        ev.ConversationItemCreate(item=ConversationItem.user_text("10 EUR", id="u_x"))]
    for event in given:
        sim.conn.send(event)
        if mutate:
            tamper(event)
    asked = sim.conn.create_response(instructions="Be brief.", metadata={"k": "v"})
    update = SessionProperties(temperature=0.4)
    sim.conn.update_session(update)
    if mutate:
        tamper(asked)
        tamper(update)
        tamper(sim.conn.session)
        tamper(sim.conn.server_session)
        tamper(sim.conn.conversation.total_usage)
    sim.flush()
    sim.sent.clear()
    sim.drop_and_resume()
    sim.flush()
    sim.turn(speech_ms=400)
    wire = [e.model_dump(mode="json", exclude={"event_id"}) for e in sim.sent if isinstance(e, ev.ClientEvent)]
    totals = sim.conn.conversation.total_usage
    return wire, [totals.total_tokens, totals.input_tokens, totals.output_tokens, len(sim.conn.conversation.items)]


def test_every_object_handed_out_or_passed_in_can_be_mutated_without_effect() -> None:
    clean, clean_state = wire_of_a_resumed_session(mutate=False)
    tampered, tampered_state = wire_of_a_resumed_session(mutate=True)
    assert "tampered" not in json.dumps(tampered)
    assert tampered == clean and tampered_state == clean_state


# ---------------------------------------------------------------- 5. configuration mistakes


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b", "caf\u00e9 \u2603"])
def test_header_injection_is_refused_before_any_state_change(value: str) -> None:
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, url=URL, extra_headers={"X-Tag": value})
    conn = RealtimeConnection(KEY, url=URL)
    conn.extra_headers["X-Tag"] = value  # changed after the constructor: connect() checks again
    with pytest.raises(ConfigurationError) as caught:
        conn.connect()
    assert value not in str(caught.value)
    assert conn.state is S.CLOSED and conn.data_to_send() == b""
    conn.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")  # ignored, not an AssertionError
    del conn.extra_headers["X-Tag"]
    conn.connect()
    assert conn.state is S.CONNECTING


def test_a_key_that_would_split_the_request_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RealtimeConnection("secret\r\nX-Evil: 1", url=URL)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("rate", [0, -16000, 11025, 22050, 1])
def test_sample_rates_inworld_does_not_take_are_refused_where_they_are_given(rate: int) -> None:
    bad = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=rate))))
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, bad, url=URL)
    conn = RealtimeConnection(KEY, url=URL)
    server = configured(conn)
    pump(conn, server)
    with pytest.raises(ConfigurationError):
        conn.update_session(bad)
    assert conn.input_rate == 24000 and pump(conn, server) == []
    conn.send_audio(bytes(2880))  # still streams at the rate it had


@pytest.mark.parametrize("option", ["max_held_audio_ms", "max_replay_audio_ms", "max_replay_items",
                                    "max_history_audio_ms", "chunk_ms", "max_message_bytes", "max_header_bytes"])
def test_negative_limits_are_refused(option: str) -> None:
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, url=URL, **{option: -1})
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, url=URL, **{option: 1.5})


@pytest.mark.parametrize("url", ["ws://host:99999/", "ws://host:0/", "ws://host:abc/", "ws://[::1/",
                                 "ws://[zz::1]:80/", "ws://::1:80/", "ws://ho st/", "ws://host/\r\nX: 1",
                                 "http://host/", "ws:///path"])
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        RealtimeConnection(KEY, url=url)


def test_an_ipv6_literal_url_is_taken() -> None:
    conn = RealtimeConnection(KEY, url="ws://[::1]:8765/api")
    conn.connect()
    assert conn.target is not None and conn.target.host == "::1" and conn.target.authority == "[::1]:8765"
    assert b"Host: [::1]:8765\r\n" in conn.data_to_send()


def test_bad_response_properties_are_a_configuration_error_not_a_validation_error() -> None:
    conn = RealtimeConnection(KEY, url=URL)
    server = configured(conn)
    pump(conn, server)
    with pytest.raises(ConfigurationError) as caught:
        conn.create_response(temperature="hot")
    assert not isinstance(caught.value, ValidationError)
    item = ConversationItem.user_text("x")
    item.content = 5  # type: ignore[assignment]  # no validation on assignment: caught on entry
    with pytest.raises(ConfigurationError):
        conn.send(ev.ConversationItemCreate(item=item))
    assert pump(conn, server) == []


JUNK = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=40),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
                 st.just(object()), st.just(math.nan), st.just("a\r\nb"))

_CALLS = {
    "receive_data": lambda c, a, b: c.receive_data(a),
    "connection_lost": lambda c, a, b: c.connection_lost(a),
    "send": lambda c, a, b: c.send(a),
    "send_audio": lambda c, a, b: c.send_audio(a),
    "create_response": lambda c, a, b: c.create_response(**{str(b): a}),
    "create_response_known": lambda c, a, b: c.create_response(temperature=a, instructions=b),
    "truncate": lambda c, a, b: c.truncate(a, b),
    "update_session": lambda c, a, b: c.update_session(a),
    "ping": lambda c, a, b: c.ping(a),
    "close": lambda c, a, b: c.close(a, b),
    "queued_audio_seconds": lambda c, a, b: c.queued_audio_seconds(a),
    "data_to_send": lambda c, a, b: c.data_to_send(a),
    "flush_audio": lambda c, a, b: c.flush_audio(),
    "commit": lambda c, a, b: c.commit(),
    "cancel_response": lambda c, a, b: c.cancel_response(),
    "connect": lambda c, a, b: c.connect(),
    "reset_conversation": lambda c, a, b: c.reset_conversation(),
    "send_built_from_junk": lambda c, a, b: c.send(ev.ConversationItemCreate.model_construct(item=a)),
    "send_response_from_junk": lambda c, a, b: c.send(ev.ResponseCreate.model_construct(response=a)),
}
_OPTIONS = ["api_key", "session", "url", "auth_type", "clock", "chunk_ms", "max_message_bytes", "max_header_bytes",
            "max_replay_audio_ms", "max_held_audio_ms", "extra_headers", "max_replay_items", "max_history_audio_ms"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(st.tuples(st.sampled_from(sorted(_CALLS)), JUNK, JUNK), min_size=1, max_size=6),
       option=st.sampled_from(_OPTIONS), junk=JUNK, start_ready=st.booleans())
def test_public_methods_given_junk_raise_only_errors_of_the_tree(
        calls: list[tuple[str, Any, Any]], option: str, junk: Any, start_ready: bool) -> None:
    with contextlib.suppress(ProtocolError):  # a junk option is refused in the tree, or taken
        RealtimeConnection(**{"api_key": KEY, "url": URL, option: junk})
    conn = RealtimeConnection(KEY, url=URL)
    if start_ready:
        server = configured(conn)
        pump(conn, server)
    for name, a, b in calls:
        before = conn.state
        try:
            _CALLS[name](conn, a, b)
        except ConfigurationError:
            assert conn.state is before, name  # a mistake leaves the connection as it was
        except ProtocolError:
            pass
        list(conn.events())
        conn.data_to_send()


@pytest.mark.parametrize("kind", ["asyncio", "blocking", "webrtc"])
def test_every_client_takes_the_memory_bounds_and_refuses_bad_ones(kind: str) -> None:
    from inworld_realtime import AsyncRealtimeClient, RealtimeClient
    from inworld_realtime.io_adapters.webrtc import AsyncWebRTCClient

    make = {"asyncio": AsyncRealtimeClient, "blocking": RealtimeClient, "webrtc": AsyncWebRTCClient}[kind]
    url = "http://127.0.0.1:1/v1/realtime" if kind == "webrtc" else "ws://127.0.0.1:1/s"
    client = make("k", url=url, max_replay_items=7, max_history_audio_ms=1234)
    assert client.connection.conversation.max_items == 7
    for option in ("max_replay_items", "max_history_audio_ms"):
        with pytest.raises(ConfigurationError, match=option):
            make("k", url=url, **{option: -1})
