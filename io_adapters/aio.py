"""``AsyncRealtimeClient``: the core and the supervisor on an asyncio transport; this module only does I/O."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, cast

from inworld_realtime.protocol import (
    ConnectError,
    ConnectionState,
    ConnectTimeout,
    HandshakeError,
    LocalProtocolError,
    RemoteProtocolError,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.states import ENDED_STATES

from .client import ATTEMPT_ERRORS, AsyncRequests, ClientBase, Route
from .pacing import AsyncPacedAudio
from .transport import check_connect_reply

S = ConnectionState
_READ_BUFFER = 65536
_HANDSHAKE_READ = 1 << 22  # more than a stream reader can hold (its limit is 64 KiB, it pauses at twice that)
_END = object()


class _ReadBuffer(threading.local):
    """One receive buffer per thread, shared by every connection of its event loop: the core copies what it
    keeps before the next read, so nothing is allocated (or mapped: 256 KiB reads are mmap'ed) per read."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READ_BUFFER))


_READ = _ReadBuffer()


class _Inbox:
    """Events for the caller: a deque and one waiter future, shared by whoever awaits (an ``asyncio.Queue``
    pays a future per getter and its bookkeeping on every put; here a put with no reader waiting is an append)."""

    __slots__ = ("_waiter", "items")

    def __init__(self) -> None:
        self.items: deque[Any] = deque()  # bounded by pausing the socket (the supervisor says)
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        items = self.items
        while not items:
            waiter = self._waiter
            if waiter is None or waiter.done():
                self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise
                # another reader sharing the waiter was cancelled (its cancel reached the future): wait again
        return items.popleft()


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


class AsyncRealtimeClient(AsyncRequests, AsyncPacedAudio, ClientBase):
    """One realtime session over asyncio; survives drops by opening a new one and replaying."""

    def _init_io(self) -> None:
        self._events = _Inbox()
        self._writes: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._configured: asyncio.Future[ev.SessionConfigured] | None = None
        self._writer: asyncio.Transport | None = None  # the socket's transport once upgraded
        self._feed: _Feed | None = None
        self._stream: asyncio.StreamWriter | None = None  # kept alive: a collected StreamWriter closes its socket
        self._timer: asyncio.TimerHandle | None = None  # the supervisor's next keepalive tick
        self._supervisor: asyncio.Task[None] | None = None
        self._write_task: asyncio.Task[None] | None = None
        self._ended = False
        self._stopped = asyncio.Event()  # set by close(): ends a back-off at once

    @property
    def queued_audio_seconds(self) -> float:
        """Audio not yet on the wire: held by the core plus what waits in the write queue."""
        buffered = self._writer.get_write_buffer_size() if self._writer is not None else 0
        return self.connection.queued_audio_seconds(self._queued + buffered)

    async def connect(self) -> None:
        """Open the session, retrying as the supervisor decides within ``connect_timeout``; returns once
        ``session.updated`` answered our configuration, else raises the last error."""
        if self._write_task is not None:
            raise LocalProtocolError("already connected: close() first")
        route = self._route()
        self._sup.start(asyncio.get_running_loop().time())
        self._stopped.clear()
        self._write_task = asyncio.create_task(self._write_loop(), name="realtime-writer")
        try:
            await self._establish(route)
        except BaseException:
            await self.close()
            raise
        self._supervisor = asyncio.create_task(self._supervise(route), name="realtime-supervisor")

    async def close(self) -> None:
        """Close the WebSocket politely, then stop every task and the socket. Idempotent."""
        if self._sup.closing and self._supervisor is None and self._write_task is None:
            return
        await self._shutdown(await_answer=True)
        self._end()

    async def reset_conversation(self) -> None:
        """Close this session and open a fresh one with no history."""
        await self._shutdown(await_answer=False)
        self._forget_conversation()
        self._ended = False
        await self.connect()

    async def _shutdown(self, await_answer: bool) -> None:
        """Close and reset, in the one order: the close frame goes behind every queued byte (one writer), then we
        wait, bounded, for the server's answer (close) or for the writes to drain (reset), then the socket goes."""
        supervisor, answer = self._supervisor, self._start_close()
        self._drained.set()  # senders waiting for room raise now
        self._stopped.set()
        if answer and supervisor is not None and supervisor is not asyncio.current_task():
            # The supervisor ends when the server's close frame (or EOF) ends the socket: no polling.
            wait = supervisor if await_answer else asyncio.ensure_future(self._written())
            await asyncio.wait({wait}, timeout=self.options.close_timeout)
            if wait is not supervisor:
                wait.cancel()
        await self._stop_tasks()
        await self._drop_socket()

    async def _stop_tasks(self) -> None:
        tasks = [t for t in (self._supervisor, self._write_task) if t is not None and t is not asyncio.current_task()]
        self._supervisor = self._write_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        inbox = self._events
        items = inbox.items
        while True:
            event = items.popleft() if items else await inbox.get()
            if self._sup.paused:
                self._backlog_changed()
            if event is _END:
                inbox.put(_END)  # every later reader ends too
                return
            yield event

    async def recv(self, timeout: float | None = None) -> Any:
        """The next event; ``ReceiveTimeout`` after ``timeout``, ``SessionEnded`` once the stream ended."""
        inbox = self._events
        if inbox.items:
            event = inbox.items.popleft()
        else:
            try:
                event = await asyncio.wait_for(inbox.get(), timeout)
            except TimeoutError:
                raise self._sup.recv_timeout(timeout) from None
        if self._sup.paused:
            self._backlog_changed()
        if event is _END:
            inbox.put(_END)
            raise self._sup.ended_error()
        return event

    def _backlog(self) -> int:
        return len(self._events.items)

    async def send(self, event: ev.ClientEvent) -> None:
        """Send any client event (held by the core while the session is not configured)."""
        await self._capacity()
        self.connection.send(event)
        self._flush()

    async def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Stream 16-bit PCM; waits while the write queue is full (back-pressure)."""
        if self._sup.must_wait(self._queued):
            await self._capacity()  # the hot path skips this coroutine: once per 20 ms frame per session
        if self.connection.send_audio(pcm):  # False for a frame that only joined the next chunk
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

    async def _written(self) -> None:
        """Until the writer task has handed every queued byte to the socket (or the socket went)."""
        while self._queued:
            self._drained.clear()
            await self._drained.wait()  # the writer task and a dropped socket both set it

    async def _capacity(self) -> None:
        while self._sup.must_wait(self._queued):
            self._drained.clear()
            await self._drained.wait()  # the writer task and a dropped socket both set it

    def _flush(self) -> None:
        writer = self._writer
        if writer is None:
            return  # the bytes stay in the core's outbox until there is a socket for them
        data = self.connection.data_to_send()
        if not data:
            return
        if (not self._queued and not writer.is_closing()  # nothing queued, none under way: order is kept
                and writer.get_write_buffer_size() < self.options.max_queue_bytes):
            writer.write(data)  # the usual case: straight to the transport, no task switch
            return
        self._queued += len(data)  # the network is slow: the writer task drains, senders wait
        self._writes.put_nowait(data)

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

    async def _establish(self, route: Route) -> None:
        """Attempts until a session is configured, waiting between them as the supervisor says."""
        loop, sup = asyncio.get_running_loop(), self._sup
        while True:
            try:
                await self._attempt(route, sup.attempt_deadline(loop.time()))
                return
            except ATTEMPT_ERRORS as exc:
                delay = self._next_attempt(sup.failed(loop.time(), exc, self._unsent_ms()))
            await self._pause(delay)

    async def _pause(self, delay: float) -> None:
        """The back-off before the next attempt; close() ends it at once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), delay)
        if self._sup.closing:
            raise ConnectError("the client is closed")

    async def _attempt(self, route: Route, deadline: float) -> None:
        """One attempt: TCP (+TLS), the upgrade, then the feed runs the socket until the session is configured."""
        conn, target = self.connection, route.target
        conn.connect()
        request = conn.data_to_send()  # taken now: nothing else may drain it while we connect
        self._configured = configured = asyncio.get_running_loop().create_future()
        step, feed = "no connection to", None
        try:
            # asyncio.timeout, not wait_for: the handshake's reads must run in this task, so that nothing can
            # arrive in the stream between the read that ends the handshake and the feed taking over.
            async with asyncio.timeout_at(deadline):
                reader, writer = await self._open_stream(route)
                transport = cast(asyncio.Transport, writer.transport)  # uvloop's are not asyncio's subclasses
                self._writer, self._stream = transport, writer
                writer.write(request)
                step = "no WebSocket handshake from"
                while conn.state is S.CONNECTING:
                    conn.receive_data(await reader.read(_HANDSHAKE_READ))  # all the stream holds
                feed = self._take_over(reader, transport)
                step = "no configured session (session.updated) from"
                await asyncio.wait({feed.done, configured}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException as exc:
            error, reason = self._sup.attempt_error(exc, step, f"{target.host}:{target.port}",
                                                    (asyncio.LimitOverrunError,))
            await self._failed_attempt(reason, feed)
            if error is exc:
                raise
            raise error from error.__cause__
        if configured.done() and not configured.exception():
            self._sup.session_started(asyncio.get_running_loop().time())  # keepalive from here on
            self._schedule_tick()
            return
        await self._failed_attempt("connect failed", feed)
        if configured.done():
            raise cast(BaseException, configured.exception())  # SessionRejected
        assert feed is not None
        raise ConnectError("the connection dropped while the session was being configured") from feed.done.result()

    async def _failed_attempt(self, reason: str, feed: _Feed | None) -> None:
        """The socket goes; before the upgrade the core's events go too, after it they are the caller's."""
        conn = self.connection
        if conn.state not in ENDED_STATES:
            conn.connection_lost(reason)
        if feed is None:
            self._discard_events()
        else:
            self._dispatch()
        await self._drop_socket()

    async def _open_stream(self, route: Route) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """TCP (+TLS) to the target, through the environment's HTTP proxy when one applies."""
        target, context, proxy = route.target, route.context, route.proxy
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

    def _take_over(self, reader: asyncio.StreamReader, transport: asyncio.Transport) -> _Feed:
        """The feed replaces the stream (no await since the last read: the stream's buffer is empty)."""
        self._feed = feed = _Feed(self, transport)
        transport.set_protocol(feed)
        if reader.exception() is not None:  # the socket died before the feed took over
            self._transport_lost(feed, reader.exception())
            feed.closed.set_result(None)
        elif reader.at_eof():
            self._received(feed, b"")
        self._dispatch()
        return feed

    def _surface(self, event: Any) -> None:
        self._events.put(event)

    def _forget_events(self) -> None:
        self._events.items.clear()

    def _dispatch(self) -> None:
        """Hand the core's events to the caller; the supervisor settles the opening and decides back-pressure."""
        configured, put, sup = self._configured, self._events.put, self._sup
        configuring = self.connection.state is S.CONFIGURING
        for event in self.connection.events():
            put(event)
            if configured is not None and not configured.done():
                settled = sup.settle(asyncio.get_running_loop().time(), event, configuring)
                if settled is None:
                    continue
                if isinstance(settled.outcome, ev.SessionConfigured):
                    configured.set_result(settled.outcome)
                    if settled.announce is not None:
                        put(settled.announce)  # right after SessionConfigured, before any later event
                else:
                    configured.set_exception(settled.outcome)
        if not sup.paused:
            self._backlog_changed()
        self._flush()

    def _backlog_changed(self) -> None:
        """Carry out the supervisor's back-pressure: pause or resume reading the socket (and its keepalive)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        decision = self._sup.backlog(asyncio.get_running_loop().time(), len(self._events.items))
        if decision == "pause":
            writer.pause_reading()  # TCP flow control holds the server; nothing is lost
        elif decision == "resume":
            writer.resume_reading()
            self._schedule_tick()

    def _received(self, feed: _Feed, data: bytes | memoryview) -> None:
        """The feed's bytes (``b""``: EOF) into the core; ends the feed when the socket is done."""
        if feed is not self._feed or feed.done.done():
            return
        conn = self.connection
        if not data and self._sup.stalled:
            conn.connection_lost(self._sup.lost_reason(""))
            self._dispatch()
            feed.finish(None)
            return
        self._sup.heard(feed.loop.time())
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
            conn.connection_lost(self._sup.lost(exc))
            self._dispatch()
        feed.finish(None if self._sup.stalled else (exc or ConnectionResetError("connection lost")))

    def _schedule_tick(self) -> None:
        """Wake at the supervisor's next keepalive deadline (none while reading is paused)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self._sup.next_tick()
        if self._feed is not None and when != math.inf:
            self._timer = self._feed.loop.call_at(when, self._tick)

    def _tick(self) -> None:
        """The supervisor's keepalive: ping after a quiet spell, abort the socket after a silent one."""
        feed, writer = self._feed, self._writer
        self._timer = None
        if feed is None or writer is None or feed.done.done():
            return
        action = self._sup.tick(feed.loop.time())
        if action == "dead":
            writer.abort()  # the feed hears connection_lost and ends the socket
            return
        if action == "ping" and self.connection.ping():
            self._flush()
        self._schedule_tick()

    async def _supervise(self, route: Route) -> None:
        """Wait while the feed runs the socket; when it ends, reconnect as the supervisor decides."""
        loop, sup = asyncio.get_running_loop(), self._sup
        try:
            while self._feed is not None:
                error = await asyncio.shield(self._feed.done)
                decision = sup.dropped(loop.time(), error, self.connection.state is S.CLOSED, self._unsent_ms())
                if decision is None:
                    break
                await self._drop_socket()
                try:
                    await self._pause(self._next_attempt(decision))
                    await self._establish(route)  # _dispatch says Reconnected, right after SessionConfigured
                except Exception:
                    break  # ReconnectFailed is queued
        finally:
            if not sup.closing:
                await self._drop_socket()
                self._end()

    async def _drop_socket(self) -> None:
        writer, feed, self._writer, self._feed = self._writer, self._feed, None, None  # its late calls are ignored
        self._stream = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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
            self._events.put(_END)


__all__ = ["AsyncRealtimeClient", "ConnectError", "ConnectTimeout", "HandshakeError"]
