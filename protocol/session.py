"""The session configuration tree sent in ``session.update`` and echoed by the server."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import ConfigDict, Discriminator, Field, Tag, ValidationError

from .errors import ConfigurationError
from .wire import SentModel, WireModel

Modality: TypeAlias = Literal["text", "audio"] | str
SupportedSampleRate: TypeAlias = Literal[8000, 16000, 24000, 32000, 44100, 48000]
SUPPORTED_SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 24000, 32000, 44100, 48000)


class PCMAudioFormat(SentModel):
    """Linear 16-bit little-endian mono PCM; the rates Inworld lists are typed, others kept as given."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type", "rate")
    type: Literal["audio/pcm"] = "audio/pcm"
    rate: SupportedSampleRate | int = 24000


class PCMUAudioFormat(SentModel):
    """G.711 mu-law, fixed at 8 kHz; the core converts it to and from 16-bit PCM."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["audio/pcmu"] = "audio/pcmu"


class PCMAAudioFormat(SentModel):
    """G.711 A-law, fixed at 8 kHz; the core converts it to and from 16-bit PCM."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["audio/pcma"] = "audio/pcma"


class Float32AudioFormat(SentModel):
    """32-bit float little-endian mono PCM at ``rate``; the core converts it to and from 16-bit PCM.

    Sources: Mastra's ``@mastra/voice-inworld`` 0.3.0 types (``'audio/float32'``, ``'float32'``, with a rate) and
    the Arche bridge's note on the format enum Inworld's schema validates against (both third party).
    """

    _always_sent: ClassVar[tuple[str, ...]] = ("type", "rate")
    type: Literal["audio/float32"] = "audio/float32"
    rate: SupportedSampleRate | int = 24000


class OtherAudioFormat(SentModel):
    """A format object of a type this library does not know; kept and sent back as given."""

    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: str


KnownAudioFormat: TypeAlias = PCMAudioFormat | PCMUAudioFormat | PCMAAudioFormat | Float32AudioFormat

#: The format strings Inworld accepts (its Twilio and Telnyx bridges send ``"g711_ulaw"``), as objects.
FORMAT_NAMES: dict[str, KnownAudioFormat] = {
    "pcm16": PCMAudioFormat(),
    "audio/pcm": PCMAudioFormat(),
    "g711_ulaw": PCMUAudioFormat(),
    "audio/pcmu": PCMUAudioFormat(),
    "g711_alaw": PCMAAudioFormat(),
    "audio/pcma": PCMAAudioFormat(),
    "float32": Float32AudioFormat(),
    "audio/float32": Float32AudioFormat(),
}


def _format_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("audio/pcm", "audio/pcmu", "audio/pcma", "audio/float32") else "other"


FormatObject: TypeAlias = Annotated[
    Annotated[PCMAudioFormat, Tag("audio/pcm")]
    | Annotated[PCMUAudioFormat, Tag("audio/pcmu")]
    | Annotated[PCMAAudioFormat, Tag("audio/pcma")]
    | Annotated[Float32AudioFormat, Tag("audio/float32")]
    | Annotated[OtherAudioFormat, Tag("other")],
    Discriminator(_format_tag),
]
#: A format as an object (``{"type": "audio/pcm", "rate": 24000}``) or as one of Inworld's strings.
AudioFormat: TypeAlias = FormatObject | str


def known_format(fmt: KnownAudioFormat | OtherAudioFormat | str | None) -> KnownAudioFormat | None:
    """The typed format a configured value means (None: unset or not one this library can encode)."""
    if fmt is None or isinstance(fmt, KnownAudioFormat):
        return fmt
    if isinstance(fmt, str):
        return FORMAT_NAMES.get(fmt.lower())
    return None


def format_rate(fmt: KnownAudioFormat | OtherAudioFormat | str | None) -> int:
    """The sample rate a format implies (G.711 is always 8 kHz; unset or unknown means 24 kHz)."""
    typed = known_format(fmt)
    if typed is None:
        return 24000
    if isinstance(typed, PCMAudioFormat | Float32AudioFormat):
        return typed.rate
    return 8000


