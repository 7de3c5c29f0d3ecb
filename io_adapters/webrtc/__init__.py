"""``AsyncWebRTCClient``: the same session over Inworld's WebRTC endpoint (``pip install inworld-realtime[webrtc]``).

The JSON events travel on the ordered ``oai-events`` data channel through the very session layer the WebSocket
client uses (``ChannelConnection`` is ``RealtimeConnection`` with the data channel in place of the WebSocket
layer); the audio travels as Opus on one send/receive track. The supervisor decides retries and reconnects as
for the WebSocket. Sources: docs.inworld.ai realtime/connect/webrtc and the WebRTC API reference (endpoints,
``oai-events``, Bearer auth), Inworld's example clients (raw SDP body, ``Basic``/JWT auth, non-trickle ICE),
vision-agents-plugins-inworld 0.6.9 (JSON body ``{sdp, session}`` answered ``{id, sdp, ice_servers}``, aiortc).
"""

from __future__ import annotations

try:
    import aiortc  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the WebRTC transport needs aiortc: pip install 'inworld-realtime[webrtc]'") from exc

from ..transports import DEFAULT_WEBRTC_URL
from .channel import CHANNEL, ChannelConnection, ChannelSocket
from .client import AsyncWebRTCClient
from .media import FRAME_MS, PcmTrack, Resampler, pcm_frame, read_track
from .played import PlayedAudio
from .signalling import HttpReply, IceServer, http_request, ice_servers_from, parse_reply

__all__ = ["CHANNEL", "DEFAULT_WEBRTC_URL", "FRAME_MS", "AsyncWebRTCClient", "ChannelConnection", "ChannelSocket",
           "HttpReply", "IceServer", "PcmTrack", "PlayedAudio", "Resampler", "http_request", "ice_servers_from",
           "parse_reply", "pcm_frame", "read_track"]
