"""Typed events: what the client sends, what the server sends, and what the connection reports.

Client and server events are pydantic models named after their ``type``
(``response.create`` is ``ResponseCreate``, ``response.created`` is
``ResponseCreated``). Connection events (``ConnectionClosed``...) are plain
dataclasses produced by the core itself, not by the server.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, Union

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, model_validator

from .items import (
    ContentPart,
    ConversationItem,
    RateLimit,
    RealtimeError,
    Response,
    Usage,
)
from .session import AudioFormat, FunctionTool, MemoryState, Modality, SessionProperties, VoiceProfile
from .wire import SentModel, WireModel

_ids = itertools.count(1)


def new_event_id() -> str:
    """A short unique id for a client event (cheaper than a uuid per audio chunk)."""
    return f"evt_{next(_ids)}"


# ---------------------------------------------------------------- client events


class ClientEvent(SentModel):
    """Base of events the client sends; ``type`` and ``event_id`` are always on the wire."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type", "event_id")
    type: str
    event_id: str = Field(default_factory=new_event_id)


class SessionUpdate(ClientEvent):
    """Change the session's configuration; the server answers ``session.updated``."""

    type: Literal["session.update"] = "session.update"
    session: SessionProperties


class InputAudioBufferAppend(ClientEvent):
    """Append base64 audio to the server's input buffer."""

    type: Literal["input_audio_buffer.append"] = "input_audio_buffer.append"
    audio: str


class InputAudioBufferCommit(ClientEvent):
    """Commit the input buffer as a user item (manual turns)."""

    type: Literal["input_audio_buffer.commit"] = "input_audio_buffer.commit"


class InputAudioBufferClear(ClientEvent):
    """Discard the uncommitted input audio."""

    type: Literal["input_audio_buffer.clear"] = "input_audio_buffer.clear"


class OutputAudioBufferClear(ClientEvent):
    """Stop output audio playback on transports that buffer it server side."""

    type: Literal["output_audio_buffer.clear"] = "output_audio_buffer.clear"


class ConversationItemCreate(ClientEvent):
    """Add an item (text, audio, function call output) to the conversation."""

    type: Literal["conversation.item.create"] = "conversation.item.create"
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemTruncate(ClientEvent):
    """Cut an assistant item's audio at what the user actually heard."""

    type: Literal["conversation.item.truncate"] = "conversation.item.truncate"
    item_id: str
    content_index: int = 0
    audio_end_ms: int


class ConversationItemDelete(ClientEvent):
    """Remove an item from the conversation."""

    type: Literal["conversation.item.delete"] = "conversation.item.delete"
    item_id: str


class ConversationItemRetrieve(ClientEvent):
    """Ask the server for an item as it holds it."""

    type: Literal["conversation.item.retrieve"] = "conversation.item.retrieve"
    item_id: str


class ResponseOutputAudio(WireModel):
    """Output audio settings for one response."""

    model_config = ConfigDict(extra="allow")
    format: AudioFormat | None = None
    voice: str | None = None


class ResponseAudioSettings(WireModel):
    """The ``audio`` object of ``response.create``."""

    output: ResponseOutputAudio | None = None


