"""``AsyncWebRTCClient``: the calls, the supervisor's decisions and the caller's events; I/O only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlsplit

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from inworld_realtime.protocol import (
    ConfigurationError,
    ConnectError,
    ConnectionState,
    ConnectTimeout,
    LocalProtocolError,
    RemoteProtocolError,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import pcm_ms
from inworld_realtime.protocol.states import ENDED_STATES, OPEN_STATES

from ..client import ATTEMPT_ERRORS, AsyncRequests, ClientBase
from ..events import AudioDropped
from ..pacing import AsyncPacedAudio
from ..transports import DEFAULT_WEBRTC_URL
from .channel import CHANNEL, ChannelConnection
from .media import FRAME_MS, PcmTrack, read_track
from .played import PlayedAudio
from .signalling import IceServer, check_url, http_request, ice_servers_from, refused

log = logging.getLogger(__name__)

S = ConnectionState
_END = object()


class AsyncWebRTCClient(AsyncRequests, ClientBase, AsyncPacedAudio):
    """One realtime session over WebRTC, with the public surface and events of ``AsyncRealtimeClient``.

    ``url`` is the API base (``https://api.inworld.ai/v1/realtime``; the emulator's ``http://127.0.0.1:<port>/
    v1/realtime``). ICE servers come from ``ice_servers`` when given (an empty list means host candidates only),
    else from ``GET <url>/ice-servers`` on every attempt (TURN credentials expire); there is never a built-in
    public STUN server. ``body`` picks the offer's form: ``"json"`` (``{sdp, session}``, the API reference) or
    ``"sdp"`` (raw ``application/sdp``, Inworld's own clients).
    """

    connection: ChannelConnection

    def __init__(
        self,
        api_key: str | None = None,
        session: SessionProperties | None = None,
        url: str = DEFAULT_WEBRTC_URL,
        auth_type: Literal["basic", "bearer"] = "bearer",
        *,
        ice_servers: list[IceServer] | None = None,
        body: Literal["json", "sdp"] = "json",
        **options: Any,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"the WebRTC URL must be an http(s) API base URL, not {url!r}")
        if body not in ("json", "sdp"):
            raise ConfigurationError(f"body must be 'json' or 'sdp', not {body!r}")
        connection_options = {k: options.pop(k) for k in ("chunk_ms", "max_replay_audio_ms", "max_held_audio_ms",
                                                          "max_replay_items", "max_history_audio_ms")
                              if k in options}
        options.pop("max_message_bytes", None)
        options.pop("extra_headers", None)
        super().__init__(None, session, auth_type=auth_type, **options)
        self.connection = ChannelConnection(api_key, session, url, auth_type, **connection_options)
        self.url = url
        self.body = body
        self._ice_servers = None if ice_servers is None else list(ice_servers)
        self._max_held_ms = int(connection_options.get("max_held_audio_ms", 10_000))

    def _init_io(self) -> None:
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._configured: asyncio.Future[ev.SessionConfigured] | None = None
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._track: PcmTrack | None = None
        self._reader: asyncio.Task[None] | None = None
        self._done: asyncio.Future[BaseException | None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = False
        self._ended = False
        self._stopped = asyncio.Event()
        self._played = PlayedAudio()
        self._later: list[Any] | None = None  # events held until the track has played the answer
        self._held = bytearray()  # input audio sent between calls: the next call's track plays it first
        self.call_id: str | None = None
        self.rtc_configuration: RTCConfiguration | None = None  # the last call's: its ICE servers, as given
        self.ice_state = "new"

    def __repr__(self) -> str:
        return f"<AsyncWebRTCClient {self.connection!r}>"

    # the public surface, as AsyncRealtimeClient's

    @property
    def queued_audio_seconds(self) -> float:
        """Input audio not played onto the track yet."""
        track = self._track
        return (track.buffered_ms if track is not None else 0) / 1000 + self.connection.held_audio_ms / 1000

    async def connect(self) -> None:
        """Open the session (a call), retrying as the supervisor decides within ``connect_timeout``."""
        if self._connected:
            raise LocalProtocolError("already connected: close() first")
        check_url(self.url, self.options.allow_insecure)
        self._connected = True
        self._sup.start(asyncio.get_running_loop().time())
        self._stopped.clear()
        try:
            await self._establish()
        except BaseException:
            await self.close()
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="realtime-webrtc-supervisor")

    async def close(self) -> None:
        """End the call and every task. Idempotent."""
        if self._sup.closing and not self._connected:
            return
        self._start_close()
        self._dispatch()  # ConnectionClosed(clean): a call has no closing handshake to wait for
        self._stopped.set()
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await self._hang_up()
        self._connected = False
        self._end()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while True:
            event = await self._events.get()
            if event is _END:
                self._events.put_nowait(_END)
                return
            yield event

    async def recv(self, timeout: float | None = None) -> Any:
        """The next event; ``TimeoutError`` after ``timeout``, ``ConnectionError`` once the stream ended."""
        try:
            event = await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no event within {timeout} s") from None
        if event is _END:
            self._events.put_nowait(_END)
            raise ConnectionError("the realtime session has ended")
        return event

    async def send(self, event: ev.ClientEvent) -> None:
        """Send any client event over the data channel (held while the session is not configured)."""
        self._check_open()
        if isinstance(event, ev.InputAudioBufferAppend):
            await self.send_audio(self.connection.decode_append(event.audio))
            return
        if isinstance(event, ev.OutputAudioBufferClear):
            self._played.item_id = None
        self.connection.send(event)
        self._flush()

    async def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Stream 16-bit PCM at the session's input rate onto the Opus track; waits while half a second is
        queued (the track plays in real time)."""
        self._check_open()
        track = self._track
        if track is None:  # between calls: what the next call's track will play first
            self._held += bytes(pcm)
            excess = len(self._held) - self._max_held_bytes()
            if excess > 0:
                del self._held[:excess]
                self._surface(AudioDropped(pcm_ms(excess, self.connection.input_rate),
                                           f"more than max_held_audio_ms={self._max_held_ms} "
                                           "waiting for a call"))
            return
        track.push(pcm)
        if not track.drained.is_set():
            await track.drained.wait()

    async def commit(self) -> None:
        """Commit the user's audio as a turn, once the track has played all of it to the server."""
        self._check_open()
        await self.wait_played()
        self.connection.commit()
        self._flush()

    async def wait_played(self, margin: float = 0.1) -> None:
        """Wait until the track has played what ``send_audio`` queued (and ``margin`` more for the network)."""
        track = self._track
        while track is not None and track.buffer and not self._sup.closing:
            await asyncio.sleep(FRAME_MS / 1000)
        await asyncio.sleep(margin)

    async def create_response(self, **properties: Any) -> None:
        """Ask the model to respond (``ResponseProperties`` keywords)."""
        self._check_open()
        self.connection.create_response(**properties)
        self._flush()

    async def reset_conversation(self) -> None:
        """End this call and open a fresh one with no history."""
        self._sup.closing = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await self._hang_up()
        self._forget_conversation()
        self._connected = False
        self._ended = False
        await self.connect()

    # the calls

    def _check_open(self) -> None:
        if self._sup.closing:
            raise ConnectionError("the client is closed")

    def _max_held_bytes(self) -> int:
        return self.connection.input_rate * 2 * self._max_held_ms // 1000

    async def _establish(self) -> None:
        loop, sup = asyncio.get_running_loop(), self._sup
        while True:
            try:
                await self._attempt(sup.attempt_deadline(loop.time()))
                return
            except ATTEMPT_ERRORS as exc:
                delay = self._next_attempt(sup.failed(loop.time(), exc, self._unsent_ms()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            if sup.closing:
                raise ConnectError("the client is closed")

    def _unsent_ms(self) -> int:
        track = self._track
        return super()._unsent_ms() + (track.buffered_ms if track is not None else 0)

    async def _attempt(self, deadline: float) -> None:
        """One call: ICE servers, the offer once gathering is complete, the answer, ICE, the channel, the session."""
        conn = self.connection
        host = urlsplit(self.url).hostname
        loop = asyncio.get_running_loop()
        self._configured = configured = loop.create_future()
        self._done = done = loop.create_future()
        step = "no ICE servers from"
        try:
            async with asyncio.timeout_at(deadline):
                servers = self._ice_servers if self._ice_servers is not None else await self._fetch_ice_servers()
                config = RTCConfiguration(iceServers=[  # always a list: None would add aiortc's public STUN server
                    RTCIceServer(list(s.urls), s.username, s.credential) for s in servers])
                self.rtc_configuration = config
                self._pc = pc = RTCPeerConnection(config)
                self._channel = channel = pc.createDataChannel(CHANNEL, ordered=True)  # before the offer
                self._track = track = PcmTrack(conn.input_rate)
                if self._held:
                    track.push(bytes(self._held))
                    self._held.clear()
                pc.addTrack(track)
                self._wire(pc, channel, done)
                conn.connect()
                step = "no complete ICE gathering for"
                await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate here
                step = "no answer to the offer from"
                answer = await self._post_offer(pc.localDescription.sdp)
                await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
                step = "no ICE connectivity with"
                opened = loop.create_future()
                if channel.readyState == "open":
                    opened.set_result(None)
                else:
                    channel.once("open", lambda: None if opened.done() else opened.set_result(None))
                await asyncio.wait({opened, done}, return_when=asyncio.FIRST_COMPLETED)
                if opened.done():
                    conn.channel_open()
                    self._flush()
                    step = "no configured session (session.updated) from"
                    await asyncio.wait({configured, done}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            await self._failed_attempt("connect timeout")
            what = f"{step} {host}" + (f" (ICE {self.ice_state})" if "ICE" in step else "")
            raise ConnectTimeout(f"{what} within {self.options.connect_timeout} s") from None
        except RemoteProtocolError:
            await self._failed_attempt("")
            raise
        except (OSError, ValueError) as exc:
            await self._failed_attempt("connect failed")
            if isinstance(exc, ConnectError):
                raise
            raise ConnectError(f"cannot open a WebRTC call with {host}: {exc}") from exc
        except BaseException:
            await self._failed_attempt("cancelled")
            raise
        if configured.done() and not configured.exception():
            self._sup.session_started(loop.time())
            return
        await self._failed_attempt("")
        if configured.done():
            raise configured.exception()  # type: ignore[misc]  # SessionRejected
        raise ConnectError(f"the call ended while the session was being configured: {done.result()}")

    def _wire(self, pc: RTCPeerConnection, channel: RTCDataChannel,
              done: asyncio.Future[BaseException | None]) -> None:
        """The peer connection's callbacks, each ignored once its call is no longer the current one."""

        def on_message(message: str | bytes) -> None:
            if self._pc is not pc or done.done():
                return
            self._sup.heard(asyncio.get_running_loop().time())
            try:
                self.connection.receive_message(message)
            except RemoteProtocolError as exc:
                self._dispatch()
                self._lost(pc, done, exc)
                return
            self._dispatch()

        def on_ice() -> None:
            self.ice_state = pc.iceConnectionState
            if pc.iceConnectionState in ("failed", "closed"):
                self._lost(pc, done, ConnectionResetError(f"ICE connection {pc.iceConnectionState}"))

        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._lost(pc, done, ConnectionResetError(f"peer connection {pc.connectionState}"))

        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self._pc is pc:
                self._reader = asyncio.ensure_future(read_track(track, lambda: self.connection.output_rate,
                                                                lambda pcm: self._played_audio(pc, pcm)))

        channel.on("message", on_message)
        channel.on("close", lambda: self._lost(pc, done, ConnectionResetError("data channel closed")))
        pc.on("iceconnectionstatechange", on_ice)
        pc.on("connectionstatechange", on_state)
        pc.on("track", on_track)

    def _played_audio(self, pc: RTCPeerConnection, pcm: bytes) -> None:
        if self._pc is not pc:
            return
        self._sup.heard(asyncio.get_running_loop().time())
        deltas = self._played.on_audio(pcm, self.connection.output_rate)
        if deltas and self.connection.state in OPEN_STATES:
            for delta in deltas:
                self.connection.track_audio(delta)
            self._dispatch()
        elif self._played.item_id is None:
            self._release()

    def _lost(self, pc: RTCPeerConnection, done: asyncio.Future[BaseException | None],
              error: BaseException | None) -> None:
        """The channel closed or the peer died: the same drop as a socket's (reconnect as the supervisor says)."""
        if self._pc is not pc or done.done():
            return
        self._played.item_id = None
        self._release()
        conn = self.connection
        if conn.state not in ENDED_STATES:
            conn.connection_lost(f"connection lost: {error}" if error else "connection lost")
            self._dispatch()
        done.set_result(error)

    async def _fetch_ice_servers(self) -> list[IceServer]:
        reply = await http_request(self.url, "GET", "/ice-servers", {"Authorization": self.connection.authorization},
                                   context=self._ssl_context)
        if reply.status >= 300:
            raise refused(reply)
        try:
            return ice_servers_from(json.loads(reply.body))
        except (ValueError, AttributeError) as exc:
            raise RemoteProtocolError(f"the ice-servers answer is not the JSON expected: {reply.body[:200]!r}"
                                      ) from exc

    async def _post_offer(self, sdp: str) -> str:
        """``POST <url>/calls``; the answer SDP from either form of reply."""
        headers = {"Authorization": self.connection.authorization}
        if self.body == "sdp":
            headers["Content-Type"] = "application/sdp"
            body = sdp.encode()
        else:
            headers["Content-Type"] = "application/json"
            body = json.dumps({"sdp": sdp, "session": self.connection.session.to_wire()}).encode()
        reply = await http_request(self.url, "POST", "/calls", headers, body, context=self._ssl_context)
        if reply.status >= 300:
            raise refused(reply)
        text = reply.body.decode("utf-8", "replace")
        if "json" in reply.headers.get("content-type", "") or text.lstrip().startswith("{"):
            try:
                payload = json.loads(text)
                self.call_id = payload.get("id")
                return str(payload["sdp"])
            except (ValueError, KeyError, AttributeError) as exc:
                raise RemoteProtocolError(f"the call's answer has no SDP: {text[:200]!r}") from exc
        if not text.startswith("v=0"):
            raise RemoteProtocolError(f"the call's answer is not SDP: {text[:200]!r}")
        return text

    async def _failed_attempt(self, reason: str) -> None:
        conn = self.connection
        if conn.state not in ENDED_STATES:
            conn.connection_lost(reason or "connect failed")
        self._discard_events()
        await self._hang_up()

    async def _hang_up(self) -> None:
        """Close the current call (its late callbacks are ignored); unplayed input audio is kept for the next."""
        self._played.item_id = None
        self._release()
        pc, track, reader = self._pc, self._track, self._reader
        self._pc = self._channel = None
        self._track = None
        self._reader = None
        if track is not None and track.buffer and not self._sup.closing:
            self._held[:0] = track.buffer
        if track is not None:
            track.stop()
        if reader is not None:
            reader.cancel()
        if pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 2.0)
        if reader is not None:
            await asyncio.gather(reader, return_exceptions=True)

    async def _supervise(self) -> None:
        loop, sup = asyncio.get_running_loop(), self._sup
        try:
            while self._done is not None:
                error = await asyncio.shield(self._done)
                decision = sup.dropped(loop.time(), error, self.connection.state is S.CLOSED, self._unsent_ms())
                if decision is None:
                    break
                await self._hang_up()
                try:
                    delay = self._next_attempt(decision)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopped.wait(), delay)
                    if sup.closing:
                        break
                    await self._establish()
                except Exception:
                    break
        finally:
            if not sup.closing:
                await self._hang_up()
                self._end()

    # the caller's events

    def _flush(self) -> None:
        channel = self._channel
        messages = self.connection.take_messages()
        if channel is None or channel.readyState != "open":
            return  # they belonged to a channel that is gone; the layer holds what the next session needs
        for message in messages:
            channel.send(message.decode("utf-8"))

    def _surface(self, event: Any) -> None:
        self._events.put_nowait(event)

    def _forget_events(self) -> None:
        while self._events.qsize():
            self._events.get_nowait()

    def _put(self, event: Any) -> None:
        """Queue for the caller; the events after an answer's ``output_audio.done`` wait until the track has
        played the answer, so they come after its audio deltas, in the WebSocket's order."""
        if self._later is not None and not isinstance(event, ev.ResponseOutputAudioDelta):
            self._later.append(event)
        else:
            self._events.put_nowait(event)

    def _release(self) -> None:
        if self._later is not None and self._played.item_id is None:
            later, self._later = self._later, None
            for event in later:
                self._events.put_nowait(event)

    def _dispatch(self) -> None:
        configured, put = self._configured, self._put
        for event in self.connection.events():
            playing = self._played.item_id
            self._played.on_event(event)
            if playing is not None and self._played.item_id is None:
                self._release()  # a barge-in or a cancel: the answer stopped where it was
            if isinstance(event, ev.ResponseOutputAudioDone) and self._played.done and self._later is None:
                self._later = []
            put(event)
            if configured is not None and not configured.done():
                if isinstance(event, ev.SessionConfigured):
                    configured.set_result(event)
                    announce = self._sup.configured(asyncio.get_running_loop().time(), event)
                    if announce is not None:
                        put(announce)
                elif isinstance(event, ev.ErrorEvent) and self.connection.state is S.CONFIGURING:
                    configured.set_exception(self._sup.rejected(event))
        self._flush()

    def _end(self) -> None:
        self._played.item_id = None
        self._release()
        if not self._ended:
            self._ended = True
            self._events.put_nowait(_END)


__all__ = ["AsyncWebRTCClient"]
