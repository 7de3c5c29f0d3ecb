"""I/O around the sans-IO core: asyncio and blocking clients (the emulator, CLI and pipecat shim are submodules)."""

from inworld_realtime.protocol import ConnectError, ConnectTimeout, ReceiveTimeout, SessionEnded

from .aio import AsyncRealtimeClient
from .events import AudioDropped, Reconnected, ReconnectFailed, Reconnecting
from .supervisor import SessionRejected
from .sync import RealtimeClient

__all__ = ["AsyncRealtimeClient", "AudioDropped", "ConnectError", "ConnectTimeout", "RealtimeClient", "ReceiveTimeout",
           "ReconnectFailed", "Reconnected", "Reconnecting", "SessionEnded", "SessionRejected"]
