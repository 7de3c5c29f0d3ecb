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


@dataclass
class Conversation:
    """Conversation state tracked from the events in both directions."""

    items: dict[str, TrackedItem] = field(default_factory=dict)
    active_response_id: str | None = None
    audio_response: AudioResponse | None = None
    audio_items: dict[str, AudioResponse] = field(default_factory=dict)  # the last RECENT_AUDIO_ITEMS, oldest first
    function_calls: dict[str, FunctionCall] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=dict)
    user_transcripts: UserTranscripts = field(default_factory=UserTranscripts)
    _partial: dict[str, list[str]] = field(default_factory=dict)
    _answered: set[str] = field(default_factory=set)

    @property
    def total_usage(self) -> Usage:
        """Token counts summed over every response so far."""
        total = Usage(total_tokens=0, input_tokens=0, output_tokens=0)
        for u in self.usage.values():
            total.total_tokens = (total.total_tokens or 0) + (u.total_tokens or 0)
            total.input_tokens = (total.input_tokens or 0) + (u.input_tokens or 0)
            total.output_tokens = (total.output_tokens or 0) + (u.output_tokens or 0)
        return total

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
        """Add or refresh a copy of ``item`` (the caller's stays theirs), keeping text already learned."""
        item = item.model_copy(deep=True)
        tracked = self.items.get(item.id)
        text = _item_text(item)
        if tracked is None:
            tracked = self.items[item.id] = TrackedItem(item, text, response_id=response_id)
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
        self._answered.add(call_id)
        self.function_calls.pop(call_id, None)

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
            tracked = self.items[item_id] = TrackedItem(ConversationItem(id=item_id, role="user"))
        tracked.text = transcript
        tracked.user_audio = None

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
            del self.items[item_id]
            self._partial.pop(item_id, None)
            self.audio_items.pop(item_id, None)

    def replay_items(self, encode_audio: Callable[[bytes], str] | None = None) -> list[ConversationItem]:
        """The conversation as items a fresh session accepts, oldest first.

        A user turn whose transcript never came is replayed as its audio, encoded by ``encode_audio``.
        """
        out: list[ConversationItem] = []
        for tracked in self.items.values():
            item = tracked.item
            if item.type == "function_call":
                if item.call_id and item.name:
                    out.append(ConversationItem(id=item.id, type="function_call", call_id=item.call_id,
                                                name=item.name, arguments=item.arguments or "{}"))
            elif item.type == "function_call_output":
                if item.call_id:
                    out.append(ConversationItem.function_output(item.call_id, item.output or "", id=item.id))
            elif item.role == "assistant":
                if tracked.text:
                    out.append(ConversationItem.assistant_text(tracked.text, id=item.id))
            elif item.role in ("user", "system"):
                if tracked.text:
                    out.append(ConversationItem(id=item.id, type="message", role=item.role,
                                                content=[ItemContent(type="input_text", text=tracked.text)]))
                elif tracked.user_audio and encode_audio is not None:
                    audio = encode_audio(tracked.user_audio)
                    out.append(ConversationItem(id=item.id, type="message", role="user",
                                                content=[ItemContent(type="input_audio", audio=audio)]))
        return out
