"""espeak-ng's library from the ``espeakng-loader`` wheel, driven through ctypes in synchronous mode.

The wheel (GPL-3.0, installed only with the ``speech`` extra) carries ``libespeak-ng`` and its voice
data, so no system package is needed. The library keeps global state: one lock serialises every call,
and callers run it off the event loop.
"""

from __future__ import annotations

import ctypes
import importlib
import threading
from typing import Any

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE = 1
EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class WheelVoice:
    """The wheel's ``libespeak-ng``, initialised once; ``speak`` returns 16-bit mono PCM and its rate."""

    def __init__(self, lib: Any, data_path: str) -> None:
        self._lock = threading.Lock()
        self._lib = lib
        self._collected = bytearray()
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        self.rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if self.rate <= 0:
            raise OSError(f"espeak_Initialize failed with the data at {data_path}")
        self._callback = _SynthCallback(self._collect)  # kept referenced: the library calls it later
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if wav and count > 0:
            self._collected += ctypes.string_at(wav, count * 2)
        return 0

    def speak(self, text: str, voice: str, wpm: int) -> tuple[bytes, int]:
        """``text`` spoken by the espeak-ng ``voice`` at ``wpm`` words per minute."""
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            self._collected.clear()
            if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(ESPEAK_RATE, wpm, 0)
            status = self._lib.espeak_Synth(data, len(data), 0, 0, 0, ESPEAK_CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            pcm = bytes(self._collected)
            self._collected.clear()
        if status != EE_OK:
            raise OSError(f"espeak_Synth failed with status {status}")
        return pcm, self.rate


_loaded: WheelVoice | None = None
_load_lock = threading.Lock()
_load_error: str | None = None


def wheel_voice() -> WheelVoice | None:
    """The process's one wheel voice, loaded on first use; None when the wheel is not installed or fails."""
    global _loaded, _load_error
    with _load_lock:
        if _loaded is None and _load_error is None:
            try:
                loader = importlib.import_module("espeakng_loader")
                lib = ctypes.CDLL(loader.get_library_path())
                _loaded = WheelVoice(lib, loader.get_data_path())
            except (ImportError, OSError, RuntimeError, AttributeError) as exc:
                _load_error = f"{type(exc).__name__}: {exc}"
        return _loaded


def wheel_error() -> str | None:
    """Why the wheel voice could not be loaded, if it was tried and failed."""
    return _load_error


__all__ = ["WheelVoice", "wheel_error", "wheel_voice"]
