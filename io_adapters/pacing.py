"""Audio at real-time pace, paced by the client: one clock per event loop (one thread for blocking clients).

A caller who paces its own 20 ms frames pays a timer wake-up per frame per session; most of a session's CPU
goes there. Here every paced stream on an event loop is fed by one clock task, and every blocking client in
the process by one clock thread; the clock wakes on a ``TICK_S`` grid, only when some stream has a piece due.
Each stream hands its client ``PIECE_CHUNKS`` whole chunks at a time (one socket write for several appends:
a write costs more than the rest of an append), always one piece ahead of real time, never more.

The decision of what is due is sans-IO (``PacedStream.due``) and tested on a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
import wave
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import IO, Any, TypeAlias

from inworld_realtime.protocol import ConfigurationError, RealtimeConnection

#: How often a clock wakes: a stream's piece goes out within this of its due time.
TICK_S = 0.02
#: How far ahead of the clock an async iterable is read (in pieces): enough to ride out a slow source.
READ_AHEAD = 3
#: Chunks (of the client's ``chunk_ms``) handed over at once by a stream read on demand (bytes, WAV, callback,
#: iterable): 180 ms a write at the default 60 ms chunks. An async iterable's audio goes out as it comes.
PIECE_CHUNKS = 3

AudioSource: TypeAlias = (
    "bytes | bytearray | memoryview | str | os.PathLike[str] | WavSource | Callable[[int], bytes]"
    " | Iterable[bytes] | AsyncIterable[bytes]"
)


class WavSource:
    """A 16-bit mono PCM WAV file, read a piece at a time (never whole into memory)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115  # closed by close()
        except OSError as exc:
            raise ConfigurationError(f"{self.path}: cannot open the WAV file ({exc.strerror})") from None
        try:
            self._wave = wave.open(self._file, "rb")  # noqa: SIM115  # closed by close()
            width, channels, self.rate = self._wave.getsampwidth(), self._wave.getnchannels(), self._wave.getframerate()
        except (wave.Error, EOFError) as exc:
            self._file.close()
            raise ConfigurationError(f"{self.path}: not a readable WAV file ({exc})") from None
        if width != 2 or channels != 1:
            self.close()
            raise ConfigurationError(f"{self.path}: {8 * width}-bit, {channels} channel(s); "
                                     "16-bit mono PCM is needed")

    def read(self, nbytes: int) -> bytes:
        """Up to ``nbytes`` of PCM (whole samples); b"" at the end."""
        return self._wave.readframes(nbytes // 2)

    def close(self) -> None:
        self._wave.close()
        self._file.close()

    def __enter__(self) -> WavSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PacedStream:
    """One source streamed at ``rate`` in ``chunk_ms`` pieces: the bytes due at a time, what was sent, how it ended.

    ``due(now)`` is the whole decision: by ``start + k * chunk`` the first ``k + 1`` pieces are due (never
    earlier, so the server never sees audio faster than real time; late pieces catch up at once). Only what
    is due is read from the source: a stream stopped mid-way has sent a prefix of its source, in order, and
    nothing it read is lost (``unsent`` holds what an iterable gave beyond it).
    """

    def __init__(self, read: Callable[[int], bytes | None] | None, rate: int, chunk_ms: int, start: float,
                 realtime: bool = True, on_end: Callable[[], None] | None = None, chunks: int = 1) -> None:
        if rate <= 0 or chunk_ms <= 0 or chunks <= 0:
            raise ConfigurationError("rate, chunk_ms and chunks must be positive")
        self.rate = rate
        self.piece = max(2, rate * chunk_ms // 1000 * 2) * chunks
        self.piece_s = self.piece / (2 * rate)
        self.start = start
        self.realtime = realtime
        self.sent = 0
        self.unsent = bytearray()  # read from the source, not yet due
        self.exhausted = False  # the source has ended (what is in unsent still goes out)
        self.finished = False  # sent everything, stopped, or failed
        self.error: BaseException | None = None
        self._read = read  # None: the source is pushed in with feed() (an async iterable)
        self._on_end = on_end
        self._space: Callable[[], None] | None = None  # wakes a feeder waiting for room

    def due(self, now: float) -> bytes | None:
        """The piece to send at ``now`` (None: nothing yet); marks the stream finished at the source's end."""
        if self.finished:
            return None
        if self.realtime:
            pieces = int((now - self.start) / self.piece_s + 1e-9) + 1 if now >= self.start else 0  # float slack
            want = pieces * self.piece - self.sent
        else:
            want = 1 << 20
        if want <= 0:
            return None
        buffer = self.unsent
        while len(buffer) < want and not self.exhausted and self._read is not None:  # small pieces: read on
            data = self._read(want - len(buffer))
            if data:
                buffer += data
            else:
                self.exhausted = True
        if len(buffer) < want and not self.exhausted:
            want = len(buffer) - len(buffer) % 2  # an async source running late: what there is, whole samples
        piece = bytes(buffer[:want])
        del buffer[:want]
        self.sent += len(piece)
        if self._space is not None and len(buffer) < READ_AHEAD * self.piece:
            self._space()
        if self.exhausted and not buffer:
            self.end()
        return piece or None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """More of a pushed source (an async iterable)."""
        self.unsent += data

    def end(self, error: BaseException | None = None) -> None:
        """Finish (at the source's end, on ``stop()``, or with the sink's error); the clock drops the stream."""
        if self.finished:
            return
        self.finished = True
        self.error = error
        if self._on_end is not None:
            self._on_end()

    def stop(self) -> None:
        """Stop at once: nothing more is read or sent; ``sent`` says how far it got."""
        self.end()

    def next_due(self, now: float) -> float:
        """When the clock must look at this stream again (a pushed source: at every tick)."""
        if self._read is None or not self.realtime:
            return now
        return self.start + self.sent // self.piece * self.piece_s


def next_tick(now: float, streams: Iterable[PacedStream]) -> float:
    """The first point of the ``TICK_S`` grid after ``now`` at or after which some stream has a piece due."""
    due = min((stream.next_due(now) for stream in streams), default=now)
    ticks = max(math.floor(now / TICK_S + 1e-9) + 1, math.ceil(due / TICK_S - 1e-9))  # with float slack
    return ticks * TICK_S


def _reader(source: Any, rate: int) -> tuple[Callable[[int], bytes | None] | None, Callable[[], None]]:
    """A pull function for a synchronous source (None for an async iterable) and what closes it."""
    if isinstance(source, bytes | bytearray | memoryview):
        view, position = memoryview(source).cast("B"), 0

        def read_bytes(n: int) -> bytes:
            nonlocal position
            piece = bytes(view[position : position + n])
            position += len(piece)
            return piece

        return read_bytes, view.release
    if isinstance(source, str | os.PathLike):
        source = WavSource(source)
        owned: Callable[[], None] = source.close
    else:
        owned = _nothing
    if isinstance(source, WavSource):
        if source.rate != rate:
            owned()
            raise ConfigurationError(f"{source.path} is {source.rate} Hz; the session's input is {rate} Hz")
        return source.read, owned
    if isinstance(source, AsyncIterable):
        return None, _nothing
    if callable(source):
        return source, _nothing
    if isinstance(source, Iterable):
        iterator: Iterator[bytes] = iter(source)

        def read_iterable(n: int) -> bytes:
            return next(iterator, b"")

        return read_iterable, getattr(iterator, "close", _nothing)
    raise ConfigurationError(f"cannot stream {type(source).__name__}: give PCM bytes, a WAV path, a WavSource, "
                             "a callback taking a byte count, or an (async) iterable of PCM bytes")


def _nothing() -> None:
    return None


class LoopClock:
    """The one pacing clock of an event loop: a single task that feeds every stream, alive while any is."""

    _clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopClock] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.streams: dict[PacedStream, Callable[[bytes], Awaitable[None]]] = {}
        self.task: asyncio.Task[None] | None = None
        self._sleep: asyncio.Future[None] | None = None  # set while the clock waits for its next tick

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> LoopClock:
        """The clock of ``loop`` (the running loop by default)."""
        loop = loop or asyncio.get_running_loop()
        clock = cls._clocks.get(loop)
        if clock is None:
            clock = cls._clocks[loop] = cls(loop)
        return clock

    def add(self, stream: PacedStream, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Feed ``stream`` from the next tick (its first piece is due at once)."""
        self.streams[stream] = send
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run(), name="inworld-realtime pacing clock")
        else:
            self._wake()

    def remove(self, stream: PacedStream) -> None:
        """Stop feeding ``stream``; the clock ends at once when it was the last."""
        self.streams.pop(stream, None)
        if not self.streams:
            self._wake()

    def _wake(self) -> None:
        sleep = self._sleep
        if sleep is not None and not sleep.done():
            sleep.set_result(None)

    async def _run(self) -> None:
        loop, streams = self.loop, self.streams
        try:
            while streams:
                now = loop.time()
                for stream, send in list(streams.items()):
                    piece = stream.due(now)
                    if piece is not None:
                        try:
                            await send(piece)
                        except Exception as exc:  # this session failed; the others go on
                            stream.end(exc)
                    if stream.finished:
                        streams.pop(stream, None)
                if not streams:
                    break
                # on the clock's grid: no drift, a late tick does not delay the next, idle ticks are skipped
                self._sleep = sleep = loop.create_future()
                timer = loop.call_at(next_tick(loop.time(), streams), _resolve, sleep)
                try:
                    await sleep
                finally:
                    timer.cancel()
                    self._sleep = None
        finally:
            self.task = None
            for stream in list(streams):  # the loop is closing: no stream waits forever
                stream.end(ConnectionError("the event loop's pacing clock stopped"))
            streams.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def stream_async(send: Callable[[bytes], Awaitable[None]], source: AudioSource, rate: int,
                       chunk_ms: int, realtime: bool = True, chunks: int = PIECE_CHUNKS) -> int:
    """Send ``source`` through ``send`` at real-time pace on the loop's clock; the bytes sent.

    Cancelling the caller stops the stream at once (what was sent is a prefix of the source, in order).
    """
    loop = asyncio.get_running_loop()
    read, close = _reader(source, rate)
    done: asyncio.Future[None] = loop.create_future()

    def ended() -> None:
        if not done.done():
            done.set_result(None)

    stream = PacedStream(read, rate, chunk_ms, loop.time(), realtime, on_end=ended, chunks=chunks)
    clock = LoopClock.of(loop)
    try:
        clock.add(stream, send)
        if read is None:
            await _feed(stream, source, loop)  # type: ignore[arg-type]
        await asyncio.shield(done)
    finally:
        stream.stop()
        clock.remove(stream)
        close()
    if stream.error is not None:
        raise stream.error
    return stream.sent


class AsyncPacedAudio:
    """``stream_audio``/``stream_wav`` for an asyncio client over any transport: its ``send_audio`` fed by
    ``stream_async`` at the session's input rate and chunk size."""

    connection: RealtimeConnection
    send_audio: Callable[[bytes], Awaitable[None]]

    async def stream_audio(self, source: AudioSource, *, realtime: bool = True) -> int:
        """Send ``source`` at real-time pace, paced by the event loop's one clock (shared by every session on it).

        ``source``: PCM bytes, a WAV path or ``WavSource``, a callback ``(nbytes) -> bytes`` (b"" ends it), or
        an (async) iterable of PCM bytes, at the session's input rate. Returns the bytes sent; cancelling stops
        at once, having sent a prefix of the source in order. ``realtime=False`` sends as fast as ``send_audio``
        takes it.
        """
        return await stream_async(self.send_audio, source, self.connection.input_rate, self.connection.chunk_ms,
                                  realtime)

    async def stream_wav(self, path: str | os.PathLike[str], *, realtime: bool = True) -> int:
        """Send a 16-bit mono WAV file at real-time pace (``stream_audio`` of its path)."""
        return await self.stream_audio(path, realtime=realtime)


async def _feed(stream: PacedStream, source: AsyncIterable[bytes], loop: asyncio.AbstractEventLoop) -> None:
    """Read an async iterable at most ``READ_AHEAD`` pieces ahead of the clock (the caller's task reads)."""
    room: asyncio.Future[None] | None = None

    def space() -> None:
        if room is not None and not room.done():
            room.set_result(None)

    stream._space = space
    iterator: AsyncIterator[bytes] = aiter(source)
    try:
        async for data in iterator:
            if stream.finished:
                return
            stream.feed(data)
            while len(stream.unsent) >= READ_AHEAD * stream.piece and not stream.finished:
                room = loop.create_future()
                await room
    finally:
        stream._space = None
        with contextlib.suppress(Exception):
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
    stream.exhausted = True
    if not stream.unsent:
        stream.end()


class ThreadClock:
    """The one pacing thread of the process for blocking clients: it runs while any stream does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.streams: dict[PacedStream, Callable[[bytes], object]] = {}
        self.thread: threading.Thread | None = None
        self._kick = threading.Event()  # ends the clock's wait early: a stream came or the last one left

    def add(self, stream: PacedStream, send: Callable[[bytes], object]) -> None:
        with self.lock:
            self.streams[stream] = send
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="inworld-realtime pacing clock", daemon=True)
                self.thread.start()
            else:
                self._kick.set()

    def _run(self) -> None:
        while True:
            with self.lock:
                streams = list(self.streams.items())
                if not streams:
                    self.thread = None
                    return
            now = time.monotonic()
            for stream, send in streams:
                with self.lock:  # stop() takes the lock too: once it returns, nothing more goes out
                    piece = stream.due(now)
                    if piece is not None:
                        try:
                            send(piece)
                        except Exception as exc:
                            stream.end(exc)
                    if stream.finished:
                        self.streams.pop(stream, None)
            with self.lock:
                now = time.monotonic()
                wake = next_tick(now, self.streams)
            if self._kick.wait(max(0.0, wake - now)):
                self._kick.clear()

    def stop(self, stream: PacedStream) -> None:
        with self.lock:
            stream.stop()
            self.streams.pop(stream, None)
            if not self.streams:
                self._kick.set()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the ``fast`` extra): about a seventh less CPU per session."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


#: The process's clock thread for blocking clients.
THREAD_CLOCK = ThreadClock()


def stream_blocking(send: Callable[[bytes], object], source: AudioSource, rate: int, chunk_ms: int,
                    realtime: bool = True, stop: threading.Event | None = None, chunks: int = PIECE_CHUNKS) -> int:
    """Send ``source`` through ``send`` at real-time pace on the process's clock thread; the bytes sent.

    Setting ``stop`` (or KeyboardInterrupt) ends the stream at once; what was sent is a prefix of the source.
    """
    if isinstance(source, AsyncIterable):
        raise ConfigurationError("an async iterable needs the asyncio client; give the blocking client an iterable")
    read, close = _reader(source, rate)
    done = threading.Event()
    stream = PacedStream(read, rate, chunk_ms, time.monotonic(), realtime, on_end=done.set, chunks=chunks)
    try:
        THREAD_CLOCK.add(stream, send)
        while not done.wait(0.05):
            if stop is not None and stop.is_set():
                break
    finally:
        THREAD_CLOCK.stop(stream)
        close()
    if stream.error is not None:
        raise stream.error
    return stream.sent


__all__ = ["PIECE_CHUNKS", "READ_AHEAD", "THREAD_CLOCK", "TICK_S", "AsyncPacedAudio", "AudioSource", "LoopClock",
           "PacedStream", "ThreadClock", "WavSource", "loop_factory", "next_tick", "stream_async", "stream_blocking"]
