"""LiveKit's chat items, tools and tool choice as the Inworld wire models, and back."""

from __future__ import annotations

import logging
from typing import Any

from livekit.agents import llm

from inworld_realtime.protocol import ConversationItem, FunctionTool, ItemContent

log = logging.getLogger("inworld_realtime.io_adapters.livekit_plugin")


def item_text(item: ConversationItem) -> str:
    """The words of a message item: its text parts, or the transcripts of its audio parts."""
    parts = [p.text if p.text is not None else p.transcript for p in item.content or []]
    return "".join(p for p in parts if p)


def to_item(item: llm.ChatItem) -> ConversationItem | None:
    """A LiveKit chat item as a conversation item the server accepts; None when it has no wire form."""
    if isinstance(item, llm.ChatMessage):
        text = "\n".join(c for c in item.content if isinstance(c, str))
        if not text:
            return None  # images and raw audio are not sent: Inworld documents neither as item content
        if item.role == "assistant":
            return ConversationItem.assistant_text(text, id=item.id)
        role = "user" if item.role == "user" else "system"
        return ConversationItem(id=item.id, type="message", role=role,
                                content=[ItemContent(type="input_text", text=text)])
    if isinstance(item, llm.FunctionCall):
        return ConversationItem(id=item.id, type="function_call", call_id=item.call_id, name=item.name,
                                arguments=item.arguments or "{}")
    if isinstance(item, llm.FunctionCallOutput):
        return ConversationItem.function_output(item.call_id, item.output, id=item.id)
    return None


def from_item(item: ConversationItem) -> llm.ChatItem | None:
    """A conversation item the server announced, as LiveKit's chat item (None for unknown kinds)."""
    if item.type == "function_call":
        return llm.FunctionCall(id=item.id, call_id=item.call_id or "", name=item.name or "",
                                arguments=item.arguments or "")
    if item.type == "function_call_output":
        return llm.FunctionCallOutput(id=item.id, call_id=item.call_id or "", output=item.output or "",
                                      is_error=False)
    if item.type == "message":
        role = item.role if item.role in ("user", "assistant", "system") else "user"
        text = item_text(item)
        return llm.ChatMessage(id=item.id, role=role, content=[text] if text else [])
    return None


def to_tools(tools: list[llm.Tool]) -> tuple[list[FunctionTool | dict[str, Any]], list[llm.Tool]]:
    """The session's ``tools`` list, and the LiveKit tools it kept (provider tools are not sent)."""
    wire: list[FunctionTool | dict[str, Any]] = []
    kept: list[llm.Tool] = []
    for tool in tools:
        if isinstance(tool, llm.FunctionTool):
            schema = llm.utils.build_legacy_openai_schema(tool, internally_tagged=True)
        elif isinstance(tool, llm.RawFunctionTool):
            schema = {k: v for k, v in tool.info.raw_schema.items() if k != "meta"}
        else:
            log.warning("Inworld Realtime takes function tools only; %r is left out", tool)
            continue
        wire.append(FunctionTool(name=schema["name"], description=schema.get("description") or "",
                                 parameters=schema.get("parameters") or {"type": "object", "properties": {}}))
        kept.append(tool)
    return wire, kept


def to_tool_choice(choice: llm.ToolChoice | None) -> str | dict[str, Any]:
    """LiveKit's tool choice in the API's form (a named function is ``{"type": "function", "name"}``)."""
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        return choice
    return {"type": "function", "name": choice["function"]["name"]}

