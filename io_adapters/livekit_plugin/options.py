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
    NoiseReduction,
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
    noise_reduction: str | None = None
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
        audio_input = self._audio_input(format=True, turn_detection=True, transcription=True, noise_reduction=True)
        props = SessionProperties(model=self.llm_model, output_modalities=list(self.modalities),
                                  audio=AudioConfiguration(input=audio_input, output=self._audio_output()))
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

    def _audio_input(self, *, format: bool = False, turn_detection: bool = False, transcription: bool = False,
                     noise_reduction: bool = False) -> AudioInput:
        """The input settings named; an off setting is sent as null (left out, the server would keep its own)."""
        fields: dict[str, Any] = {}
        if format:
            fields["format"] = PCMAudioFormat(rate=self.input_sample_rate)  # type: ignore[arg-type]
        if turn_detection:
            fields["turn_detection"] = self.turn_detection
        if transcription:
            fields["transcription"] = InputTranscription(model=self.stt_model) if self.stt_model is not None else None
        if noise_reduction and (self.noise_reduction is not None or not format):
            # a new session without noise reduction leaves it out (Inworld's default is off)
            fields["noise_reduction"] = NoiseReduction(type=self.noise_reduction) if self.noise_reduction else None
        return AudioInput(**fields)

    def _audio_output(self) -> AudioOutput:
        output = AudioOutput(format=PCMAudioFormat(rate=self.output_sample_rate),  # type: ignore[arg-type]
                             model=self.tts_model, voice=self.voice)
        if self.speed is not None:
            output.speed = self.speed
        return output

    def change(
        self,
        *,
        voice: NotGivenOr[str] = NOT_GIVEN,
        temperature: NotGivenOr[float] = NOT_GIVEN,
        speed: NotGivenOr[float] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice | None] = NOT_GIVEN,
        turn_detection: NotGivenOr[TurnDetection | None] = NOT_GIVEN,
        stt_model: NotGivenOr[str | None] = NOT_GIVEN,
        noise_reduction: NotGivenOr[str | None] = NOT_GIVEN,
        max_output_tokens: NotGivenOr[int | Literal["inf"] | None] = NOT_GIVEN,
    ) -> SessionProperties | None:
        """Apply what is given; the ``session.update`` that carries it to a live session (None: nothing)."""
        update = SessionProperties()
        if is_given(voice) or is_given(speed):
            if is_given(voice):
                self.voice = voice
            if is_given(speed):
                self.speed = speed
            update.audio = AudioConfiguration(output=self._audio_output())
        if is_given(turn_detection):
            self.turn_detection = turn_detection
        if is_given(stt_model):
            self.stt_model = stt_model
        if is_given(noise_reduction):
            self.noise_reduction = noise_reduction
        if is_given(turn_detection) or is_given(stt_model) or is_given(noise_reduction):
            audio = update.audio or AudioConfiguration()
            audio.input = self._audio_input(turn_detection=is_given(turn_detection),
                                            transcription=is_given(stt_model),
                                            noise_reduction=is_given(noise_reduction))
            update.audio = audio
        if is_given(temperature):
            self.temperature = update.temperature = temperature
        if is_given(tool_choice):
            self.tool_choice = tool_choice
            update.tool_choice = to_tool_choice(tool_choice)
        if is_given(max_output_tokens):
            self.max_output_tokens = max_output_tokens
            # no limit is Inworld's "inf": null would be left for the server to read as it likes
            update.max_output_tokens = max_output_tokens if max_output_tokens is not None else "inf"
        return update if update.model_fields_set - {"type"} else None

    def refresh(self, capabilities: llm.RealtimeCapabilities) -> None:
        """Bring up to date the two capabilities a change of options moves."""
        capabilities.turn_detection = self.server_turns
        capabilities.user_transcription = self.stt_model is not None

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
