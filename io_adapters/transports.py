"""Where a user picks a transport (CLI, pipecat shim, LiveKit plugin): one choice, made here, importing aiortc
only for WebRTC (the ``webrtc`` extra)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from inworld_realtime.protocol import ConfigurationError
from inworld_realtime.protocol.handshake import DEFAULT_URL

Transport = Literal["websocket", "webrtc"]
TRANSPORTS: tuple[Transport, ...] = ("websocket", "webrtc")
DEFAULT_WEBRTC_URL = "https://api.inworld.ai/v1/realtime"
_WS_PATH = urlsplit(DEFAULT_URL).path


def client_class(transport: str) -> Any:
    """``AsyncRealtimeClient`` or ``AsyncWebRTCClient`` (same constructor arguments, same surface)."""
    if transport == "websocket":
        from .aio import AsyncRealtimeClient

        return AsyncRealtimeClient
    if transport != "webrtc":
        raise ConfigurationError(f"transport must be 'websocket' or 'webrtc', not {transport!r}")
    try:
        from .webrtc import AsyncWebRTCClient
    except ImportError as exc:
        raise ConfigurationError("the webrtc transport needs aiortc: pip install 'inworld-realtime[webrtc]'") from exc
    return AsyncWebRTCClient


def url_for(transport: str, url: str) -> str:
    """The URL the transport's client takes: a WebSocket URL as given; for WebRTC, the API base it serves
    (``wss://host/api/v1/realtime/session`` becomes ``https://host/v1/realtime``; an http(s) URL is kept)."""
    if transport != "webrtc":
        return url
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return url
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = "/v1/realtime" if parts.path.rstrip("/") in ("", _WS_PATH) else parts.path
    return urlunsplit((scheme, parts.netloc, path, "", ""))


__all__ = ["DEFAULT_WEBRTC_URL", "TRANSPORTS", "Transport", "client_class", "url_for"]
