"""Audio in and out of an ``AgentSession`` without a LiveKit room: for examples, tests and offline runs.

``FrameFeed`` is a microphone fed by the caller; ``ClockSpeaker`` plays what the agent says against
the wall clock, so an interruption knows how much was heard, and keeps the frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from livekit import rtc
from livekit.agents.voice import io


class FrameFeed(io.AudioInput):
    """An audio input that yields the frames pushed into it (``push``, ``push_pcm``)."""

    def __init__(self, label: str = "frame-feed") -> None:
        super().__init__(label=label)
        self._frames: asyncio.Queue[rtc.AudioFrame] = asyncio.Queue()

    def push(self, frame: rtc.AudioFrame) -> None:
        """Queue one frame for the session."""
        self._frames.put_nowait(frame)

    def push_pcm(self, pcm: bytes, rate: int, channels: int = 1, frame_ms: int = 20) -> None:
        """Queue 16-bit PCM as frames of ``frame_ms``."""
        step = rate * channels * 2 * frame_ms // 1000
        for start in range(0, len(pcm), step):
            chunk = pcm[start : start + step]
            chunk += b"\0" * (-len(chunk) % (2 * channels))
            self._frames.put_nowait(rtc.AudioFrame(chunk, rate, channels, len(chunk) // 2 // channels))

    async def __anext__(self) -> rtc.AudioFrame:
        return await self._frames.get()


class ClockSpeaker(io.AudioOutput):
    """An audio output that "plays" frames in real time (``speed`` times faster) and records them."""

    def __init__(self, sample_rate: int | None = None, speed: float = 1.0, label: str = "clock-speaker") -> None:
        super().__init__(label=label, capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=sample_rate)
        self.speed = speed
        self.frames: list[rtc.AudioFrame] = []
        self.interruptions: list[float] = []
        """Playback position (seconds) of every segment cut by ``clear_buffer``."""
        self._started: float | None = None
        self._captured = 0.0
        self._finishing: asyncio.Task[None] | None = None

    @property
    def played_seconds(self) -> float:
        """How much of the current segment has been heard."""
        if self._started is None:
            return 0.0
        return min(self._captured, (time.monotonic() - self._started) * self.speed)

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._finishing is not None:  # a new segment starts after the last one played out
            await asyncio.wait({self._finishing})
        if self._started is None:
            self._started = time.monotonic()
            self.on_playback_started(created_at=time.time())
        self.frames.append(frame)
        self._captured += frame.duration

    def flush(self) -> None:
        super().flush()
        if self._started is None:
            self.on_playback_finished(playback_position=0.0, interrupted=False)
            return
        self._finishing = asyncio.create_task(self._play_out())

    async def _play_out(self) -> None:
        await asyncio.sleep(max(0.0, self._captured / self.speed - (time.monotonic() - (self._started or 0.0))))
        position = self._captured
        self._reset()
        self.on_playback_finished(playback_position=position, interrupted=False)

    def clear_buffer(self) -> None:
        if self._started is None:
            return
        position = self.played_seconds
        if self._finishing is not None:
            self._finishing.cancel()
        self._reset()
        self.interruptions.append(position)
        self.on_playback_finished(playback_position=position, interrupted=True)

    def _reset(self) -> None:
        self._started, self._captured, self._finishing = None, 0.0, None

    async def aclose(self) -> None:
        """Stop a playout in progress."""
        if self._finishing is not None:
            self._finishing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._finishing
