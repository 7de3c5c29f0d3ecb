"""Client-side pacing: every byte in order at real-time pace, one clock per loop (one thread for blocking clients)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inworld_realtime.io_adapters import AsyncRealtimeClient, RealtimeClient
from inworld_realtime.io_adapters.pacing import (
    PIECE_CHUNKS,
    READ_AHEAD,
    THREAD_CLOCK,
    LoopClock,
    PacedStream,
    WavSource,
    next_tick,
    stream_async,
    stream_blocking,
)
from inworld_realtime.io_adapters.wav import write_wav
from inworld_realtime.protocol import ConfigurationError
from tests.client_harness import Peer, ScriptedServer

RATE = 16000
CHUNK_MS = 60
PIECE = RATE * CHUNK_MS // 1000 * 2
STREAM_PIECE = PIECE * PIECE_CHUNKS  # what stream_async and stream_blocking hand over at once
CLOCK_NAME = "inworld-realtime pacing clock"


def pcm(seconds: float, seed: int = 0) -> bytes:
    """Distinct bytes everywhere, so any reordering or loss shows."""
    n = int(RATE * seconds) * 2
    return bytes((i * 7 + seed * 13 + i // 251) % 256 for i in range(n))


def allowed(elapsed: float, piece: int = PIECE) -> int:
    """The most a stream may have sent ``elapsed`` seconds after it started (one piece ahead, never more)."""
    return (int(elapsed / (piece / 2 / RATE)) + 1) * piece


def drive(stream: PacedStream, until: float, step: float = 0.02) -> list[tuple[float, bytes]]:
    sent: list[tuple[float, bytes]] = []
    now = 0.0
    while now <= until and not stream.finished:
        piece = stream.due(now)
        if piece is not None:
            sent.append((now, piece))
        now = round(now + step, 6)
    return sent


def test_fake_clock_sends_every_byte_in_order_at_pace() -> None:
    source = pcm(1.0)
    read_at = 0

    def read(n: int) -> bytes:
        nonlocal read_at
        piece = source[read_at : read_at + n]
        read_at += len(piece)
        return piece

    stream = PacedStream(read, RATE, CHUNK_MS, start=0.0)
    sent: list[tuple[float, bytes]] = []
    total, now = 0, 0.0
    while not stream.finished and now < 2.0:
        piece = stream.due(now)
        if piece is not None:
            sent.append((now, piece))
            total += len(piece)
        assert total <= allowed(now)  # never ahead of real time
        assert total >= min(len(source), allowed(now))  # and never behind when the clock is on time
        assert read_at == total  # only what is due was read from the source
        now = round(now + 0.02, 6)
    assert b"".join(p for _, p in sent) == source
    assert stream.finished and stream.error is None
    assert sent[-1][0] == pytest.approx(0.96)  # a 1 s source ends within one piece of 1 s


def test_an_iterable_of_small_pieces_keeps_pace() -> None:
    source = pcm(1.0)
    iterator = iter([source[i : i + 320] for i in range(0, len(source), 320)])  # 10 ms pieces
    stream = PacedStream(lambda n: next(iterator, b""), RATE, CHUNK_MS, start=0.0)
    total, now = 0, 0.0
    while now < 0.9:
        piece = stream.due(now)
        total += len(piece or b"")
        assert total == allowed(now)  # neither ahead nor behind
        now = round(now + 0.02, 6)


def test_a_late_clock_catches_up_at_once() -> None:
    source = pcm(1.0)
    stream = PacedStream(lambda n: b"", RATE, CHUNK_MS, start=0.0)
    stream.feed(source)
    stream._read = None
    assert stream.due(0.0) == source[:PIECE]
    late = stream.due(0.5)  # a stall of half a second
    assert late == source[PIECE : allowed(0.5)]
    assert stream.due(0.5) is None


def test_wav_source_on_fake_clock(tmp_path: Path) -> None:
    source = pcm(0.5, seed=3)
    path = tmp_path / "in.wav"
    write_wav(path, source, RATE)
    with WavSource(path) as wav:
        stream = PacedStream(wav.read, RATE, CHUNK_MS, start=10.0)
        sent: list[tuple[float, bytes]] = []
        now = 10.0
        while not stream.finished:
            piece = stream.due(now)
            if piece is not None:
                sent.append((now, piece))
            now += 0.02
    assert b"".join(p for _, p in sent) == source
    assert all(sum(len(p) for _, p in sent[: i + 1]) <= allowed(at - 10.0 + 1e-9) for i, (at, _) in enumerate(sent))


def test_stop_mid_stream_keeps_what_an_iterable_gave() -> None:
    source = pcm(1.0)
    parts = [source[i : i + 1000] for i in range(0, len(source), 1000)]
    iterator = iter(parts)
    stream = PacedStream(lambda n: next(iterator, b""), RATE, CHUNK_MS, start=0.0)
    sent = drive(stream, until=0.3)
    stream.stop()
    assert stream.due(5.0) is None
    rest = b"".join(iterator)
    # sent, then what was read but not yet due, then what the iterable still holds: the whole source
    assert b"".join(p for _, p in sent) + bytes(stream.unsent) + rest == source


def test_bad_sources_say_what_is_wrong(tmp_path: Path) -> None:
    write_wav(tmp_path / "24k.wav", pcm(0.1), 24000)
    with pytest.raises(ConfigurationError, match="24000 Hz"):
        asyncio.run(stream_async(_discard, tmp_path / "24k.wav", RATE, CHUNK_MS))
    with pytest.raises(ConfigurationError, match="cannot open"):
        asyncio.run(stream_async(_discard, tmp_path / "missing.wav", RATE, CHUNK_MS))
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ConfigurationError, match="not a readable WAV"):
        WavSource(tmp_path / "junk.wav")
    with pytest.raises(ConfigurationError, match="cannot stream int"):
        asyncio.run(stream_async(_discard, 42, RATE, CHUNK_MS))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="async iterable"):
        stream_blocking(lambda b: None, _agen(b"x"), RATE, CHUNK_MS)


async def _discard(piece: bytes) -> None:
    return None


async def _agen(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _clock_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == CLOCK_NAME]


def test_sessions_on_one_loop_share_one_clock(tmp_path: Path) -> None:
    sources = [pcm(0.3, seed=i) for i in range(4)]
    write_wav(tmp_path / "w.wav", sources[3], RATE)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        got: list[list[tuple[float, bytes]]] = [[] for _ in sources]
        clocks: list[int] = []

        def sink(i: int) -> Any:
            async def send(piece: bytes) -> None:
                got[i].append((loop.time(), piece))
                clocks.append(len(_clock_tasks()))
            return send

        t0 = loop.time()
        parts = [sources[2][i : i + 333] for i in range(0, len(sources[2]), 333)]
        results = await asyncio.gather(
            stream_async(sink(0), sources[0], RATE, CHUNK_MS),
            stream_async(sink(1), _Callback(sources[1]), RATE, CHUNK_MS),
            stream_async(sink(2), _agen(*parts), RATE, CHUNK_MS),
            stream_async(sink(3), tmp_path / "w.wav", RATE, CHUNK_MS),
        )
        assert results == [len(s) for s in sources]
        assert set(clocks) == {1}  # one clock task fed all four streams
        for source, pieces in zip(sources, got, strict=True):
            assert b"".join(p for _, p in pieces) == source
            total = 0
            for at, piece in pieces:
                total += len(piece)
                assert total <= allowed(at - t0 + 1e-6, STREAM_PIECE)
        await asyncio.sleep(0)
        assert _clock_tasks() == [] and not LoopClock.of().streams  # nothing left running

    asyncio.run(main())


class _Callback:
    """A callback source: asked for a byte count, gives up to that many; b"" at the end."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def __call__(self, n: int) -> bytes:
        piece = self.data[self.at : self.at + n]
        self.at += len(piece)
        return piece


