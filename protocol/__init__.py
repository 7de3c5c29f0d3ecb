"""A sans-IO client for the Inworld Realtime API: bytes in, typed events and bytes out."""

from . import events
from .connection import NON_FATAL_ERROR_CODES, RealtimeConnection
from .conversation import AudioResponse, Conversation, FunctionCall
from .errors import (
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    HandshakeError,
    LocalProtocolError,
    ProtocolError,
    ReceiveTimeout,
    RemoteProtocolError,
    SessionEnded,
)
from .handshake import DEFAULT_URL
from .items import ConversationItem, ItemContent, RealtimeError, Response, Usage
from .session import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    FunctionTool,
    InputTranscription,
    NoiseReduction,
    OtherAudioFormat,
    PCMAAudioFormat,
    PCMAudioFormat,
    PCMUAudioFormat,
    SessionProperties,
    TurnDetection,
)
from .states import ConnectionState, TurnState

__all__ = [
    "DEFAULT_URL",
    "NON_FATAL_ERROR_CODES",
    "AudioConfiguration",
    "AudioInput",
    "AudioOutput",
    "AudioResponse",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionState",
    "Conversation",
    "ConversationItem",
    "FunctionCall",
    "FunctionTool",
    "HandshakeError",
    "InputTranscription",
    "ItemContent",
    "LocalProtocolError",
    "NoiseReduction",
    "OtherAudioFormat",
    "PCMAAudioFormat",
    "PCMAudioFormat",
    "PCMUAudioFormat",
    "ProtocolError",
    "RealtimeConnection",
    "RealtimeError",
    "ReceiveTimeout",
    "RemoteProtocolError",
    "Response",
    "SessionEnded",
    "SessionProperties",
    "TurnDetection",
    "TurnState",
    "Usage",
    "events",
]
