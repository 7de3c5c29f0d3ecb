"""The session configuration tree sent in ``session.update`` and echoed by the server."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import ConfigDict, Field

from .wire import SentModel, WireModel

Modality: TypeAlias = Literal["text", "audio"]
SupportedSampleRate: TypeAlias = Literal[8000, 16000, 24000, 32000, 44100, 48000]
SUPPORTED_SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 24000, 32000, 44100, 48000)


class PCMAudioFormat(SentModel):
    """Linear 16-bit little-endian mono PCM at one of the supported rates."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type", "rate")
    type: Literal["audio/pcm"] = "audio/pcm"
    rate: SupportedSampleRate = 24000


class PCMUAudioFormat(SentModel):
    """G.711 mu-law, fixed at 8 kHz; the core converts it to and from 16-bit PCM."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["audio/pcmu"] = "audio/pcmu"


class PCMAAudioFormat(SentModel):
    """G.711 A-law, fixed at 8 kHz; the core converts it to and from 16-bit PCM."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["audio/pcma"] = "audio/pcma"


AudioFormat: TypeAlias = Annotated[
    PCMAudioFormat | PCMUAudioFormat | PCMAAudioFormat, Field(discriminator="type")
]


def format_rate(fmt: PCMAudioFormat | PCMUAudioFormat | PCMAAudioFormat | None) -> int:
    """The sample rate a format implies (G.711 is always 8 kHz; unset means 24 kHz)."""
    if fmt is None:
        return 24000
    if isinstance(fmt, PCMAudioFormat):
        return fmt.rate
    return 8000


class TurnDetection(SentModel):
    """Server-side turn detection; ``None`` in its place means manual turns."""

    model_config = ConfigDict(extra="allow")
    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["server_vad", "semantic_vad"] = "semantic_vad"
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    idle_timeout_ms: int | None = None


class InputTranscription(WireModel):
    """Speech-to-text for the user's audio."""

    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class AudioInput(WireModel):
    """What the client sends: format, transcription, turn detection."""

    format: AudioFormat | None = None
    transcription: InputTranscription | None = None
    turn_detection: TurnDetection | None = None


class AudioOutput(WireModel):
    """What the server speaks: format, TTS model, voice, speed."""

    format: AudioFormat | None = None
    model: str | None = None
    voice: str | None = None
    speed: float | None = None


class AudioConfiguration(WireModel):
    """Audio in both directions."""

    input: AudioInput | None = None
    output: AudioOutput | None = None


class FunctionTool(SentModel):
    """A function the model may call; ``parameters`` is a JSON schema."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["function"] = "function"
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class SessionProperties(SentModel):
    """The whole session configuration; unknown fields the server adds are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _always_sent: ClassVar[tuple[str, ...]] = ("type",)

    type: str = "realtime"
    id: str | None = None
    object: str | None = None
    expires_at: int | None = None
    model: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    output_modalities: list[Modality] | None = None
    audio: AudioConfiguration | None = None
    tools: list[FunctionTool | dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    provider_data: dict[str, Any] | None = Field(default=None, alias="providerData")

    def input_format(self) -> PCMAudioFormat | PCMUAudioFormat | PCMAAudioFormat | None:
        """The configured input format, if any."""
        return self.audio.input.format if self.audio and self.audio.input else None

    def output_format(self) -> PCMAudioFormat | PCMUAudioFormat | PCMAAudioFormat | None:
        """The configured output format, if any."""
        return self.audio.output.format if self.audio and self.audio.output else None

    def manual_turns(self) -> bool:
        """True when the caller asked for ``turn_detection: null``."""
        inp = self.audio.input if self.audio else None
        return inp is not None and "turn_detection" in inp.model_fields_set and inp.turn_detection is None
