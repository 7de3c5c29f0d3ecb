"""Misbehaviour the emulator can inject so that clients can be tested against it."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Faults:
    """Faults to inject; everything is off by default.

    Counts of "events" are counts of text messages the emulator has sent on a
    connection (``session.created`` is the first). ``first_connections`` limits
    the faults to the first N connections, so that a client's reconnect can
    reach a well-behaved server.
    """

    drop_after: int | None = None
    """Close the TCP connection abruptly (no close frame) after this many events."""
    close_after: int | None = None
    """Send a close frame with ``close_code``/``close_reason`` after this many events."""
    close_code: int = 1011
    close_reason: str = "emulator fault"
    delay_ms: float = 0.0
    """Wait this long before sending every event."""
    fragment: int = 0
    """Split every message into this many continuation frames (0 or 1: whole frames)."""
    ws_ping_interval_s: float | None = None
    """Send a WebSocket ping frame this often."""
    ping_event_interval_s: float | None = None
    """Send Inworld's ``ping`` event (with a timestamp) this often instead of ``EmulatorOptions.ping_interval_s``."""
    malformed_after: int | None = None
    """Send one message of broken JSON after this many events."""
    untyped_after: int | None = None
    """Send one message without ``type`` (``{"errorType": ...}``) after this many events."""
    untyped_error: str = "SESSION_RESOURCES_EXHAUSTED"
    refuse_status: int | None = None
    """Answer the upgrade request with this HTTP status instead of 101."""
    retry_after: str | None = None
    """``Retry-After`` header value sent with a refusal."""
    silent: bool = False
    """Accept the upgrade, then never send anything."""
    stop_reading_after: int | None = None
    """Stop reading from the socket after this many client messages (0: never read)."""
    first_connections: int | None = None
    """Apply the faults to the first N connections only (None: to all)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if value < 0:
                raise ValueError(f"Faults.{f.name} must not be negative, got {value}")
        if self.refuse_status is not None and not 400 <= self.refuse_status <= 599:
            raise ValueError(f"Faults.refuse_status must be an HTTP error status (400-599), got {self.refuse_status}")
        if not 1000 <= self.close_code <= 4999 or self.close_code in (1004, 1005, 1006, 1015):
            raise ValueError(f"Faults.close_code {self.close_code} cannot be sent in a close frame")
        for name in ("ws_ping_interval_s", "ping_event_interval_s"):
            interval = getattr(self, name)
            if interval is not None and interval <= 0:
                raise ValueError(f"Faults.{name} must be positive")

    def applies_to(self, connection_index: int) -> bool:
        """Whether the connection numbered ``connection_index`` (from 0) gets these faults."""
        return self.first_connections is None or connection_index < self.first_connections

    @property
    def any(self) -> bool:
        """True when at least one fault is switched on."""
        return self != Faults(first_connections=self.first_connections)


NO_FAULTS = Faults()
