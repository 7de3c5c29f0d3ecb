"""One set of scripted server scenarios, over real loopback sockets, against both clients: the asyncio and the
blocking client must surface the same events in the same order and raise the same errors.

Each scenario returns what one client saw (event type names, or the error it raised); the test runs it for both
clients, asserts the two are equal, and asserts the expected sequence itself.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from inworld_realtime.io_adapters import AsyncRealtimeClient, ConnectError, Reconnected, Reconnecting
from inworld_realtime.protocol import SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ConversationItem
from tests.client_harness import (
    AsyncDriver,
    Driver,
    Peer,
    ScriptedServer,
    driver,
    drop_first,
    raw_server,
    self_signed_certificate,
)

ADAPTERS = ["asyncio", "blocking"]
FAST = {"connect_timeout": 3.0, "backoff_initial": 0.02, "backoff_max": 0.1, "keepalive_timeout": 5.0,
        "ping_interval": 1.0}
TEXT = SessionProperties(output_modalities=["text"])
OPENING = ["Connected", "SessionCreated", "SessionUpdated", "SessionConfigured"]
REOPENING = [*OPENING, "Reconnected"]
ANSWER = ["ResponseCreated", "ResponseOutputItemAdded", "ResponseOutputTextDelta", "ResponseDone"]


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked server frame, written under the server library's feet (for batching and for garbage)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def text_frames(*events: dict[str, Any]) -> bytes:
    return b"".join(frame(1, json.dumps(e).encode()) for e in events)


async def respond(peer: Peer, finish: bool = True) -> None:
    """Answer the next response.create with one text delta (and response.done when ``finish``)."""
    await peer.recv("response.create", timeout=30)
    item = {"id": f"a{peer.index}", "type": "message", "role": "assistant", "content": []}
    await peer.send({"type": "response.created", "response": {"id": f"r{peer.index}", "status": "in_progress",
                                                              "output": []}})
    await peer.send({"type": "response.output_item.added", "response_id": f"r{peer.index}", "output_index": 0,
                     "item": item})
    await peer.send({"type": "response.output_text.delta", "response_id": f"r{peer.index}", "item_id": item["id"],
                     "delta": "Forty-two."})
    if finish:
        await peer.send({"type": "response.done", "response": {"id": f"r{peer.index}", "status": "completed",
                                                               "output": []}})


async def answer(peer: Peer) -> None:
    await peer.open_session()
    await respond(peer)
    await peer.recv(timeout=30)


async def idle(peer: Peer) -> None:
    await peer.open_session()
    await peer.recv(timeout=30)


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def until(d: Driver, kind: type | tuple[type, ...], timeout: float = 8.0) -> list[Any]:
    """Every event up to and including the first of ``kind``."""
    event, seen = d.wait_for(kind, timeout)
    return [*seen, event]


def ask(d: Driver) -> None:
    d.call("send", ev.ConversationItemCreate(item=ConversationItem.user_text("What is the answer?")))
    d.call("create_response")


def to_the_end(d: Driver, timeout: float = 5.0) -> list[Any]:
    """Every event until the stream ends (ConnectionError); a TimeoutError means it never did."""
    events: list[Any] = []
    while True:
        try:
            events.append(d.next_event(timeout))
        except ConnectionError:
            return events


def both(scenario: Callable[[str], Any]) -> Any:
    """Run ``scenario`` for each client; they must agree; returns what they saw."""
    results = {adapter: scenario(adapter) for adapter in ADAPTERS}
    assert results["asyncio"] == results["blocking"], results
    return results["asyncio"]


def failure(call: Callable[[], object]) -> tuple[str, str]:
    try:
        call()
    except Exception as exc:
        status = getattr(exc, "status", "")
        return type(exc).__name__, str(status)
    return "no error", ""




def test_a_normal_turn() -> None:
    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(answer) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            ask(d)
            return names(until(d, ev.ResponseDone))

    assert both(scenario) == [*OPENING, *ANSWER]


def test_a_drop_mid_response_reconnects_and_the_answer_resumes() -> None:
    async def drop_mid_answer(peer: Peer) -> None:
        await peer.open_session()
        await respond(peer, finish=False)
        peer.ws.transport.abort()

    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(drop_mid_answer, answer) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            ask(d)
            seen = until(d, ev.ResponseDone)
            assert len(server.peers) == 2
            return names(seen)

    assert both(scenario) == [*OPENING, *ANSWER[:3], "ResponseAborted", "ConnectionClosed", "Reconnecting",
                              *REOPENING, *ANSWER]


def test_a_503_on_the_first_connect_is_retried() -> None:
    def scenario(adapter: str) -> tuple[list[str], int]:
        with ScriptedServer(answer, refusals=[(503, {})]) as server, \
                driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            ask(d)
            return names(until(d, ev.ResponseDone)), server.attempts

    assert both(scenario) == ([*OPENING, *ANSWER], 2)  # nothing of the refused attempt reaches the caller


def test_a_429_with_retry_after_on_the_first_connect_is_waited_out() -> None:
    def scenario(adapter: str) -> tuple[list[str], int, bool]:
        with ScriptedServer(idle, refusals=[(429, {"Retry-After": "1"})]) as server, \
                driver(adapter, "k", TEXT, server.url, **FAST) as d:
            start = time.monotonic()
            d.call("connect")
            waited = time.monotonic() - start >= 0.9
            return names(until(d, ev.SessionConfigured)), server.attempts, waited

    assert both(scenario) == (OPENING, 2, True)


def test_a_429_that_asks_for_more_than_the_deadline_raises_at_once() -> None:
    def scenario(adapter: str) -> tuple[tuple[str, str], int]:
        with ScriptedServer(idle, refuse=(429, {"Retry-After": "30"})) as server, \
                driver(adapter, "k", TEXT, server.url, **FAST) as d:
            return failure(lambda: d.call("connect")), server.attempts

    assert both(scenario) == (("HandshakeError", "429"), 1)


@pytest.mark.parametrize("status", [401, 403, 404, 400])
def test_a_refused_key_or_url_fails_after_one_attempt(status: int) -> None:
    def scenario(adapter: str) -> tuple[tuple[str, str], int]:
        with ScriptedServer(idle, refuse=(status, {})) as server, \
                driver(adapter, "wrong-key", TEXT, server.url, **FAST) as d:
            return failure(lambda: d.call("connect")), server.attempts

    assert both(scenario) == (("HandshakeError", str(status)), 1)


def test_a_503_until_the_deadline_raises_the_last_answer() -> None:
    def scenario(adapter: str) -> tuple[str, str]:
        with ScriptedServer(idle, refuse=(503, {})) as server, \
                driver(adapter, "k", TEXT, server.url, **{**FAST, "connect_timeout": 0.5,
                                                          "max_reconnect_attempts": 1000}) as d:
            result = failure(lambda: d.call("connect"))
            assert server.attempts > 1
            return result

    assert both(scenario) == ("HandshakeError", "503")


def test_a_server_that_upgrades_and_says_nothing_times_out_alike() -> None:
    async def mute(peer: Peer) -> None:
        await asyncio.sleep(30)  # no session.created: the connect deadline rules, not the keepalive

    def scenario(adapter: str) -> tuple[tuple[str, str], int]:
        quick = {**FAST, "connect_timeout": 1.0, "keepalive_timeout": 0.3, "ping_interval": 0.1}
        with ScriptedServer(mute) as server, driver(adapter, "k", TEXT, server.url, **quick) as d:
            return failure(lambda: d.call("connect")), server.attempts

    assert both(scenario) == (("ConnectTimeout", ""), 1)


def test_refused_handshakes_on_reconnect_are_retried_then_the_session_resumes() -> None:
    def scenario(adapter: str) -> tuple[list[str], list[int], int]:
        with ScriptedServer(drop_first) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            server.refusals = [(503, {}), (429, {"Retry-After": "0.2"}), (502, {})]
            seen = until(d, Reconnected)
            attempts = [e.attempt for e in seen if isinstance(e, Reconnecting | Reconnected)]
            return names(seen), attempts, server.attempts

    assert both(scenario) == ([*OPENING, "ConnectionClosed", *["Reconnecting"] * 4, *REOPENING],
                              [1, 2, 3, 4, 4], 5)


def test_a_half_open_peer_is_declared_dead_and_replaced() -> None:
    async def vanish(peer: Peer) -> None:
        await peer.open_session()
        peer.ws.transport.pause_reading()
        await asyncio.sleep(30)

    def scenario(adapter: str) -> list[str]:
        quick = {**FAST, "keepalive_timeout": 0.4, "ping_interval": 0.1}
        with ScriptedServer(vanish, idle) as server, driver(adapter, "k", TEXT, server.url, **quick) as d:
            d.call("connect")
            seen = until(d, Reconnected)
            closed = next(e for e in seen if isinstance(e, ev.ConnectionClosed))
            assert "keepalive" in closed.reason and closed.code == 1006
            return names(seen)

    assert both(scenario) == [*OPENING, "ConnectionClosed", "Reconnecting", *REOPENING]


@pytest.mark.parametrize("code", [1000, 1001, 1011, 4000])
def test_close_codes_mid_response(code: int) -> None:
    async def close_mid_answer(peer: Peer) -> None:
        await peer.open_session()
        await respond(peer, finish=False)
        await peer.ws.close(code, "bye")

    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(close_mid_answer, answer) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            ask(d)
            seen = until(d, ev.ConnectionClosed)
            closed = seen[-1]
            assert closed.code == code and closed.clean is (code == 1000)
            if code == 1000:
                return names([*seen, *to_the_end(d)])
            return names([*seen, *until(d, ev.ResponseDone)])

    if code == 1000:
        assert both(scenario) == [*OPENING, *ANSWER[:3], "ResponseAborted", "ConnectionClosed"]
    else:
        assert both(scenario) == [*OPENING, *ANSWER[:3], "ResponseAborted", "ConnectionClosed", "Reconnecting",
                                  *REOPENING, *ANSWER]


@pytest.mark.parametrize("garbage", [frame(3, b"??"), b"\xff\xff\xff\xff", frame(1, b"\xff\xfe not utf-8")],
                         ids=["reserved-opcode", "noise", "bad-utf8"])
def test_a_garbage_frame_fails_the_socket_and_the_session_recovers(garbage: bytes) -> None:
    async def garble(peer: Peer) -> None:
        await peer.open_session()
        peer.ws.transport.write(garbage)
        await asyncio.sleep(30)

    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(garble, idle) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            return names(until(d, Reconnected))

    seen = both(scenario)
    assert seen[:4] == OPENING and seen[-6:] == ["Reconnecting", *REOPENING]


def big_item(size: int) -> dict[str, Any]:
    return {"type": "conversation.item.added", "item": {"id": "big", "type": "message", "role": "user",
                                                          "content": [{"type": "input_text", "text": "a" * size}]}}


def test_a_12_mib_message_is_delivered_under_the_default_limit() -> None:
    async def flood(peer: Peer) -> None:
        await peer.open_session()
        await peer.send(big_item(12 * 1024 * 1024))
        await peer.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"})
        await peer.recv(timeout=30)

    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(flood) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            seen = until(d, ev.InputAudioBufferSpeechStarted, timeout=20)
            added = next(e for e in seen if isinstance(e, ev.ConversationItemAdded))
            assert len(added.item.content[0].text or "") == 12 * 1024 * 1024
            return names(seen)

    assert both(scenario) == [*OPENING, "ConversationItemAdded", "InputAudioBufferSpeechStarted"]


def test_a_12_mib_message_over_the_limit_fails_the_socket_and_the_session_recovers() -> None:
    async def flood(peer: Peer) -> None:
        await peer.open_session()
        if peer.index == 0:
            await peer.send(big_item(12 * 1024 * 1024))
        await peer.recv(timeout=30)

    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(flood) as server, \
                driver(adapter, "k", TEXT, server.url, max_message_bytes=8 * 1024 * 1024, **FAST) as d:
            d.call("connect")
            seen = until(d, Reconnected, timeout=20)
            reconnecting = next(e for e in seen if isinstance(e, Reconnecting))
            assert "max_message_bytes" in reconnecting.reason
            return names(seen)

    assert both(scenario) == [*OPENING, "Reconnecting", *REOPENING]


@pytest.mark.parametrize("how", ["abort", "half-open"])
def test_a_peer_lost_while_audio_streams_is_replaced(how: str) -> None:
    async def drop_while_streaming(peer: Peer) -> None:
        await peer.open_session()
        while len(peer.appended()) < 24000:  # half a second of 24 kHz audio
            await peer.recv()
        if how == "abort":
            peer.ws.transport.abort()
        else:  # neither reads nor writes again: the client's writes pile up, its keepalive must notice
            peer.ws.transport.pause_reading()
            await asyncio.sleep(30)

    async def take_it_all(peer: Peer) -> None:
        await peer.open_session()
        while True:
            await peer.recv(timeout=30)

    def scenario(adapter: str) -> list[str]:
        session = SessionProperties(output_modalities=["text"], turn_detection=None)
        quick = {**FAST, "keepalive_timeout": 0.5, "ping_interval": 0.1, "max_queue_bytes": 64 * 1024}
        with ScriptedServer(drop_while_streaming, take_it_all) as server, \
                driver(adapter, "k", session, server.url, **quick) as d:
            d.call("connect")
            stop = threading.Event()

            def pump() -> None:
                while not stop.is_set():
                    try:
                        d.call("send_audio", bytes(640))  # 20 ms
                    except Exception:
                        return
                    time.sleep(0.005)

            worker = threading.Thread(target=pump, daemon=True)
            worker.start()
            try:
                seen = until(d, Reconnected, timeout=10)
            finally:
                stop.set()
                worker.join(5)
            assert not worker.is_alive()
            return [n for n in names(seen) if n != "AudioDropped"]

    assert both(scenario) == [*OPENING, "ConnectionClosed", "Reconnecting", *REOPENING]


def test_giving_up_reports_the_audio_no_session_will_carry() -> None:
    async def drop_after_audio(peer: Peer) -> None:
        await peer.open_session()
        while len(peer.appended()) < 5760:  # 120 ms of 24 kHz audio (the default input rate)
            await peer.recv()
        peer.ws.transport.abort()

    def scenario(adapter: str) -> tuple[list[str], int]:
        with ScriptedServer(drop_after_audio) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            server.refuse = (401, {})  # the key was revoked while we were connected
            d.call("send_audio", bytes(6400))  # 133 ms: two 60 ms chunks go out, the rest waits for more
            seen = to_the_end(d)
            dropped = [e for e in seen if isinstance(e, ev.AudioDropped)]
            return names(seen), sum(e.duration_ms for e in dropped)

    seen, dropped_ms = both(scenario)
    assert seen == [*OPENING, "ConnectionClosed", "Reconnecting", "AudioDropped", "ReconnectFailed"]
    assert dropped_ms == 120  # the uncommitted turn, which only a new session could have replayed


def test_a_server_that_configures_and_drops_every_session_is_given_up_on() -> None:
    """Regression: each configured session reset the reconnect count, so both clients reconnected forever."""
    async def configure_and_drop(peer: Peer) -> None:
        await peer.open_session()
        peer.ws.transport.abort()

    def scenario(adapter: str) -> tuple[list[str], list[int], int]:
        with ScriptedServer(configure_and_drop) as server, \
                driver(adapter, "k", TEXT, server.url, max_reconnect_attempts=3, **FAST) as d:
            d.call("connect")
            seen: list[Any] = []
            while len(seen) < 60:  # bounded: the unfixed clients never end the stream
                try:
                    seen.append(d.next_event(8.0))
                except ConnectionError:
                    break
            attempts = [e.attempt for e in seen if isinstance(e, Reconnecting | Reconnected)]
            return names(seen), attempts, len(server.peers)

    flap = ["Reconnecting", *REOPENING, "ConnectionClosed"]
    assert both(scenario) == ([*OPENING, "ConnectionClosed", *flap * 3, "ReconnectFailed"],
                              [1, 1, 2, 2, 3, 3], 4)


def test_close_from_another_thread_ends_a_waiting_reader_and_a_streaming_sender() -> None:
    def scenario(adapter: str) -> tuple[list[str], bool]:
        with ScriptedServer(idle) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            seen: list[Any] = []
            finished = threading.Event()
            if isinstance(d, AsyncDriver):
                client: AsyncRealtimeClient = d.client

                async def read_all() -> None:
                    async for event in client:
                        seen.append(event)

                reading = asyncio.run_coroutine_threadsafe(read_all(), d.loop)
                reading.add_done_callback(lambda _: finished.set())
            else:
                def read_all_blocking() -> None:
                    seen.extend(d.client.events())  # no timeout: only the end of the stream ends it
                    finished.set()

                threading.Thread(target=read_all_blocking, daemon=True).start()
            sender_done = threading.Event()

            def pump() -> None:
                try:
                    while True:
                        d.call("send_audio", bytes(640))
                except Exception:
                    sender_done.set()

            threading.Thread(target=pump, daemon=True).start()
            time.sleep(0.2)
            closer = threading.Thread(target=d.close)
            closer.start()
            closer.join(10)
            ended = finished.wait(10) and sender_done.wait(10) and not closer.is_alive()
            return [n for n in names(seen) if n != "AudioDropped"], ended

    assert both(scenario) == ([*OPENING, "ConnectionClosed"], True)


def test_close_from_another_thread_ends_a_reconnect_back_off_at_once() -> None:
    async def drop(peer: Peer) -> None:
        await peer.open_session()
        peer.ws.transport.abort()

    def scenario(adapter: str) -> tuple[list[str], bool]:
        with ScriptedServer(drop) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            server.refuse = (503, {"Retry-After": "30"})
            seen = until(d, Reconnecting)
            seen += until(d, Reconnecting)  # the second waits the 30 s the server asked for
            closer = threading.Thread(target=d.close)
            start = time.monotonic()
            closer.start()
            closer.join(10)
            seen += to_the_end(d)
            return names(seen), time.monotonic() - start < 5

    assert both(scenario) == ([*OPENING, "ConnectionClosed", "Reconnecting", "Reconnecting"], True)


def test_close_from_another_thread_ends_the_first_connect_at_once() -> None:
    def scenario(adapter: str) -> tuple[tuple[str, str], bool]:
        with ScriptedServer(idle, refusals=[(503, {"Retry-After": "2"})]) as server, \
                driver(adapter, "k", TEXT, server.url, **{**FAST, "connect_timeout": 10.0}) as d:
            result: list[tuple[str, str]] = []
            connecting = threading.Thread(target=lambda: result.append(failure(lambda: d.call("connect"))))
            connecting.start()
            while server.attempts < 1:
                time.sleep(0.01)
            time.sleep(0.2)  # in the 2 s back-off now
            start = time.monotonic()
            d.close()
            connecting.join(10)
            return result[0], time.monotonic() - start < 1.5

    assert both(scenario) == (("ConnectError", ""), True)


@pytest.fixture
def tls_listener(tmp_path: Path) -> Iterator[tuple[int, list[int]]]:
    """A TLS server with a self-signed certificate; counts the TCP connections it accepted."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate(tmp_path))
    accepted = [0]

    def handshake(conn: socket.socket) -> None:
        accepted[0] += 1
        conn.settimeout(2)
        try:
            context.wrap_socket(conn, server_side=True).close()
        except (OSError, ssl.SSLError):
            conn.close()

    server = raw_server(handshake)
    yield next(server), accepted
    next(server, None)


