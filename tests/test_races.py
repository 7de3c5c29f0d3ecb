"""Races between the caller, the socket and the keepalive, over real loopback sockets, for both clients.

Each test here reproduces a finding of issue 19 and failed on the code before the single driver: the blocking
client corrupting its stream under a reset or close from another thread, both clients reconnecting from a
healthy server while their caller did not read, a cancel right after ``create_response`` being lost, and errors
outside the ``ProtocolError`` tree.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from inworld_realtime.protocol import ProtocolError, RealtimeConnection, SessionProperties
from inworld_realtime.protocol import events as ev
from tests.client_harness import Driver, Peer, ScriptedServer, driver
from tests.core_helpers import configured, deliver, pump, upgrade

ADAPTERS = ["asyncio", "blocking"]
TEXT = SessionProperties(output_modalities=["text"])
FAST = {"connect_timeout": 3.0, "backoff_initial": 0.02, "backoff_max": 0.1}
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STALL = 1.0  # seconds the checking server stops reading, once per connection


# A slow-reading server that checks every byte of the client's stream.


def frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x80 | opcode, size) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, size) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, size) + payload


@dataclass
class Audit:
    """What the checking server saw, per connection: whole frames, and what was wrong with any of them."""

    connections: int = 0
    finished: list[int] = field(default_factory=list)  # connections whose checker ended
    closes: list[int] = field(default_factory=list)
    stall: threading.Event = field(default_factory=threading.Event)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Checker:
    """One connection: the upgrade, a configured session, then every frame read slowly and parsed strictly."""

    def __init__(self, conn: socket.socket, audit: Audit, index: int) -> None:
        self.conn, self.audit, self.index = conn, audit, index
        self.buffer = bytearray()
        self.slow = False
        self.stalled = False

    def fill(self) -> bool:
        if self.slow and self.audit.stall.is_set() and not self.stalled:
            self.stalled = True  # the client's buffers fill, its send times out mid-frame, and then we read on
            time.sleep(STALL)
        try:
            chunk = self.conn.recv(16384)
        except OSError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def frame(self) -> tuple[int, bytes] | None:
        """The next whole client frame; None at EOF (a frame cut short by the socket's end is no fault)."""
        while True:
            buf = self.buffer
            if len(buf) >= 2:
                opcode, size, offset = buf[0] & 0x0F, buf[1] & 0x7F, 2
                if buf[0] & 0x70 or not buf[1] & 0x80:
                    raise ValueError(f"bad frame header {bytes(buf[:2]).hex()} (RSV bits or no mask)")
                if size == 126 and len(buf) >= 4:
                    size, offset = struct.unpack("!H", buf[2:4])[0], 4
                elif size == 127 and len(buf) >= 10:
                    size, offset = struct.unpack("!Q", buf[2:10])[0], 10
                if size < 126 or offset > 2:
                    end = offset + 4 + size
                    if len(buf) >= end:
                        mask = bytes(buf[offset:offset + 4])
                        data = bytes(buf[offset + 4:end])
                        del buf[:end]
                        key = (mask * (size // 4 + 1))[:size]
                        plain = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
                        return opcode, plain
            if not self.fill():
                return None

    def run(self) -> None:
        conn, audit = self.conn, self.audit
        conn.settimeout(10)
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            conn.sendall(frame(1, json.dumps({"type": "session.created",
                                                     "session": {"id": f"s{self.index}"}}).encode()))
            texts = 0
            while (got := self.frame()) is not None:
                opcode, payload = got
                if opcode == 1:
                    try:
                        event = json.loads(payload.decode("utf-8"))  # strict: invalid UTF-8 raises
                    except (UnicodeDecodeError, ValueError) as exc:
                        with audit.lock:
                            audit.problems.append(f"connection {self.index}, text frame {texts}: {exc!r}"[:300])
                        return
                    texts += 1
                    if event.get("type") == "session.update":
                        conn.sendall(frame(1, json.dumps({"type": "session.updated",
                                                                 "session": event["session"]}).encode()))
                        self.slow = True
                elif opcode == 8:
                    with audit.lock:
                        audit.closes.append(self.index)
                    conn.sendall(frame(8, payload[:2]))
                    return
                elif opcode not in (9, 10):  # pings unanswered: nothing is unread when the client closes
                    with audit.lock:
                        audit.problems.append(f"connection {self.index}: unexpected opcode {opcode}")
                    return
        except ConnectionResetError:
            pass  # an abort: the stream ends, whole up to there
        except (OSError, StopIteration, ValueError) as exc:
            with audit.lock:
                audit.problems.append(f"connection {self.index}: {exc!r}")
        finally:
            with audit.lock:
                audit.finished.append(self.index)
            conn.close()


@pytest.fixture
def checking_server() -> Iterator[tuple[str, Audit]]:
    audit = Audit()

    def handle(conn: socket.socket) -> None:
        with audit.lock:
            index = audit.connections
            audit.connections += 1
        Checker(conn, audit, index).run()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # before listen(): a small window
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    threads: list[threading.Thread] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=handle, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    threading.Thread(target=accept, daemon=True).start()
    yield f"ws://127.0.0.1:{listener.getsockname()[1]}/api/v1/realtime/session", audit
    listener.close()
    for thread in threads:
        thread.join(10)


def stream_then(d: Driver, action: str, audit: Audit) -> None:
    """Stream audio from one thread until the write queue is full, then ``action`` from another thread."""
    stop = threading.Event()

    def pump() -> None:
        try:
            while not stop.is_set():
                d.call("send_audio", bytes(24000 * 2))  # a second at a time: one write spans many frames
        except Exception:
            pass

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    time.sleep(0.3)
    audit.stall.set()  # the server stops reading for a while: the client's buffers and queue fill
    time.sleep(0.3)
    actor = threading.Thread(target=lambda: d.call(action))
    actor.start()
    actor.join(15)
    stop.set()
    pumper.join(15)
    assert not actor.is_alive() and not pumper.is_alive()


@pytest.fixture
def small_send_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client sockets with a 32 KiB send buffer (as on a constrained host): writes are taken in part, so a
    write that times out does so mid-frame. Loopback's autotuned 4 MiB buffer hides that."""
    real_connect, real_open = socket.create_connection, asyncio.open_connection

    def connect(*args: Any, **kwargs: Any) -> socket.socket:
        sock = real_connect(*args, **kwargs)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        return sock

    async def open_connection(*args: Any, **kwargs: Any) -> Any:
        reader, writer = await real_open(*args, **kwargs)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        return reader, writer

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(asyncio, "open_connection", open_connection)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("action", ["reset_conversation", "close"])
@pytest.mark.usefixtures("small_send_buffers")
def test_the_stream_stays_whole_under_reset_or_close_from_another_thread(
        adapter: str, action: str, checking_server: tuple[str, Audit]) -> None:
    url, audit = checking_server
    with driver(adapter, "k", TEXT, url, max_queue_bytes=256 * 1024, ping_interval=0.2, keepalive_timeout=30,
                **FAST) as d:
        d.call("connect")
        stream_then(d, action, audit)
        if action == "reset_conversation":
            stream_then(d, "close", audit)  # the fresh session streams and closes whole too
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with audit.lock:
            if len(audit.finished) == audit.connections:
                break
        time.sleep(0.05)
    with audit.lock:
        assert audit.problems == []
        assert audit.connections == (2 if action == "reset_conversation" else 1)


# The keepalive judges the server, never a caller that stopped reading.


async def burst_then_quiet(peer: Peer) -> None:
    await peer.open_session()
    await asyncio.sleep(0.3)  # after the session is configured: the caller's queue bounds these
    peer.ws.transport.write(b"".join(  # one write: one read takes them all, then the caller stops reading
        frame(1, json.dumps({"type": "input_audio_buffer.speech_started", "audio_start_ms": i, "item_id": "u1"}
                            ).encode()) for i in range(40)))
    await peer.recv(timeout=30)


def backlog(d: Driver) -> int:
    """Events waiting for the caller (the queue's size: what back-pressure must bound)."""
    client = d.client
    if hasattr(client, "_backlog"):
        return client._backlog()  # type: ignore[no-any-return]
    q = client._events
    return q.qsize() if hasattr(q, "qsize") else len(q._items)  # type: ignore[no-any-return]


def drain(d: Driver, quiet: float = 1.0) -> list[Any]:
    events: list[Any] = []
    while True:
        try:
            events.append(d.next_event(quiet))
        except TimeoutError:
            return events


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_caller_that_stops_reading_is_not_a_dead_server(adapter: str) -> None:
    with ScriptedServer(burst_then_quiet) as server, \
            driver(adapter, "k", TEXT, server.url, max_events=3, keepalive_timeout=0.6, ping_interval=0.2,
                   **FAST) as d:
        d.call("connect")
        time.sleep(3.0)  # five keepalive timeouts without reading a single event
        events = drain(d)
        kinds = [type(e).__name__ for e in events]
        assert kinds.count("InputAudioBufferSpeechStarted") == 40, kinds
        assert "ConnectionClosed" not in kinds and "Reconnecting" not in kinds, kinds
        assert len(server.peers) == 1


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_back_pressure_holds_after_a_drop_while_the_caller_is_idle(adapter: str) -> None:
    many = 3000

    async def burst_then_drop(peer: Peer) -> None:
        await peer.open_session()
        for i in range(20):
            await peer.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": i, "item_id": "u1"})
        await peer.recv("never", timeout=0.5)

    async def flood(peer: Peer) -> None:
        await peer.open_session()
        pad = "x" * 2000
        for i in range(many):
            await peer.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": i, "item_id": "u2",
                             "pad": pad})
        await peer.recv(timeout=30)

    async def drop(peer: Peer) -> None:
        try:
            await burst_then_drop(peer)
        except TimeoutError:
            peer.ws.transport.abort()

    with ScriptedServer(drop, flood) as server, \
            driver(adapter, "k", TEXT, server.url, max_events=3, keepalive_timeout=0.6, ping_interval=0.2,
                   **FAST) as d:
        d.call("connect")
        time.sleep(3.0)  # idle through the drop (whenever the client notices it) and the flood
        held = backlog(d)
        events = drain(d, 2.0)
        kinds = [type(e).__name__ for e in events]
        assert held <= 3 + 16, held  # the bound, plus what an opening session surfaces past it
        assert kinds.count("InputAudioBufferSpeechStarted") == 20 + many
        assert kinds.count("Reconnecting") == 1 and kinds.count("Reconnected") == 1


# A barge-in right after asking for a reply cancels it.


async def cancel_aware(peer: Peer) -> None:
    """Answer response.create; a response.cancel that came after it makes the answer a cancelled one."""
    await peer.open_session()
    await peer.recv("response.create", timeout=30)
    try:
        await peer.recv("response.cancel", timeout=1.0)
        status = "cancelled"
    except TimeoutError:
        status = "completed"
    await peer.send({"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}})
    await peer.send({"type": "response.done", "response": {"id": "r1", "status": status, "output": []}})
    await peer.recv(timeout=30)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_cancel_right_after_create_response_cancels_it(adapter: str) -> None:
    with ScriptedServer(cancel_aware) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
        d.call("connect")
        d.call("create_response")
        assert d.call("cancel_response") is True
        done, _ = d.wait_for(ev.ResponseDone)
        assert done.response.status == "cancelled"
        assert [e["type"] for e in server.peers[0].received].count("response.cancel") == 1


def test_cancel_before_the_session_is_configured_withdraws_the_request() -> None:
    """Both clients call the same core: a held ``response.create`` is withdrawn, never sent, never answered."""
    conn = RealtimeConnection("k", TEXT, "ws://127.0.0.1:1/s")
    server = upgrade(conn)
    conn.create_response()  # held: the session is not configured yet
    assert conn.cancel_response() is True
    assert conn.cancel_response() is False  # withdrawn: nothing is left to cancel
    deliver(conn, server, ev.SessionCreated(session=SessionProperties()))
    sent = [type(e).__name__ for e in pump(conn, server)]
    assert "ResponseCreate" not in sent and "ResponseCancel" not in sent, sent


def test_cancel_after_the_request_left_sends_response_cancel_once() -> None:
    conn = RealtimeConnection("k", TEXT, "ws://127.0.0.1:1/s")
    server = configured(conn)
    conn.create_response()
    assert conn.cancel_response() is True
    assert conn.cancel_response() is False  # one cancel covers it
    assert [type(e).__name__ for e in pump(conn, server)] == ["ResponseCreate", "ResponseCancel"]


# Every exception a client raises is a ProtocolError.


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_every_error_a_client_raises_is_a_protocol_error(adapter: str) -> None:
    async def quiet(peer: Peer) -> None:
        await peer.open_session()
        await peer.recv(timeout=30)

    with ScriptedServer(quiet) as server, driver(adapter, "k", TEXT, server.url, **FAST) as d:
        d.call("connect")
        drain(d, 0.3)
        with pytest.raises(ProtocolError) as timeout:
            d.next_event(0.05)
        assert isinstance(timeout.value, TimeoutError)
        d.call("close")
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("send", (ev.InputAudioBufferClear(),)), ("send_audio", (bytes(480),)), ("create_response", ()),
            ("commit", ()), ("update_session", (TEXT,))]
        for method, args in calls:
            with pytest.raises(ProtocolError) as closed:
                d.call(method, *args)
            assert isinstance(closed.value, ConnectionError), method
        with pytest.raises(ProtocolError) as ended:
            for _ in range(10):  # what close() surfaced, then the end of the stream
                d.next_event(1.0)
        assert isinstance(ended.value, ConnectionError) and not isinstance(ended.value, TimeoutError)
