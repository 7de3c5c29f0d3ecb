"""The session layer over a data channel: ``RealtimeConnection`` with whole channel messages in place of frames."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from inworld_realtime.protocol import (
    ConnectionState,
    LocalProtocolError,
    RealtimeConnection,
    RemoteProtocolError,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.session_layer import MalformedMessage
from inworld_realtime.protocol.states import OPEN_STATES
from inworld_realtime.protocol.websocket import ClientWebSocket

S = ConnectionState
CHANNEL = "oai-events"
"""The data channel's name (Inworld's docs and clients): created by the client before the offer."""


class ChannelSocket(ClientWebSocket):
    """What the session layer writes through over WebRTC: each message goes whole onto the data channel
    (no frames, no pings: SCTP frames the messages and ICE consent checks keep the path alive)."""

    def __init__(self, out: list[bytes | bytearray]) -> None:
        super().__init__(out, _no_message, _no_close)

    def send_text(self, text: str) -> None:
        self.out.append(text.encode("utf-8"))

    def send_text_bytes(self, body: bytes) -> None:
        self.out.append(body)

    def ping(self, payload: bytes = b"") -> None:
        return None

    def close(self, code: int, reason: str = "") -> None:
        self.close_sent = True


def _no_message(payload: Any, binary: bool) -> None:  # pragma: no cover - nothing is ever decoded as frames
    return None


def _no_close(code: int, reason: str) -> None:  # pragma: no cover
    return None


class ChannelConnection(RealtimeConnection):
    """``RealtimeConnection`` whose messages ride a data channel: the same session layer, state table,
    outbox, conversation and replay; only the transport under them differs.

    ``connect()`` starts a call; ``channel_open()`` says the channel carries messages (there is no
    ``session.created`` over WebRTC: our ``session.update`` goes at once); ``receive_message`` takes each
    channel message; ``take_messages`` gives what to send. Audio does not go through here but on the track:
    ``track_audio`` reports what the track played, as the WebSocket's audio deltas are reported.
    """

    def __init__(self, api_key: str | None, session: SessionProperties | None, base_url: str,
                 auth_type: Literal["basic", "bearer"] = "bearer", **options: Any) -> None:
        super().__init__(api_key, session, auth_type=auth_type, **options)
        self.base_url = base_url
        self.url = base_url

    def __repr__(self) -> str:
        return f"<ChannelConnection state={self.state.value} host={urlsplit(self.base_url).hostname}>"

    @property
    def authorization(self) -> str:
        """The Authorization header value (``Bearer <key or JWT>`` or ``Basic <key>``); never logged."""
        scheme = "Basic" if self.auth_type == "basic" else "Bearer"
        return f"{scheme} {self._credential.value}"

    def _check_url(self) -> None:
        """Nothing more to check: the client checked its http(s) signalling URL when it was built."""

    def _open_socket(self) -> ClientWebSocket:
        self._out.clear()  # anything still queued belonged to the previous channel
        return ChannelSocket(self._out)

    def channel_open(self) -> None:
        """The data channel opened: the session is there (no ``session.created``); configure it."""
        self._layer.trigger("upgraded", headers={})
        self._layer.trigger("session_created")

    def take_messages(self, max_bytes: int | None = None) -> list[bytes | bytearray]:
        """The messages queued for the data channel since the last call, in order.

        As ``data_to_send``: after a reconnect the replay and held events are produced here as they are
        taken (``max_bytes`` bounds one call, about, in whole messages; ``more_to_send`` says more waits).
        """
        return self._take_writes(max_bytes)

    def receive_message(self, message: str | bytes) -> None:
        """One data channel message into the session layer (the WebSocket layer's whole-message hand-off)."""
        if self.state not in OPEN_STATES:
            return  # after the call ended, or before we took the channel as open: meaningless
        data = message.encode("utf-8") if isinstance(message, str) else message
        try:
            self._layer.on_message(data, isinstance(message, bytes))
        except MalformedMessage as exc:
            self._layer.trigger("fail", reason=str(exc))
            raise RemoteProtocolError(str(exc)) from None

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        raise LocalProtocolError("a WebRTC connection takes whole channel messages: use receive_message()")

    def ping(self, payload: bytes = b"") -> bool:
        return False  # ICE consent freshness (every few seconds, in aioice) is the keepalive

    def close(self, code: int = 1000, reason: str = "") -> None:
        """End the call: no closing handshake on a data channel, so the session is closed at once."""
        super().close(code, reason)
        if self.state is S.CLOSING:
            self._layer.trigger("closed_by_server", code=code, reason=reason or "closed by the client")

    def track_audio(self, event: ev.ResponseOutputAudioDelta) -> None:
        """Audio the track played for an answer: counted where truncation looks, surfaced as a delta event."""
        layer = self._layer
        conv = layer.conversation
        ar = conv.audio_response
        if ar is None or ar.item_id != event.item_id:
            ar = conv.start_audio(event.item_id, event.content_index, layer.clock() * 1000, layer.output_rate)
        ar.pcm_bytes += len(event.pcm)
        layer.events.append(event)

    def truncate(self, played_ms: float | None = None,
                 item_id: str | None = None) -> ev.ConversationItemTruncate | None:
        """As ``RealtimeConnection.truncate``, but by default what the track actually played of the item."""
        if played_ms is None:
            conv = self.conversation
            ar = conv.audio_response if item_id is None else conv.audio_items.get(item_id)
            played_ms = ar.received_ms if ar is not None else 0
        return super().truncate(played_ms, item_id)


__all__ = ["CHANNEL", "ChannelConnection", "ChannelSocket"]
