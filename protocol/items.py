"""Conversation items, responses, usage and error payloads shared by client and server events."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from .wire import SentModel, WireModel

# Values read from the server are open: the known ones typed, any other kept as given.
ItemType = Literal["message", "function_call", "function_call_output"] | str
Role = Literal["user", "assistant", "system", "tool"] | str
ContentType = Literal["text", "audio", "input_text", "input_audio", "output_text", "output_audio"] | str
ItemStatus = Literal["completed", "in_progress", "incomplete"] | str
ResponseStatus = Literal["completed", "in_progress", "incomplete", "cancelled", "failed"] | str


class ItemContent(WireModel):
    """One content part of a message item."""

    type: ContentType = "text"
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None


class ConversationItem(SentModel):
    """A message, function call or function call output in the conversation."""

    model_config = ConfigDict(extra="allow")
    _always_sent: ClassVar[tuple[str, ...]] = ("id", "type")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    object: str | None = None
    type: ItemType = "message"
    status: ItemStatus | None = None
    role: Role | None = None
    content: list[ItemContent] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None

    @classmethod
    def user_text(cls, text: str, **kw: Any) -> ConversationItem:
        """A user message holding one ``input_text`` part."""
        return cls(type="message", role="user", content=[ItemContent(type="input_text", text=text)], **kw)

    @classmethod
    def assistant_text(cls, text: str, **kw: Any) -> ConversationItem:
        """An assistant message holding one ``output_text`` part (used to replay history)."""
        return cls(type="message", role="assistant", content=[ItemContent(type="output_text", text=text)], **kw)

    @classmethod
    def function_output(cls, call_id: str, output: str, **kw: Any) -> ConversationItem:
        """The result of a function call, as a JSON string."""
        return cls(type="function_call_output", call_id=call_id, output=output, **kw)


class Usage(WireModel):
    """Token counts of one response."""

    model_config = ConfigDict(extra="allow")
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class Response(WireModel):
    """A response as the server reports it."""

    model_config = ConfigDict(extra="allow")
    id: str = ""
    object: str | None = "realtime.response"
    status: ResponseStatus | None = "in_progress"
    status_details: Any | None = None
    output: list[ConversationItem] = Field(default_factory=list)
    usage: Usage | None = None


class RealtimeError(WireModel):
    """The ``error`` object of an error event."""

    model_config = ConfigDict(extra="allow")
    type: str | None = None
    code: str | None = None
    message: str = ""
    param: str | None = None
    event_id: str | None = None


class ContentPart(WireModel):
    """A content part announced during a response."""

    model_config = ConfigDict(extra="allow")
    type: str = ""
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None


class RateLimit(WireModel):
    """One entry of ``rate_limits.updated``."""

    name: str = ""
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None
