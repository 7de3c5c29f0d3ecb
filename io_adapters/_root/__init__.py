"""inworld_realtime: a sans-IO client for the Inworld Realtime API, its asyncio and blocking clients and an emulator.

The installed package maps the repository's folders under one distinctive name: ``protocol/`` is
``inworld_realtime.protocol`` (the core), ``io_adapters/`` is ``inworld_realtime.io_adapters`` (the clients, CLI,
pipecat shim and LiveKit plugin) and ``emulator/`` is ``inworld_realtime.emulator``. The names users reach for
most are here too.
"""

from importlib.metadata import PackageNotFoundError, version

from .io_adapters import (
    AsyncRealtimeClient,
    AudioDropped,
    RealtimeClient,
    Reconnected,
    ReconnectFailed,
    Reconnecting,
    SessionRejected,
)
from .protocol import (
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    HandshakeError,
    LocalProtocolError,
    ProtocolError,
    RealtimeConnection,
    ReceiveTimeout,
    RemoteProtocolError,
    SessionEnded,
    SessionProperties,
    events,
)

try:
    __version__ = version("inworld-realtime")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "AsyncRealtimeClient",
    "AudioDropped",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "HandshakeError",
    "LocalProtocolError",
    "ProtocolError",
    "RealtimeClient",
    "RealtimeConnection",
    "ReceiveTimeout",
    "ReconnectFailed",
    "Reconnected",
    "Reconnecting",
    "RemoteProtocolError",
    "SessionEnded",
    "SessionProperties",
    "SessionRejected",
    "__version__",
    "events",
]
