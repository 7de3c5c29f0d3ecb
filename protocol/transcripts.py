"""The user's words so far, per item, from either shape of ``input_audio_transcription.delta``.

OpenAI's Realtime API defines each delta as an additive piece. Inworld's server sends rolling
rewrites instead: each delta is the whole transcript so far, sent while the user still speaks, and
it may revise words already sent. Mastra's ``@mastra/voice-inworld`` says so ("Inworld currently
sends rolling-rewrite deltas (each one is the full transcript so far)") and Inworld's own Android,
iOS and Flutter apps reconcile both shapes ("Some STT providers (e.g. Soniox) emit each partial as
the FULL text-so-far"). See docs/transcripts.md for the sources and the rule below.

How a delta ``d`` is read against the item's text so far ``t`` (first match wins):

1. the session's shape is known: rolling replaces ``t`` with ``d``; additive appends ``d``;
2. ``t`` is empty, or ``d`` equals or extends ``t`` (``d.startswith(t)``): ``d`` is the text so far;
3. ``t`` extends ``d`` (a stale, shorter snapshot): ``t`` is kept;
4. ``d`` shares at least half of ``t`` as a common prefix, ignoring case: a rewrite, ``d`` replaces ``t``;
5. ``d`` starts with a space or punctuation: an additive piece, appended;
6. anything else is appended too (Inworld's apps stop at this rule), and teaches nothing.

Rule 2 with a strictly longer ``d``, and rule 4, teach the view "rolling"; rule 5 teaches it "additive".
The shape is learned once per view (a session's transcription model decides it) and forgotten by
``clear``. A ``completed`` transcript always wins over what the deltas built. Each delta costs at most
one pass over its item's text, never over the conversation.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal

Shape = Literal["rolling", "additive"]

MAX_OPEN_ITEMS = 16
"""User items whose transcript is still streaming that a view keeps (the oldest is let go first)."""


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass
class UserTranscripts:
    """The transcript so far of each user item still being transcribed, whichever way deltas come."""

    shape: Shape | None = None
    """What this session's deltas turned out to be (None until a delta told them apart)."""
    max_open_items: int = MAX_OPEN_ITEMS
    _open: dict[str, str] = field(default_factory=dict)
    _closed: dict[str, None] = field(default_factory=dict)  # the last few completed: a late delta changes nothing

    def delta(self, item_id: str, delta: str) -> str | None:
        """Take one delta of ``item_id``; returns the item's transcript so far (None: it was completed)."""
        text = self._open.get(item_id)
        if text is None:
            if item_id in self._closed:
                return None
            if len(self._open) >= self.max_open_items:
                del self._open[next(iter(self._open))]
            self._open[item_id] = delta
            return delta
        if not delta:
            return text
        new = self._read(text, delta)
        if new is not text:
            self._open[item_id] = new
        return new

    def _read(self, text: str, delta: str) -> str:
        if self.shape == "rolling":
            return delta
        if self.shape == "additive":
            return text + delta
        if not text:
            return delta
        if delta.startswith(text):
            if len(delta) > len(text):
                self.shape = "rolling"
            return delta
        if text.startswith(delta):
            return text
        if _common_prefix(text.casefold(), delta.casefold()) * 2 >= len(text):
            self.shape = "rolling"
            return delta
        if delta[0].isspace() or unicodedata.category(delta[0]).startswith("P"):
            self.shape = "additive"
        return text + delta

    def completed(self, item_id: str) -> None:
        """The item's final transcript came (it wins; the conversation keeps it)."""
        self._open.pop(item_id, None)
        if len(self._closed) >= self.max_open_items:
            del self._closed[next(iter(self._closed))]
        self._closed[item_id] = None

    def forget(self, item_id: str) -> None:
        """The item failed to transcribe or was deleted."""
        self._open.pop(item_id, None)

    def get(self, item_id: str) -> str | None:
        """The transcript so far of ``item_id`` if it is still streaming."""
        return self._open.get(item_id)

    def clear(self) -> None:
        """A fresh conversation: items and the learned shape are forgotten."""
        self._open.clear()
        self._closed.clear()
        self.shape = None

    def __len__(self) -> int:
        return len(self._open)
