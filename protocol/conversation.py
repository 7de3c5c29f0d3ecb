"""What the core remembers of a conversation: enough to truncate, call tools, bill and replay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .items import ConversationItem, ItemContent, Usage
from .transcripts import UserTranscripts

RECENT_AUDIO_ITEMS = 8
"""How many assistant items keep their received audio: a truncate may name one the next answer has followed."""


@dataclass
class AudioResponse:
    """The assistant audio being received: what ``conversation.item.truncate`` needs."""

    item_id: str
    content_index: int
    start_ms: float
    rate: int
    pcm_bytes: int = 0

    @property
    def received_ms(self) -> int:
        """Duration of the audio the server has sent for this item."""
        return int(self.pcm_bytes * 1000 // (self.rate * 2))


@dataclass
class FunctionCall:
    """A call the model made that still waits for its output."""

    call_id: str
    name: str | None = None
    item_id: str | None = None
    arguments: str | None = None


@dataclass
class TrackedItem:
    """One conversation item as the core keeps it for replay."""

    item: ConversationItem
    text: str | None = None  # transcript or text of a message
    user_audio: bytes | None = None  # committed user PCM16 not transcribed yet
    response_id: str | None = None


def _item_text(item: ConversationItem) -> str | None:
    parts = [p.text if p.text is not None else p.transcript for p in item.content or ()]
    texts = [t for t in parts if t]
    return "".join(texts) if texts else None


RECENT_USAGE = 16
"""How many responses keep their own usage entry (``total_usage`` counts every response ever)."""
RECENT_ANSWERED = 256
"""How many answered call ids are remembered (a late copy of an answered call must not be owed again)."""
DEFAULT_MAX_REPLAY_ITEMS = 200
"""History kept for replay: about 100 exchanges, more than a realtime model's useful context of a talk."""

#: Called when the bounds let go of something a reconnect would otherwise replay: (item id, what).
TrimReport = Callable[[str, str], None]


def _replayable(tracked: TrackedItem) -> bool:
    """Something of this item would go into a fresh session (see ``Conversation.replay_item``)."""
    item = tracked.item
    if item.type == "function_call":
        return bool(item.call_id and item.name)
    if item.type == "function_call_output":
        return bool(item.call_id)
    if item.role == "assistant":
        return bool(tracked.text)
    if item.role in ("user", "system"):
        return bool(tracked.text or (tracked.user_audio and item.role == "user"))
    return False


