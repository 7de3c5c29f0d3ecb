"""Audio formats in every spelling Inworld's clients use, reduced to one codec and rate at the emulator's edge.

Inworld's phone bridges send the beta strings (``"g711_ulaw"``), pipecat and the docs send GA objects
(``{"type": "audio/pcmu"}``), Mastra's client ``audio/float32`` (32-bit float PCM at a rate); the emulator hears
and speaks 16-bit PCM inside and converts here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from inworld_realtime.protocol import float32, g711
from inworld_realtime.protocol.session import Float32AudioFormat, PCMAAudioFormat, PCMAudioFormat, PCMUAudioFormat

Codec = Literal["pcm", "pcmu", "pcma", "float32"]
DEFAULT_RATE = 24000

#: Every name seen for a codec: GA MIME types, beta strings, common MIME aliases.
_NAMES: dict[str, Codec] = {
    "audio/pcm": "pcm", "pcm16": "pcm", "pcm": "pcm", "audio/l16": "pcm", "linear16": "pcm",
    "audio/pcmu": "pcmu", "g711_ulaw": "pcmu", "pcmu": "pcmu", "ulaw": "pcmu", "mulaw": "pcmu",
    "audio/x-mulaw": "pcmu", "audio/mulaw": "pcmu", "audio/basic": "pcmu",
    "audio/pcma": "pcma", "g711_alaw": "pcma", "pcma": "pcma", "alaw": "pcma", "audio/x-alaw": "pcma",
    "audio/alaw": "pcma",
    "audio/float32": "float32", "float32": "float32", "pcm_f32le": "float32",
}
_GA_TYPE: dict[Codec, str] = {"pcm": "audio/pcm", "pcmu": "audio/pcmu", "pcma": "audio/pcma",
                              "float32": "audio/float32"}


@dataclass(frozen=True)
class WireFormat:
    """What the bytes on the wire are: a codec and its sample rate (G.711 is always 8 kHz)."""

    codec: Codec = "pcm"
    rate: int = DEFAULT_RATE
    known: bool = True
    """False when the name was not recognised (the audio is then taken as 24 kHz PCM)."""

    @property
    def width(self) -> int:
        """Bytes per sample on the wire."""
        return {"pcm": 2, "float32": 4}.get(self.codec, 1)

    def chunk_bytes(self, ms: float) -> int:
        """Wire bytes of ``ms`` milliseconds of audio, in whole samples and at least one."""
        return max(self.width, int(ms * self.rate / 1000) * self.width)

    def decode(self, wire: bytes) -> bytes:
        """Wire bytes to 16-bit little-endian PCM at ``rate``."""
        if self.codec == "pcmu":
            return g711.ulaw_to_pcm16(wire)
        if self.codec == "pcma":
            return g711.alaw_to_pcm16(wire)
        if self.codec == "float32":
            return float32.float32_to_pcm16(wire)
        return wire[: len(wire) - len(wire) % 2]

    def encode(self, pcm: bytes) -> bytes:
        """16-bit PCM at ``rate`` to wire bytes."""
        if self.codec == "pcmu":
            return g711.pcm16_to_ulaw(pcm)
        if self.codec == "pcma":
            return g711.pcm16_to_alaw(pcm)
        if self.codec == "float32":
            return float32.pcm16_to_float32(pcm)
        return pcm

    def model(self) -> PCMAudioFormat | PCMUAudioFormat | PCMAAudioFormat | Float32AudioFormat:
        """The GA object for this format, as the core models it."""
        if self.codec == "pcmu":
            return PCMUAudioFormat()
        if self.codec == "pcma":
            return PCMAAudioFormat()
        if self.codec == "float32":
            return Float32AudioFormat.model_validate({"type": "audio/float32", "rate": self.rate})
        return PCMAudioFormat.model_validate({"type": "audio/pcm", "rate": self.rate})


def resolve(fmt: object) -> WireFormat:
    """The wire format of any spelling: a core model, a GA dict, a beta or MIME string, or nothing (24 kHz PCM)."""
    if fmt is None:
        return WireFormat()
    name: object
    rate: object
    if isinstance(fmt, str):
        name, rate = fmt, None
    elif isinstance(fmt, dict):
        name, rate = fmt.get("type"), fmt.get("rate")
    else:
        name, rate = getattr(fmt, "type", None), getattr(fmt, "rate", None)
    codec = _NAMES.get(name.strip().lower()) if isinstance(name, str) else None
    if codec is None:
        return WireFormat(known=False)
    if codec in ("pcmu", "pcma"):
        return WireFormat(codec, 8000)
    return WireFormat(codec, rate if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0
                      else DEFAULT_RATE)


def ga_format(fmt: Any) -> Any:
    """A format given as a string, as the GA object Inworld documents; anything else unchanged."""
    if not isinstance(fmt, str):
        return fmt
    found = resolve(fmt)
    if not found.known:
        return fmt
    return {"type": _GA_TYPE[found.codec], "rate": found.rate} if found.codec in ("pcm", "float32") else \
        {"type": _GA_TYPE[found.codec]}


__all__ = ["Codec", "WireFormat", "ga_format", "resolve"]
