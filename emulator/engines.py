"""Which engines heard and spoke: one line a user reads when the emulator starts or a demo ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .recognition import NAME, available
from .speech import Synthesizer

if TYPE_CHECKING:
    from .server import Emulator


def engines(emulator: Emulator | None = None) -> dict[str, str]:
    """Which engines hear and speak: those the emulator's sessions used, else those installed."""
    used: list[str] = []  # each engine once, however many turns it heard
    for record in emulator.sessions if emulator is not None else ():
        for way in record.transcribed_by:
            if way not in used:
                used.append(way)
    recognition = ", ".join(used) if used else NAME if available() else "none"
    voice = emulator.synth.backend if emulator is not None else Synthesizer().backend
    return {"recognition": recognition, "voice": voice}


def describe_engines(emulator: Emulator | None = None) -> str:
    """One line for a user: what heard them and what spoke."""
    found = engines(emulator)
    return f"(emulator engines: recognition {found['recognition']}, voice {found['voice']})"