def wire_bytes_per_sample(fmt: KnownAudioFormat | OtherAudioFormat | str | None) -> int:
    """Bytes one sample takes on the wire: 1 for G.711, 2 for PCM16, 4 for float32."""
    typed = known_format(fmt)
    if isinstance(typed, Float32AudioFormat):
        return 4
    return 1 if isinstance(typed, PCMUAudioFormat | PCMAAudioFormat) else 2


class TurnDetection(SentModel):
    """Server-side turn detection; ``None`` in its place means manual turns."""

    model_config = ConfigDict(extra="allow")
    _always_sent: ClassVar[tuple[str, ...]] = ("type",)
    type: Literal["server_vad", "semantic_vad"] | str = "semantic_vad"
    eagerness: Literal["low", "medium", "high", "auto"] | str | None = None
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


class NoiseReduction(WireModel):
    """Input noise reduction for the microphone's distance (Inworld's mobile apps send it)."""

    type: Literal["near_field", "far_field"] | str


class AudioInput(WireModel):
    """What the client sends: format, transcription, noise reduction, turn detection."""

    format: AudioFormat | None = None
    transcription: InputTranscription | None = None
    noise_reduction: NoiseReduction | None = None
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


class VoiceProfileLabel(WireModel):
    """One ranked label of a voice-profile dimension (``{"label": "adult", "confidence": 0.8}``)."""

    label: str = ""
    confidence: float | None = None


class VoiceProfile(WireModel):
    """What the speech recogniser guessed about the speaker, when ``providerData.stt.voice_profile`` is on.

    Mastra 0.3.x types (``InworldVoiceProfile``) and Inworld's STT examples (age, gender, emotion, vocal style,
    accent); other dimensions are kept.
    """

    age: list[VoiceProfileLabel] | None = None
    gender: list[VoiceProfileLabel] | None = None
    emotion: list[VoiceProfileLabel] | None = None
    vocal_style: list[VoiceProfileLabel] | None = None
    accent: list[VoiceProfileLabel] | None = None


class SttSettings(WireModel):
    """``providerData.stt``: Inworld's speech-to-text knobs (Mastra's types; the provider-data docs name them)."""

    prompt: str | None = None
    voice_profile: bool | None = None
    language_hints: list[str] | None = None
    end_of_turn_confidence_threshold: float | None = None
    vad_threshold: float | None = None
    min_end_of_turn_silence: float | None = None
    max_turn_silence: float | None = None


class TtsSettings(WireModel):
    """``providerData.tts``: segmentation, steering and delivery of the synthesised speech (docs: naturalness,
    provider-data; Mastra and OpenClaw send the same keys)."""

    segmenter_strategy: Literal[
        "auto", "balanced", "sentence", "full_turn", "fast_start", "per_segment_context"] | str | None = None
    steering_handling: Literal["repeat_each_chunk", "emit_once"] | str | None = None
    language: str | None = None
    delivery_mode: Literal["STABLE", "BALANCED", "CREATIVE"] | str | None = None
    conversational: bool | None = None
    user_turn_mode: Literal["both", "audio_only", "text_only", "none"] | str | None = None


class MemoryState(WireModel):
    """The rolling memory Inworld keeps (facts, summary); echoed in ``session.updated`` under
    ``providerData.memory.state`` (Mastra's types and client)."""

    version: int | None = None
    facts: list[str] | None = None
    summary: str | None = None
    context_text: str | None = None
    turns_since_gen: int | None = None
    total_turns: int | None = None
    items_trimmed: int | None = None


class MemorySettings(WireModel):
    """``providerData.memory``: automatic memory (Mastra's types; Inworld's feature tester sends
    ``enabled``, ``turn_interval`` 5, ``max_facts`` 50)."""

    enabled: bool | None = None
    turn_interval: int | None = None
    max_memory_length: int | None = None
    max_transcript_items: int | None = None
    max_facts: int | None = None
    trim_after_summarize: bool | None = None
    state: MemoryState | None = None


