"""``AsyncRealtimeClient``: the core on asyncio streams, with keepalive, back-pressure and reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Literal

from protocol import ConnectionState, HandshakeError, RealtimeConnection, RemoteProtocolError, SessionProperties
from protocol import events as ev
from protocol.handshake import DEFAULT_URL, Target

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
        self._events: asyncio.Queue[Any] = asyncio.Queue(max_events)
        self._writes: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._configured: asyncio.Future[ev.SessionConfigured] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._ended = False
        self._rng = random.Random()
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
        buffered = self._writer.transport.get_write_buffer_size() if self._writer is not None else 0
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
        if conn.state in (S.AWAITING_SESSION, S.CONFIGURING, S.READY, S.RESPONDING):
            conn.close()
            self._flush()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._until_closed(), self.options.close_timeout)
        elif conn.state not in (S.CLOSED, S.CLOSING):
            conn.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._drop_socket()
        self._end()

    async def _until_closed(self) -> None:
        while self.connection.state is not S.CLOSED and not self._ended:
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------ events

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            event = await self._events.get()
            if event is _END:
                self._events.put_nowait(_END)  # every later reader ends too
                return
            yield event

    async def recv(self, timeout: float | None = None) -> Any:
        """The next event; raises ``ConnectionError`` once the stream has ended."""
        event = await asyncio.wait_for(self._events.get(), timeout)
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
        await self._capacity()
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
        if conn.state in (S.AWAITING_SESSION, S.CONFIGURING, S.READY, S.RESPONDING):
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
        transport = writer.transport
        if (self._writes.empty() and not transport.is_closing()
                and transport.get_write_buffer_size() < self.options.max_queue_bytes):
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
            writer = self._writer
            try:
                if writer is not None and not writer.is_closing():
                    writer.write(data)
                    await writer.drain()
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
        self._reader, self._writer = reader, writer
        writer.write(request)
        try:
            while conn.state is S.CONNECTING:
                data = await asyncio.wait_for(reader.read(_READ_SIZE), self.options.connect_timeout)
                conn.receive_data(data)
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
        await self._dispatch()

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

    async def _dispatch(self) -> None:
        """Hand the core's events to the caller and settle the configuration future."""
        for event in self.connection.events():
            if isinstance(event, ev.SessionConfigured) and self._configured and not self._configured.done():
                self._configured.set_result(event)
            elif (isinstance(event, ev.ErrorEvent) and self.connection.state is S.CONFIGURING
                  and self._configured and not self._configured.done()):
                self._configured.set_exception(ConnectError(f"the server rejected the session: {event.error.message}"))
            await self._events.put(event)
        self._flush()

    async def _read_loop(self, until_configured: bool = False) -> BaseException | None:
        """Feed the core until the socket ends (or, with ``until_configured``, until the session is ready).

        Reads are plain awaits (no timer per read); a watchdog task pings and enforces the keepalive.
        Returns the error that ended the socket, if any.
        """
        conn, reader, loop = self.connection, self._reader, asyncio.get_running_loop()
        assert reader is not None
        self._last_rx = loop.time()
        self._stalled = False
        watchdog = asyncio.create_task(self._watchdog(), name="realtime-keepalive")
        try:
            while conn.state not in (S.CLOSED, S.DISCONNECTED, S.FAILED):
                if until_configured and self._configured is not None and self._configured.done():
                    return None
                try:
                    data = await reader.read(_READ_SIZE)
                except (ConnectionError, OSError) as exc:
                    conn.connection_lost(self._lost_reason(f"connection lost: {exc}"))
                    await self._dispatch()
                    return None if self._stalled else exc
                if not data and self._stalled:
                    conn.connection_lost(self._lost_reason(""))
                    await self._dispatch()
                    return None
                self._last_rx = loop.time()
                try:
                    conn.receive_data(data)
                except RemoteProtocolError as exc:
                    await self._dispatch()
                    return exc
                await self._dispatch()
            return None
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
                    self._writer.transport.abort()  # wakes the reader with EOF or a reset
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
                configured = self._configured.result()
                await self._events.put(Reconnected(attempt, configured.replayed_items, configured.replayed_audio_ms))
                attempt = 0
                error = await self._read_loop()
        finally:
            if not self._closing:
                await self._drop_socket()
                self._end()

    async def _drop_socket(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        while not self._writes.empty():
            self._queued -= len(self._writes.get_nowait())
        self._drained.set()
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._events.put_nowait(_END) if not self._events.full() else self._force_end()

    def _force_end(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            self._events.get_nowait()
        self._events.put_nowait(_END)


__all__ = ["AsyncRealtimeClient", "ConnectError", "ConnectTimeout", "HandshakeError"]
