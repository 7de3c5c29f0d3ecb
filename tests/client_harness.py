"""A scripted WebSocket server (the ``websockets`` package, an independent framing) and one driver per adapter.

Scenario tests are written once against ``Driver`` and run for both the asyncio and the blocking client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from inworld_realtime.io_adapters import AsyncRealtimeClient, RealtimeClient

Script = Callable[["Peer"], Awaitable[None]]


@dataclass
class Peer:
    """The server's view of one client connection, with what it received."""

    ws: ServerConnection
    index: int
    request: Request
    received: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def recv(self, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next client event (of ``kind``, skipping others but recording them)."""
        while True:
            event = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            self.received.append(event)
            if kind is None or event["type"] == kind:
                return event

    async def open_session(self) -> dict[str, Any]:
        """session.created, wait for session.update, answer session.updated; returns the update."""
        await self.send({"type": "session.created", "event_id": "s1", "session": {"id": f"sess_{self.index}"}})
        update = await self.recv("session.update")
        await self.send({"type": "session.updated", "event_id": "s2", "session": update["session"]})
        return update

    def appended(self) -> bytes:
        return b"".join(base64.b64decode(e["audio"]) for e in self.received
                        if e["type"] == "input_audio_buffer.append")


async def drop_first(peer: Peer) -> None:
    """Open the session; drop the first connection without a close frame, hold later ones open."""
    await peer.open_session()
    if peer.index == 0:
        peer.ws.transport.abort()
    else:
        await peer.recv(timeout=30)


class ScriptedServer:
    """Runs ``scripts[i]`` for the i-th connection (the last one repeats) on a background loop."""

    def __init__(self, *scripts: Script, refuse: tuple[int, dict[str, str]] | None = None,
                 ssl_context: Any = None, refusals: list[tuple[int, dict[str, str]]] | None = None) -> None:
        self.scripts = scripts
        self.refuse = refuse
        self.refusals = list(refusals or [])  # answers for the first attempts, one each, before ``refuse``
        self.ssl_context = ssl_context
        self.peers: list[Peer] = []
        self.attempts = 0
        self.errors: list[BaseException] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: Any = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def _handler(self, ws: ServerConnection) -> None:
        peer = Peer(ws, len(self.peers), ws.request)  # type: ignore[arg-type]
        self.peers.append(peer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        script = self.scripts[min(peer.index, len(self.scripts) - 1)]
        try:
            await script(peer)
        except Exception as exc:  # recorded for the test to see
            if not isinstance(exc, ConnectionError | ConnectionClosed | TimeoutError):
                self.errors.append(exc)
        finally:
            if task is not None:
                self._handlers.discard(task)

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.attempts += 1
        refusal = self.refusals.pop(0) if self.refusals else self.refuse
        if refusal is not None:
            status, headers = refusal
            response = conn.respond(status, json.dumps({"error": {"message": "refused by test"}}))
            for k, v in headers.items():
                response.headers[k] = v
            return response
        return None

    def __enter__(self) -> ScriptedServer:
        self._thread.start()

        async def start() -> None:
            self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._process_request,
                                       ssl=self.ssl_context, ping_interval=None, max_size=None)
            self.port = self._server.sockets[0].getsockname()[1]

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        return self

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        host = "localhost" if self.ssl_context else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}/api/v1/realtime/session"

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for task in list(self._handlers):
                task.cancel()
            for peer in self.peers:
                peer.ws.transport.abort()  # no closing handshake with clients that may be stalled
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class Driver:
    """A client under test, used through one blocking interface."""

    name = "driver"
    client: Any

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def next_event(self, timeout: float = 5.0) -> Any:
        raise NotImplementedError

    def wait_for(self, kind: type | tuple[type, ...], timeout: float = 5.0) -> tuple[Any, list[Any]]:
        """Events until one of ``kind``; returns it and everything seen before it."""
        seen: list[Any] = []
        while True:
            event = self.next_event(timeout)
            if isinstance(event, kind):
                return event, seen
            seen.append(event)

    def close(self) -> None:
        self.call("close")


class SyncDriver(Driver):
    name = "blocking"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.client = RealtimeClient(*args, **kwargs)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, method)(*args, **kwargs)

    def next_event(self, timeout: float = 5.0) -> Any:
        return self.client.recv(timeout)


class AsyncDriver(Driver):
    """Runs the asyncio client on its own loop thread."""

    name = "asyncio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.client = self._run(self._make(*args, **kwargs))

    async def _make(self, *args: Any, **kwargs: Any) -> AsyncRealtimeClient:
        return AsyncRealtimeClient(*args, **kwargs)

    def _run(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(self.client, method)(*args, **kwargs))

    def next_event(self, timeout: float = 5.0) -> Any:
        return self._run(self.client.recv(timeout), timeout + 1)

    def tasks_left(self) -> set[asyncio.Task[Any]]:
        async def tasks() -> set[asyncio.Task[Any]]:
            return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

        return self._run(tasks())  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


DRIVERS: dict[str, type[Driver]] = {"asyncio": AsyncDriver, "blocking": SyncDriver}


@contextmanager
def driver(kind: str, *args: Any, **kwargs: Any) -> Iterator[Driver]:
    """A driver that is closed (and checked for leftovers by the caller) at the end."""
    d = DRIVERS[kind](*args, **kwargs)
    try:
        yield d
    finally:
        try:
            d.close()
        finally:
            if isinstance(d, AsyncDriver):
                d.shutdown()


def raw_server(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 whose connections are handed to ``handler`` (in a thread)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for c in conns:
            c.close()
        listener.close()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for ``localhost`` that no system store trusts, and its key (``openssl`` on the PATH)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key
