"""What the emulator hears and says: a pluggable brain, and a scripted one that needs no model."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from inworld_realtime.protocol.items import ConversationItem


@dataclass(frozen=True)
class ToolSpec:
    """A function tool the session offers."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionResult:
    """A function call of the model and the output the client gave for it."""

    call_id: str
    name: str
    arguments: str
    output: str


@dataclass(frozen=True)
class Turn:
    """Everything a brain may look at to decide on a response."""

    user_text: str | None
    """The latest user input not yet answered (a transcript or typed text), if any."""
    function_results: tuple[FunctionResult, ...] = ()
    """Function outputs given since the model's call; answer these first."""
    tools: tuple[ToolSpec, ...] = ()
    instructions: str | None = None
    history: tuple[ConversationItem, ...] = ()
    reply_index: int = 0
    """How many spoken or written replies this session has had so far."""


@dataclass(frozen=True)
class Say:
    """Answer with this text (spoken, when the response has audio)."""

    text: str


@dataclass(frozen=True)
class CallTool:
    """Call the session's function ``name`` with ``arguments``."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


Decision = Say | CallTool


@runtime_checkable
class Brain(Protocol):
    """Turns audio into a transcript and a turn into a decision; must be quick and thread-safe."""

    def transcribe(self, pcm: bytes, rate: int, index: int) -> str | None:
        """The transcript of the ``index``-th user audio turn of a session (16-bit PCM at ``rate``).

        None asks the emulator to recognise the audio itself (pocketsphinx, with the ``speech`` extra). It is
        also called with the speech so far while the user is still speaking (rolling transcript previews, every
        ``EmulatorOptions.partial_transcript_ms``), so it must have no side effects.
        """
        ...

    def respond(self, turn: Turn) -> Decision:
        """What the model does next."""
        ...


@dataclass(frozen=True)
class ToolRule:
    """Call tool ``name`` with ``arguments`` when the user's words mention the name or a keyword."""

    name: str
    keywords: tuple[str, ...] = ()
    arguments: Mapping[str, Any] = field(default_factory=dict)
    reply: str | None = None
    """How to speak the result; ``{result}`` and ``{name}`` are filled in."""

    def matches(self, text: str) -> bool:
        """Whether ``text`` mentions the tool (its name, with underscores read as spaces, or a keyword)."""
        words = [self.name, self.name.replace("_", " "), *self.keywords]
        low = text.lower()
        return any(w and re.search(rf"(?<!\w){re.escape(w.lower())}(?!\w)", low) for w in words)


class ScriptedBrain:
    """Transcripts and replies from lists, tool calls from keyword rules, and an echo otherwise.

    The n-th user audio turn of a session is transcribed as ``transcripts[n]``; when
    the list is shorter the emulator recognises the audio (``recognize``, with the
    ``speech`` extra) or describes it by its length. Replies and tool rules apply
    to the words either way. The n-th reply is
    ``replies[n]``, else the user's words are echoed back. With
    ``match_tool_names`` any session tool whose name the user mentions is called
    with no arguments, even without a rule.
    """

    def __init__(
        self,
        transcripts: Sequence[str] = (),
        replies: Sequence[str] = (),
        tools: Sequence[ToolRule] = (),
        *,
        echo_prefix: str = "You said: ",
        greeting: str = "Hello! This is the local Inworld realtime emulator. How can I help?",
        match_tool_names: bool = True,
        recognize: bool = True,
    ) -> None:
        self.transcripts = tuple(transcripts)
        self.recognize = recognize
        self.replies = tuple(replies)
        self.tools = tuple(tools)
        self.echo_prefix = echo_prefix
        self.greeting = greeting
        self.match_tool_names = match_tool_names

    def __repr__(self) -> str:
        return (f"ScriptedBrain(transcripts={len(self.transcripts)}, replies={len(self.replies)}, "
                f"tools={[t.name for t in self.tools]})")

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedBrain:
        """Load a script from JSON: ``{"transcripts": [...], "replies": [...], "tools": [{"name", ...}]}``."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_mapping(data, source=str(path))

    @classmethod
    def from_mapping(cls, data: Any, source: str = "script") -> ScriptedBrain:
        """Build from a parsed JSON object; every mistake is a ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: the script must be a JSON object")
        known = {"transcripts", "replies", "tools", "echo_prefix", "greeting", "match_tool_names", "recognize"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        transcripts = _strings(data.get("transcripts", []), f"{source}: transcripts")
        replies = _strings(data.get("replies", []), f"{source}: replies")
        raw_tools = data.get("tools", [])
        if not isinstance(raw_tools, list):
            raise ValueError(f"{source}: tools must be a list")
        rules = [_tool_rule(t, f"{source}: tools[{i}]") for i, t in enumerate(raw_tools)]
        kwargs: dict[str, Any] = {}
        for key in ("echo_prefix", "greeting"):
            if key in data:
                if not isinstance(data[key], str):
                    raise ValueError(f"{source}: {key} must be a string")
                kwargs[key] = data[key]
        for key in ("match_tool_names", "recognize"):
            if key in data:
                if not isinstance(data[key], bool):
                    raise ValueError(f"{source}: {key} must be true or false")
                kwargs[key] = data[key]
        return cls(transcripts, replies, rules, **kwargs)

    def transcribe(self, pcm: bytes, rate: int, index: int) -> str | None:
        if index < len(self.transcripts):
            return self.transcripts[index]
        return None if self.recognize else unheard(pcm, rate)

    def respond(self, turn: Turn) -> Decision:
        if turn.function_results:
            return Say(" ".join(self._result_text(r) for r in turn.function_results))
        offered = {t.name for t in turn.tools}
        if turn.user_text and offered:
            for rule in self.tools:
                if rule.name in offered and rule.matches(turn.user_text):
                    return CallTool(rule.name, dict(rule.arguments))
            if self.match_tool_names:
                ruled = {r.name for r in self.tools}
                for tool in turn.tools:
                    if tool.name not in ruled and ToolRule(tool.name).matches(turn.user_text):
                        return CallTool(tool.name, {})
        if turn.reply_index < len(self.replies):
            return Say(self.replies[turn.reply_index])
        if turn.user_text:
            return Say(f"{self.echo_prefix}{turn.user_text}")
        return Say(self.greeting)

    def _result_text(self, result: FunctionResult) -> str:
        for rule in self.tools:
            if rule.name == result.name and rule.reply is not None:
                return rule.reply.format(result=result.output, name=result.name)
        return f"The {result.name} tool returned {result.output}."


def unheard(pcm: bytes, rate: int) -> str:
    """The stand-in transcript of audio nobody recognised: its length."""
    seconds = len(pcm) / 2 / rate if rate else 0.0
    return f"[{seconds:.1f} seconds of speech]"


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return list(value)


def _tool_rule(value: Any, what: str) -> ToolRule:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object with at least a name")
    unknown = sorted(set(value) - {"name", "keywords", "arguments", "reply"})
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}")
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what}.name must be a non-empty string")
    arguments = value.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ValueError(f"{what}.arguments must be an object")
    reply = value.get("reply")
    if reply is not None and not isinstance(reply, str):
        raise ValueError(f"{what}.reply must be a string")
    return ToolRule(name, tuple(_strings(value.get("keywords", []), f"{what}.keywords")), arguments, reply)