class ProviderData(WireModel):
    """``session.providerData`` typed: Inworld's extensions. Known branches typed, every other key kept.

    ``SessionProperties.provider_data`` stays a plain dict on the wire; build one with
    ``ProviderData(...).to_wire()`` and read one with ``SessionProperties.provider_settings()``.
    """

    stt: SttSettings | None = None
    tts: TtsSettings | None = None
    memory: MemorySettings | None = None
    backchannel: dict[str, Any] | None = None
    responsiveness: dict[str, Any] | None = None
    auto_tool_response: bool | None = None
    metadata: dict[str, Any] | None = None
    user_id: str | None = None

    @classmethod
    def read(cls, data: Any) -> ProviderData:
        """Liberal reading: a branch that does not fit its model is left out of this typed view (the raw
        ``providerData`` dict still holds it) instead of failing the rest."""
        if not isinstance(data, dict):
            return cls()
        try:
            return cls.model_validate(data)
        except ValidationError:
            good: dict[str, Any] = {}
            for key, value in data.items():
                try:
                    cls.model_validate({key: value})
                except ValidationError:
                    continue
                good[key] = value
            return cls.model_validate(good)


class SessionProperties(SentModel):
    """The whole session configuration; unknown fields the server adds are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _always_sent: ClassVar[tuple[str, ...]] = ("type",)

    type: str = "realtime"
    id: str | None = None
    object: str | None = None
    expires_at: int | float | str | None = None
    model: str | None = None
    instructions: str | None = None
    temperature: float | None = None
    max_output_tokens: int | Literal["inf"] | str | None = None
    output_modalities: list[Modality] | None = None
    audio: AudioConfiguration | None = None
    tools: list[FunctionTool | dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    provider_data: dict[str, Any] | None = Field(default=None, alias="providerData")

    def input_format(self) -> KnownAudioFormat | None:
        """The configured input format as a typed object (strings such as ``"g711_ulaw"`` resolved)."""
        return known_format(self.audio.input.format if self.audio and self.audio.input else None)

    def output_format(self) -> KnownAudioFormat | None:
        """The configured output format as a typed object (strings such as ``"g711_ulaw"`` resolved)."""
        return known_format(self.audio.output.format if self.audio and self.audio.output else None)

    def provider_settings(self) -> ProviderData:
        """``providerData`` as typed settings (stt, tts, memory...); unknown keys kept."""
        return ProviderData.read(self.provider_data)

    def memory_state(self) -> MemoryState | None:
        """The memory state the server echoes in ``providerData.memory.state`` (None when it sent none)."""
        memory = self.provider_settings().memory
        return memory.state if memory is not None else None

    def manual_turns(self) -> bool:
        """True when the caller asked for ``turn_detection: null``."""
        inp = self.audio.input if self.audio else None
        return inp is not None and "turn_detection" in inp.model_fields_set and inp.turn_detection is None


def check_session(session: Any, what: str = "session") -> SessionProperties:
    """Raise ``ConfigurationError`` for a session the core could not stream with (a PCM rate Inworld does not take).

    Only what the caller gives is checked this way; what the server reports is taken as given.
    """
    if not isinstance(session, SessionProperties):
        raise ConfigurationError(f"{what} must be a SessionProperties, not {type(session).__name__}")
    audio = session.audio
    for side in ("input", "output"):
        part = getattr(audio, side, None) if audio is not None else None
        fmt = part.format if part is not None else None
        if isinstance(fmt, PCMAudioFormat):
            rate = fmt.rate
            if isinstance(rate, bool) or not isinstance(rate, int) or rate not in SUPPORTED_SAMPLE_RATES:
                raise ConfigurationError(f"{what}.audio.{side}.format.rate must be one of "
                                         f"{', '.join(map(str, SUPPORTED_SAMPLE_RATES))} (Hz), not {rate!r}")
    return session
