"""Which answer the output track is playing: the track carries audio, the data channel names it."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import pcm_ms

_QUIET_PEAK = 64
"""A track frame whose samples all stay within this is silence (Opus leaves a little noise where zeros were)."""


@dataclass
class PlayedAudio:
    """Attributes the output track's audio to the answer it belongs to (the track itself carries no ids).

    An answer's audio part (``response.content_part.added``) arms it; its first audible frame starts it; after
    ``response.output_audio.done`` a run of ``tail_ms`` of silence ends it; a barge-in or a cancelled response
    ends it at once (the server stops the track there). Audio that plays before the event that names it (the
    data channel retransmits a lost message; the track does not wait) is kept, up to ``early_ms``, and given
    to the answer once it is named.
    """

    tail_ms: int = 300
    early_ms: int = 3000
    item_id: str | None = None
    response_id: str = ""
    output_index: int = 0
    content_index: int = 0
    started: bool = False
    done: bool = False
    quiet_ms: int = 0
    played: dict[str, int] = field(default_factory=dict)
    early: list[bytes] = field(default_factory=list)
    early_quiet_ms: int = 0

    def on_event(self, event: ev.Event) -> None:
        audio_part = isinstance(event, ev.ResponseContentPartAdded) and event.part is not None \
            and event.part.type in ("audio", "output_audio")
        first_words = isinstance(event, ev.ResponseOutputAudioTranscriptDelta) and event.item_id != self.item_id \
            and event.item_id not in self.played
        if audio_part or first_words:
            assert isinstance(event, ev.ResponseContentPartAdded | ev.ResponseOutputAudioTranscriptDelta)
            self._arm(event.item_id, event.response_id, event.output_index, event.content_index)
        elif isinstance(event, ev.ResponseOutputAudioDone) and event.item_id == self.item_id:
            self.done = True
        elif isinstance(event, ev.InputAudioBufferSpeechStarted) or (
                isinstance(event, ev.ResponseDone) and event.response.status in ("cancelled", "failed")):
            self.item_id = None
            self.early.clear()

    def _arm(self, item_id: str, response_id: str, output_index: int, content_index: int) -> None:
        self.item_id, self.response_id = item_id, response_id
        self.output_index, self.content_index = output_index, content_index
        self.started = self.done = False
        self.quiet_ms = 0
        self.played.setdefault(item_id, 0)
        while len(self.played) > 32:
            del self.played[next(iter(self.played))]

    def on_audio(self, pcm: bytes, rate: int) -> list[ev.ResponseOutputAudioDelta]:
        """One frame off the track: the deltas it makes of the current answer (none: silence, no answer yet)."""
        loud = _peak(pcm) > _QUIET_PEAK
        if self.item_id is None:
            self._keep_early(pcm, loud, rate)
            return []
        if self.done and not loud:
            self.quiet_ms += pcm_ms(len(pcm), rate)
            if self.quiet_ms >= self.tail_ms:
                self.item_id = None
            return []
        if not self.started:
            early, self.early = self.early, []
            if not loud and not early:
                return []
            self.started = True
            return [self._delta(chunk) for chunk in [*early, pcm]]
        self.quiet_ms = 0
        return [self._delta(pcm)]

    def _keep_early(self, pcm: bytes, loud: bool, rate: int) -> None:
        """Audio with no answer armed: kept from its first audible frame, forgotten after a silence."""
        early = self.early
        if not early and not loud:
            return
        self.early_quiet_ms = 0 if loud else self.early_quiet_ms + pcm_ms(len(pcm), rate)
        if self.early_quiet_ms >= self.tail_ms:
            early.clear()
            return
        early.append(pcm)
        while early and pcm_ms(len(early[0]), rate) * len(early) > self.early_ms:
            del early[0]

    def _delta(self, pcm: bytes) -> ev.ResponseOutputAudioDelta:
        assert self.item_id is not None
        self.played[self.item_id] = self.played.get(self.item_id, 0) + len(pcm)
        return ev.ResponseOutputAudioDelta(response_id=self.response_id, item_id=self.item_id,
                                           output_index=self.output_index, content_index=self.content_index, pcm=pcm)


def _peak(pcm: bytes) -> int:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    return max(max(samples, default=0), -min(samples, default=0))


__all__ = ["PlayedAudio"]
