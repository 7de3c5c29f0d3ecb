"""One response as LiveKit consumes it: a stream of messages (text and audio streams) and of function calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit import rtc
from livekit.agents import llm, utils
from livekit.agents.metrics import RealtimeModelMetrics
from livekit.agents.metrics.base import Metadata

from inworld_realtime.protocol import Usage

Modality = Literal["text", "audio"]


@dataclass
class Message:
    """An assistant message item being generated."""

    message_id: str
    text: utils.aio.Chan[str] = field(default_factory=utils.aio.Chan)
    audio: utils.aio.Chan[rtc.AudioFrame] = field(default_factory=utils.aio.Chan)
    modalities: asyncio.Future[list[Modality]] = field(default_factory=asyncio.Future)
    transcript: str = ""

    def settle(self, modalities: list[Modality]) -> None:
        if not self.modalities.done():
            self.modalities.set_result(modalities)

    def close(self, modalities: list[Modality]) -> None:
        self.settle(modalities)
        self.text.close()
        self.audio.close()


@dataclass
class Generation:
    """A response from ``response.created`` to ``response.done`` (or its loss)."""

    response_id: str
    audio_output: bool
    discarded: bool = False
    created_at: float = field(default_factory=time.time)
    first_output_at: float | None = None
    messages: dict[str, Message] = field(default_factory=dict)
    calls_sent: set[str] = field(default_factory=set)
    message_ch: utils.aio.Chan[llm.MessageGeneration] = field(default_factory=utils.aio.Chan)
    function_ch: utils.aio.Chan[llm.FunctionCall] = field(default_factory=utils.aio.Chan)

    def event(self, user_initiated: bool) -> llm.GenerationCreatedEvent:
        return llm.GenerationCreatedEvent(message_stream=self.message_ch, function_stream=self.function_ch,
                                          user_initiated=user_initiated, response_id=self.response_id)

    def message(self, item_id: str) -> Message:
        """The message ``item_id``, announced to LiveKit the first time it is seen."""
        msg = self.messages.get(item_id)
        if msg is None:
            msg = self.messages[item_id] = Message(item_id)
            if not self.audio_output:
                msg.audio.close()
                msg.settle(["text"])
            with contextlib.suppress(utils.aio.ChanClosed):
                self.message_ch.send_nowait(llm.MessageGeneration(
                    message_id=item_id, text_stream=msg.text, audio_stream=msg.audio, modalities=msg.modalities))
        return msg

    def call(self, item_id: str, call_id: str, name: str, arguments: str) -> None:
        """Hand a function call to LiveKit once, whichever event completes it first."""
        if call_id in self.calls_sent or not name:
            return
        self.calls_sent.add(call_id)
        with contextlib.suppress(utils.aio.ChanClosed):
            self.function_ch.send_nowait(llm.FunctionCall(id=item_id, call_id=call_id, name=name,
                                                          arguments=arguments or "{}"))

    def close(self) -> None:
        default: list[Modality] = ["audio", "text"] if self.audio_output else ["text"]
        for msg in self.messages.values():
            msg.close(default)
        self.message_ch.close()
        self.function_ch.close()


def response_metrics(gen: Generation, usage: Usage | None, status: str | None, label: str,
                     metadata: Metadata) -> RealtimeModelMetrics:
    """LiveKit's metrics of a finished response: time to first audio (or text) and token counts."""
    counts: dict[str, Any] = usage.model_dump(exclude_none=True) if usage is not None else {}
    inp: dict[str, Any] = counts.get("input_token_details") or {}
    out: dict[str, Any] = counts.get("output_token_details") or {}
    cached: dict[str, Any] = inp.get("cached_tokens_details") or {}
    duration = time.time() - gen.created_at
    output_tokens = int(counts.get("output_tokens") or 0)
    return RealtimeModelMetrics(
        label=label,
        request_id=gen.response_id,
        timestamp=gen.created_at,
        duration=duration,
        ttft=gen.first_output_at - gen.created_at if gen.first_output_at is not None else -1,
        cancelled=status == "cancelled",
        input_tokens=int(counts.get("input_tokens") or 0),
        output_tokens=output_tokens,
        total_tokens=int(counts.get("total_tokens") or 0),
        tokens_per_second=output_tokens / duration if duration > 0 else 0.0,
        input_token_details=RealtimeModelMetrics.InputTokenDetails(
            audio_tokens=int(inp.get("audio_tokens") or 0), text_tokens=int(inp.get("text_tokens") or 0),
            image_tokens=int(inp.get("image_tokens") or 0), cached_tokens=int(inp.get("cached_tokens") or 0),
            cached_tokens_details=RealtimeModelMetrics.CachedTokenDetails(
                audio_tokens=int(cached.get("audio_tokens") or 0), text_tokens=int(cached.get("text_tokens") or 0),
                image_tokens=int(cached.get("image_tokens") or 0)),
        ),
        output_token_details=RealtimeModelMetrics.OutputTokenDetails(
            text_tokens=int(out.get("text_tokens") or 0), audio_tokens=int(out.get("audio_tokens") or 0)),
        metadata=metadata,
    )
