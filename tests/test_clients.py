"""Both adapters against a real WebSocket server on 127.0.0.1 (the websockets package), one scenario suite."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inworld_realtime.io_adapters import ConnectError, ConnectTimeout, Reconnected, ReconnectFailed, Reconnecting
from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    ConfigurationError,
    ConnectionState,
    HandshakeError,
    LocalProtocolError,
    PCMAudioFormat,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from tests.client_harness import AsyncDriver, Peer, ScriptedServer, driver, raw_server, self_signed_certificate

KEY = "dGVzdC1rZXk6dGVzdC1zZWNyZXQ="
ADAPTERS = ["asyncio", "blocking"]
SESSION = SessionProperties(instructions="Be brief.",
                            audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=16000))))
FAST = {"connect_timeout": 3.0, "backoff_initial": 0.02, "backoff_max": 0.1, "keepalive_timeout": 5.0,
        "ping_interval": 1.0}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def answer_audio(n: int) -> list[bytes]:
    return [bytes([i % 250 + 1]) * 4800 for i in range(n)]  # 100 ms at 24 kHz each


async def voice_turn(peer: Peer) -> None:
    await peer.open_session()
    while len(peer.appended()) < 32 * 240:  # 240 ms of 16 kHz audio
        await peer.recv()
    user = {"id": "u1", "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    answer = {"id": "a1", "type": "message", "role": "assistant", "content": []}
    for event in (
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"},
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 240, "item_id": "u1"},
        {"type": "input_audio_buffer.committed", "item_id": "u1"},
        {"type": "conversation.item.added", "item": user},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "transcript": "hello"},
        {"type": "response.created", "response": {"id": "r1", "object": "realtime.response", "status": "in_progress",
                                                  "output": []}},
        {"type": "response.output_item.added", "response_id": "r1", "output_index": 0, "item": answer},
    ):
        await peer.send(event)
    for chunk in answer_audio(5):
        await peer.send({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "a1",
                         "output_index": 0, "content_index": 0, "delta": b64(chunk)})
    await peer.send({"type": "response.output_audio_transcript.done", "item_id": "a1", "transcript": "hi there"})
    await peer.send({"type": "response.done", "response": {"id": "r1", "status": "completed", "output": []},
                     "usage": {"total_tokens": 12, "input_tokens": 8, "output_tokens": 4}})
    await peer.recv("conversation.item.truncate", timeout=30)


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def no_leftovers(d: Any) -> None:
    """Nothing of the client survives close: tasks, threads, sockets."""
    d.close()
    if isinstance(d, AsyncDriver):
        assert d.tasks_left() == set()
        assert d.client._writer is None
    else:
        assert d.client._sock is None
    names = {t.name for t in threading.enumerate()}
    assert not names & {"realtime-reader", "realtime-writer"}


def test_voice_turn(adapter: str) -> None:
    with ScriptedServer(voice_turn) as server, driver(adapter, KEY, SESSION, server.url, **FAST) as d:
        d.call("connect")
        d.call("send_audio", b"\x07\x00" * 4000)  # 250 ms
        _, seen = d.wait_for(ev.ResponseDone)
        pcm = b"".join(e.pcm for e in seen if isinstance(e, ev.ResponseOutputAudioDelta))
        assert pcm == b"".join(answer_audio(5))
        kinds = [type(e) for e in seen]
        assert kinds.index(ev.InputAudioBufferSpeechStarted) < kinds.index(ev.InputAudioTranscriptionCompleted)
        assert d.client.connection.conversation.usage["r1"].total_tokens == 12
        truncate = d.call("truncate", 250.0)
        assert truncate is not None and truncate.audio_end_ms == 250
        no_leftovers(d)
        peer = server.peers[0]
        assert peer.received[0]["type"] == "session.update"
        assert peer.received[0]["session"]["instructions"] == "Be brief."
        assert peer.request.headers["Authorization"] == f"Basic {KEY}"
        assert peer.appended().startswith(b"\x07\x00" * 1000)
        assert server.errors == []


async def function_call(peer: Peer) -> None:
    await peer.open_session()
    await peer.recv("response.create")
    call = {"id": "fc1", "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": ""}
    await peer.send({"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}})
    await peer.send({"type": "response.output_item.added", "response_id": "r1", "output_index": 0, "item": call})
    await peer.send({"type": "response.function_call_arguments.done", "call_id": "call_1",
                     "arguments": '{"city": "Paris"}'})
    await peer.send({"type": "response.done", "response": {"id": "r1", "status": "completed", "output": []}})
    output = await peer.recv("conversation.item.create")
    assert output["item"] == {"id": output["item"]["id"], "type": "function_call_output", "call_id": "call_1",
                              "output": '{"temp_c": 21}'}
    await peer.recv("response.create")
    await peer.send({"type": "response.created", "response": {"id": "r2", "status": "in_progress", "output": []}})
    await peer.send({"type": "response.output_text.delta", "item_id": "a2", "delta": "It is 21 degrees."})
    await peer.send({"type": "response.done", "response": {"id": "r2", "status": "completed", "output": []}})
    await peer.recv(timeout=30)


def test_function_call_round_trip(adapter: str) -> None:
    with ScriptedServer(function_call) as server, driver(adapter, KEY, SESSION, server.url, **FAST) as d:
        d.call("connect")
        d.call("create_response")
        args, _ = d.wait_for(ev.ResponseFunctionCallArgumentsDone)
        assert args.name == "get_weather"  # filled from the output item
        d.call("send", ev.ConversationItemCreate(
            item={"type": "function_call_output", "call_id": "call_1", "output": '{"temp_c": 21}'}))
        d.call("create_response")
        text, _ = d.wait_for(ev.ResponseOutputTextDelta)
        assert text.delta == "It is 21 degrees."
        d.wait_for(ev.ResponseDone)
        no_leftovers(d)
        assert server.errors == []


async def long_answer(peer: Peer) -> None:
    await peer.open_session()
    await peer.recv("response.create")
    await peer.send({"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}})
    for chunk in answer_audio(10):  # 1 s
        await peer.send({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "a1",
                         "content_index": 0, "delta": b64(chunk)})
    truncate = await peer.recv("conversation.item.truncate")
    peer.received.append({"type": "checked", "audio_end_ms": truncate["audio_end_ms"]})
    await peer.recv("response.cancel")
    await peer.send({"type": "response.done", "response": {"id": "r1", "status": "cancelled", "output": []}})
    await peer.recv(timeout=30)


def test_interruption_truncates_at_what_was_played_clamped(adapter: str) -> None:
    with ScriptedServer(long_answer) as server, driver(adapter, KEY, SESSION, server.url, **FAST) as d:
        d.call("connect")
        d.call("create_response")
        received = 0
        while received < 10:
            event = d.next_event()
            received += isinstance(event, ev.ResponseOutputAudioDelta)
        assert d.call("truncate", 500.0, item_id="unknown") is None  # no audio of that item: nothing sent
        event = d.call("truncate", 60_000.0, item_id="a1")  # the caller claims more than was sent
        assert event is not None and (event.item_id, event.audio_end_ms) == ("a1", 1000)
        assert d.call("cancel_response") is True
        done, _ = d.wait_for(ev.ResponseDone)
        assert done.response.status == "cancelled"
        assert d.call("cancel_response") is False  # nothing active: nothing sent
        no_leftovers(d)
        assert [e["audio_end_ms"] for e in server.peers[0].received if e["type"] == "checked"] == [1000]


async def drop_mid_answer(peer: Peer) -> None:
    await peer.open_session()
    while len(peer.appended()) < 32 * 120:
        await peer.recv()
    await peer.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "u1"})
    await peer.send({"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}})
    await peer.send({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "a1",
                     "delta": b64(bytes(4800))})
    await peer.ws.recv()  # wait until the client says something more, then vanish without a close frame
    peer.ws.transport.abort()


async def resumed(peer: Peer) -> None:
    await peer.open_session()
    while len(peer.appended()) < 17280:  # replayed 180 ms + 360 ms spoken during the gap
        await peer.recv()
    await peer.recv(timeout=30)


def test_drop_mid_answer_reconnects_and_loses_no_audio(adapter: str) -> None:
    with ScriptedServer(drop_mid_answer, resumed) as server, driver(adapter, KEY, SESSION, server.url, **FAST) as d:
        d.call("connect")
        first = bytes(range(2, 252)) * 15 + b"\x01" * 90  # 3840 bytes = 120 ms at 16 kHz
        d.call("send_audio", first)
        d.wait_for(ev.ResponseOutputAudioDelta)
        d.call("send_audio", b"\x02\x00" * 960)  # 60 ms: makes the server drop us
        aborted, _ = d.wait_for(ev.ResponseAborted)
        assert aborted.response_id == "r1"
        d.call("send_audio", b"\x03\x00" * 5760)  # 360 ms spoken while the connection is down
        reconnecting, _ = d.wait_for(Reconnecting)
        assert reconnecting.attempt == 1
        back, _ = d.wait_for(Reconnected)
        assert back.replayed_audio_ms >= 120
        deadline = time.monotonic() + 5
        while len(server.peers) < 2 or len(server.peers[1].appended()) < 17280:
            assert time.monotonic() < deadline, "the new session did not get the audio"
            time.sleep(0.01)
        second = server.peers[1]
        assert second.received[0]["type"] == "session.update"
        audio = second.appended()
        # The uncommitted turn (first + the 60 ms) then the gap audio, byte for byte.
        assert audio.startswith(first + b"\x02\x00" * 960)
        assert audio[len(first) + 1920 :] == b"\x03\x00" * 5760
        assert second.request.path != server.peers[0].request.path  # a fresh session key
        no_leftovers(d)


def test_handshake_401_is_clear_and_not_retried(adapter: str) -> None:
    with ScriptedServer(voice_turn, refuse=(401, {})) as server, \
            driver(adapter, "wrong-key", SESSION, server.url, **FAST) as d:
        with pytest.raises(HandshakeError) as info:
            d.call("connect")
        assert info.value.status == 401 and "key was refused" in str(info.value)
        assert "wrong-key" not in str(info.value) and "wrong-key" not in repr(d.client)
        assert server.attempts == 1
        no_leftovers(d)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word."""
    yield from raw_server(lambda conn: None)


