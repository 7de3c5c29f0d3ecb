"""``RealtimeClient``: the core on a plain socket with two threads; no event loop anywhere."""

from __future__ import annotations

import contextlib
import queue
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Literal

from protocol import ConnectionState, RealtimeConnection, RemoteProtocolError, SessionProperties
from protocol import events as ev
from protocol.handshake import DEFAULT_URL, Target
from protocol.states import ENDED_STATES, OPEN_STATES

from .events import Reconnected, ReconnectFailed, Reconnecting
from .policy import (
    ConnectError,
    ConnectTimeout,
    Options,
    backoff,
    check_connect_reply,
    check_target,
    describe,
    proxy_for,
    retryable,
    tls_context,
)

S = ConnectionState
_READ_SIZE = 65536
_END = object()
_JITTER = random.Random()


def _writable(sock: socket.socket | None) -> bool:
    """Room in the kernel's send buffer now (a direct write will not wait on the network)."""
    if sock is None:
        return False
    try:
        return bool(select.select([], [sock], [], 0)[1])
    except (OSError, ValueError):
        return False


class RealtimeClient:
    """One realtime session over a blocking socket; sends are safe from any thread."""

    def __init__(
        self,
        api_key: str | None = None,
        session: SessionProperties | None = None,
        url: str = DEFAULT_URL,
        auth_type: Literal["basic", "bearer"] = "basic",
        *,
        connect_timeout: float = 10.0,
        keepalive_timeout: float = 30.0,
        ping_interval: float = 10.0,
        reconnect: bool = True,
        max_reconnect_attempts: int = 5,
        backoff_initial: float = 0.25,
        backoff_max: float = 8.0,
        max_queue_bytes: int = 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure: bool = False,
        chunk_ms: int = 60,
        max_message_bytes: int = 16 * 1024 * 1024,
        max_replay_audio_ms: int = 10_000,
        max_held_audio_ms: int = 10_000,
        extra_headers: dict[str, str] | None = None,
        max_events: int = 10_000,
    ) -> None:
        self.connection = RealtimeConnection(
            api_key, session, url, auth_type, chunk_ms=chunk_ms, max_message_bytes=max_message_bytes,
            max_replay_audio_ms=max_replay_audio_ms, max_held_audio_ms=max_held_audio_ms,
            extra_headers=extra_headers)
        self.options = Options(connect_timeout, keepalive_timeout, ping_interval, reconnect, max_reconnect_attempts,
                               backoff_initial, backoff_max, max_queue_bytes, allow_insecure)
        self._ssl_context = ssl_context
        self._lock = threading.RLock()
        self._events: queue.Queue[Any] = queue.Queue(max_events)
        self._writes: queue.Queue[bytes | None] = queue.Queue()
        self._queued = 0
        self._space = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # one writer at a time on the socket: the writer thread or a caller
        self._configured = threading.Event()
        self._configured_event: ev.SessionConfigured | None = None
        self._configure_error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._ended = threading.Event()
        self._rng = _JITTER  # shared: a Random's state is 2.5 KiB per client

    def __repr__(self) -> str:
        return f"<RealtimeClient {self.connection!r}>"

    @property
    def state(self) -> ConnectionState:
        """The core's state."""
        return self.connection.state

    @property
    def queued_audio_seconds(self) -> float:
        """Audio not yet on the wire: held by the core plus what waits in the write queue."""
        return self.connection.queued_audio_seconds(self._queued)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> RealtimeClient:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Open the session; returns once ``session.updated`` answered our configuration."""
        if self._threads:
            raise ConnectError("already connected")
        self._open()
        self._threads = [threading.Thread(target=self._supervise, name="realtime-reader", daemon=True),
                         threading.Thread(target=self._write_loop, name="realtime-writer", daemon=True)]
        for thread in self._threads:
            thread.start()
        try:
            self._await_configured()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close politely, then join every thread and close the socket. Idempotent."""
        with self._lock:
            if self._closing and not self._threads:
                return
            self._closing = True
            conn = self.connection
            if conn.state in OPEN_STATES:
                conn.close()
                self._flush()
            elif conn.state not in (S.CLOSED, S.CLOSING):
                conn.close()
        deadline = time.monotonic() + self.options.close_timeout
        while self.connection.state is S.CLOSING and time.monotonic() < deadline and self._threads:
            time.sleep(0.01)
        self._stop_threads()
        self._end()

    def _stop_threads(self) -> None:
        self._shutdown_socket()
        self._writes.put(None)
        with self._lock:
            self._space.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        self._threads = []
        self._close_socket()

    # ------------------------------------------------------------ events

    def events(self, timeout: float | None = None) -> Iterator[Any]:
        """Yield events as they come; stops after ``timeout`` seconds without one, or at the end."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if event is _END:
                self._events.put(_END)
                return
            yield event

    def recv(self, timeout: float | None = None) -> Any:
        """The next event; ``TimeoutError`` after ``timeout``, ``ConnectionError`` once the stream ended."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None
        if event is _END:
            self._events.put(_END)
            raise ConnectionError("the realtime session has ended")
        return event

    # ------------------------------------------------------------ sending

    def send(self, event: ev.ClientEvent) -> None:
        """Send any client event (held by the core while the session is not configured)."""
        with self._lock:
            self._wait_for_space()
            self.connection.send(event)
            self._flush()

    def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Stream 16-bit PCM; blocks while the write queue is full (back-pressure).

        The hot path writes from the caller's thread when nothing is queued and no write is under way (no
        hand-off to the writer thread per chunk); otherwise the chunk queues behind the others, in order.
        """
        with self._lock:
            self._wait_for_space()
            self.connection.send_audio(pcm)
            sock = self._sock
            data = self.connection.data_to_send() if sock is not None else b""
            direct = (bool(data) and not self._queued and _writable(sock)
                      and self._write_lock.acquire(blocking=False))
            if data and not direct:
                self._queue(data)
        if direct:  # outside the client's lock: the reader thread goes on while the kernel takes the bytes
            assert sock is not None
            try:
                self._send_all(sock, data)
            except OSError:
                pass  # the reader sees the same failure and handles the drop
            finally:
                self._write_lock.release()

    def commit(self) -> None:
        """Commit the user's audio as a turn (manual turn mode)."""
        with self._lock:
            self._wait_for_space()
            self.connection.commit()
            self._flush()

    def create_response(self, **properties: Any) -> None:
        """Ask the model to respond (``ResponseProperties`` keywords)."""
        with self._lock:
            self._wait_for_space()
            self.connection.create_response(**properties)
            self._flush()

    def cancel_response(self) -> bool:
        """Cancel the response in progress; False when there is none."""
        with self._lock:
            sent = self.connection.cancel_response()
            self._flush()
            return sent

    def truncate(self, played_ms: float | None = None) -> ev.ConversationItemTruncate | None:
        """Tell the server how much of the current answer was heard."""
        with self._lock:
            event = self.connection.truncate(played_ms)
            self._flush()
            return event

    def update_session(self, session: SessionProperties) -> None:
        """Change the live session (and every future one)."""
        self.send(ev.SessionUpdate(session=session))

    def reset_conversation(self) -> None:
        """Close this session and open a fresh one with no history."""
        with self._lock:
            self._closing = True
            if self.connection.state in OPEN_STATES:
                self.connection.close()
                data = self.connection.data_to_send()
                if self._sock is not None:
                    with contextlib.suppress(OSError):
                        self._sock.sendall(data)
        self._stop_threads()
        with self._lock:
            if self.connection.state is S.CLOSING:
                self.connection.connection_lost("conversation reset")
            elif self.connection.state is not S.CLOSED:
                self.connection.close()
            for _ in self.connection.events():
                pass
            self.connection.reset_conversation()
            self._ended.clear()
            self._closing = False
            self._configured.clear()
        self.connect()

    # ------------------------------------------------------------ internals

    def _wait_for_space(self) -> None:
        if self._closing:
            raise ConnectionError("the client is closed")
        while self._queued > self.options.max_queue_bytes and not self._closing:
            self._space.wait(0.5)

    def _flush(self) -> None:
        if self._sock is None:
            return  # the bytes stay in the core's outbox until there is a socket for them
        data = self.connection.data_to_send()
        if data:
            self._queue(data)

    def _queue(self, data: bytes) -> None:
        """Behind whatever waits for the writer thread (called with the client's lock held)."""
        self._queued += len(data)
        self._writes.put(data)

    def _write_loop(self) -> None:
        while True:
            data = self._writes.get()
            if data is None:
                return
            sock = self._sock
            try:
                if sock is not None:
                    with self._write_lock:
                        self._send_all(sock, data)
            except OSError:
                pass  # the reader sees the same failure and handles the drop
            finally:
                with self._lock:
                    self._queued -= len(data)
                    self._space.notify_all()

    def _send_all(self, sock: socket.socket, data: bytes) -> None:
        """Every byte, waiting out a peer that reads slowly: a timeout is not a failure (the reader's keepalive
        decides when the peer is gone), and giving up mid-frame would corrupt the stream."""
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view):]
            except TimeoutError:
                if self._sock is not sock or self._closing:
                    raise ConnectionError("the socket was replaced or closed mid-write") from None

    def _open(self) -> None:
        """One attempt: TCP (+TLS), the upgrade and the first bytes after it."""
        with self._lock:
            conn = self.connection
            conn.connect()
            target = conn.target
            assert target is not None
            check_target(target, self.options.allow_insecure)
            context = tls_context(target, self._ssl_context)
            request = conn.data_to_send()
            self._configured.clear()
            self._configure_error = None
        try:
            raw = self._open_socket(target)
        except TimeoutError:
            self._lost("connect timeout")
            raise ConnectTimeout(f"no connection to {target.host}:{target.port} within "
                                 f"{self.options.connect_timeout} s") from None
        except OSError as exc:
            self._lost("connect failed")
            raise ConnectError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
        try:
            sock = context.wrap_socket(raw, server_hostname=target.host) if context else raw
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            self._lost("TLS failed")
            raise ConnectError(f"TLS with {target.host} failed: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(request)
            while conn.state is S.CONNECTING:
                data = sock.recv(_READ_SIZE)
                with self._lock:
                    conn.receive_data(data)
        except TimeoutError:
            sock.close()
            self._lost("handshake timeout")
            raise ConnectTimeout(f"no WebSocket handshake from {target.host} within "
                                 f"{self.options.connect_timeout} s") from None
        except RemoteProtocolError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            self._lost("connection reset during the handshake")
            raise ConnectError(f"connection to {target.host} failed during the handshake: {exc}") from exc
        sock.settimeout(min(self.options.ping_interval, self.options.keepalive_timeout))
        with self._lock:
            self._sock = sock
        self._dispatch()

    def _open_socket(self, target: Target) -> socket.socket:
        """TCP to the target, or a CONNECT tunnel through the environment's HTTP proxy."""
        proxy = proxy_for(target)
        if proxy is None:
            return socket.create_connection((target.host, target.port), timeout=self.options.connect_timeout)
        sock = socket.create_connection((proxy.host, proxy.port), timeout=self.options.connect_timeout)
        try:
            sock.sendall(proxy.connect_request(target))
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(1)  # byte by byte: nothing past the proxy's answer may be consumed
                if not chunk or len(head) > 16384:
                    raise ConnectError(f"proxy {proxy.host}:{proxy.port} closed or flooded the CONNECT answer")
                head += chunk
            check_connect_reply(head, proxy)
        except BaseException:
            sock.close()
            raise
        return sock

    def _lost(self, reason: str) -> None:
        with self._lock:
            self.connection.connection_lost(reason)
            for _ in self.connection.events():
                pass

    def _await_configured(self) -> ev.SessionConfigured:
        if not self._configured.wait(self.options.connect_timeout):
            raise ConnectTimeout(f"the session was not configured within {self.options.connect_timeout} s "
                                 "(no session.updated)")
        if self._configure_error is not None:
            raise self._configure_error
        assert self._configured_event is not None
        return self._configured_event

    def _dispatch(self) -> None:
        with self._lock:
            events = list(self.connection.events())
            state = self.connection.state
            self._flush()
        for event in events:
            if isinstance(event, ev.SessionConfigured) and not self._configured.is_set():
                self._configured_event = event
                self._configured.set()
            elif isinstance(event, ev.ErrorEvent) and state is S.CONFIGURING and not self._configured.is_set():
                self._configure_error = ConnectError(f"the server rejected the session: {event.error.message}")
                self._configured.set()
            self._events.put(event)

    def _read_loop(self, until_configured: bool = False) -> BaseException | None:
        """Feed the core until the socket ends (or, with ``until_configured``, until the session is ready)."""
        conn, sock = self.connection, self._sock
        assert sock is not None
        quiet_since = time.monotonic()
        deadline = quiet_since + self.options.connect_timeout
        while conn.state not in ENDED_STATES:
            if until_configured:
                if self._configured.is_set():
                    return self._configure_error
                if time.monotonic() > deadline:
                    return ConnectTimeout("the new session was not configured in time")
            try:
                data = sock.recv(_READ_SIZE)
            except TimeoutError:
                with self._lock:
                    if time.monotonic() - quiet_since >= self.options.keepalive_timeout:
                        conn.connection_lost("keepalive timeout: no data from the server")
                    else:
                        conn.ping()
                self._dispatch()
                continue
            except OSError as exc:
                with self._lock:
                    conn.connection_lost("closed" if self._closing else f"connection lost: {exc}")
                self._dispatch()
                return exc
            try:
                with self._lock:
                    conn.receive_data(data)
            except RemoteProtocolError as exc:
                self._dispatch()
                return exc
            self._dispatch()
            quiet_since = time.monotonic()
        return None

    def _supervise(self) -> None:
        error = self._read_loop()
        attempt = 0
        while not self._closing and self.options.reconnect and self.connection.state is not S.CLOSED:
            self._close_socket()
            attempt += 1
            if attempt > self.options.max_reconnect_attempts or not retryable(error):
                self._events.put(ReconnectFailed(describe(error) if error else "connection lost"))
                break
            delay = backoff(attempt, self.options, error, self._rng)
            self._events.put(Reconnecting(attempt, delay, describe(error) if error else "connection lost"))
            if self._ended.wait(delay) or self._closing:
                break
            try:
                self._open()
            except (ConnectError, RemoteProtocolError, OSError) as exc:
                error = exc
                continue
            error = self._read_loop(until_configured=True)
            if error is not None or not self._configured.is_set():
                error = error or ConnectError("the connection dropped while the session was being configured")
                continue
            assert self._configured_event is not None
            configured = self._configured_event
            self._events.put(Reconnected(attempt, configured.replayed_items, configured.replayed_audio_ms))
            attempt = 0
            error = self._read_loop()
        if not self._closing:
            self._close_socket()
            self._end()

    def _shutdown_socket(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _close_socket(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            stop = False
            while True:
                try:
                    item = self._writes.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    self._queued -= len(item)
            if stop:
                self._writes.put(None)  # the writer's stop signal must survive the purge
            self._space.notify_all()
        if sock is not None:
            sock.close()

    def _end(self) -> None:
        if not self._ended.is_set():
            self._ended.set()
            with contextlib.suppress(queue.Full):
                self._events.put_nowait(_END)


__all__ = ["RealtimeClient"]
