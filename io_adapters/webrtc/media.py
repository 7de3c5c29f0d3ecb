"""Media for both peers: a paced PCM source track, a resampling track reader (PyAV, which aiortc brings)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from inworld_realtime.protocol.audio import pcm_ms

FRAME_MS = 20


class Resampler:
    """16-bit PCM between rates and layouts with PyAV (which aiortc brings): mono out, any rate in."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def frame(self, frame: av.AudioFrame) -> bytes:
        """A decoded track frame as mono PCM at ``rate`` (a resampler keeps a little back for the next one)."""
        if frame.sample_rate == self.rate and frame.layout.name == "mono" and frame.format.name == "s16":
            return bytes(frame.planes[0])[: frame.samples * 2]
        return b"".join(bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(frame))

    def pcm(self, pcm: bytes, rate: int) -> bytes:
        """Mono PCM at ``rate`` converted to ``self.rate``."""
        if rate == self.rate or not pcm:
            return pcm
        return self.frame(pcm_frame(pcm, rate, 0))


def pcm_frame(pcm: bytes, rate: int, pts: int, stereo: bool = False) -> av.AudioFrame:
    """Mono 16-bit PCM as a PyAV frame; ``stereo`` puts the same samples in both channels."""
    samples = len(pcm) // 2
    pcm = pcm[: samples * 2]
    if stereo:
        both = bytearray(samples * 4)
        both[0::4] = both[2::4] = pcm[0::2]
        both[1::4] = both[3::4] = pcm[1::2]
        pcm = bytes(both)
    frame = av.AudioFrame(format="s16", layout="stereo" if stereo else "mono", samples=samples)
    plane = frame.planes[0]
    plane.update(pcm.ljust(plane.buffer_size, b"\0"))
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


class PcmTrack(MediaStreamTrack):  # type: ignore[misc]
    """An audio track that plays the PCM pushed into it in real time (20 ms frames), silence when it has none.

    ``played_bytes`` counts what left the buffer for the encoder; ``clear()`` drops what has not (barge-in).
    Frames go out as stereo with the same samples in both channels: aiortc's Opus encoder is stereo and
    up-mixes a mono frame at -3 dB (libswresample's default), which a mono listener then hears 3 dB quieter.
    """

    kind = "audio"

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.rate = rate
        self.frame_bytes = rate * FRAME_MS // 1000 * 2
        self.buffer = bytearray()
        self.played_bytes = 0
        self._pts = 0
        self._start: float | None = None
        self.drained = asyncio.Event()
        self.drained.set()
        self.low_water = self.frame_bytes * 25  # senders wait above half a second of audio queued

    def push(self, pcm: bytes | bytearray | memoryview) -> None:
        self.buffer += pcm
        if len(self.buffer) > self.low_water:
            self.drained.clear()

    def clear(self) -> int:
        """Forget the audio not played yet; how many bytes that was."""
        dropped = len(self.buffer)
        self.buffer.clear()
        self.drained.set()
        return dropped

    @property
    def buffered_ms(self) -> int:
        return pcm_ms(len(self.buffer), self.rate)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._start is None:
            self._start = now
        else:
            wait = self._start + self._pts / self.rate - now
            if wait < -0.1:  # the loop stalled: carry on from now rather than burst to catch up
                self._start = now - self._pts / self.rate
            elif wait > 0:
                await asyncio.sleep(wait)
        size = self.frame_bytes
        chunk = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.played_bytes += len(chunk)
        if len(self.buffer) <= self.low_water:
            self.drained.set()
        frame = pcm_frame(chunk.ljust(size, b"\0"), self.rate, self._pts, stereo=True)
        self._pts += size // 2
        return frame


async def read_track(track: MediaStreamTrack, rate: Callable[[], int], sink: Callable[[bytes], None]) -> None:
    """Decode a remote audio track into mono PCM at ``rate()`` (the session's, which may change) for ``sink``."""
    resampler = Resampler(rate())
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.AudioFrame)
            if resampler.rate != rate():
                resampler = Resampler(rate())
            pcm = resampler.frame(frame)
            if pcm:
                sink(pcm)


__all__ = ["FRAME_MS", "PcmTrack", "Resampler", "pcm_frame", "read_track"]