def test_server_that_never_answers_times_out(adapter: str, silent_server: int) -> None:
    url = f"ws://127.0.0.1:{silent_server}/api/v1/realtime/session"
    with driver(adapter, KEY, SESSION, url, **{**FAST, "connect_timeout": 0.5}) as d:
        start = time.monotonic()
        with pytest.raises(ConnectTimeout, match="handshake"):
            d.call("connect")
        assert time.monotonic() - start < 3
        no_leftovers(d)


def test_refused_connection_is_a_clear_error(adapter: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with driver(adapter, KEY, SESSION, f"ws://127.0.0.1:{port}/s", **FAST) as d:
        with pytest.raises(ConnectError, match="cannot connect"):
            d.call("connect")
        no_leftovers(d)


def test_plain_ws_to_a_remote_host_needs_opt_in(adapter: str) -> None:
    """A configuration mistake (ConfigurationError, a ValueError), not a failure to connect: never retried."""
    with driver(adapter, KEY, SESSION, "ws://example.invalid/s", **FAST) as d:
        with pytest.raises(ConfigurationError, match="unencrypted") as raised:
            d.call("connect")
        assert not isinstance(raised.value, ConnectError) and isinstance(raised.value, ValueError)
        no_leftovers(d)


async def stop_reading(peer: Peer) -> None:
    await peer.open_session()
    peer.ws.transport.pause_reading()
    await asyncio.sleep(30)


def test_server_that_stops_reading_applies_back_pressure(adapter: str) -> None:
    limit = 64 * 1024
    with ScriptedServer(stop_reading) as server, \
            driver(adapter, KEY, SESSION, server.url, **{**FAST, "max_queue_bytes": limit}) as d:
        d.call("connect")
        blocked = threading.Event()
        sent = [0]

        def pump() -> None:
            try:
                while sent[0] < 2000:  # 120 s of audio if nothing pushed back
                    d.call("send_audio", bytes(3840))
                    sent[0] += 1
            except Exception:
                pass
            blocked.set()

        worker = threading.Thread(target=pump, daemon=True)
        worker.start()
        deadline = time.monotonic() + 10
        last = -1
        while time.monotonic() < deadline:  # wait until sending stalls
            if sent[0] == last and d.client._queued > limit:
                break
            last = sent[0]
            time.sleep(0.2)
        assert sent[0] < 2000, "no back-pressure: every send went through"
        assert d.client._queued <= limit + 8000  # bounded by the limit plus one message
        assert d.client.queued_audio_seconds > 0
        d.close()
        worker.join(10)
        assert blocked.is_set() and not worker.is_alive()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


async def tls_session(peer: Peer) -> None:
    await peer.open_session()
    await peer.recv(timeout=30)


def test_tls_with_an_explicitly_trusted_self_signed_certificate(adapter: str, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    with ScriptedServer(tls_session, ssl_context=server_ctx) as server:
        trusted = ssl.create_default_context(cafile=str(cert))
        with driver(adapter, KEY, SESSION, server.url, ssl_context=trusted, **FAST) as d:
            d.call("connect")
            assert d.client.state is ConnectionState.READY
            no_leftovers(d)
        with driver(adapter, KEY, SESSION, server.url, **FAST) as d:  # the system store does not trust it
            with pytest.raises(ConnectError, match=r"(?i)certificate"):
                d.call("connect")
            no_leftovers(d)


async def close_1011(peer: Peer) -> None:
    await peer.open_session()
    await peer.ws.close(1011, "internal error")


def test_reconnect_gives_up_with_an_event(adapter: str) -> None:
    with ScriptedServer(close_1011) as server, \
            driver(adapter, KEY, SESSION, server.url, **{**FAST, "max_reconnect_attempts": 2}) as d:
        d.call("connect")
        server.refuse = (503, {})
        failed, seen = d.wait_for(ReconnectFailed, timeout=10)
        assert "503" in failed.error
        assert [e.attempt for e in seen if isinstance(e, Reconnecting)] == [1, 2]
        with pytest.raises(ConnectionError):
            d.next_event(timeout=2)
        no_leftovers(d)


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that records the tunnels it opened."""

    def __init__(self, refuse: bool = False) -> None:
        self.tunnels: list[str] = []
        self.refuse = refuse
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def __enter__(self) -> ConnectProxy:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(1024)
            if not chunk:
                client.close()
                return
            head += chunk
        authority = head.split(b" ")[1].decode()
        self.tunnels.append(authority)
        if self.refuse:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        host, port = authority.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(a: socket.socket, b: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := a.recv(65536):
                    b.sendall(data)
            with contextlib.suppress(OSError):
                b.shutdown(socket.SHUT_WR)

        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        pipe(upstream, client)


def test_https_proxy_from_the_environment_is_used_via_connect(
        adapter: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    trusted = ssl.create_default_context(cafile=str(cert))
    with ScriptedServer(tls_session, ssl_context=server_ctx) as server, ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with driver(adapter, KEY, SESSION, server.url, ssl_context=trusted, **FAST) as d:
            d.call("connect")
            assert d.client.state is ConnectionState.READY
            no_leftovers(d)
        assert proxy.tunnels == [f"localhost:{server.port}"]
        monkeypatch.setenv("NO_PROXY", "localhost")
        with driver(adapter, KEY, SESSION, server.url, ssl_context=trusted, **FAST) as d:
            d.call("connect")
            no_leftovers(d)
        assert len(proxy.tunnels) == 1  # bypassed


def test_a_proxy_that_refuses_the_tunnel_is_a_clear_error(adapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy(refuse=True) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with driver(adapter, KEY, SESSION, "wss://localhost:9/s", **FAST) as d, \
                pytest.raises(ConnectError, match="refused the tunnel"):
            d.call("connect")


def test_a_proxy_of_another_scheme_is_a_configuration_mistake(adapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with driver(adapter, KEY, SESSION, "wss://localhost:9/s", **FAST) as d:
        with pytest.raises(ConfigurationError, match="only http:// proxies") as raised:
            d.call("connect")
        assert not isinstance(raised.value, ConnectError)
        no_leftovers(d)


def test_connecting_twice_is_misuse(adapter: str) -> None:
    with ScriptedServer(stop_reading) as server, driver(adapter, KEY, SESSION, server.url, **FAST) as d:
        d.call("connect")
        with pytest.raises(LocalProtocolError, match="already connected"):
            d.call("connect")
