"""A local server that speaks the Inworld Realtime protocol, for tests, demos and offline work.

``python -m inworld_realtime.emulator`` runs one; ``Emulator`` (asyncio) and
``EmulatorThread`` (blocking code) embed one.
"""

from .brain import Brain, CallTool, Decision, FunctionResult, Say, ScriptedBrain, ToolRule, ToolSpec, Turn
from .engines import describe_engines, engines
from .faults import Faults
from .options import EmulatorOptions
from .records import ResponseRecord, SessionRecord
from .server import Emulator
from .speech import Synthesizer
from .thread import EmulatorThread
from .vad import EnergyVAD, VadSettings

__all__ = [
    "Brain",
    "CallTool",
    "Decision",
    "Emulator",
    "EmulatorOptions",
    "EmulatorThread",
    "EnergyVAD",
    "Faults",
    "FunctionResult",
    "ResponseRecord",
    "Say",
    "ScriptedBrain",
    "SessionRecord",
    "Synthesizer",
    "ToolRule",
    "ToolSpec",
    "Turn",
    "VadSettings",
    "describe_engines",
    "engines",
]