def test_an_untrusted_certificate_fails_at_once_without_a_retry(tls_listener: tuple[int, list[int]]) -> None:
    port, accepted = tls_listener

    def scenario(adapter: str) -> tuple[str, bool, int]:
        before = accepted[0]
        with driver(adapter, "k", TEXT, f"wss://localhost:{port}/s", **{**FAST, "connect_timeout": 5.0}) as d:
            try:
                d.call("connect")
            except ConnectError as exc:
                return type(exc).__name__, "certificate" in str(exc).lower(), accepted[0] - before
        return "no error", False, 0

    assert both(scenario) == ("ConnectError", True, 1)




def test_reconnected_comes_right_after_the_new_session_is_configured() -> None:
    """The blocking client used to say Reconnected only after its read loop returned, after later events."""
    async def drop(peer: Peer) -> None:
        await peer.open_session()
        peer.ws.transport.abort()

    async def configure_and_talk_at_once(peer: Peer) -> None:
        await peer.send({"type": "session.created", "session": {"id": "s2"}})
        update = await peer.recv("session.update")
        peer.ws.transport.write(text_frames(  # one write: the client reads both in one go
            {"type": "session.updated", "session": update["session"]},
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"}))
        await peer.recv(timeout=30)

    def scenario(adapter: str) -> list[str]:
        with ScriptedServer(drop, configure_and_talk_at_once) as server, \
                driver(adapter, "k", TEXT, server.url, **FAST) as d:
            d.call("connect")
            return names(until(d, ev.InputAudioBufferSpeechStarted))

    assert both(scenario) == [*OPENING, "ConnectionClosed", "Reconnecting", *REOPENING,
                              "InputAudioBufferSpeechStarted"]


def test_the_end_of_the_stream_survives_a_full_event_queue() -> None:
    """The blocking client used to drop its end marker when the bounded queue was full: events() hung."""
    extra = 6

    async def talk_then_close(peer: Peer) -> None:
        await peer.open_session()
        for i in range(extra):
            await peer.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": i, "item_id": "u1"})
        await peer.ws.close(1000, "done")

    expected = [*OPENING, *["InputAudioBufferSpeechStarted"] * extra, "ConnectionClosed"]

    def scenario(adapter: str) -> list[str]:
        # Exactly as many events as the queue holds: it is full when the stream ends.
        with ScriptedServer(talk_then_close) as server, \
                driver(adapter, "k", TEXT, server.url, max_events=len(expected), **FAST) as d:
            d.call("connect")
            deadline = time.monotonic() + 5
            while server.peers[0].ws.state.name != "CLOSED" and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # the client has read it all and filled its queue
            return names(to_the_end(d))

    assert both(scenario) == expected


def test_blocking_close_waits_for_the_server_without_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocking close() used to poll the state with sleep(0.01) until the server answered."""
    sleeps: list[float] = []
    real_sleep = time.sleep
    closer = threading.current_thread()

    def spy(seconds: float) -> None:
        if threading.current_thread() is closer:
            sleeps.append(seconds)
        real_sleep(seconds)

    with ScriptedServer(idle) as server, driver("blocking", "k", TEXT, server.url, **FAST) as d:
        d.call("connect")
        monkeypatch.setattr(time, "sleep", spy)
        d.close()
        closed = [e for e in to_the_end(d) if isinstance(e, ev.ConnectionClosed)]
    assert sleeps == []
    assert closed and closed[0].clean  # it did wait for the server's close frame
