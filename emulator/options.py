"""How an emulator behaves: address, accepted key, brain, voice, pacing and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .brain import Brain, ScriptedBrain
from .faults import Faults

DEFAULT_PATH = "/api/v1/realtime/session"


@dataclass
class EmulatorOptions:
    """Settings of one emulator; the defaults give a well-behaved, real-time server on loopback."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port (read it back from ``Emulator.url``)."""
    api_key: str | None = field(default=None, repr=False)
    """Accept only this key (Basic or Bearer); None accepts any key."""
    brain: Brain = field(default_factory=ScriptedBrain)
    faults: Faults = field(default_factory=Faults)
    voice_engine: Literal["auto", "espeak", "tone"] = "auto"
    pace: float = 1.0
    """Output audio speed against the wall clock: 1 real time, 4 four times faster, 0 as fast as possible."""
    audio_chunk_ms: int = 100
    """Duration of each ``response.output_audio.delta``."""
    response_delay_ms: float = 0.0
    """Thinking time between ``response.created`` and the first output."""
    session_ttl_s: float | None = None
    """OpenAI's behaviour, off by default (no Inworld source): after this long a session gets a
    ``session_expired`` error and is closed. ``expires_at`` is announced either way."""
    ping_interval_s: float | None = 15.0
    """Inworld's ``ping`` event (a timestamp in ms) this often; None turns it off. The cadence is ours."""
    strict: bool = False
    """Refuse what OpenAI refuses and Inworld accepts: unknown session fields, model ids that are not
    ``provider/model``, non-function tools."""
    cancel_without_response_error: bool = False
    """OpenAI's ``response_cancel_not_active`` error for a ``response.cancel`` with nothing to cancel.
    Off by default: Inworld's own clients send that cancel on every barge-in and fail on any error."""
    openai_extras: bool = False
    """Send what only OpenAI documents: ``output_audio_buffer.cleared`` and the ``usage`` of input
    transcriptions."""
    omit_function_call_name: bool = False
    """Leave ``name`` out of ``response.function_call_arguments.done``, as Inworld sometimes does."""
    beta_event_names: bool = False
    """Send beta names (``response.audio.delta``...) where Inworld still uses them."""
    keep_history: bool = True
    """Keep every client event and all input audio in ``received``/``sessions`` (for tests; a long-running
    server turns it off to bound its memory)."""
    path: str = DEFAULT_PATH
    handshake_timeout_s: float = 10.0
    transcript_deltas: Literal["rolling", "additive"] = "rolling"
    """User-transcript deltas: each the whole transcript so far (Inworld, per its Android app and Mastra), or
    OpenAI's additive pieces (sent only after the commit)."""
    partial_transcript_ms: int | None = 500
    """Rolling mode: recognise the speech so far this often (of input audio) while the user speaks; None: only at
    the commit."""
    turn_suggestions: bool = True
    """server_vad's smart-turn hints (``input_audio_buffer.turn_suggestion`` and ``_revoked``; Mastra)."""
    output_audio_buffer_events: bool = True
    """``output_audio_buffer.started``/``.stopped`` around each response's audio (Mastra's server event list)."""
    token_ttl_s: float = 3600.0
    """Lifetime of the JWTs the token endpoint mints (Inworld does not publish its own)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535, got {self.port}")
        if self.pace < 0:
            raise ValueError(f"pace must be 0 (unpaced) or positive, got {self.pace}")
        if not 10 <= self.audio_chunk_ms <= 2000:
            raise ValueError(f"audio_chunk_ms must be 10-2000, got {self.audio_chunk_ms}")
        if self.transcript_deltas not in ("rolling", "additive"):
            raise ValueError(f"transcript_deltas must be rolling or additive, not {self.transcript_deltas!r}")
        if self.partial_transcript_ms is not None and self.partial_transcript_ms < 50:
            raise ValueError(f"partial_transcript_ms must be at least 50 (or None), got {self.partial_transcript_ms}")
        if self.token_ttl_s <= 0:
            raise ValueError(f"token_ttl_s must be positive, got {self.token_ttl_s}")
        if self.response_delay_ms < 0 or self.handshake_timeout_s <= 0:
            raise ValueError("response_delay_ms must be >= 0 and handshake_timeout_s positive")
        for name in ("session_ttl_s", "ping_interval_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None: off), got {value}")
        if self.voice_engine not in ("auto", "espeak", "tone"):
            raise ValueError(f"voice_engine must be auto, espeak or tone, not {self.voice_engine!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"path must start with '/', got {self.path!r}")