def test_async_iterable_is_read_only_a_little_ahead() -> None:
    source = pcm(0.5)
    parts = [source[i : i + 320] for i in range(0, len(source), 320)]
    state = {"given": 0, "sent": 0, "ahead": 0}

    async def gen() -> AsyncIterator[bytes]:
        for part in parts:
            state["ahead"] = max(state["ahead"], state["given"] - state["sent"])
            state["given"] += len(part)
            yield part

    async def send(piece: bytes) -> None:
        state["sent"] += len(piece)

    assert asyncio.run(stream_async(send, gen(), RATE, CHUNK_MS)) == len(source)
    assert state["ahead"] <= READ_AHEAD * STREAM_PIECE + 320


def test_cancelling_mid_stream_sends_a_prefix_and_leaks_nothing() -> None:
    source = pcm(2.0)

    async def main() -> None:
        got: list[bytes] = []

        async def send(piece: bytes) -> None:
            got.append(piece)

        other = asyncio.create_task(stream_async(send, pcm(0.2, seed=9), RATE, CHUNK_MS))
        task = asyncio.create_task(stream_async(send, source, RATE, CHUNK_MS))
        await asyncio.sleep(0.25)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        mine = [p for p in got if source.find(p) >= 0 and len(p) > 10]
        count = len(mine)
        await other
        await asyncio.sleep(0.1)
        assert len([p for p in got if source.find(p) >= 0 and len(p) > 10]) == count  # nothing after the cancel
        assert b"".join(mine) == source[: sum(map(len, mine))] and 0 < sum(map(len, mine)) < len(source)
        assert _clock_tasks() == []

    asyncio.run(main())


def _clock_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == CLOCK_NAME]


