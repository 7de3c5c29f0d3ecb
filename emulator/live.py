"""The user's turn while it is still going on: rolling transcripts, smart-turn hints, voice profile, memory.

Inworld's user-transcript deltas are rolling rewrites: each one carries the whole transcript so far, and they
arrive while the user is still speaking (Inworld's Android app, ``ConversationViewModel.kt``: "Some STT providers
(e.g. Soniox) emit each partial as the FULL text-so-far"; Mastra's ``@mastra/voice-inworld`` 0.3.x: "Inworld
currently sends rolling-rewrite deltas (each one is the full transcript so far)", and it reads them as a
barge-in signal). OpenAI's are additive pieces, kept here as an option.
"""

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from inworld_realtime.protocol.session import MemorySettings, MemoryState, VoiceProfile, VoiceProfileLabel

DeltaMode = Literal["rolling", "additive"]
WORDS_PER_S = 2.5
"""How fast a scripted transcript is revealed during speech: 150 words a minute, a conversational pace (ours)."""
DEFAULT_MEMORY_INTERVAL = 5
"""Turns between memory extractions when ``turn_interval`` is not given (Inworld's feature tester sends 5)."""
DEFAULT_MAX_FACTS = 50


@dataclass
class LiveTurn:
    """One user turn's transcript as sent so far, and its smart-turn state."""

    item_id: str
    started_ms: float
    last_partial_ms: float = 0.0
    shown: str = ""
    """The transcript the last rolling delta carried."""
    final: bool = False
    """The turn was committed: late partial results are dropped."""
    recognising: bool = False
    suggestion_open: bool = False
    utterance_index: int = 0
    profile: VoiceProfile | None = None
    wall_started: float = 0.0
    """Loop time when speech started, and the input time then: to tell live audio from a fast upload."""
    input_at_start: float = 0.0
    rest_until: float = 0.0
    """Loop time before which no preview pass starts: each pass is followed by a rest as long as itself, so
    previews take at most half a core while the user speaks."""

    def live_audio(self, input_ms: float, wall_now: float) -> bool:
        """Whether the audio arrives at about real time (a microphone, allowing for bursts on a busy machine), not
        much faster (a file uploaded)."""
        return (input_ms - self.input_at_start) / 1000 <= 2.0 * (wall_now - self.wall_started) + 1.0

    def rolling(self, text: str, final_stage: bool = False) -> str | None:
        """The delta to send for ``text`` (the whole transcript so far), or None when there is nothing new.

        While the user speaks every change is sent; once committed, a word-by-word result that is still
        shorter than what the client already shows is held back (the final transcript follows anyway).
        """
        if not text or text == self.shown or (self.final and not final_stage):
            return None
        if final_stage and len(text) < len(self.shown):
            return None
        self.shown = text
        return text


def revealed(text: str, speech_s: float) -> str:
    """The first words of a scripted transcript that ``speech_s`` of speech could hold, at ``WORDS_PER_S``."""
    words = re.findall(r"\S+", text)
    count = min(len(words), max(1, math.floor(speech_s * WORDS_PER_S)))
    return " ".join(words[:count])


def final_deltas(mode: DeltaMode, live: LiveTurn, pieces: list[str], transcript: str) -> list[str]:
    """The deltas that end a turn: additive ``pieces``; or rolling prefixes ending with the whole transcript."""
    if mode == "additive":
        return list(pieces)
    out: list[str] = []
    so_far = ""
    for piece in pieces:
        so_far += piece
        delta = live.rolling(so_far.strip(), final_stage=True)
        if delta is not None:
            out.append(delta)
    if transcript and transcript != live.shown:
        live.shown = transcript
        out.append(transcript)
    return out


def voice_profile(pcm: bytes, rate: int) -> VoiceProfile:
    """A stand-in voice profile: gender from the zero-crossing pitch estimate, the rest fixed (values ours)."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    crossings = sum(1 for a, b in pairwise(samples) if (a < 0) != (b < 0))
    seconds = len(samples) / rate if rate else 0.0
    pitch = crossings / 2 / seconds if seconds else 0.0
    low = pitch < 165.0
    return VoiceProfile(
        age=[VoiceProfileLabel(label="adult", confidence=0.7)],
        gender=[VoiceProfileLabel(label="male" if low else "female", confidence=0.6),
                VoiceProfileLabel(label="female" if low else "male", confidence=0.4)],
        emotion=[VoiceProfileLabel(label="neutral", confidence=0.8)],
        vocal_style=[VoiceProfileLabel(label="normal", confidence=0.8)],
        accent=[VoiceProfileLabel(label="unknown", confidence=0.5)],
    )


@dataclass
class Memory:
    """Inworld's automatic memory, emulated: every ``turn_interval`` user turns the turns become facts.

    Sources: Mastra's ``InworldMemoryState`` (version, facts, summary, turns_since_gen, total_turns...) and its
    reading of the state from ``session.updated``; the extraction event's name from Inworld's unmerged feature
    tester (weak). The facts and summary are ours: the user's own words, bounded by ``max_facts``.
    """

    state: MemoryState = field(default_factory=lambda: MemoryState(
        version=0, facts=[], summary="", turns_since_gen=0, total_turns=0, items_trimmed=0))
    pending: list[str] = field(default_factory=list)

    def restore(self, given: MemoryState) -> None:
        """Adopt the state a client sent back in ``providerData.memory.state``."""
        current = self.state.model_dump()
        current.update({k: v for k, v in given.model_dump().items() if v is not None})
        self.state = MemoryState.model_validate(current)

    def user_turn(self, text: str, settings: MemorySettings) -> MemoryState | None:
        """Count a user turn; the new state when this turn completes an extraction interval."""
        state = self.state
        state.total_turns = (state.total_turns or 0) + 1
        state.turns_since_gen = (state.turns_since_gen or 0) + 1
        interval = settings.turn_interval if settings.turn_interval and settings.turn_interval > 0 \
            else DEFAULT_MEMORY_INTERVAL
        if text:
            self.pending = [*self.pending, text][-interval:]
        if state.turns_since_gen < interval:
            return None
        limit = settings.max_facts if settings.max_facts and settings.max_facts > 0 else DEFAULT_MAX_FACTS
        facts = [*(state.facts or []), *(f"The user said: {t}" for t in self.pending)]
        state.items_trimmed = (state.items_trimmed or 0) + max(0, len(facts) - limit)
        state.facts = facts[-limit:]
        summary = "; ".join(self.pending[-3:])
        if settings.max_memory_length and settings.max_memory_length > 0:
            summary = summary[: settings.max_memory_length]
        state.summary = summary
        state.context_text = "\n".join(state.facts)
        state.version = (state.version or 0) + 1
        state.turns_since_gen = 0
        self.pending = []
        return state.model_copy(deep=True)


__all__ = ["DeltaMode", "LiveTurn", "Memory", "final_deltas", "revealed", "voice_profile"]
