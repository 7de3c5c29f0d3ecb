"""The rest of the fault matrix: resets around the handshake, close codes, Retry-After, truncated and oversized
frames, audio accounting under every emulator fault, and the pipecat shim under faults.

Each case states its expected outcome: a clear error, or silent recovery with every byte of audio either
delivered or reported in an ``AudioDropped`` event; and no task, thread or socket is left behind.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from pipecat.frames.frames import ErrorFrame, LLMFullResponseEndFrame, LLMRunFrame
from pipecat.processors.aggregators.llm_context import LLMContext

from inworld_realtime.emulator import Emulator, EmulatorOptions, EmulatorThread, Faults, ScriptedBrain
from inworld_realtime.io_adapters import ConnectError, Reconnected, Reconnecting
from inworld_realtime.io_adapters.pipecat_shim import InworldRealtimeLLMService
from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    PCMAudioFormat,
    RemoteProtocolError,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.handshake import accept_key
from tests.client_harness import Peer, ScriptedServer, driver, drop_first, raw_server
from tests.emulator_helpers import run, speech_like
from tests.test_clients import no_leftovers
from tests.test_emulator_pipecat import Harness

ADAPTERS = ["asyncio", "blocking"]
FAST = {"connect_timeout": 2.0, "backoff_initial": 0.02, "backoff_max": 0.1, "keepalive_timeout": 5.0,
        "ping_interval": 0.5}
SESSION = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=16000))))


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # RST


def read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return ""
        data += chunk
    for line in data.decode().split("\r\n"):
        if line.lower().startswith("sec-websocket-key:"):
            return line.split(":", 1)[1].strip()
    return ""


@pytest.mark.parametrize("when", ["before-handshake", "during-handshake", "truncated-frame"])
def test_resets_around_the_handshake_are_clear_errors(adapter: str, when: str) -> None:
    def handler(conn: socket.socket) -> None:
        if when == "before-handshake":
            reset(conn)
            return
        key = read_request(conn)
        if when == "during-handshake":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
            reset(conn)
            return
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")
        conn.sendall(b"\x81\x7e\x01\x00" + b'{"type":"session.created"')  # a 256-byte frame cut short
        conn.close()

    server = raw_server(handler)
    port = next(server)
    try:
        with driver(adapter, "k", SESSION, f"ws://127.0.0.1:{port}/s", **FAST) as d:
            with pytest.raises((ConnectError, RemoteProtocolError)):
                d.call("connect")
            no_leftovers(d)
    finally:
        next(server, None)


@pytest.mark.parametrize(("code", "reconnects"), [(1000, False), (1001, True), (1011, True), (4003, True)])
def test_close_codes(adapter: str, code: int, reconnects: bool) -> None:
    async def close_with(peer: Peer) -> None:
        await peer.open_session()
        if peer.index == 0:
            await peer.ws.close(code, "server says bye")
        else:
            await peer.recv(timeout=30)

    with ScriptedServer(close_with) as server, driver(adapter, "k", SESSION, server.url, **FAST) as d:
        d.call("connect")
        closed, _ = d.wait_for(ev.ConnectionClosed)
        assert closed.code == code and closed.reason == "server says bye"
        assert closed.clean is not reconnects
        if reconnects:
            d.wait_for(Reconnected)
            assert len(server.peers) == 2
        else:
            with pytest.raises(ConnectionError):
                d.next_event(3)
        no_leftovers(d)


def test_retry_after_is_honoured_on_reconnect(adapter: str) -> None:
    with ScriptedServer(drop_first) as server, driver(adapter, "k", SESSION, server.url, **FAST) as d:
        d.call("connect")
        server.refuse = (429, {"Retry-After": "1"})
        first, _ = d.wait_for(Reconnecting)
        second, _ = d.wait_for(Reconnecting, timeout=5)
        assert first.delay < 0.2 and second.delay == 1.0 and "429" in second.reason
        server.refuse = None
        start = time.monotonic()
        d.wait_for(Reconnected, timeout=5)
        assert time.monotonic() - start >= 0.8
        no_leftovers(d)


def test_an_oversized_message_fails_the_session_and_recovers(adapter: str) -> None:
    async def flood(peer: Peer) -> None:
        await peer.open_session()
        if peer.index == 0:
            await peer.send({"type": "conversation.item.added", "item": {"id": "x", "type": "message",
                                                                           "role": "user", "pad": "a" * 300_000}})
        await peer.recv(timeout=30)

    with ScriptedServer(flood) as server, \
            driver(adapter, "k", SESSION, server.url, max_message_bytes=100_000, **FAST) as d:
        d.call("connect")
        reconnecting, _ = d.wait_for(Reconnecting)
        assert "max_message_bytes" in reconnecting.reason
        d.wait_for(Reconnected)
        no_leftovers(d)


PROFILES = {
    "drop": Faults(drop_after=12, first_connections=2),
    "close-1011": Faults(close_after=12, close_code=1011, first_connections=2),
    "malformed": Faults(malformed_after=12, first_connections=2),
    "delay": Faults(delay_ms=10),
    "fragment": Faults(fragment=3),
}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_no_audio_is_lost_without_a_report_under_faults(adapter: str, profile: str) -> None:
    options = EmulatorOptions(pace=0, brain=ScriptedBrain(), faults=PROFILES[profile], voice_engine="tone")
    speech = speech_like(16000, syllables=4)
    with EmulatorThread(options) as emu, driver(adapter, "k", SESSION, emu.url, **FAST) as d:
        d.call("connect")
        sent = 0
        for offset in range(0, 3 * len(speech), 640):  # 20 ms frames, as fast as the client takes them
            frame = (speech * 3)[offset : offset + 640]
            d.call("send_audio", frame)
            sent += len(frame)
        d.call("commit")  # flushes the remainder
        dropped = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            received = sum(r.audio_bytes for r in emu.sessions)
            if received >= sent - dropped:
                break
            try:
                event = d.next_event(0.2)
            except (TimeoutError, Exception):
                continue
            if isinstance(event, ev.AudioDropped):
                dropped += event.duration_ms * 32
        received = sum(r.audio_bytes for r in emu.sessions)
        assert received >= sent - dropped, f"{sent - dropped - received} bytes lost without a report"
        no_leftovers(d)


def shim_pipeline(url: str, **kw: Any) -> Harness:
    return Harness(url, LLMContext([{"role": "user", "content": "Hi"}]), InworldRealtimeLLMService,
                   client_options={"backoff_initial": 0.02, "backoff_max": 0.1, "connect_timeout": 2.0,
                                   "max_reconnect_attempts": 2}, **kw)


@pytest.mark.parametrize("faults", [Faults(close_after=6, close_code=1011, first_connections=1),
                                    Faults(malformed_after=6, first_connections=1)], ids=["close-1011", "malformed"])
def test_the_shim_recovers_silently_from_a_lost_connection(faults: Faults) -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, faults=faults, brain=ScriptedBrain(replies=["Fine."] * 4))) as emu:
            h = shim_pipeline(emu.url)
            await h.start()
            try:
                await h.worker.queue_frame(LLMRunFrame())
                for _ in range(200):
                    if len(emu.sessions) > 1 and any(r.status == "completed" for r in emu.sessions[1].responses):
                        break
                    await asyncio.sleep(0.05)
                await h.down.wait_for(LLMFullResponseEndFrame)
                await h.stop()
            finally:
                await h.stop(graceful=False)
            assert len(emu.sessions) >= 2
            assert not [f for f in h.up.frames if isinstance(f, ErrorFrame)]

    run(scenario(), timeout=60)


@pytest.mark.parametrize("faults", [Faults(refuse_status=401), Faults(silent=True)], ids=["401", "silent"])
def test_the_shim_reports_a_connection_it_cannot_open(faults: Faults) -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorOptions(pace=0, faults=faults)) as emu:
            h = shim_pipeline(emu.url)
            await h.start()
            try:
                _, error = await h.up.wait_for(ErrorFrame)
                assert "Error connecting to Inworld" in error.error
                assert "test-key" not in error.error
                await h.stop()
            finally:
                await h.stop(graceful=False)

    run(scenario(), timeout=60)
