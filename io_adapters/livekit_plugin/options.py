"""What a ``RealtimeModel`` was asked for, and the ``session.update`` and capabilities that follow from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from livekit.agents import llm
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    InputTranscription,
    PCMAudioFormat,
    SessionProperties,
    TurnDetection,
)
from inworld_realtime.protocol.handshake import DEFAULT_URL

from ..transports import Transport
from .convert import to_tool_choice

# Inworld's defaults as pipecat-ai 1.14's Inworld service sends them (no Inworld client states others).
DEFAULT_LLM_MODEL = "openai/gpt-4.1-mini"
DEFAULT_VOICE = "Clive"
DEFAULT_TTS_MODEL = "inworld-tts-2"
DEFAULT_STT_MODEL = "inworld/inworld-stt-1"
SAMPLE_RATE = 24000

Modality = Literal["text", "audio"]


def realtime_url(base_url: str) -> str:
    """The session URL from what LiveKit users pass: ``http(s)`` as ``ws(s)``, a bare host gets Inworld's path."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.strip("/") else urlsplit(DEFAULT_URL).path
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def default_turn_detection() -> TurnDetection:
    """Semantic VAD that answers and yields to the user by itself (pipecat's Inworld default)."""
    return TurnDetection(type="semantic_vad", eagerness="low", create_response=True, interrupt_response=True)


@dataclass
class Options:
    """Everything a session is opened with; sessions take a copy and update it on their own."""

    api_key: str = field(repr=False)
    base_url: str
    auth_type: Literal["basic", "bearer"]
    llm_model: str
    voice: str
    tts_model: str
    stt_model: str | None
    turn_detection: TurnDetection | None
    modalities: list[Modality]
    temperature: float | None = None
    speed: float | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    tool_choice: llm.ToolChoice | None = None
    input_sample_rate: int = SAMPLE_RATE
    output_sample_rate: int = SAMPLE_RATE
    provider_data: dict[str, Any] = field(default_factory=dict)
    client_options: dict[str, Any] = field(default_factory=dict)
    transport: Transport = "websocket"

    @property
    def server_turns(self) -> bool:
        """Whether the server both detects the end of a turn and answers it."""
        return self.turn_detection is not None and self.turn_detection.create_response is not False

    def session(self) -> SessionProperties:
        """The whole configuration of a new session (the core sends it again on every reconnect)."""
        audio_input = AudioInput(format=PCMAudioFormat(rate=self.input_sample_rate),  # type: ignore[arg-type]
                                 turn_detection=self.turn_detection)
        if self.stt_model is not None:
            audio_input.transcription = InputTranscription(model=self.stt_model)
        output = AudioOutput(format=PCMAudioFormat(rate=self.output_sample_rate),  # type: ignore[arg-type]
                             model=self.tts_model, voice=self.voice)
        if self.speed is not None:
            output.speed = self.speed
        props = SessionProperties(model=self.llm_model, output_modalities=list(self.modalities),
                                  audio=AudioConfiguration(input=audio_input, output=output))
        if self.temperature is not None:
            props.temperature = self.temperature
        if self.max_output_tokens is not None:
            props.max_output_tokens = self.max_output_tokens
        if self.tool_choice is not None:
            props.tool_choice = to_tool_choice(self.tool_choice)
        # The model's tool calls go to LiveKit, which runs them and asks for the reply itself
        # (pipecat's Inworld service sends the same; Inworld does not document the key).
        props.provider_data = {"auto_tool_response": False, **self.provider_data}
        return props

    def change(
        self,
        *,
        voice: NotGivenOr[str] = NOT_GIVEN,
        temperature: NotGivenOr[float] = NOT_GIVEN,
        speed: NotGivenOr[float] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice | None] = NOT_GIVEN,
    ) -> SessionProperties | None:
        """Apply what is given; the ``session.update`` that carries it to a live session (None: nothing)."""
        update = SessionProperties()
        if is_given(voice) or is_given(speed):
            if is_given(voice):
                self.voice = voice
            if is_given(speed):
                self.speed = speed
            update.audio = AudioConfiguration(output=self.session().audio.output)  # type: ignore[union-attr]
        if is_given(temperature):
            self.temperature = update.temperature = temperature
        if is_given(tool_choice):
            self.tool_choice = tool_choice
            update.tool_choice = to_tool_choice(tool_choice)
        return update if update.model_fields_set - {"type"} else None

    def capabilities(self, *, turn_detection_given: bool) -> llm.RealtimeCapabilities:
        """What LiveKit may rely on, as far as Inworld supports it."""
        return llm.RealtimeCapabilities(
            message_truncation=True,
            turn_detection=self.server_turns,
            user_transcription=self.stt_model is not None,
            auto_tool_reply_generation=False,
            audio_output="audio" in self.modalities,
            manual_function_calls=True,
            can_disable_turn_detection=not turn_detection_given,
            mutable_chat_context=True,
            mutable_instructions=True,
            mutable_tools=True,
            per_response_tool_choice=False,
        )
