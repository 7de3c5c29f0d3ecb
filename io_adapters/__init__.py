"""I/O around the sans-IO core: asyncio and blocking clients (the emulator, CLI and pipecat shim are submodules)."""

from .aio import AsyncRealtimeClient
from .events import Reconnected, ReconnectFailed, Reconnecting
from .policy import ConnectError, ConnectTimeout
from .sync import RealtimeClient

__all__ = ["AsyncRealtimeClient", "ConnectError", "ConnectTimeout", "RealtimeClient", "ReconnectFailed",
           "Reconnected", "Reconnecting"]
