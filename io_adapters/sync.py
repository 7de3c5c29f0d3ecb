"""``RealtimeClient``: the core and the supervisor on a plain socket with two threads; this module only does I/O."""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from inworld_realtime.protocol import (
    ConnectError,
    ConnectionState,
    LocalProtocolError,
    RemoteProtocolError,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.states import ENDED_STATES

from .client import ATTEMPT_ERRORS, ClientBase, Route
from .supervisor import Supervisor
from .transport import check_connect_reply

S = ConnectionState
_READ_SIZE = 65536
_MIN_TIMEOUT = 0.05  # the socket's timeout is shared with the writer, which retries on it: no busy loop
_now = time.monotonic


def _writable(sock: socket.socket | None) -> bool:
    """Room in the kernel's send buffer now (a direct write will not wait on the network)."""
    if sock is None:
        return False
    try:
        return bool(select.select([], [sock], [], 0)[1])
    except (OSError, ValueError):
        return False


class _EventQueue:
    """The caller's events. The supervisor decides when the reader pauses (``backlog``); the reader waits
    between reads, never inside a put. The end of the stream is a flag, so it can never be lost."""

    def __init__(self, sup: Supervisor) -> None:
        self._items: deque[Any] = deque()
        self._sup = sup
        self._cond = threading.Condition()
        self._ended = self._unbounded = False

    def put(self, events: list[Any]) -> None:
        with self._cond:
            self._items.extend(events)
            self._cond.notify_all()
            self._sup.backlog(_now(), len(self._items))

    def wait_while_paused(self) -> None:
        """The reader's pause: no reads (TCP holds the server) until the caller catches up or the client closes."""
        with self._cond:
            while self._sup.paused and not self._unbounded:
                self._cond.wait()

    def get(self, timeout: float | None) -> Any:
        """The next event; ``None`` once the stream ended and is drained; ``queue.Empty`` after ``timeout``."""
        with self._cond:
            if not self._items and not self._ended:
                deadline = None if timeout is None else _now() + timeout
                while not self._items and not self._ended:
                    remaining = None if deadline is None else deadline - _now()
                    if remaining is not None and remaining <= 0:
                        raise queue.Empty
                    self._cond.wait(remaining)
            if not self._items:
                return None
            event = self._items.popleft()
            if self._sup.paused and self._sup.backlog(_now(), len(self._items)) == "resume":
                self._cond.notify_all()
            return event

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def unblock(self) -> None:
        """No more waiting for the caller (the client is closing and the caller may never read again)."""
        with self._cond:
            self._unbounded = True
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self._ended = self._unbounded = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._ended = self._unbounded = False


class RealtimeClient(ClientBase):
    """One realtime session over a blocking socket; sends are safe from any thread."""

    def _init_io(self) -> None:
        self._lock = threading.RLock()
        self._events = _EventQueue(self._sup)
        self._writes: queue.Queue[bytes | None] = queue.Queue()
        self._queued = 0
        self._space = threading.Condition(self._lock)
        self._write_lock = threading.Lock()  # one writer at a time on the socket: the writer thread or a caller
        self._configured: ev.SessionConfigured | BaseException | None = None
        self._sock: socket.socket | None = None
        self._ended_by: BaseException | None = None  # a protocol error that arrived with session.updated
        self._reader: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._stop = threading.Event()  # set by close(): ends back-off waits at once

    @property
    def queued_audio_seconds(self) -> float:
        """Audio not yet on the wire: held by the core plus what waits in the write queue."""
        return self.connection.queued_audio_seconds(self._queued)

    def __enter__(self) -> RealtimeClient:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Open the session, retrying as the supervisor decides within ``connect_timeout``; returns once
        ``session.updated`` answered our configuration, else raises the last error."""
        if self._writer is not None:
            raise LocalProtocolError("already connected: close() first")
        route = self._route()
        self._sup.start(_now())
        self._stop.clear()
        self._writer = threading.Thread(target=self._write_loop, name="realtime-writer", daemon=True)
        self._writer.start()
        try:
            self._establish(route)
        except BaseException:
            self.close()
            raise
        self._reader = threading.Thread(target=self._supervise, args=(route,), name="realtime-reader", daemon=True)
        self._reader.start()

    def close(self) -> None:
        """Close politely, wait (bounded) for the server's answer, then stop the threads and the socket. Idempotent."""
        if self._sup.closing and self._writer is None:
            return
        self._shutdown(await_answer=True)
        self._events.end()

    def reset_conversation(self) -> None:
        """Close this session and open a fresh one with no history."""
        self._shutdown(await_answer=False)
        with self._lock:
            self._forget_conversation()
            self._events.reopen()
        self.connect()

    def _shutdown(self, await_answer: bool) -> None:
        """Close and reset, in the one order: the close frame goes behind every queued byte (one writer), then we
        wait, bounded, for the server's answer (close) or for the writes to drain (reset), then the socket goes."""
        with self._lock:
            answer = self._start_close()
            self._space.notify_all()  # senders waiting for room raise now
        self._stop.set()
        self._events.unblock()
        reader, deadline = self._reader, _now() + self.options.close_timeout
        if answer and reader is not None and reader is not threading.current_thread():
            if await_answer:
                reader.join(self.options.close_timeout)  # it ends when the close frame (or EOF) ends the socket
            else:
                with self._lock:
                    while self._queued and self._sock is not None and (left := deadline - _now()) > 0:
                        self._space.wait(left)
        self._stop_threads()

    def _stop_threads(self) -> None:
        self._stop.set()
        self._shutdown_socket()  # an abort: after it, nothing more reaches the socket
        self._writes.put(None)
        with self._lock:
            self._space.notify_all()
        for thread in (self._reader, self._writer):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        self._reader = self._writer = None
        self._close_socket()

    def events(self, timeout: float | None = None) -> Iterator[Any]:
        """Yield events as they come; stops after ``timeout`` seconds without one, or at the end."""
        while True:
            try:
                event = self._events.get(timeout)
            except queue.Empty:
                return
            if event is None:
                return
            yield event

    def recv(self, timeout: float | None = None) -> Any:
        """The next event; ``ReceiveTimeout`` after ``timeout``, ``SessionEnded`` once the stream ended."""
        try:
            event = self._events.get(timeout)
        except queue.Empty:
            raise self._sup.recv_timeout(timeout) from None
        if event is None:
            raise self._sup.ended_error()
        return event

    def _backlog(self) -> int:
        return len(self._events)

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
            if not self.connection.send_audio(pcm):
                return  # the frame only joined the next chunk: nothing to write
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
        """Cancel the response in progress or asked for; False when there is none."""
        with self._lock:
            sent = self.connection.cancel_response()
            self._flush()
            return sent

    def truncate(
        self, played_ms: float | None = None, item_id: str | None = None
    ) -> ev.ConversationItemTruncate | None:
        """Tell the server how much of the current answer (or of the item ``item_id``) was heard."""
        with self._lock:
            event = self.connection.truncate(played_ms, item_id)
            self._flush()
            return event

    def update_session(self, session: SessionProperties) -> None:
        """Change the live session (and every future one)."""
        self.send(ev.SessionUpdate(session=session))

    def _wait_for_space(self) -> None:
        while self._sup.must_wait(self._queued):
            self._space.wait()  # the writer thread, close() and a dropped socket all notify

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
            finally:
                with self._lock:
                    self._queued -= len(data)
                    self._space.notify_all()

    def _send_all(self, sock: socket.socket, data: bytes) -> None:
        """The one writer path: every byte, in order, waiting out a peer that reads slowly. A frame is given up
        halfway only when its socket was aborted (then nothing more is ever written to it); a timeout is not a
        failure (the keepalive decides when the peer is gone)."""
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view):]
            except TimeoutError:
                if self._sock is not sock:
                    return  # replaced or closed: the socket is gone, and so is what it had not taken
            except OSError:
                return  # shut down (aborted) or reset: the reader sees the same failure and handles the drop

    def _establish(self, route: Route) -> None:
        """Attempts until a session is configured, waiting between them as the supervisor says."""
        sup = self._sup
        while True:
            try:
                self._attempt(route, sup.attempt_deadline(_now()))
                return
            except ATTEMPT_ERRORS as exc:
                with self._lock:
                    decision = sup.failed(_now(), exc, self._unsent_ms())
            if self._stop.wait(self._next_attempt(decision)):
                raise ConnectError("the client is closed")

    def _attempt(self, route: Route, deadline: float) -> None:
        """One attempt: TCP (+TLS), the upgrade, then reading until the session is configured."""
        target, conn = route.target, self.connection
        with self._lock:
            conn.connect()
            request = conn.data_to_send()
            self._configured = None
        step, sock, upgraded = "no connection to", None, False
        try:
            sock = self._open_socket(route, deadline)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            with self._lock:
                self._sock = sock  # close() can now interrupt the reads
            step = "no WebSocket handshake from"
            while conn.state is S.CONNECTING:
                sock.settimeout(self._remaining(deadline))
                data = sock.recv(_READ_SIZE)
                with self._lock:
                    conn.receive_data(data)
            upgraded, step = True, "no configured session (session.updated) from"
            self._dispatch()
            while self._configured is None:
                if conn.state in ENDED_STATES:
                    raise ConnectError("the connection dropped while the session was being configured")
                sock.settimeout(self._remaining(deadline))
                data = sock.recv(_READ_SIZE)
                try:
                    with self._lock:
                        conn.receive_data(data)
                except RemoteProtocolError as exc:
                    self._dispatch()
                    if self._configured is None:
                        raise
                    self._ended_by = exc  # the same read configured the session and broke it: _run reports it
                    break
                self._dispatch()
        except BaseException as exc:
            error, reason = self._sup.attempt_error(exc, step, f"{target.host}:{target.port}")
            self._failed_attempt(reason, upgraded)
            if error is exc:
                raise
            raise error from error.__cause__
        if isinstance(self._configured, BaseException):
            self._failed_attempt("connect failed", upgraded)
            raise self._configured  # SessionRejected
        self._sup.session_started(_now())  # keepalive from here on: until now the deadline ruled

    def _read_timeout(self, now: float) -> float:
        """Until the supervisor's next keepalive deadline (the socket's timeout is the blocking client's timer)."""
        return min(3600.0, max(_MIN_TIMEOUT, self._sup.next_tick() - now))

    @staticmethod
    def _remaining(deadline: float) -> float:
        remaining = deadline - _now()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def _failed_attempt(self, reason: str, upgraded: bool) -> None:
        """The socket goes; before the upgrade the core's events go too, after it they are the caller's."""
        with self._lock:
            if self.connection.state not in ENDED_STATES:
                self.connection.connection_lost(reason)
            if not upgraded:
                self._discard_events()
        if upgraded:
            self._dispatch()
        self._close_socket()

    def _open_socket(self, route: Route, deadline: float) -> socket.socket:
        """TCP (+TLS) to the target, or a CONNECT tunnel through the environment's HTTP proxy."""
        target, context, proxy = route.target, route.context, route.proxy
        address = (target.host, target.port) if proxy is None else (proxy.host, proxy.port)
        sock = socket.create_connection(address, timeout=max(0.001, deadline - _now()))
        try:
            if proxy is not None:
                sock.sendall(proxy.connect_request(target))
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(1)  # byte by byte: nothing past the proxy's answer may be consumed
                    if not chunk or len(head) > 16384:
                        raise ConnectError(f"proxy {proxy.host}:{proxy.port} closed or flooded the CONNECT answer")
                    head += chunk
                check_connect_reply(head, proxy)
            if context is not None:
                sock.settimeout(max(0.001, deadline - _now()))
                try:
                    return context.wrap_socket(sock, server_hostname=target.host)
                except (OSError, ValueError) as exc:
                    raise ConnectError(f"TLS with {target.host} failed: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        return sock

    def _surface(self, event: Any) -> None:
        self._events.put([event])

    def _forget_events(self) -> None:
        self._events.clear()

    def _dispatch(self) -> None:
        """Hand the core's events to the caller; the supervisor settles the opening and decides back-pressure."""
        with self._lock:
            events: list[Any] = list(self.connection.events())  # the announcement may join them
            configuring = self.connection.state is S.CONFIGURING
            self._flush()
        if self._configured is None:  # the opening: the supervisor settles it, event by event
            for index, event in enumerate(events):
                if (settled := self._sup.settle(_now(), event, configuring)) is not None:
                    self._configured = settled.outcome
                    if settled.announce is not None:  # right after SessionConfigured, before any later event
                        events.insert(index + 1, settled.announce)
                    break
        if events:
            self._events.put(events)

    def _run(self, sock: socket.socket) -> BaseException | None:
        """Feed the core until the socket ends; the supervisor's keepalive runs between reads."""
        conn, sup = self.connection, self._sup
        if self._ended_by is not None:
            error, self._ended_by = self._ended_by, None
            return error
        sock.settimeout(self._read_timeout(_now()))
        while conn.state not in ENDED_STATES:
            if sup.paused:
                self._events.wait_while_paused()
                sock.settimeout(self._read_timeout(_now()))  # the silence is counted from the resume
            try:
                data = sock.recv(_READ_SIZE)
            except TimeoutError:
                now = _now()
                action = sup.tick(now)
                with self._lock:
                    if action == "dead":
                        conn.connection_lost(sup.lost_reason(""))
                    elif action == "ping":
                        conn.ping()
                self._dispatch()
                sock.settimeout(self._read_timeout(now))
                continue
            except OSError as exc:
                with self._lock:
                    conn.connection_lost(sup.lost(exc))
                self._dispatch()
                return exc
            sup.heard(_now())
            try:
                with self._lock:
                    conn.receive_data(data)
            except RemoteProtocolError as exc:
                self._dispatch()
                return exc
            self._dispatch()
        return None

    def _supervise(self, route: Route) -> None:
        """The reader thread: run the socket; when it ends, reconnect as the supervisor decides."""
        sup = self._sup
        try:
            while (sock := self._sock) is not None:
                error = self._run(sock)
                with self._lock:
                    decision = sup.dropped(_now(), error, self.connection.state is S.CLOSED, self._unsent_ms())
                if decision is None:
                    break
                self._close_socket()
                try:
                    if self._stop.wait(self._next_attempt(decision)):
                        break
                    self._establish(route)  # _dispatch says Reconnected, right after SessionConfigured
                except Exception:
                    break  # ReconnectFailed is queued
        finally:
            if not sup.closing:
                self._close_socket()
                self._events.end()

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

    # Pacing: the process's one clock thread feeds send_audio (io_adapters/pacing.py).
    def stream_audio(self, source: Any, *, realtime: bool = True, stop: threading.Event | None = None) -> int:
        """Send ``source`` at real-time pace, paced by the process's one clock thread (shared by every client).

        ``source``: PCM bytes, a WAV path or ``WavSource``, a callback ``(nbytes) -> bytes`` (b"" ends it), or an
        iterable of PCM bytes, at the session's input rate. Blocks until it is all sent and returns the bytes
        sent; setting ``stop`` ends it at once, having sent a prefix of the source in order.
        """
        from .pacing import stream_blocking

        return stream_blocking(self.send_audio, source, self.connection.input_rate, self.connection.chunk_ms,
                               realtime, stop)

    def stream_wav(self, path: Any, *, realtime: bool = True, stop: threading.Event | None = None) -> int:
        """Send a 16-bit mono WAV file at real-time pace (``stream_audio`` of its path)."""
        return self.stream_audio(path, realtime=realtime, stop=stop)


__all__ = ["RealtimeClient"]
