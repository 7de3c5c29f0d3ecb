"""Every emulator fault against both of our clients: a clear error, or recovery with nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread, Faults, ScriptedBrain
from inworld_realtime.io_adapters import ConnectTimeout, Reconnected, Reconnecting
from inworld_realtime.protocol import HandshakeError, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ConversationItem
from tests.client_harness import Peer, ScriptedServer, driver

ADAPTERS = ["asyncio", "blocking"]
FAST = {"connect_timeout": 2.0, "backoff_initial": 0.02, "backoff_max": 0.1, "keepalive_timeout": 5.0,
        "ping_interval": 0.5}
TEXT_ONLY = SessionProperties(output_modalities=["text"])


def emulator(**faults: Any) -> EmulatorThread:
    brain = ScriptedBrain(replies=["The answer is forty-two."] * 5)
    return EmulatorThread(EmulatorOptions(brain=brain, pace=0, faults=Faults(**faults)))


def text_turn(d: Any, timeout: float = 8.0) -> list[Any]:
    """Ask a question; return every event up to the completed answer."""
    d.call("send", ev.ConversationItemCreate(item=ConversationItem.user_text("What is the answer?")))
    d.call("create_response")
    events: list[Any] = []
    while True:
        event = d.next_event(timeout)
        events.append(event)
        if isinstance(event, ev.ResponseDone) and event.response.status == "completed":
            return events


def answer(events: list[Any]) -> str:
    return "".join(e.delta for e in events if isinstance(e, ev.ResponseOutputTextDelta))


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("faults", [
    {"delay_ms": 20}, {"fragment": 4}, {"ws_ping_interval_s": 0.02}, {"ping_event_interval_s": 0.02},
    {"untyped_after": 2},
], ids=["delay", "fragment", "ws-pings", "ping-events", "untyped-message"])
def test_harmless_faults_do_not_disturb_a_turn(adapter: str, faults: dict[str, Any]) -> None:
    with emulator(**faults) as emu, driver(adapter, "k", TEXT_ONLY, emu.url, **FAST) as d:
        d.call("connect")
        events = text_turn(d)
        assert answer(events) == "The answer is forty-two."
        assert not [e for e in events if isinstance(e, Reconnecting)]
        if "untyped_after" in faults:
            untyped = [e for e in events if isinstance(e, ev.UntypedServerMessage)]
            assert untyped and untyped[0].error_type == "SESSION_RESOURCES_EXHAUSTED"
        if "ping_event_interval_s" in faults:
            ping, _ = d.wait_for(ev.Ping, timeout=3)
            assert ping.timestamp


@pytest.mark.parametrize("faults", [
    {"drop_after": 4, "first_connections": 1},
    {"close_after": 4, "close_code": 1011, "first_connections": 1},
    {"close_after": 4, "close_code": 4000, "close_reason": "policy", "first_connections": 1},
    {"malformed_after": 4, "first_connections": 1},
], ids=["drop", "close-1011", "close-4000", "malformed-json"])
def test_faults_mid_answer_are_survived_by_reconnecting(adapter: str, faults: dict[str, Any]) -> None:
    with emulator(**faults) as emu, driver(adapter, "k", TEXT_ONLY, emu.url, **FAST) as d:
        d.call("connect")
        events = text_turn(d)
        assert any(isinstance(e, Reconnected) for e in events), [type(e).__name__ for e in events]
        assert answer(events).endswith("The answer is forty-two.")
        second = emu.sessions[1]
        assert any(getattr(e, "type", "") == "conversation.item.create" for e in second.events)  # history replayed


def test_a_normal_close_ends_the_stream_without_reconnecting(adapter: str) -> None:
    with emulator(close_after=3, close_code=1000, close_reason="bye") as emu, \
            driver(adapter, "k", TEXT_ONLY, emu.url, **FAST) as d:
        d.call("connect")
        d.call("send", ev.ConversationItemCreate(item=ConversationItem.user_text("Hello?")))
        closed, _ = d.wait_for(ev.ConnectionClosed)
        assert closed.code == 1000 and closed.clean
        with pytest.raises(ConnectionError):
            d.next_event(3)
        assert len(emu.sessions) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_refused_handshakes_raise_with_the_status(adapter: str, status: int) -> None:
    with emulator(refuse_status=status, retry_after="3") as emu, \
            driver(adapter, "k", TEXT_ONLY, emu.url, **FAST) as d, pytest.raises(HandshakeError) as info:
        d.call("connect")
    assert info.value.status == status
    if status == 429:
        assert info.value.retry_after == 3.0


def test_a_server_that_accepts_and_says_nothing_times_out(adapter: str) -> None:
    quick = {**FAST, "connect_timeout": 0.5}
    with emulator(silent=True) as emu, driver(adapter, "k", TEXT_ONLY, emu.url, **quick) as d, \
            pytest.raises(ConnectTimeout):
        d.call("connect")


def test_keepalive_notices_a_half_open_connection_and_reconnects(adapter: str) -> None:
    async def vanish(peer: Peer) -> None:  # session opens, then the server neither reads nor writes
        await peer.open_session()
        peer.ws.transport.pause_reading()
        await asyncio.sleep(30)

    quick = {**FAST, "keepalive_timeout": 0.4, "ping_interval": 0.1}
    with ScriptedServer(vanish) as server, driver(adapter, "k", TEXT_ONLY, server.url, **quick) as d:
        d.call("connect")
        reconnecting, seen = d.wait_for(Reconnecting, timeout=5)
        closed = [e for e in seen if isinstance(e, ev.ConnectionClosed)]
        assert closed and "keepalive" in closed[0].reason and not closed[0].clean
        assert reconnecting.attempt == 1


def test_an_emulator_that_stops_reading_bounds_the_write_queue(adapter: str) -> None:
    limit = 32 * 1024
    with emulator(stop_reading_after=2) as emu, \
            driver(adapter, "k", TEXT_ONLY, emu.url, **{**FAST, "max_queue_bytes": limit}) as d:
        d.call("connect")
        done = threading.Event()
        sent = [0]

        def pump() -> None:
            with contextlib.suppress(Exception):
                while sent[0] < 3000:
                    d.call("send_audio", bytes(4800))
                    sent[0] += 1
            done.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline, last = time.monotonic() + 10, -1
        while time.monotonic() < deadline and not (sent[0] == last and d.client._queued > limit):
            last = sent[0]
            time.sleep(0.2)
        assert sent[0] < 3000 and d.client._queued <= limit + 16000
        d.close()
        assert done.wait(10)


def test_reset_conversation_opens_a_fresh_session_without_history(adapter: str) -> None:
    with emulator() as emu, driver(adapter, "k", TEXT_ONLY, emu.url, **FAST) as d:
        d.call("connect")
        text_turn(d)
        d.call("reset_conversation")
        assert len(emu.sessions) == 2
        events = text_turn(d)
        assert answer(events) == "The answer is forty-two."
        creates = [e for e in emu.sessions[1].events if getattr(e, "type", "") == "conversation.item.create"]
        assert len(creates) == 1  # only the new question: nothing replayed


def test_the_asyncio_client_runs_on_uvloop_through_a_reconnect() -> None:
    """pipecat apps often run on uvloop, whose transports are not asyncio's classes: the feed must work there too."""
    import uvloop

    from inworld_realtime.io_adapters import AsyncRealtimeClient

    async def turn(url: str) -> list[Any]:
        async with AsyncRealtimeClient("k", TEXT_ONLY, url, **FAST) as client:  # type: ignore[arg-type]
            await client.send_audio(bytes(3200))
            await client.send(ev.ConversationItemCreate(item=ConversationItem.user_text("What is the answer?")))
            await client.create_response()
            events: list[Any] = []
            async for event in client:
                events.append(event)
                if isinstance(event, ev.ResponseDone) and event.response.status == "completed":
                    return events
        raise AssertionError("the stream ended before the answer")

    with emulator(drop_after=4, first_connections=1) as emu, asyncio.Runner(loop_factory=uvloop.new_event_loop) as run:
        events = run.run(turn(emu.url))
    assert any(isinstance(e, Reconnected) for e in events)
    assert answer(events).endswith("The answer is forty-two.")
    assert sum(1 for e in emu.sessions[0].events if getattr(e, "type", "") == "input_audio_buffer.append") == 1