class ResponseProperties(WireModel):
    """Per-response overrides; ``output_modalities`` is the GA name (not ``modalities``).

    ``voice`` is Inworld's per-response voice: a flat field (Mastra 0.3.0, citing Inworld's ``ResponseConfig``
    schema: the server ignores the nested ``audio.output.voice`` that OpenAI uses, kept here for OpenAI servers).
    """

    model_config = ConfigDict(extra="allow")
    output_modalities: list[Modality] | None = None
    instructions: str | None = None
    conversation: str | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    tool_choice: str | dict[str, Any] | None = None
    tools: list[FunctionTool | dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    input: list[ConversationItem | dict[str, Any]] | None = None
    audio: ResponseAudioSettings | None = None
    temperature: float | None = None
    voice: str | None = None


class ResponseCreate(ClientEvent):
    """Ask the model to respond."""

    type: Literal["response.create"] = "response.create"
    response: ResponseProperties | None = None


class ResponseCancel(ClientEvent):
    """Cancel the response in progress."""

    type: Literal["response.cancel"] = "response.cancel"
    response_id: str | None = None


AnyClientEvent: TypeAlias = Annotated[
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemTruncate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ResponseCreate
    | ResponseCancel,
    Field(discriminator="type"),
]
client_event_adapter: TypeAdapter[AnyClientEvent] = TypeAdapter(AnyClientEvent)


def parse_client_event(data: str | bytes) -> ClientEvent:
    """Parse a client event (the emulator's side of the wire)."""
    event: ClientEvent = client_event_adapter.validate_json(data)
    return event


# ---------------------------------------------------------------- server events


class ServerEvent(WireModel):
    """Base of events the server sends: immutable once parsed (the core keeps its own copies)."""

    model_config = ConfigDict(frozen=True)
    #: Fields without which the event means nothing: ``salvage`` never leaves them out.
    _needed: ClassVar[tuple[str, ...]] = ()
    event_id: str = Field(default_factory=lambda: f"srv_{next(_ids)}")

    def to_json(self) -> str:
        """Every field, defaults included: how a server (the emulator) writes an event."""
        return self.model_dump_json(by_alias=True)
    type: str


class ErrorEvent(ServerEvent):
    """The server reports an error; most are about one request, not the session.

    Inworld nests it (``{"type": "error", "error": {...}}``) but a flat ``{"type": "error",
    "message": ...}`` is read too (Inworld's own Android client accepts both).
    """

    type: Literal["error"] = "error"
    error: RealtimeError

    @model_validator(mode="before")
    @classmethod
    def _flat_or_nested(cls, data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data.get("error"), dict | RealtimeError):
            nested = {k: v for k, v in data.items() if k in ("code", "message", "param")}
            if isinstance(data.get("error"), str):
                nested.setdefault("message", data["error"])
            nested.setdefault("message", "")
            return {**{k: v for k, v in data.items() if k not in nested and k != "error"}, "error": nested}
        return data


class Ping(ServerEvent):
    """Inworld's keepalive event (a timestamp in ms); no reply is expected."""

    type: Literal["ping"] = "ping"
    timestamp: int | None = None


class SessionCreated(ServerEvent):
    """First event of a session: the server's default configuration."""

    type: Literal["session.created"] = "session.created"
    session: SessionProperties | None = None


class SessionUpdated(ServerEvent):
    """The server applied a ``session.update``."""

    type: Literal["session.updated"] = "session.updated"
    session: SessionProperties | None = None

    @property
    def memory_state(self) -> MemoryState | None:
        """Inworld's memory state echoed in ``session.providerData.memory.state`` (Mastra), if any."""
        return self.session.memory_state() if self.session is not None else None


class ConversationCreated(ServerEvent):
    """Beta-era announcement of the conversation object."""

    type: Literal["conversation.created"] = "conversation.created"
    conversation: dict[str, Any] | None = None


class ConversationItemAdded(ServerEvent):
    """An item entered the conversation (beta name ``conversation.item.created``)."""

    type: Literal["conversation.item.added"] = "conversation.item.added"
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemDone(ServerEvent):
    """An item is complete."""

    type: Literal["conversation.item.done"] = "conversation.item.done"
    previous_item_id: str | None = None
    item: ConversationItem


class ConversationItemRetrieved(ServerEvent):
    """Answer to ``conversation.item.retrieve``."""

    type: Literal["conversation.item.retrieved"] = "conversation.item.retrieved"
    item: ConversationItem


class ConversationItemTruncated(ServerEvent):
    """The server cut an assistant item's audio."""

    type: Literal["conversation.item.truncated"] = "conversation.item.truncated"
    item_id: str
    content_index: int = 0
    audio_end_ms: int = 0


class ConversationItemDeleted(ServerEvent):
    """The server removed an item."""

    type: Literal["conversation.item.deleted"] = "conversation.item.deleted"
    item_id: str


class InputAudioTranscriptionDelta(ServerEvent):
    """Part of the transcript of the user's audio (a piece, or on Inworld the whole text so far).

    ``transcript_so_far`` is filled by the core with the item's transcript so far, whichever shape
    the server sent (see ``protocol/transcripts.py``): adapters show it and never join deltas.
    """

    type: Literal["conversation.item.input_audio_transcription.delta"] = (
        "conversation.item.input_audio_transcription.delta"
    )
    item_id: str = ""
    content_index: int | None = None
    delta: str = ""
    transcript_so_far: str = Field(default="", exclude=True)


class InputAudioTranscriptionCompleted(ServerEvent):
    """The whole transcript of a user audio item."""

    type: Literal["conversation.item.input_audio_transcription.completed"] = (
        "conversation.item.input_audio_transcription.completed"
    )
    item_id: str = ""
    content_index: int | None = None
    transcript: str = ""
    usage: dict[str, Any] | None = None
    provider_data: TranscriptionProviderData | None = Field(default=None, alias="providerData")

    @property
    def voice_profile(self) -> VoiceProfile | None:
        """The speaker's voice profile, sent when ``providerData.stt.voice_profile`` is on (Mastra 0.3.x)."""
        return self.provider_data.voice_profile if self.provider_data is not None else None


class TranscriptionProviderData(WireModel):
    """Inworld's extensions on a completed user transcript (``providerData.voiceProfile``); others kept."""

    voice_profile: VoiceProfile | None = Field(default=None, alias="voiceProfile")


class InputAudioTranscriptionFailed(ServerEvent):
    """Transcription of a user audio item failed."""

    type: Literal["conversation.item.input_audio_transcription.failed"] = (
        "conversation.item.input_audio_transcription.failed"
    )
    item_id: str = ""
    content_index: int | None = None
    error: RealtimeError | None = None


class InputAudioBufferCommitted(ServerEvent):
    """The input buffer became a user item."""

    type: Literal["input_audio_buffer.committed"] = "input_audio_buffer.committed"
    previous_item_id: str | None = None
    item_id: str = ""


class InputAudioBufferCleared(ServerEvent):
    """The input buffer was discarded."""

    type: Literal["input_audio_buffer.cleared"] = "input_audio_buffer.cleared"


class InputAudioBufferSpeechStarted(ServerEvent):
    """Server VAD heard speech begin, ``audio_start_ms`` into the buffer."""

    type: Literal["input_audio_buffer.speech_started"] = "input_audio_buffer.speech_started"
    audio_start_ms: int | None = None
    item_id: str | None = None


class InputAudioBufferSpeechStopped(ServerEvent):
    """Server VAD heard speech end, ``audio_end_ms`` into the buffer."""

    type: Literal["input_audio_buffer.speech_stopped"] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int | None = None
    item_id: str | None = None


class InputAudioBufferTimeoutTriggered(ServerEvent):
    """Server VAD heard nothing for the configured idle time."""

    type: Literal["input_audio_buffer.timeout_triggered"] = "input_audio_buffer.timeout_triggered"
    audio_start_ms: int | None = None
    audio_end_ms: int | None = None
    item_id: str | None = None


class InputAudioBufferTurnSuggestion(ServerEvent):
    """Server VAD's smart-turn detector thinks the user may be done (``probability``); a hint, not a commit.

    Sources: Mastra 0.3.x types and tests (item_id, utterance_index, probability, trailing_silence_ms,
    audio_duration_ms, inference_ms); Inworld's ``realtime-feature-tester`` branch ("with server_vad, watch for
    turn_suggestion / turn_suggestion_revoked (smart-turn detector)").
    """

    type: Literal["input_audio_buffer.turn_suggestion"] = "input_audio_buffer.turn_suggestion"
    item_id: str | None = None
    utterance_index: int | None = None
    probability: float | None = None
    trailing_silence_ms: float | None = None
    audio_duration_ms: float | None = None
    inference_ms: float | None = None


class InputAudioBufferTurnSuggestionRevoked(ServerEvent):
    """The user spoke again: an earlier ``turn_suggestion`` for this utterance no longer holds (Mastra)."""

    type: Literal["input_audio_buffer.turn_suggestion_revoked"] = "input_audio_buffer.turn_suggestion_revoked"
    item_id: str | None = None
    utterance_index: int | None = None


class OutputAudioBufferStarted(ServerEvent):
    """Server-side playback started (WebRTC-style transports)."""

    type: Literal["output_audio_buffer.started"] = "output_audio_buffer.started"
    response_id: str | None = None


class OutputAudioBufferStopped(ServerEvent):
    """Server-side playback stopped."""

    type: Literal["output_audio_buffer.stopped"] = "output_audio_buffer.stopped"
    response_id: str | None = None


class OutputAudioBufferCleared(ServerEvent):
    """Server-side playback buffer was cleared."""

    type: Literal["output_audio_buffer.cleared"] = "output_audio_buffer.cleared"
    response_id: str | None = None


class ResponseCreated(ServerEvent):
    """A response began."""

    type: Literal["response.created"] = "response.created"
    response: Response


class ResponseDone(ServerEvent):
    """A response ended (completed, cancelled, incomplete or failed); usage may sit on top."""

    type: Literal["response.done"] = "response.done"
    response: Response
    usage: Usage | None = None

    @property
    def effective_usage(self) -> Usage | None:
        """Inworld may put usage at the top level; fall back to ``response.usage``."""
        return self.usage or self.response.usage


class ResponseOutputItemAdded(ServerEvent):
    """An output item (message or function call) began."""

    type: Literal["response.output_item.added"] = "response.output_item.added"
    response_id: str = ""
    output_index: int = 0
    item: ConversationItem


class ResponseOutputItemDone(ServerEvent):
    """An output item is complete."""

    type: Literal["response.output_item.done"] = "response.output_item.done"
    response_id: str = ""
    output_index: int = 0
    item: ConversationItem


class ResponseContentPartAdded(ServerEvent):
    """A content part of an output item began."""

    type: Literal["response.content_part.added"] = "response.content_part.added"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: ContentPart | None = None


class ResponseContentPartDone(ServerEvent):
    """A content part of an output item is complete."""

    type: Literal["response.content_part.done"] = "response.content_part.done"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: ContentPart | None = None


class ResponseOutputTextDelta(ServerEvent):
    """Model text (text-only sessions); beta name ``response.text.delta``."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseOutputTextDone(ServerEvent):
    """The whole model text of a part."""

    type: Literal["response.output_text.done"] = "response.output_text.done"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str = ""


class ResponseOutputAudioDelta(ServerEvent):
    """A chunk of synthesised speech; ``pcm`` is filled by the core with 16-bit PCM."""

    _needed: ClassVar[tuple[str, ...]] = ("delta",)
    type: Literal["response.output_audio.delta"] = "response.output_audio.delta"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""
    pcm: bytes = Field(default=b"", exclude=True)


class ResponseOutputAudioDone(ServerEvent):
    """The speech of a part is complete."""

    type: Literal["response.output_audio.done"] = "response.output_audio.done"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


class ResponseOutputAudioTranscriptDelta(ServerEvent):
    """Text of the speech being synthesised."""

    type: Literal["response.output_audio_transcript.delta"] = "response.output_audio_transcript.delta"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ResponseOutputAudioTranscriptDone(ServerEvent):
    """The whole text of the speech of a part."""

    type: Literal["response.output_audio_transcript.done"] = "response.output_audio_transcript.done"
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    transcript: str | None = None


class ResponseFunctionCallArgumentsDelta(ServerEvent):
    """Part of a function call's JSON arguments."""

    type: Literal["response.function_call_arguments.delta"] = "response.function_call_arguments.delta"
    response_id: str | None = None
    item_id: str | None = None
    output_index: int | None = None
    call_id: str = ""
    delta: str = ""
    previous_item_id: str | None = None


class ResponseFunctionCallArgumentsDone(ServerEvent):
    """A function call is complete; ``name`` is filled from the output item when Inworld omits it."""

    type: Literal["response.function_call_arguments.done"] = "response.function_call_arguments.done"
    response_id: str | None = None
    item_id: str | None = None
    output_index: int | None = None
    call_id: str = ""
    name: str | None = None
    arguments: str = ""


class RateLimitsUpdated(ServerEvent):
    """Current rate limits."""

    type: Literal["rate_limits.updated"] = "rate_limits.updated"
    rate_limits: list[RateLimit] = Field(default_factory=list)


class ResponseBackchannelAudioDelta(ServerEvent):
    """Inworld back-channel audio ("mm-hm") while the user speaks; ``pcm`` as for output audio."""

    model_config = ConfigDict(extra="allow")
    _needed: ClassVar[tuple[str, ...]] = ("delta",)
    type: Literal["response.backchannel.audio.delta"] = "response.backchannel.audio.delta"
    backchannel_id: str | None = None
    delta: str = ""
    pcm: bytes = Field(default=b"", exclude=True)


class ResponseBackchannelAudioDone(ServerEvent):
    """A back-channel utterance is complete; ``phrase`` is what was said."""

    model_config = ConfigDict(extra="allow")
    type: Literal["response.backchannel.audio.done"] = "response.backchannel.audio.done"
    backchannel_id: str | None = None
    phrase: str | None = None


class ResponseBackchannelSkipped(ServerEvent):
    """The server decided not to back-channel, and why (e.g. ``deadline_missed``)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["response.backchannel.skipped"] = "response.backchannel.skipped"
    backchannel_id: str | None = None
    reason: str | None = None


class ResponseMemoryExtracted(ServerEvent):
    """Automatic memory extracted facts (``providerData.memory``); ``state`` as ``session.updated`` echoes it.

    Weak source: only the name appears (Inworld's unmerged ``realtime-feature-tester`` page); the body is our
    reading of Mastra's ``InworldMemoryState``. Every other field is kept.
    """

    type: Literal["response.memory.extracted"] = "response.memory.extracted"
    response_id: str | None = None
    state: MemoryState | None = None


class UnknownServerEvent(ServerEvent):
    """A ``type`` this library does not know yet; every field is kept (see ``payload``)."""

    model_config = ConfigDict(extra="allow")

    @property
    def payload(self) -> dict[str, Any]:
        """The message as received."""
        return self.model_dump(exclude_unset=True)


class UntypedServerMessage(WireModel):
    """A message without ``type``, e.g. ``{"errorType": "SESSION_RESOURCES_EXHAUSTED"}``; treat as an error."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    type: Literal[None] = None
    error_type: str | None = Field(default=None, alias="errorType")
    message: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The message as received."""
        return self.model_dump(by_alias=True, exclude_unset=True)


def _registered(base: type[ServerEvent]) -> list[type[ServerEvent]]:
    """Every event model of this module with a fixed ``type``: defining the model registers it."""
    found: list[type[ServerEvent]] = []
    for cls in base.__subclasses__():
        default = cls.model_fields["type"].default
        if isinstance(default, str) and cls.__module__ == __name__:
            found.append(cls)
        found.extend(_registered(cls))
    return found


_SERVER_EVENT_CLASSES: tuple[type[ServerEvent], ...] = tuple(_registered(ServerEvent))

SERVER_EVENT_TYPES: dict[str, type[ServerEvent]] = {
    cls.model_fields["type"].default: cls for cls in _SERVER_EVENT_CLASSES
}

#: Beta-era names Inworld still sends, mapped onto the GA event that carries the same data.
BETA_EVENT_NAMES: dict[str, str] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
}
#: Every other spelling read as a GA event: the beta names, and the user-transcript delta names
#: Inworld's own browser example also handles (realtime/js/websockets/basic in inworld-api-examples).
EVENT_ALIASES: dict[str, str] = {
    **BETA_EVENT_NAMES,
    "input_audio_transcription.delta": "conversation.item.input_audio_transcription.delta",
    "input_audio_buffer.transcription.delta": "conversation.item.input_audio_transcription.delta",
}

_UNKNOWN = "__unknown__"
_UNTYPED = "__untyped__"


def _server_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind is None or not isinstance(kind, str):
        return _UNTYPED
    if kind in SERVER_EVENT_TYPES or kind in EVENT_ALIASES:
        return kind
    return _UNKNOWN


def _beta_aware(beta: str) -> type[ServerEvent]:
    """A subclass of the GA event that accepts the beta ``type`` and reports the GA one."""
    ga = EVENT_ALIASES[beta]
    cls = SERVER_EVENT_TYPES[ga]

    class _Beta(cls):  # type: ignore[valid-type,misc]
        type: Literal[beta] = beta  # type: ignore[valid-type]

        def model_post_init(self, context: Any, /) -> None:
            self.__dict__["type"] = ga

    _Beta.__name__ = cls.__name__
    _Beta.__qualname__ = cls.__qualname__
    return _Beta


AnyServerEvent: TypeAlias = Any
_known_types: dict[str, type[ServerEvent]] = {**SERVER_EVENT_TYPES,
                                              **{alias: _beta_aware(alias) for alias in EVENT_ALIASES}}
_union_members = [Annotated[cls, Tag(name)] for name, cls in _known_types.items()]
_union_members.append(Annotated[UnknownServerEvent, Tag(_UNKNOWN)])
_union_members.append(Annotated[UntypedServerMessage, Tag(_UNTYPED)])
server_event_adapter: TypeAdapter[Any] = TypeAdapter(
    Annotated[Union[tuple(_union_members)], Discriminator(_server_tag)]  # type: ignore[arg-type]  # noqa: UP007
)
#: The known types alone, told apart by ``type`` inside pydantic-core: no call back into Python per message
#: (half the time of the adapter above on an audio delta). What it refuses goes to the adapter above.
_known_event_adapter: TypeAdapter[Any] = TypeAdapter(
    Annotated[Union[tuple(_known_types.values())], Field(discriminator="type")]  # type: ignore[arg-type]  # noqa: UP007
)


def parse_server_event(data: str | bytes | bytearray) -> ServerEvent | UntypedServerMessage:
    """Validate one server message from its JSON text in a single pass (two for an unknown or invalid one).

    Raises pydantic's ``ValidationError`` for bad JSON or a known type with bad fields
    (``salvage`` then recovers what it can).
    """
    event: ServerEvent | UntypedServerMessage
    try:
        event = _known_event_adapter.validate_json(data)
    except ValidationError:
        event = server_event_adapter.validate_json(data)  # unknown, untyped or invalid: its errors are the ones
    return event


def salvage(data: str | bytes | bytearray, attempts: int = 32) -> ServerEvent | None:
    """A known event whose body did not validate, with the values that broke it left out.

    Liberal in what we accept: a ``session.created`` with a value we cannot type still becomes a
    ``SessionCreated`` (and drives the session). None when a field the event cannot do without is bad.
    """
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict) or (kind := _server_tag(body)) in (_UNKNOWN, _UNTYPED):
        return None
    needed = SERVER_EVENT_TYPES[EVENT_ALIASES.get(kind, kind)]._needed
    for _ in range(attempts):
        try:
            event: ServerEvent = server_event_adapter.validate_python(body)
            return event
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            loc = errors[0]["loc"][1:] if errors else ()
            if not loc or loc[0] in needed or not _prune(body, loc):
                return None
    return None


def _prune(body: dict[str, Any], loc: tuple[int | str, ...]) -> bool:
    """Remove the deepest value on ``loc`` that exists (pydantic's union tags in it are skipped)."""
    parent: Any = None
    key: int | str | None = None
    node: Any = body
    for step in loc:
        in_dict = isinstance(node, dict) and isinstance(step, str) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if in_dict or in_list:
            parent, key, node = node, step, node[step]
    if parent is None or key is None:
        return False
    del parent[key]
    return True


# ---------------------------------------------------------------- connection events


@dataclass(frozen=True, slots=True)
class Connected:
    """The WebSocket upgrade succeeded; the server will now send ``session.created``."""

    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionConfigured:
    """``session.updated`` answered our configuration; held sends were released.

    ``resumed`` is true on a session that replaced a dropped one; then
    ``replayed_items`` and ``replayed_audio_ms`` say what was carried over.
    """

    session: SessionProperties | None
    resumed: bool = False
    replayed_items: int = 0
    replayed_audio_ms: int = 0


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The WebSocket is gone. ``clean`` is false for a drop (EOF, 1006, abnormal code)."""

    code: int
    reason: str = ""
    clean: bool = True


@dataclass(frozen=True, slots=True)
class ResponseAborted:
    """A response was in progress when the connection dropped; no ``response.done`` will come."""

    response_id: str | None
    reason: str = "connection lost"


@dataclass(frozen=True, slots=True)
class AudioDropped:
    """Input audio had to be discarded to stay within a bound; never silent."""

    duration_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReplayTrimmed:
    """A reconnect will no longer replay something it would have: the core stays within its bounds.

    One event per item or user turn. ``item_id`` is None for the turn in progress; ``what`` is
    ``"item"`` (a whole item left the kept history), ``"item_audio"`` (a user turn's audio, with no
    transcript to stand in for it), ``"item_audio_part"`` (the start of one long user turn) or
    ``"turn_audio"`` (the start of the turn in progress). The server heard everything: only a replay is short.
    """

    item_id: str | None
    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class InvalidServerEvent:
    """A message that parsed as JSON but did not fit its event's schema; kept whole."""

    type: str | None
    raw: str
    error: str


ConnectionEvent: TypeAlias = (
    Connected | SessionConfigured | ConnectionClosed | ResponseAborted | AudioDropped | ReplayTrimmed
    | InvalidServerEvent
)
Event: TypeAlias = ServerEvent | UntypedServerMessage | ConnectionEvent
