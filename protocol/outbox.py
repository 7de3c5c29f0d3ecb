"""The client events a session still owes the server: the one source of held sends and re-asks."""

from __future__ import annotations

from collections import deque

from . import events as ev

#: What the outbox holds: a client event, or a chunk of input PCM (sent as ``input_audio_buffer.append``).
Held = ev.ClientEvent | bytes


class Outbox:
    """Client events not yet written on the current socket, oldest first; audio bounded by the caller.

    Each event goes out once per connection, chosen by its type: a ``response.create`` owed after a
    drop (``owe_response``) is sent only if the caller holds none of their own, and goes out last.
    ``in_flight`` are the ``response.create`` written but not yet answered by ``response.created``; ``cancelled``
    of them were cancelled by the caller already (never owed again).
    """

    __slots__ = ("audio_bytes", "cancelled", "entries", "in_flight", "owed")

    def __init__(self) -> None:
        self.entries: deque[Held] = deque()
        self.audio_bytes = 0
        self.owed: ev.ResponseCreate | None = None
        self.in_flight = 0
        self.cancelled = 0

    def __len__(self) -> int:
        return len(self.entries) + (self.owed is not None)

    def hold(self, event: ev.ClientEvent) -> None:
        """Keep ``event`` for the next configured session; the caller's own request replaces an owed one."""
        if isinstance(event, ev.ResponseCreate):
            self.owed = None
        self.entries.append(event)

    def hold_audio(self, pcm: bytes, limit: int) -> int:
        """Keep ``pcm``; drop the oldest held audio beyond ``limit`` bytes. Returns the bytes dropped."""
        self.entries.append(pcm)
        self.audio_bytes += len(pcm)
        dropped = 0
        while self.audio_bytes > limit:
            for index, entry in enumerate(self.entries):
                if isinstance(entry, bytes):
                    del self.entries[index]
                    self.audio_bytes -= len(entry)
                    dropped += len(entry)
                    break
        return dropped

    def holds_response(self) -> bool:
        """A ``response.create`` is waiting (the caller's or an owed one)."""
        return self.owed is not None or any(isinstance(e, ev.ResponseCreate) for e in self.entries)

    def owe_response(self) -> None:
        """A response was cut off or never answered: ask again on the next session, once."""
        if not self.holds_response():
            self.owed = ev.ResponseCreate()

    def withdraw_response(self) -> bool:
        """The caller cancelled: the newest held ``response.create`` (or the owed one) is never sent."""
        for index in range(len(self.entries) - 1, -1, -1):
            if isinstance(self.entries[index], ev.ResponseCreate):
                del self.entries[index]
                return True
        owed, self.owed = self.owed, None
        return owed is not None

    def lost_socket(self) -> None:
        """The socket is gone: a request written on it but never answered (nor cancelled) is owed again."""
        if self.in_flight > self.cancelled:
            self.owe_response()
        self.in_flight = self.cancelled = 0

    def take(self) -> list[Held]:
        """Everything held, in order, the owed ``response.create`` last; the outbox is left empty."""
        out = list(self.entries)
        if self.owed is not None:
            out.append(self.owed)
        self.clear()
        return out

    def clear(self) -> int:
        """Forget everything held; returns the audio bytes that were dropped."""
        dropped = self.audio_bytes
        self.entries.clear()
        self.audio_bytes = 0
        self.owed = None
        return dropped