def _no_clock_thread() -> bool:
    deadline = time.monotonic() + 2
    while _clock_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _clock_threads()


def test_blocking_clients_share_one_clock_thread() -> None:
    sources = [pcm(0.3, seed=i) for i in range(3)]
    got: list[list[bytes]] = [[] for _ in sources]
    threads_seen: list[int] = []
    results: list[int] = [0] * len(sources)

    def run(i: int) -> None:
        def send(piece: bytes) -> None:
            got[i].append(piece)
            threads_seen.append(len(_clock_threads()))

        results[i] = stream_blocking(send, sources[i], RATE, CHUNK_MS)

    callers = [threading.Thread(target=run, args=(i,)) for i in range(len(sources))]
    start = time.monotonic()
    for t in callers:
        t.start()
    for t in callers:
        t.join(10)
    assert time.monotonic() - start >= 0.3 - STREAM_PIECE / 2 / RATE  # real time, not as fast as possible
    assert results == [len(s) for s in sources]
    assert set(threads_seen) == {1}
    assert [b"".join(g) for g in got] == sources
    assert _no_clock_thread() and not THREAD_CLOCK.streams


def test_blocking_stop_mid_stream_sends_a_prefix_and_ends_the_thread() -> None:
    source = pcm(3.0)
    got: list[bytes] = []
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    sent = stream_blocking(got.append, source, RATE, CHUNK_MS, stop=stop)
    count = len(got)
    time.sleep(0.1)
    assert len(got) == count  # nothing after stream_blocking returned
    assert b"".join(got) == source[:sent] and 0 < sent < len(source)
    assert _no_clock_thread()


async def _sink_session(peer: Peer) -> None:
    await peer.open_session()
    while True:
        await peer.recv(timeout=30)


def test_real_clients_stream_a_wav_file(tmp_path: Path) -> None:
    with ScriptedServer(_sink_session) as server:
        async def go() -> tuple[int, bytes]:
            async with AsyncRealtimeClient("key", url=server.url) as client:
                rate = client.connection.input_rate
                source = bytes((i * 31 + i // 509) % 256 for i in range(rate * 360 // 1000 * 2))  # 6 chunks
                write_wav(tmp_path / "a.wav", source, rate)
                return await client.stream_wav(tmp_path / "a.wav"), source

        sent, source = asyncio.run(go())
        assert sent == len(source)
        with RealtimeClient("key", url=server.url) as client:
            assert client.stream_audio(source[::-1]) == len(source)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(server.peers[-1].appended()) < len(source):
                time.sleep(0.05)
        assert server.peers[0].appended() == source
        assert server.peers[1].appended() == source[::-1]
    assert _no_clock_thread()


def test_closing_the_client_mid_stream_ends_the_stream() -> None:
    with ScriptedServer(_sink_session) as server:
        async def go() -> None:
            client = AsyncRealtimeClient("key", url=server.url)
            await client.connect()
            task = asyncio.create_task(client.stream_audio(bytes(client.connection.input_rate * 2 * 5)))
            await asyncio.sleep(0.2)
            await client.close()
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(task, 2)
            await asyncio.sleep(0.05)
            assert _clock_tasks() == []

        asyncio.run(go())


def test_the_clock_wakes_only_when_a_piece_is_due() -> None:
    """One stream of 180 ms pieces: the clock sleeps through the 20 ms ticks in between."""
    stream = PacedStream(lambda n: bytes(n), RATE, CHUNK_MS, start=1.0, chunks=3)
    assert stream.due(1.0) is not None
    wake = next_tick(1.0, [stream])
    assert wake == pytest.approx(1.18)  # the next piece's due time, on the 20 ms grid
    assert stream.due(wake - 0.001) is None and stream.due(wake) is not None
    assert next_tick(1.0, []) == pytest.approx(1.02)  # nothing due: the next grid point
    pushed = PacedStream(None, RATE, CHUNK_MS, start=1.0)
    assert next_tick(1.005, [stream, pushed]) == pytest.approx(1.02)  # a pushed source is looked at every tick


def test_closing_a_blocking_client_mid_stream_ends_the_stream_and_the_thread() -> None:
    with ScriptedServer(_sink_session) as server:
        client = RealtimeClient("key", url=server.url)
        client.connect()
        source = bytes((i * 11 + i // 257) % 256 for i in range(client.connection.input_rate * 2 * 5))
        outcome: list[object] = []

        def speak() -> None:
            try:
                outcome.append(client.stream_audio(source))
            except Exception as exc:  # what the caller sees
                outcome.append(exc)

        speaker = threading.Thread(target=speak)
        speaker.start()
        time.sleep(0.4)
        client.close()
        speaker.join(5)
        assert not speaker.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], ConnectionError), outcome
        got = server.peers[0].appended()
        assert 0 < len(got) < len(source) and source.startswith(got)  # a prefix, in order
    assert _no_clock_thread()
