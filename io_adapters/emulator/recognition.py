"""Speech recognition of the user's committed audio with pocketsphinx, when the ``speech`` extra is installed.

pocketsphinx (BSD) ships its US English acoustic and language models inside its wheel, so this works
offline. The model expects 16 kHz mono; other rates are resampled. A committed turn is decoded in one
pass (batch cepstral normalisation: a live pass misreads more of a session's first turn), in a worker
thread, one turn at a time, and at most ``MAX_SECONDS`` of it, which bounds the cost.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .speech import resample

log = logging.getLogger(__name__)

MODEL_RATE = 16000
MAX_SECONDS = 30.0
"""Longer turns are recognised on their first 30 seconds only (the rest is not heard)."""
NAME = "pocketsphinx"


@dataclass(frozen=True)
class Recognition:
    """What was heard: the words in order, and what it cost."""

    words: tuple[str, ...]
    audio_s: float
    cpu_s: float

    @property
    def text(self) -> str:
        """The words as one transcript."""
        return " ".join(self.words)


def available() -> bool:
    """Whether pocketsphinx can be imported (only the emulator ever imports it)."""
    try:
        importlib.import_module("pocketsphinx")
    except ImportError:
        return False
    return True


class Recognizer:
    """One pocketsphinx decoder, created on first use; calls are serialised by a lock.

    ``executor`` is its own worker thread: turns queue there, not in the event loop's default pool
    (where the voice runs).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decoder: Any = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recognition")

    def _get_decoder(self) -> Any:
        if self._decoder is None:
            module = importlib.import_module("pocketsphinx")
            self._decoder = module.Decoder(samprate=MODEL_RATE, loglevel="FATAL")
        return self._decoder

    def recognize(self, pcm: bytes, rate: int) -> Recognition:
        """The words in 16-bit mono PCM at ``rate`` (blocking: call it off the event loop)."""
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        pcm = pcm[: int(MAX_SECONDS * rate) * 2]
        audio_s = len(pcm) / 2 / rate
        with self._lock:
            started = time.thread_time()
            pcm16k = resample(pcm, rate, MODEL_RATE)
            decoder = self._get_decoder()
            decoder.start_utt()
            decoder.process_raw(pcm16k, False, True)
            decoder.end_utt()
            words = tuple(_clean(seg.word) for seg in decoder.seg() if _is_word(seg.word))
            cpu_s = time.thread_time() - started
        log.debug("recognised %.2f s of audio in %.2f s of CPU: %r", audio_s, cpu_s, words)
        return Recognition(words, audio_s, cpu_s)


def _is_word(token: str) -> bool:
    """Segments hold words and fillers (``<s>``, ``<sil>``, ``[NOISE]``, ``++...++``)."""
    return bool(token) and token[0] not in "<[+"


def _clean(token: str) -> str:
    """``the(2)`` is the dictionary's second pronunciation of ``the``."""
    return token.split("(", 1)[0]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits (substitutions, insertions, deletions) over the reference's word count; case and punctuation
    ignored."""
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1] / max(1, len(ref))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


_shared: Recognizer | None = None
_shared_lock = threading.Lock()


def shared_recognizer() -> Recognizer | None:
    """The process's recogniser, or None when pocketsphinx is not installed."""
    global _shared
    with _shared_lock:
        if _shared is None and available():
            _shared = Recognizer()
        return _shared


__all__ = [
    "MAX_SECONDS", "MODEL_RATE", "NAME", "Recognition", "Recognizer", "available", "shared_recognizer",
    "word_error_rate",
]
