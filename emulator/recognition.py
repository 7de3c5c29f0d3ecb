"""Speech recognition of the user's committed audio with pocketsphinx, when the ``speech`` extra is installed.

pocketsphinx (BSD) ships its US English acoustic and language models inside its wheel, so this works
offline. The model expects 16 kHz mono; other rates are resampled. A committed turn is first run through
the front end alone (a one-word keyphrase search, cheap) to measure its cepstral mean, then decoded from
that mean in one full pass (the forward tree search, the flat lexicon rescoring and the best path through
the word lattice), and only then are its words reported, in order. Starting from the turn's own mean is
what makes a session's first turn accurate: a live pass from the model's default mean misheard far more.
Reporting words from the forward pass while it runs, as this once did, streamed words the final pass then
revised in half the sentences (``what does that weather`` before ``what is the weather``): the words
streamed and the final transcript now agree by construction, for about a second more before the first
word (benchmarks.speech). One turn at a time, in a worker thread, at most ``MAX_SECONDS`` of it: that
bounds the cost.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .pcm import resample

log = logging.getLogger(__name__)

MODEL_RATE = 16000
MAX_SECONDS = 30.0
"""Longer turns are recognised on their first 30 seconds only (the rest is not heard)."""
NAME = "pocketsphinx"
STEP_S = 0.25
_MEAN_SEARCH = "cepstral-mean"
PREVIEW_STEP_S = 0.05
"""Preview passes decode in short pieces: pocketsphinx keeps the GIL inside each call, so a short piece is a
short stall of the event loop (and a prompt stop at the commit)."""


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
        self._language_search = ""
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recognition")

    def _get_decoder(self) -> Any:
        if self._decoder is None:
            module = importlib.import_module("pocketsphinx")
            decoder = module.Decoder(samprate=MODEL_RATE, loglevel="FATAL")
            self._language_search = decoder.current_search()
            decoder.add_keyphrase(_MEAN_SEARCH, "hello")
            self._decoder = decoder
        return self._decoder

    def recognize(self, pcm: bytes, rate: int, on_words: Callable[[list[str]], None] | None = None) -> Recognition:
        """The words in 16-bit mono PCM at ``rate`` (blocking: call it off the event loop).

        ``on_words`` gets the words, in order, once the final pass has chosen them: exactly those of the
        returned ``Recognition``.
        """
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        pcm = pcm[: int(MAX_SECONDS * rate) * 2]
        audio_s = len(pcm) / 2 / rate
        with self._lock:
            started = time.thread_time()
            pcm16k = resample(pcm, rate, MODEL_RATE)
            decoder = self._get_decoder()
            decoder.reinit_feat()  # no state from earlier turns: the same audio gives the same words
            decoder.activate_search(_MEAN_SEARCH)
            decoder.start_utt()
            decoder.process_raw(pcm16k, True, True)  # features only: the mean over the whole turn
            mean = decoder.get_cmn()
            decoder.end_utt()
            decoder.activate_search(self._language_search)
            decoder.set_cmn(mean)
            decoder.start_utt()
            step = int(STEP_S * MODEL_RATE) * 2
            try:  # in pieces, from the turn's mean: one call with the whole turn would recompute the mean itself
                for offset in range(0, len(pcm16k), step):
                    decoder.process_raw(pcm16k[offset : offset + step], False, False)
            finally:  # the decoder must not stay inside an utterance
                decoder.end_utt()
            words = _words_of(decoder)
            cpu_s = time.thread_time() - started
        if on_words is not None and words:
            on_words(words)
        log.debug("recognised %.2f s of audio in %.2f s of CPU: %r", audio_s, cpu_s, words)
        return Recognition(tuple(words), audio_s, cpu_s)


    def recognize_partial(self, pcm: bytes, rate: int, stop: Callable[[], bool]) -> Recognition | None:
        """The words so far of speech still going on, for a live preview (blocking: call it in ``executor``).

        Cheaper than ``recognize``: no cepstral-mean pass (it starts from the mean the decoder holds, which
        ``recognize`` resets for every final pass), and it gives up as soon as ``stop()`` is true, between
        ``PREVIEW_STEP_S`` pieces, so a committed turn's final pass never waits behind a preview. None when
        stopped.
        """
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        pcm = pcm[: int(MAX_SECONDS * rate) * 2]
        with self._lock:
            if stop():
                return None
            started = time.thread_time()
            pcm16k = resample(pcm, rate, MODEL_RATE)
            decoder = self._get_decoder()
            decoder.activate_search(self._language_search)
            decoder.start_utt()
            step = int(PREVIEW_STEP_S * MODEL_RATE) * 2
            try:
                for offset in range(0, len(pcm16k), step):
                    if stop():
                        return None
                    decoder.process_raw(pcm16k[offset : offset + step], False, False)
            finally:
                decoder.end_utt()
            words = _words_of(decoder)
            cpu_s = time.thread_time() - started
        return Recognition(tuple(words), len(pcm) / 2 / rate, cpu_s)

    def recognize_soon(self, pcm: bytes, rate: int, on_delta: Callable[[str], None],
                       on_done: Callable[[Recognition], None], wanted: Callable[[], bool]) -> asyncio.Future[None]:
        """Recognise in ``executor``; ``on_delta`` (each word, spaced to join) and ``on_done`` run on the
        calling event loop.

        Every callback goes through ``call_soon_threadsafe`` from the one worker thread, so turns keep their
        order and ``on_done`` runs before the returned future resolves. While ``wanted()`` is false (the
        session has gone) nothing is sent, and a turn still queued is not decoded.
        """
        loop = asyncio.get_running_loop()
        said = 0

        def words(new: list[str]) -> None:
            nonlocal said
            for word in new:
                delta = f" {word}" if said else word
                said += 1
                if wanted():
                    loop.call_soon_threadsafe(on_delta, delta)

        def work() -> None:
            if not wanted():
                return
            heard = self.recognize(pcm, rate, words)
            if wanted():
                loop.call_soon_threadsafe(on_done, heard)

        return loop.run_in_executor(self.executor, work)


def _words_of(decoder: Any) -> list[str]:
    """The words of the best path."""
    return [_clean(seg.word) for seg in decoder.seg() if _is_word(seg.word)]


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
