"""Helpers for the emulator tests: speech-like audio, and a tiny asyncio driver of the core over a real socket."""

from __future__ import annotations

import asyncio
import math
import struct
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wsproto.frame_protocol import Frame, FrameProtocol

from inworld_realtime.io_adapters.wav import write_wav as write_wav  # re-exported for the tests
from inworld_realtime.protocol import RealtimeConnection, RemoteProtocolError, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.handshake import ResponseParser, build_request, new_ws_key, parse_target

T = TypeVar("T")
TIMEOUT = 5.0


def speech_like(rate: int, syllables: int = 6, lead_ms: int = 500, tail_ms: int = 1200, gap_ms: int = 60,
                syllable_ms: int = 180, amplitude: float = 6000.0) -> bytes:
    """Voiced harmonic bursts (syllables) with silence around them: what an energy VAD must hear as speech."""
    out: list[int] = [0] * (rate * lead_ms // 1000)
    for k in range(syllables):
        n = rate * syllable_ms // 1000
        f0 = 130.0 + 12.0 * k
        for i in range(n):
            env = min(1.0, i / (rate * 0.02), (n - i) / (rate * 0.03))
            t = i / rate
            value = sum(math.sin(2 * math.pi * f0 * h * t) / h for h in range(1, 6))
            out.append(int(amplitude * env * value))
        if k < syllables - 1:
            out.extend([0] * (rate * gap_ms // 1000))
    out.extend([0] * (rate * tail_ms // 1000))
    return struct.pack(f"<{len(out)}h", *out)


def speech_ms(syllables: int = 6, gap_ms: int = 60, syllable_ms: int = 180) -> int:
    """Duration of the voiced part of ``speech_like``."""
    return syllables * syllable_ms + (syllables - 1) * gap_ms


def read_wav(path: Path) -> tuple[bytes, int]:
    """PCM and rate of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes()), w.getframerate()


def rms(pcm: bytes) -> float:
    """RMS of 16-bit little-endian PCM."""
    count = len(pcm) // 2
    if count == 0:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    return parts.hostname, parts.port


Kind = type | str


def _matches(item: object, kind: Kind) -> bool:
    if isinstance(kind, str):
        return getattr(item, "type", None) == kind
    return isinstance(item, kind)


class Driver:
    """The core's RealtimeConnection on an asyncio socket: enough of a client to test the emulator."""

    def __init__(self, url: str, session: SessionProperties | None = None, api_key: str = "test-key",
                 **kw: Any) -> None:
        self.conn = RealtimeConnection(api_key, session, url, **kw)
        self.url = url
        self.seen: list[object] = []
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, configured: bool = True) -> Driver:
        host, port = host_port(self.url)
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT)
        self.conn.connect()
        self.flush()
        self._task = asyncio.create_task(self._pump())
        if configured:
            await self.expect(ev.SessionConfigured)
        return self

    async def __aenter__(self) -> Driver:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def flush(self) -> None:
        """Write what the core queued (call after using ``conn`` directly)."""
        data = self.conn.data_to_send()
        if data and self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def _pump(self) -> None:
        assert self._reader is not None
        while True:
            try:
                data = await self._reader.read(65536)
            except ConnectionError as exc:
                self.conn.connection_lost(str(exc))
                data = b""
            else:
                failure: RemoteProtocolError | None = None
                try:
                    self.conn.receive_data(data)
                except RemoteProtocolError as exc:
                    failure, data = exc, b""
                for event in self.conn.events():
                    self._queue.put_nowait(event)
                if failure is not None:
                    self._queue.put_nowait(failure)
            for event in self.conn.events():
                self._queue.put_nowait(event)
            self.flush()
            if not data:
                self._queue.put_nowait(EOFError("socket closed"))
                return

    def send(self, event: ev.ClientEvent) -> None:
        self.conn.send(event)
        self.flush()

    def send_audio(self, pcm: bytes) -> None:
        self.conn.send_audio(pcm)
        self.conn.flush_audio()
        self.flush()

    async def drain(self, timeout: float = TIMEOUT) -> None:
        assert self._writer is not None
        await asyncio.wait_for(self._writer.drain(), timeout)

    async def next(self, timeout: float = TIMEOUT) -> object:
        item = await asyncio.wait_for(self._queue.get(), timeout)
        self.seen.append(item)
        return item

    async def until(self, kind: Kind, timeout: float = TIMEOUT,
                    where: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        """Events up to and including the first ``kind`` satisfying ``where``."""
        got: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            try:
                item = await self.next(max(0.0, left))
            except TimeoutError:
                names = [getattr(e, "type", type(e).__name__) for e in got]
                raise TimeoutError(f"no {kind} within {timeout}s; got {names}") from None
            got.append(item)
            if _matches(item, kind) and where(item):
                return got
            if isinstance(item, EOFError) and kind is not EOFError:
                names = [getattr(e, "type", type(e).__name__) for e in got]
                raise AssertionError(f"socket closed before {kind}; got {names}")

    async def expect(self, kind: Kind, timeout: float = TIMEOUT, where: Callable[[Any], bool] = lambda _: True) -> Any:
        return (await self.until(kind, timeout, where))[-1]

    async def aclose(self) -> None:
        if self._writer is None:
            return
        try:
            self.conn.close()
            self.flush()
            if self._task is not None:
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            if self._task is not None:
                self._task.cancel()
            self._writer.close()
            self._writer = None
            while not self._queue.empty():
                self.seen.append(self._queue.get_nowait())


class RawClient:
    """Upgrades by hand and reads raw WebSocket frames, to see what the core's events hide."""

    def __init__(self, url: str, authorization: str = "Basic test-key") -> None:
        self.url = url
        self.authorization = authorization
        self.frames = FrameProtocol(client=True, extensions=[])
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[Frame] = []

    async def open(self) -> dict[str, str]:
        host, port = host_port(self.url)
        self._reader, self._writer = await asyncio.open_connection(host, port)
        ws_key = new_ws_key()
        self._writer.write(build_request(parse_target(self.url), self.authorization, ws_key))
        parser = ResponseParser(ws_key)
        while True:
            data = await asyncio.wait_for(self._reader.read(65536), TIMEOUT)
            result = parser.feed(data)
            if result is not None:
                headers, rest = result
                self.frames.receive_bytes(rest)
                return headers

    def send_text(self, text: str) -> None:
        assert self._writer is not None
        self._writer.write(self.frames.send_data(text, True))

    async def frame(self, timeout: float = TIMEOUT) -> Frame:
        assert self._reader is not None
        while not self._pending:
            self._pending.extend(self.frames.received_frames())
            if self._pending:
                break
            data = await asyncio.wait_for(self._reader.read(65536), timeout)
            if not data:
                raise EOFError("socket closed")
            self.frames.receive_bytes(data)
        return self._pending.pop(0)

    async def message(self, timeout: float = TIMEOUT) -> str:
        """The next whole text message (control frames are skipped)."""
        parts: list[str] = []
        while True:
            f = await self.frame(timeout)
            if isinstance(f.payload, str):
                parts.append(f.payload)
                if f.message_finished:
                    return "".join(parts)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def run(coro: Any, timeout: float = 60.0) -> Any:
    """Run a test coroutine with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
