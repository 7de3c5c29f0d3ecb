"""Events the adapters add to the core's stream: the life of a connection across reconnects."""

from __future__ import annotations

from dataclasses import dataclass

from inworld_realtime.protocol.events import AudioDropped


@dataclass(frozen=True, slots=True)
class Reconnecting:
    """The connection dropped; attempt ``attempt`` starts after ``delay`` seconds."""

    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new session replaced the dropped one, with history and unheard audio replayed."""

    attempt: int
    replayed_items: int
    replayed_audio_ms: int


@dataclass(frozen=True, slots=True)
class ReconnectFailed:
    """Reconnecting gave up; the event stream ends after this."""

    error: str


AdapterEvent = Reconnecting | Reconnected | ReconnectFailed | AudioDropped
"""``AudioDropped`` is the core's event (how much input audio, and why); the adapters raise it too, for the audio
that reconnecting gave up on."""

__all__ = ["AdapterEvent", "AudioDropped", "ReconnectFailed", "Reconnected", "Reconnecting"]
