"""The client events a session still owes the server: the one source of held sends, replay and re-asks."""

from __future__ import annotations

from collections import deque

from . import events as ev
from .conversation import TrackedItem

#: What the outbox holds: a client event, a chunk of input PCM (sent as ``input_audio_buffer.append``),
#: or a conversation item to replay (encoded only when it is taken, so resuming costs no JSON).
Held = ev.ClientEvent | bytes | TrackedItem


class Outbox:
    """Client events not yet written on the current socket, oldest first; audio bounded by the caller.

    Each event goes out once per connection, chosen by its type: a ``response.create`` owed after a
    drop (``owe_response``) is sent only if the caller holds none of their own, and goes out last.
    What is owed is decided from what was written and answered: ``in_flight`` are the ``response.create``
    written but not yet answered by ``response.created``; ``cancelled`` that the caller cancelled what was
    asked for or under way; ``vad_turn`` that server VAD committed a turn it answers and has not started to.
    Once a session is configured the outbox is ``releasing``: entries leave one at a time as the
    caller drains the bytes (``next``), and what is sent meanwhile queues behind them, in order.
    """

    __slots__ = ("_owed_entry", "audio_bytes", "cancelled", "entries", "in_flight", "owed", "releasing", "vad_turn")

    def __init__(self) -> None:
        self.entries: deque[Held] = deque()
        self.audio_bytes = 0
        self.owed: ev.ResponseCreate | None = None
        self._owed_entry: ev.ResponseCreate | None = None  # the owed request once queued for release
        self.in_flight = 0
        self.cancelled = False
        self.vad_turn = False
        self.releasing = False

    def __len__(self) -> int:
        return len(self.entries) + (self.owed is not None)

    def hold(self, event: ev.ClientEvent) -> None:
        """Keep ``event`` for the next configured session; the caller's own request replaces an owed one."""
        if isinstance(event, ev.ResponseCreate):
            self.owed = None
            if self._owed_entry is not None:
                self.entries.remove(self._owed_entry)
                self._owed_entry = None
        self.entries.append(event)

    def hold_audio(self, pcm: bytes, limit: int | None) -> int:
        """Keep ``pcm``; drop the oldest held audio beyond ``limit`` bytes. Returns the bytes dropped."""
        self.entries.append(pcm)
        self.audio_bytes += len(pcm)
        dropped = 0
        while limit is not None and self.audio_bytes > limit:  # audio_bytes counts the audio entries: one is found
            index, entry = next((i, e) for i, e in enumerate(self.entries) if isinstance(e, bytes))
            del self.entries[index]
            self.audio_bytes -= len(entry)
            dropped += len(entry)
        return dropped

    def holds_response(self) -> bool:
        """A ``response.create`` is waiting (the caller's or an owed one)."""
        return self.owed is not None or any(isinstance(e, ev.ResponseCreate) for e in self.entries)

    def owe_response(self) -> None:
        """A response was cut off or never answered: ask again on the next session, once."""
        if not self.holds_response():
            self.owed = ev.ResponseCreate()

    def wrote(self, event: ev.ClientEvent) -> None:
        """``event`` went out on the socket: a request is in flight, or what was asked for is cancelled."""
        if isinstance(event, ev.ResponseCreate):
            self.in_flight += 1
            self.cancelled = False
        elif isinstance(event, ev.ResponseCancel):
            self.cancelled = True

    def response_started(self) -> None:
        """``response.created``: the server took up what was asked for (or the turn VAD committed)."""
        self.in_flight = 0
        self.vad_turn = False

    def response_ended(self) -> None:
        """``response.done``: nothing under way is owed any longer."""
        self.cancelled = False

    def lost_socket(self, answering: bool) -> None:
        """The socket is gone: a response under way (``answering``) or asked for and not answered is owed again,
        unless the caller cancelled it. A turn VAD committed but never answered is owed at the resume.

        What was still being released stays held for the next session, except the replayed items
        (the conversation replays them again).
        """
        if (answering or self.in_flight) and not self.cancelled:
            self.owe_response()
        self.in_flight = 0
        self.cancelled = False
        if self.releasing:
            self.releasing = False
            self.entries = deque(e for e in self.entries if not isinstance(e, TrackedItem))

    def begin_release(self, replay: list[TrackedItem], turn_audio: list[bytes]) -> None:
        """Queue the replay (items, then the unfinished turn's audio) before what was held, an owed re-ask last."""
        if replay or turn_audio:
            self.entries.extendleft(reversed([*replay, *turn_audio]))
            self.audio_bytes += sum(len(chunk) for chunk in turn_audio)
        if self.owed is not None:
            self.entries.append(self.owed)
            self._owed_entry, self.owed = self.owed, None
        self.releasing = bool(self.entries)

    def next(self) -> Held | None:
        """The next entry to write while releasing (None, and releasing ends, when none is left)."""
        entries = self.entries
        if not entries:
            self.releasing = False
            return None
        entry = entries.popleft()
        if isinstance(entry, bytes):
            self.audio_bytes -= len(entry)
        elif entry is self._owed_entry:
            self._owed_entry = None
        if not entries:
            self.releasing = False
        return entry

    def withdraw_response(self) -> bool:
        """The caller cancelled: the newest held ``response.create`` (or the owed one) is never sent."""
        for index in range(len(self.entries) - 1, -1, -1):
            entry = self.entries[index]
            if isinstance(entry, ev.ResponseCreate):
                del self.entries[index]
                if entry is self._owed_entry:
                    self._owed_entry = None
                return True
        owed, self.owed = self.owed, None
        return owed is not None

    def clear(self) -> int:
        """Forget everything held; returns the audio bytes that were dropped."""
        dropped = self.audio_bytes
        self.entries.clear()
        self.audio_bytes = 0
        self.owed = None
        self._owed_entry = None
        self.releasing = False
        self.in_flight = 0
        self.cancelled = self.vad_turn = False
        return dropped
