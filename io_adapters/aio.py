"""``AsyncRealtimeClient``: the core on asyncio streams, with keepalive, back-pressure and reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import threading
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Literal, cast

from protocol import ConnectionState, HandshakeError, RealtimeConnection, RemoteProtocolError, SessionProperties
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
_READ_BUFFER = 65536
_HANDSHAKE_READ = 1 << 22  # more than a stream reader can hold (its limit is 64 KiB, it pauses at twice that)
_END = object()
_JITTER = random.Random()


class _ReadBuffer(threading.local):
    """One receive buffer per thread, shared by every connection of its event loop: the core copies what it
    keeps before the next read, so nothing is allocated (or mapped: 256 KiB reads are mmap'ed) per read."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READ_BUFFER))


_READ = _ReadBuffer()


class _Feed(asyncio.BufferedProtocol):
    """Takes over the transport after the upgrade: bytes go into the core from the transport's own callback.

    No reader task wakes per read (one task switch less per audio delta than a stream reader); ``done``
    resolves when the socket ends, ``closed`` when the transport is gone, ``drain`` waits out a full buffer.
    """

    def __init__(self, client: AsyncRealtimeClient, transport: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        self.client = client
        self.transport = transport
        self.loop = loop
        self.done: asyncio.Future[BaseException | None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._writable: asyncio.Future[None] | None = None
        self._buffer = _READ.view

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.client._received(self, self._buffer[:nbytes])

    def eof_received(self) -> bool:
        self.client._received(self, b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._transport_lost(self, exc)
        if not self.closed.done():
            self.closed.set_result(None)
        self.resume_writing()

    def finish(self, error: BaseException | None) -> None:
        if not self.done.done():
            self.done.set_result(error)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def drain(self) -> None:
        if self._writable is not None:
            await asyncio.shield(self._writable)


class AsyncRealtimeClient:
    """One realtime session over asyncio; survives drops by opening a new one and replaying."""

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
        self._events: asyncio.Queue[Any] = asyncio.Queue()  # bounded by pausing the socket at max_events
        self._max_events = max(1, max_events)
        self._reading_paused = False
        self._reconnecting = 0  # the attempt under way, 0 when not reconnecting
        self._writes: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._configured: asyncio.Future[ev.SessionConfigured] | None = None
        self._writer: asyncio.Transport | None = None  # the socket's transport once upgraded
        self._feed: _Feed | None = None
        self._stream: asyncio.StreamWriter | None = None  # kept alive: a collected StreamWriter closes its socket
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._ended = False
        self._rng = _JITTER  # shared: a Random's state is 2.5 KiB per client
        self._last_rx = 0.0
        self._stalled = False

    def __repr__(self) -> str:
        return f"<AsyncRealtimeClient {self.connection!r}>"

    @property
    def state(self) -> ConnectionState:
        """The core's state."""
        return self.connection.state

    @property
    def queued_audio_seconds(self) -> float:
        """Audio not yet on the wire: held by the core plus what waits in the write queue."""
        buffered = self._writer.get_write_buffer_size() if self._writer is not None else 0
        return self.connection.queued_audio_seconds(self._queued + buffered)

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AsyncRealtimeClient:
        await self.connect()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the session; returns once ``session.updated`` answered our configuration."""
        if self._tasks:
            raise ConnectError("already connected")
        self._reconnecting = 0
        await self._open()
        self._tasks.append(asyncio.create_task(self._supervise(), name="realtime-supervisor"))
        self._tasks.append(asyncio.create_task(self._write_loop(), name="realtime-writer"))
        try:
            await self._await_configured()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the WebSocket politely, then stop every task and the socket. Idempotent."""
        if self._closing and not self._tasks:
            return
        self._closing = True
        conn = self.connection
        if conn.state in OPEN_STATES:
            conn.close()
            self._flush()
            supervisor = self._tasks[0] if self._tasks else None
            if supervisor is not None and supervisor is not asyncio.current_task():
                # The supervisor ends when the server's close frame (or EOF) ends the socket: no polling.
                await asyncio.wait({supervisor}, timeout=self.options.close_timeout)
        elif conn.state not in (S.CLOSED, S.CLOSING):
            conn.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._drop_socket()
        self._end()

    # ------------------------------------------------------------ events

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        events = self._events
        while True:
            event = events.get_nowait() if events.qsize() else await events.get()
            if self._reading_paused:
                self._resume_reading()
            if event is _END:
                self._events.put_nowait(_END)  # every later reader ends too
                return
            yield event

    async def recv(self, timeout: float | None = None) -> Any:
        """The next event; raises ``ConnectionError`` once the stream has ended."""
        event = await asyncio.wait_for(self._events.get(), timeout)
        if self._reading_paused:
            self._resume_reading()
        if event is _END:
            self._events.put_nowait(_END)
            raise ConnectionError("the realtime session has ended")
        return event

    # ------------------------------------------------------------ sending

    async def send(self, event: ev.ClientEvent) -> None:
        """Send any client event (held by the core while the session is not configured)."""
        await self._capacity()
        self.connection.send(event)
        self._flush()

    async def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Stream 16-bit PCM; waits while the write queue is full (back-pressure)."""
        if self._closing or self._queued > self.options.max_queue_bytes:
            await self._capacity()  # the hot path skips this coroutine: once per 20 ms frame per session
        self.connection.send_audio(pcm)
        self._flush()

    async def commit(self) -> None:
        """Commit the user's audio as a turn (manual turn mode)."""
        await self._capacity()
        self.connection.commit()
        self._flush()

    async def create_response(self, **properties: Any) -> None:
        """Ask the model to respond (``ResponseProperties`` keywords)."""
        await self._capacity()
        self.connection.create_response(**properties)
        self._flush()

    async def cancel_response(self) -> bool:
        """Cancel the response in progress; False when there is none."""
        sent = self.connection.cancel_response()
        self._flush()
        return sent

    async def truncate(self, played_ms: float | None = None) -> ev.ConversationItemTruncate | None:
        """Tell the server how much of the current answer was heard."""
        event = self.connection.truncate(played_ms)
        self._flush()
        return event

    async def update_session(self, session: SessionProperties) -> None:
        """Change the live session (and every future one)."""
        await self.send(ev.SessionUpdate(session=session))

    async def reset_conversation(self) -> None:
        """Close this session and open a fresh one with no history."""
        conn = self.connection
        self._closing = True  # the supervisor must not end the event stream
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if conn.state in OPEN_STATES:
            conn.close()
            self._flush_now()
        await self._drop_socket()
        if conn.state is S.CLOSING:
            conn.connection_lost("conversation reset")
        elif conn.state is not S.CLOSED:
            conn.close()
        self._discard_events()
        conn.reset_conversation()
        self._closing = False
        self._ended = False
        await self.connect()

    # ------------------------------------------------------------ internals

    async def _capacity(self) -> None:
        if self._closing:
            raise ConnectionError("the client is closed")
        while self._queued > self.options.max_queue_bytes:
            self._drained.clear()
            await self._drained.wait()

    def _flush(self) -> None:
        writer = self._writer
        if writer is None:
            return  # the bytes stay in the core's outbox until there is a socket for them
        data = self.connection.data_to_send()
        if not data:
            return
        if (self._writes.empty() and not writer.is_closing()
                and writer.get_write_buffer_size() < self.options.max_queue_bytes):
            writer.write(data)  # the usual case: straight to the transport, no task switch
            return
        self._queued += len(data)  # the network is slow: the writer task drains, senders wait
        self._writes.put_nowait(data)

    def _flush_now(self) -> None:
        data = self.connection.data_to_send()
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def _write_loop(self) -> None:
        while True:
            data = await self._writes.get()
            writer, feed = self._writer, self._feed
            try:
                if writer is not None and feed is not None and not writer.is_closing():
                    writer.write(data)
                    await feed.drain()
            except (ConnectionError, OSError):
                pass  # the reader sees the same failure and handles the drop
            finally:
                self._queued -= len(data)
                if self._queued <= self.options.max_queue_bytes:
                    self._drained.set()

    async def _open(self) -> None:
        """One attempt: TCP (+TLS), the upgrade, and the first bytes after it."""
        conn = self.connection
        conn.connect()
        request = conn.data_to_send()  # taken now: nothing else may drain it while we connect
        target = conn.target
        assert target is not None
        check_target(target, self.options.allow_insecure)
        context = tls_context(target, self._ssl_context)
        self._configured = asyncio.get_running_loop().create_future()
        try:
            reader, writer = await asyncio.wait_for(self._open_stream(target, context), self.options.connect_timeout)
        except TimeoutError:
            conn.connection_lost("connect timeout")
            self._discard_events()
            raise ConnectTimeout(f"no connection to {target.host}:{target.port} within "
                                 f"{self.options.connect_timeout} s") from None
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            conn.connection_lost("connect failed")
            self._discard_events()
            raise ConnectError(f"cannot connect to {target.host}:{target.port}: {exc}") from exc
        transport = cast(asyncio.Transport, writer.transport)  # uvloop's transports are not asyncio's subclasses
        self._writer, self._stream = transport, writer
        writer.write(request)
        try:
            # asyncio.timeout, not wait_for: the read must run in this task, so that nothing can arrive in the
            # stream between the read that ends the handshake and the feed taking over the transport.
            async with asyncio.timeout(self.options.connect_timeout):
                while conn.state is S.CONNECTING:
                    conn.receive_data(await reader.read(_HANDSHAKE_READ))  # all the stream holds
        except TimeoutError:
            conn.connection_lost("handshake timeout")
            await self._drop_socket()
            self._discard_events()
            raise ConnectTimeout(f"no WebSocket handshake from {target.host} within "
                                 f"{self.options.connect_timeout} s") from None
        except RemoteProtocolError:
            await self._drop_socket()
            raise
        except OSError as exc:
            conn.connection_lost("connection reset during the handshake")
            await self._drop_socket()
            self._discard_events()
            raise ConnectError(f"connection to {target.host} failed during the handshake: {exc}") from exc
        self._last_rx = asyncio.get_running_loop().time()
        self._feed = _Feed(self, transport)
        transport.set_protocol(self._feed)  # no await since the last read: the stream's buffer is empty
        if reader.exception() is not None:  # the socket died before the feed took over
            self._transport_lost(self._feed, reader.exception())
            self._feed.closed.set_result(None)
        elif reader.at_eof():
            self._received(self._feed, b"")
        self._dispatch()

    async def _open_stream(self, target: Target, context: ssl.SSLContext | None
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """TCP (+TLS) to the target, through the environment's HTTP proxy when one applies."""
        proxy = proxy_for(target)
        if proxy is None:
            return await asyncio.open_connection(target.host, target.port, ssl=context,
                                                 server_hostname=target.host if context else None)
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
        try:
            writer.write(proxy.connect_request(target))
            check_connect_reply(await reader.readuntil(b"\r\n\r\n"), proxy)
            if context is not None:
                await writer.start_tls(context, server_hostname=target.host)
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def _await_configured(self) -> ev.SessionConfigured:
        assert self._configured is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._configured), self.options.connect_timeout)
        except TimeoutError:
            raise ConnectTimeout(f"the session was not configured within {self.options.connect_timeout} s "
                                 "(no session.updated)") from None

    def _discard_events(self) -> None:
        for _ in self.connection.events():
            pass

    def _dispatch(self) -> None:
        """Hand the core's events to the caller and settle the configuration future; pause reading when full."""
        configured = self._configured
        for event in self.connection.events():
            if configured is not None and not configured.done():
                if isinstance(event, ev.SessionConfigured):
                    configured.set_result(event)
                    if self._reconnecting:  # said here, before any later event of the new socket
                        self._events.put_nowait(event)
                        self._events.put_nowait(Reconnected(self._reconnecting, event.replayed_items,
                                                            event.replayed_audio_ms))
                        continue
                elif isinstance(event, ev.ErrorEvent) and self.connection.state is S.CONFIGURING:
                    configured.set_exception(ConnectError(f"the server rejected the session: {event.error.message}"))
            self._events.put_nowait(event)
        if self._events.qsize() >= self._max_events and not self._reading_paused and self._writer is not None:
            self._reading_paused = True  # the caller is behind: TCP flow control holds the server, nothing is lost
            self._writer.pause_reading()
        self._flush()

    def _resume_reading(self) -> None:
        if self._events.qsize() <= self._max_events // 2:
            self._reading_paused = False
            if self._writer is not None and not self._writer.is_closing():
                self._writer.resume_reading()

    def _received(self, feed: _Feed, data: bytes | memoryview) -> None:
        """The feed's bytes (``b""``: EOF) into the core; ends the feed when the socket is done."""
        if feed is not self._feed or feed.done.done():
            return
        conn = self.connection
        if not data and self._stalled:
            conn.connection_lost(self._lost_reason(""))
            self._dispatch()
            feed.finish(None)
            return
        self._last_rx = feed.loop.time()
        try:
            conn.receive_data(data)  # copies what it keeps: the buffer is reused by the next read
        except RemoteProtocolError as exc:
            self._dispatch()
            feed.finish(exc)
            return
        self._dispatch()
        if conn.state in ENDED_STATES or not data:
            feed.finish(None)

    def _transport_lost(self, feed: _Feed, exc: BaseException | None) -> None:
        if feed is not self._feed or feed.done.done():
            return
        conn = self.connection
        if conn.state not in ENDED_STATES:
            conn.connection_lost(self._lost_reason(f"connection lost: {exc}" if exc else "connection lost"))
            self._dispatch()
        feed.finish(None if self._stalled else (exc or ConnectionResetError("connection lost")))

    async def _read_loop(self, until_configured: bool = False) -> BaseException | None:
        """Wait while the feed runs the socket (or, with ``until_configured``, until the session is ready).

        There is no read per message here: the transport calls the feed; a watchdog task pings and
        enforces the keepalive. Returns the error that ended the socket, if any.
        """
        feed, configured = self._feed, self._configured
        assert feed is not None and configured is not None
        self._stalled = False
        watchdog = asyncio.create_task(self._watchdog(), name="realtime-keepalive")
        try:
            if until_configured:
                waiting: set[asyncio.Future[Any]] = {feed.done, configured}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                return feed.done.result() if feed.done.done() else None
            return await asyncio.shield(feed.done)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    def _lost_reason(self, reason: str) -> str:
        return "keepalive timeout: no data from the server" if self._stalled else reason

    async def _watchdog(self) -> None:
        """Ping every ``ping_interval``; abort the socket after ``keepalive_timeout`` without a byte."""
        loop = asyncio.get_running_loop()
        interval = min(self.options.ping_interval, self.options.keepalive_timeout)
        while True:
            await asyncio.sleep(interval)
            if loop.time() - self._last_rx >= self.options.keepalive_timeout:
                self._stalled = True
                if self._writer is not None:
                    self._writer.abort()  # the feed hears connection_lost and ends the socket
                return
            self.connection.ping()
            self._flush()

    async def _supervise(self) -> None:
        """Run the socket; on a drop, reconnect with back-off until it works or we give up."""
        try:
            error = await self._read_loop()
            attempt = 0
            while not self._closing and self.options.reconnect and self.connection.state is not S.CLOSED:
                await self._drop_socket()
                attempt += 1
                if attempt > self.options.max_reconnect_attempts or not retryable(error):
                    await self._events.put(ReconnectFailed(describe(error) if error else "connection lost"))
                    break
                delay = backoff(attempt, self.options, error, self._rng)
                await self._events.put(Reconnecting(attempt, delay, describe(error) if error else "connection lost"))
                self._reconnecting = attempt
                await asyncio.sleep(delay)
                try:
                    await self._open()
                except (ConnectError, RemoteProtocolError, OSError) as exc:
                    error = exc
                    continue
                try:
                    error = await asyncio.wait_for(self._read_loop(until_configured=True),
                                                   self.options.connect_timeout)
                except TimeoutError:
                    error = ConnectTimeout("the new session was not configured in time")
                    self.connection.connection_lost("session not configured in time")
                    self._discard_events()
                    continue
                assert self._configured is not None
                if error is not None or not self._configured.done() or self._configured.exception():
                    error = error or (self._configured.exception() if self._configured.done() else None) \
                        or ConnectError("the connection dropped while the session was being configured")
                    continue
                attempt = self._reconnecting = 0  # _dispatch said Reconnected, right after SessionConfigured
                error = await self._read_loop()
        finally:
            if not self._closing:
                await self._drop_socket()
                self._end()

    async def _drop_socket(self) -> None:
        writer, feed, self._writer, self._feed = self._writer, self._feed, None, None  # its late calls are ignored
        self._stream = None
        while not self._writes.empty():
            self._queued -= len(self._writes.get_nowait())
        self._drained.set()
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                if feed is not None and feed.transport is writer:
                    await asyncio.wait_for(asyncio.shield(feed.closed), 1.0)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(_END)


__all__ = ["AsyncRealtimeClient", "ConnectError", "ConnectTimeout", "HandshakeError"]
