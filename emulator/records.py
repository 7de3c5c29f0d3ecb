"""What the emulator saw on each connection, kept for test assertions."""

from __future__ import annotations

from dataclasses import dataclass, field

from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import RealtimeError
from inworld_realtime.protocol.session import SessionProperties


@dataclass
class ResponseRecord:
    """One response the emulator produced."""

    id: str
    status: str = "in_progress"
    text: str = ""
    audio_ms: float = 0.0
    function_calls: list[tuple[str, str]] = field(default_factory=list)
    """(name, JSON arguments) of each call the response made."""
    voice: str | None = None
    """The voice the response spoke with (the flat ``response.voice``, else the session's)."""


@dataclass
class SessionRecord:
    """One connection: its upgrade request, the session it configured and everything it sent.

    ``status`` is 101 for an accepted upgrade, else the HTTP status it was refused
    with. The ``authorization`` header is kept with its credential redacted.
    """

    index: int
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    auth_scheme: str | None = None
    status: int = 0
    session_id: str | None = None
    config: SessionProperties | None = field(default=None, repr=False)
    updates: list[SessionProperties] = field(default_factory=list, repr=False)
    events: list[ev.ClientEvent] = field(default_factory=list, repr=False)
    invalid: list[str] = field(default_factory=list, repr=False)
    errors: list[RealtimeError] = field(default_factory=list)
    truncates: list[ev.ConversationItemTruncate] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray, repr=False)
    """Input audio received, decoded to 16-bit PCM (kept with ``EmulatorOptions.keep_history``)."""
    audio_bytes: int = 0
    """Bytes of 16-bit PCM input received (counted even without ``keep_history``)."""
    responses: list[ResponseRecord] = field(default_factory=list)
    transcribed_by: list[str] = field(default_factory=list)
    """How each user audio turn got its words: "pocketsphinx", "given transcript" or "none"."""
    sent: int = 0
    """Text messages sent to the client."""
    closed: bool = False
    close_code: int | None = None

    @property
    def accepted(self) -> bool:
        """Whether the upgrade was accepted."""
        return self.status == 101