@dataclass
class Conversation:
    """Conversation state tracked from the events in both directions, within bounds.

    ``max_items`` items are kept for replay (the oldest go first) and ``max_user_audio_bytes`` of committed,
    untranscribed user audio across them (the oldest turn's audio goes first); each trim is reported once
    to ``on_trim``.
    """

    items: dict[str, TrackedItem] = field(default_factory=dict)
    active_response_id: str | None = None
    audio_response: AudioResponse | None = None
    audio_items: dict[str, AudioResponse] = field(default_factory=dict)  # the last RECENT_AUDIO_ITEMS, oldest first
    function_calls: dict[str, FunctionCall] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)  # the last RECENT_USAGE responses, oldest first
    user_transcripts: UserTranscripts = field(default_factory=UserTranscripts)
    max_items: int = DEFAULT_MAX_REPLAY_ITEMS
    max_user_audio_bytes: int = 30_000 * 48
    on_trim: TrimReport | None = None
    _partial: dict[str, list[str]] = field(default_factory=dict)
    _answered: dict[str, None] = field(default_factory=dict)  # an ordered set, the last RECENT_ANSWERED
    _totals: list[int] = field(default_factory=lambda: [0, 0, 0])
    _audio_held: dict[str, int] = field(default_factory=dict)  # item id: bytes of user audio, oldest first
    _audio_bytes: int = 0

    @property
    def total_usage(self) -> Usage:
        """Token counts summed over every response so far (a new object each time: the caller's to keep)."""
        total, inp, out = self._totals
        return Usage(total_tokens=total, input_tokens=inp, output_tokens=out)

    @property
    def user_audio_bytes(self) -> int:
        """Committed user audio kept for replay, across items."""
        return self._audio_bytes

    def add_usage(self, response_id: str, usage: Usage) -> None:
        """Count ``usage`` (a copy is kept: the caller's event stays theirs)."""
        usage = usage.model_copy(deep=True)
        old = self.usage.pop(response_id, None)
        for k, value in enumerate((usage.total_tokens, usage.input_tokens, usage.output_tokens)):
            before = (old.total_tokens, old.input_tokens, old.output_tokens)[k] if old is not None else None
            self._totals[k] += (value or 0) - (before or 0)
        self.usage[response_id] = usage
        while len(self.usage) > RECENT_USAGE:
            del self.usage[next(iter(self.usage))]

    def clear(self) -> None:
        """Forget everything (a fresh conversation)."""
        self.items.clear()
        self.active_response_id = None
        self.audio_response = None
        self.audio_items.clear()
        self.function_calls.clear()
        self.usage.clear()
        self.user_transcripts.clear()
        self._partial.clear()
        self._answered.clear()
        self._totals = [0, 0, 0]
        self._audio_held.clear()
        self._audio_bytes = 0

    def transcript(self, item_id: str) -> str | None:
        """The user's words in ``item_id`` so far: streaming (rolling or additive deltas) or completed."""
        so_far = self.user_transcripts.get(item_id)
        if so_far is not None:
            return so_far
        tracked = self.items.get(item_id)
        return tracked.text if tracked is not None and tracked.item.role == "user" else None

    def start_audio(self, item_id: str, content_index: int, start_ms: float, rate: int) -> AudioResponse:
        """Audio of ``item_id`` arrives: it becomes the current response, its count resumed if still remembered."""
        ar = self.audio_items.get(item_id)
        if ar is None:
            if len(self.audio_items) >= RECENT_AUDIO_ITEMS:
                del self.audio_items[next(iter(self.audio_items))]
            ar = self.audio_items[item_id] = AudioResponse(item_id, content_index, start_ms, rate)
        self.audio_response = ar
        return ar

    def track(self, item: ConversationItem, response_id: str | None = None) -> TrackedItem:
        """Add or refresh a copy of ``item`` (the caller's stays theirs), keeping text already learned.

        Base64 audio in its content is not kept (audio to replay is kept once, as PCM: ``set_user_audio``).
        """
        item = item.model_copy(deep=True)
        if item.content and any(part.audio for part in item.content):  # kept as PCM, within the bound, or not at all
            item.content = [part.model_copy(update={"audio": None}) if part.audio else part for part in item.content]
        tracked = self.items.get(item.id)
        text = _item_text(item)
        if tracked is None:
            tracked = self.items[item.id] = TrackedItem(item, text, response_id=response_id)
            if len(self.items) > self.max_items:
                self._trim_oldest()
        else:
            tracked.item = item
            tracked.text = text or tracked.text
            tracked.response_id = tracked.response_id or response_id
        if item.type == "function_call" and item.call_id and item.call_id not in self._answered:
            call = self.function_calls.setdefault(item.call_id, FunctionCall(item.call_id))
            call.name = item.name or call.name
            call.item_id = item.id
        return tracked

    def answer(self, call_id: str) -> None:
        """The client sent the output of ``call_id``: it no longer waits."""
        self._answered[call_id] = None
        if len(self._answered) > RECENT_ANSWERED:
            del self._answered[next(iter(self._answered))]
        self.function_calls.pop(call_id, None)

    def remove(self, item_id: str) -> TrackedItem | None:
        """Forget one item and everything kept for it."""
        tracked = self.items.pop(item_id, None)
        self._partial.pop(item_id, None)
        self.user_transcripts.forget(item_id)
        self._drop_audio(item_id)
        if tracked is not None and tracked.item.type == "function_call" and tracked.item.call_id:
            call = self.function_calls.get(tracked.item.call_id)
            if call is not None and call.item_id == item_id:
                del self.function_calls[tracked.item.call_id]
        return tracked

    def _trim_oldest(self) -> None:
        item_id = next(iter(self.items))
        tracked = self.remove(item_id)
        if self.on_trim is not None and tracked is not None and _replayable(tracked):
            self.on_trim(item_id, "item")  # not again for a turn whose audio was reported trimmed already

    def set_user_audio(self, item_id: str, pcm: bytes) -> None:
        """Keep ``pcm`` as the committed audio of ``item_id`` (replayed until a transcript replaces it).

        Beyond ``max_user_audio_bytes`` the oldest turns' audio goes first; a turn longer than the whole
        bound keeps its end.
        """
        tracked = self.items.get(item_id)
        if tracked is None:
            return
        self._drop_audio(item_id)
        budget = self.max_user_audio_bytes
        if len(pcm) > budget:
            pcm = pcm[len(pcm) - budget :] if budget > 0 else b""
            if self.on_trim is not None:
                self.on_trim(item_id, "item_audio_part")
        if not pcm:
            return
        tracked.user_audio = pcm
        self._audio_held[item_id] = len(pcm)
        self._audio_bytes += len(pcm)
        while self._audio_bytes > budget:
            oldest = next(iter(self._audio_held))
            self._drop_audio(oldest)
            if self.on_trim is not None:
                self.on_trim(oldest, "item_audio")

    def _drop_audio(self, item_id: str) -> None:
        size = self._audio_held.pop(item_id, None)
        if size is not None:
            self._audio_bytes -= size
            tracked = self.items.get(item_id)
            if tracked is not None:
                tracked.user_audio = None

    def append_text(self, item_id: str, delta: str) -> None:
        """Accumulate a transcript or text delta of an assistant item."""
        self._partial.setdefault(item_id, []).append(delta)

    def finish_text(self, item_id: str, text: str | None) -> None:
        """Settle an item's text from its ``.done`` event (or the deltas when it has none)."""
        parts = self._partial.pop(item_id, None)
        final = text if text is not None else ("".join(parts) if parts else None)
        tracked = self.items.get(item_id)
        if tracked is not None and final is not None:
            tracked.text = final

    def set_user_transcript(self, item_id: str, transcript: str) -> None:
        """The user's words are known: keep them instead of the audio."""
        tracked = self.items.get(item_id)
        if tracked is None:
            tracked = self.track(ConversationItem(id=item_id, role="user"))
        self._drop_audio(item_id)  # the audio goes with its byte count
        tracked.text = transcript

    def truncate(self, item_id: str, audio_end_ms: int, received_ms: int) -> None:
        """Keep the share of the transcript that was heard (an estimate by duration)."""
        tracked = self.items.get(item_id)
        parts = self._partial.get(item_id)
        text = tracked.text if tracked and tracked.text else ("".join(parts) if parts else None)
        if tracked is None or text is None or received_ms <= 0:
            return
        keep = max(0, min(len(text), round(len(text) * audio_end_ms / received_ms)))
        tracked.text = text[:keep]
        self._partial.pop(item_id, None)

    def forget_response(self, response_id: str | None) -> None:
        """Drop the items of an aborted response (it will be asked for again)."""
        for item_id in [k for k, t in self.items.items() if response_id and t.response_id == response_id]:
            self.remove(item_id)
            self.audio_items.pop(item_id, None)

    def finish_response(self, item_ids: list[str]) -> None:
        """A response ended: text still in deltas settles now (nothing waits for it any longer)."""
        for item_id in item_ids:
            if item_id in self._partial:
                self.finish_text(item_id, None)

    def replay_snapshot(self) -> list[TrackedItem]:
        """The items a fresh session would get, oldest first, not yet encoded (cheap: no copies, no JSON).

        A function call output whose call is no longer kept is left out (a fresh session would refuse it).
        """
        out: list[TrackedItem] = []
        calls: set[str] = set()
        for tracked in self.items.values():
            item = tracked.item
            if not _replayable(tracked):
                continue
            if item.type == "function_call":
                calls.add(item.call_id or "")
            elif item.type == "function_call_output" and item.call_id not in calls:
                continue
            out.append(tracked)
        return out

    @staticmethod
    def replay_item(tracked: TrackedItem,
                    encode_audio: Callable[[bytes], str] | None = None) -> ConversationItem | None:
        """One item as a fresh session accepts it (None when nothing of it is left to replay)."""
        item = tracked.item
        if item.type == "function_call":
            if item.call_id and item.name:
                return ConversationItem(id=item.id, type="function_call", call_id=item.call_id,
                                        name=item.name, arguments=item.arguments or "{}")
        elif item.type == "function_call_output":
            if item.call_id:
                return ConversationItem.function_output(item.call_id, item.output or "", id=item.id)
        elif item.role == "assistant":
            if tracked.text:
                return ConversationItem.assistant_text(tracked.text, id=item.id)
        elif item.role in ("user", "system"):
            if tracked.text:
                return ConversationItem(id=item.id, type="message", role=item.role,
                                        content=[ItemContent(type="input_text", text=tracked.text)])
            if tracked.user_audio and encode_audio is not None:
                audio = encode_audio(tracked.user_audio)
                return ConversationItem(id=item.id, type="message", role="user",
                                        content=[ItemContent(type="input_audio", audio=audio)])
        return None

    def replay_items(self, encode_audio: Callable[[bytes], str] | None = None) -> list[ConversationItem]:
        """The conversation as items a fresh session accepts, oldest first.

        A user turn whose transcript never came is replayed as its audio, encoded by ``encode_audio``.
        """
        return [item for t in self.replay_snapshot() if (item := self.replay_item(t, encode_audio)) is not None]
