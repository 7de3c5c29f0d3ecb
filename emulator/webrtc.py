"""The emulator's WebRTC side: ``GET /v1/realtime/ice-servers`` and ``POST /v1/realtime/calls`` on its HTTP port,
then an aiortc peer whose ``oai-events`` data channel and Opus track feed the same ``RealtimeSession`` as a
WebSocket (JSON text in and out, the input track's PCM as appended audio, the answer's audio on the output track).

Everything stays on loopback: ``gather_on_loopback()`` makes aioice offer 127.0.0.1 only (it skips loopback
when it lists host addresses), and the ICE server list given to peers is empty unless a test sets one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import re
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from pydantic import ValidationError

from inworld_realtime.io_adapters.webrtc import CHANNEL, PcmTrack, Resampler, read_track
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ClientMessage
from inworld_realtime.protocol.session import SessionProperties

from .formats import resolve
from .records import SessionRecord
from .server import Emulator, error_body
from .session import RealtimeSession

log = logging.getLogger(__name__)

TRACK_RATE = 48000
"""The output track's PCM rate (Opus's own): the session's audio is resampled to it whatever its format."""
_TYPE = re.compile(r'"type":"([^"]+)"')
_AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def _loopback_hosts(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else ["::1"]


def gather_on_loopback() -> None:
    """Make aioice gather host candidates on loopback only (for the emulator and tests: never a real address)."""
    aioice.ice.get_host_addresses = _loopback_hosts


@dataclass
class Call:
    """One WebRTC call: its peer, channel, tracks and the session they feed."""

    id: str
    pc: RTCPeerConnection
    record: SessionRecord
    session: RealtimeSession
    output: PcmTrack
    channel: RTCDataChannel | None = None
    pending: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    input_resampler: Resampler | None = None
    output_resampler: Resampler = field(default_factory=lambda: Resampler(TRACK_RATE))
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    answer: str | None = None
    """The SDP answered when it is not the peer's own (a fault)."""

    def send_text(self, text: str) -> None:
        """The session's server events: audio deltas play on the track, everything else goes on the channel."""
        kind = _TYPE.search(text, 0, 120)
        event_type = kind.group(1) if kind else ""
        if event_type in _AUDIO_DELTAS:
            self._play(json.loads(text)["delta"])
            return
        if event_type == "response.done" and '"status":"cancelled"' in text:
            self.output.clear()  # the answer stops where the listener is: the rest is never played
        channel = self.channel
        if channel is None or channel.readyState != "open":
            self.pending.append(text)
            return
        channel.send(text)
        self.record.sent += 1

    def _play(self, delta: str) -> None:
        out = self.session.config.audio.output if self.session.config.audio else None
        fmt = resolve(out.format if out else None)
        pcm = fmt.decode(base64.b64decode(delta))
        self.output.push(self.output_resampler.pcm(pcm, fmt.rate))

    def heard(self, pcm: bytes) -> None:
        """Input track audio (mono PCM at the session's input rate) appended to the session's input buffer."""
        if self.session.closed:
            return
        wire = self.session.input_wire.encode(pcm)
        self.session.handle(ev.InputAudioBufferAppend(audio=base64.b64encode(wire).decode("ascii")))

    def abort(self) -> None:
        """Fault: the peer dies mid-call (as a crashed server or a lost network would)."""
        self.ended.set()


class WebRTCEndpoint:
    """The emulator's signalling endpoints and its calls. ``ice_servers`` is what ``/ice-servers`` lists
    (empty: host candidates on loopback suffice); ``answer_unreachable`` answers offers with a peer that is
    closed at once (no ICE connectivity ever comes)."""

    def __init__(self, emulator: Emulator) -> None:
        gather_on_loopback()
        self.emulator = emulator
        self.ice_servers: list[dict[str, Any]] = []
        self.answer_unreachable = False
        self.calls: list[Call] = []
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, auth scheme) of every signalling request, credentials never kept."""

    async def serve(self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    record: SessionRecord) -> None:
        """One HTTP request on the emulator's port: parse it, answer it, close."""
        try:
            status, content_type, body = await self._answer(first, reader, record)
        except (ValueError, asyncio.IncompleteReadError) as exc:
            status, content_type, body = 400, "application/json", error_body(400, f"bad request: {exc}")
        reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  405: "Method Not Allowed", 415: "Unsupported Media Type"}.get(status, "Error")
        data = body.encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n")
        writer.write(head.encode("latin-1") + data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _answer(self, first: bytes, reader: asyncio.StreamReader,
                      record: SessionRecord) -> tuple[int, str, str]:
        head, _, rest = first.partition(b"\r\n\r\n")
        while not _:
            more = await reader.read(65536)
            if not more:
                raise ValueError("incomplete request head")
            head, _, rest = (head + more).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = rest + (await reader.readexactly(length - len(rest)) if length > len(rest) else b"")
        path = target.split("?")[0].rstrip("/")
        scheme = headers.get("authorization", "").partition(" ")[0].lower() or None
        self.requests.append((method, path, scheme))
        if not self._authorized(headers.get("authorization", "")):
            log.info("webrtc %s %s: refused with 401", method, path)  # never the credential
            return 401, "application/json", error_body(401, "Invalid authorization credentials")
        if path.endswith("/ice-servers"):
            if method != "GET":
                return 405, "application/json", error_body(405, "use GET")
            return 200, "application/json", json.dumps({"ice_servers": self.ice_servers})
        if method != "POST":
            return 405, "application/json", error_body(405, "use POST")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        session: SessionProperties | None = None
        if content_type == "application/sdp":
            offer = body.decode("utf-8", "replace")
        elif content_type == "application/json":
            try:
                payload = json.loads(body)
                offer = str(payload["sdp"])
                if payload.get("session"):
                    session = SessionProperties.model_validate(payload["session"])
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                return 400, "application/json", error_body(400, f"invalid call request: {exc}")
        else:
            return 415, "application/json", error_body(415, "send application/sdp or application/json")
        if not offer.startswith("v=0") or "m=application" not in offer:
            return 400, "application/json", error_body(400, "the offer is not an SDP offer with a data channel")
        call = await self._open_call(offer, record, session, headers)
        sdp = call.answer or call.pc.localDescription.sdp
        if content_type == "application/sdp":
            return 201, "application/sdp", sdp
        return 201, "application/json", json.dumps({"id": call.id, "sdp": sdp, "ice_servers": self.ice_servers})

    def _authorized(self, authorization: str) -> bool:
        """``Bearer <key>`` (the docs), ``Basic <key>`` (Inworld's examples) or ``Bearer <JWT>`` (its JWT examples:
        the emulator cannot check Inworld's signature, so a JWT-shaped token is taken as minted)."""
        key = self.emulator.options.api_key
        scheme, _, credential = authorization.partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        if scheme not in ("basic", "bearer"):
            return key is None
        if key is None:
            return True
        if hmac.compare_digest(credential.encode(), key.encode()):
            return True
        return scheme == "bearer" and bool(_JWT.match(credential))

    async def _open_call(self, offer: str, http_record: SessionRecord, session_config: SessionProperties | None,
                         headers: dict[str, str]) -> Call:
        emu = self.emulator
        record = SessionRecord(index=http_record.index, path=http_record.path or "/v1/realtime/calls",
                               status=101, auth_scheme=headers.get("authorization", "").partition(" ")[0].lower())
        emu.sessions.append(record)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        output = PcmTrack(TRACK_RATE)
        call_ref: list[Call] = []
        session = RealtimeSession(record, emu.options, emu.synth, lambda text: call_ref[0].send_text(text))
        call = Call(f"call_{uuid.uuid4().hex[:20]}", pc, record, session, output)
        call_ref.append(call)
        self.calls.append(call)

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            if channel.label != CHANNEL:
                return
            call.channel = channel

            def flush() -> None:
                pending, call.pending = call.pending, []
                for text in pending:
                    channel.send(text)
                    record.sent += 1

            if channel.readyState == "open":
                flush()
            channel.on("open", flush)
            channel.on("message", lambda message: self._message(call, message))
            channel.on("close", call.ended.set)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind != "audio":
                return
            task = asyncio.ensure_future(read_track(track, lambda: session.input_rate, call.heard))
            call.tasks.add(task)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                call.ended.set()

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(output)
                transceiver.direction = "sendrecv"
        await pc.setLocalDescription(await pc.createAnswer())
        if self.answer_unreachable:
            call.answer = unreachable(pc.localDescription.sdp)
            call.abort()
        if session_config is not None:
            session.handle(ev.SessionUpdate(session=session_config))
        task = asyncio.get_running_loop().create_task(self._run(call), name=f"emulator {call.id}")
        emu._tasks.add(task)
        task.add_done_callback(emu._tasks.discard)
        return call

    def _message(self, call: Call, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        event: ev.ClientEvent | ClientMessage
        try:
            event = ev.parse_client_event(text)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = errors[0] if errors else None
            event = ClientMessage(text, first["msg"] if first else str(exc), tuple(first["loc"]) if first else ())
        if isinstance(event, ev.OutputAudioBufferClear):
            call.output.clear()
        self.emulator.deliver(event, call.session, call.record)

    async def _run(self, call: Call) -> None:
        """Keep the call until its channel closes or its peer dies, then end its session."""
        try:
            await call.ended.wait()
        finally:
            call.session.shutdown()
            call.record.closed = True
            call.output.stop()
            for task in call.tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.shield(call.pc.close())
            await asyncio.gather(*call.tasks, return_exceptions=True)


def unreachable(sdp: str) -> str:
    """``sdp`` with every candidate moved to a loopback port nothing listens on: checks sent there go unanswered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    return re.sub(r"(a=candidate:\S+ \d+ \w+ \d+ \S+ )\d+", rf"\g<1>{dead}", sdp)


def endpoint(emulator: Emulator) -> WebRTCEndpoint:
    """The emulator's WebRTC endpoint, made on first use."""
    existing: WebRTCEndpoint | None = getattr(emulator, "_webrtc", None)
    if existing is None:
        existing = WebRTCEndpoint(emulator)
        emulator._webrtc = existing  # type: ignore[attr-defined]
    return existing


__all__ = ["Call", "WebRTCEndpoint", "endpoint", "gather_on_loopback", "unreachable"]
