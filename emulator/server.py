"""The emulator's sockets: an asyncio TCP server, the upgrade and auth, one writer per connection."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.errors import RemoteProtocolError
from inworld_realtime.protocol.handshake import UpgradeRequest
from inworld_realtime.protocol.server import ClientClosed, ClientMessage, ServerConnection

from .faults import NO_FAULTS, Faults
from .link import CLOSE_WAIT_S, Link
from .options import EmulatorOptions
from .records import SessionRecord
from .session import RealtimeSession
from .speech import Synthesizer
from .tokens import MAX_BODY_BYTES, TOKEN_PATH, Answer, TokenIssuer, http_answer, looks_like_jwt
from .validation import error_for_message, parse_liberally

log = logging.getLogger(__name__)

#: gRPC status codes in HTTP error bodies: a gateway-style shape of our choosing (no Inworld source shows one).
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}


def error_body(status: int, message: str) -> str:
    """An HTTP error body, ``{code, message, details}`` (our choice; Inworld's clients only print the body)."""
    return json.dumps({"code": _GRPC_CODES.get(status, 2), "message": message, "details": []})


class Emulator:
    """A local WebSocket server that speaks the Inworld Realtime protocol.

    ``async with Emulator(options) as emu:`` listens on ``emu.url``. ``received``
    holds every client event of every session in arrival order; ``sessions`` one
    ``SessionRecord`` per connection (refused ones too).
    """

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.options = options or EmulatorOptions()
        self.received: list[ev.ClientEvent] = []
        self.sessions: list[SessionRecord] = []
        self.synth = Synthesizer(self.options.voice_engine)
        self.tokens = TokenIssuer(self.options.api_key, self.options.token_ttl_s)
        """Mints JWTs at ``token_url`` and verifies them on connect (tests may ``issue`` one directly)."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._port = self.options.port
        self._connections = 0

    def __repr__(self) -> str:
        return f"<Emulator {self.url if self._server else 'stopped'} sessions={len(self.sessions)}>"

    @property
    def port(self) -> int:
        """The port listened on (known after start)."""
        return self._port

    @property
    def url(self) -> str:
        """The ``ws://`` URL to give a client (without ``key``/``protocol``: clients add them)."""
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self._port}{self.options.path}"

    @property
    def token_url(self) -> str:
        """Where to mint a token: Inworld's ``token:generate`` path on this server."""
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}{TOKEN_PATH}"

    async def start(self) -> None:
        """Start listening."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.options.host, self.options.port)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("emulator listening on %s (voice: %s)", self.url, self.synth.engine)

    async def close(self) -> None:
        """Stop listening and end every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def serve_forever(self) -> None:
        """Run until cancelled."""
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = SessionRecord(index=self._connections)
        self._connections += 1
        faults = self.options.faults if self.options.faults.applies_to(record.index) else NO_FAULTS
        try:
            await self._serve(reader, writer, record, faults)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("emulator connection %d failed", record.index)
        finally:
            record.closed = True
            self._tasks.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: SessionRecord,
                     faults: Faults) -> None:
        conn = ServerConnection()
        first = await self._first_read(reader)
        if first and self.webrtc_request(first):  # the WebRTC signalling endpoints share the port
            from .webrtc import endpoint

            await endpoint(self).serve(first, reader, writer, record)
            return
        raw = bytearray()
        request = await self._read_request(reader, writer, conn, raw, first)
        if request is None:
            return
        if request.path == TOKEN_PATH:
            await self._mint(reader, writer, request, bytes(raw))
            return
        record.path = request.path
        record.query = request.query
        record.headers = _redacted(request.headers)
        self.sessions.append(record)
        refusal = self._refusal(request, record, faults)
        if refusal is None:
            try:
                conn.accept()
            except RemoteProtocolError as exc:
                refusal = (400, error_body(400, str(exc)), {})
        if refusal is not None:
            status, body, headers = refusal
            record.status = status
            if status != 401:
                log.info("connection %d: refused the upgrade with %d", record.index, status)
            conn.refuse(status, body, headers)
            writer.write(conn.data_to_send())
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return
        record.status = 101
        data = conn.data_to_send()
        if _offers_realtime(request):  # echo the subprotocol, or a browser drops the connection
            data = data.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: realtime\r\n\r\n", 1)
        writer.write(data)
        link = Link(conn, writer, faults, record)
        session = RealtimeSession(record, self.options, self.synth, link.send_text)
        helpers = [asyncio.create_task(link.run(), name=f"emulator writer {record.index}")]
        if not faults.silent:
            session.start()
            if self.options.session_ttl_s is not None:
                helpers.append(asyncio.create_task(self._expire(session, link, self.options.session_ttl_s)))
            if faults.ws_ping_interval_s:
                helpers.append(asyncio.create_task(_every(faults.ws_ping_interval_s, link.ping)))
            ping_every = faults.ping_event_interval_s or self.options.ping_interval_s
            if ping_every:
                helpers.append(asyncio.create_task(_every(
                    ping_every, lambda: session.emit(ev.Ping(timestamp=int(time.time() * 1000))))))
        try:
            await self._read_loop(reader, conn, session, link, record, faults)
        finally:
            session.shutdown()
            writer_task = helpers[0]
            for task in helpers[1:]:
                task.cancel()
            link.close(1001, "going away")  # a no-op when the connection is already closing or gone
            link.finish()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(writer_task, CLOSE_WAIT_S)
            await asyncio.gather(*helpers[1:], return_exceptions=True)

    async def _read_loop(self, reader: asyncio.StreamReader, conn: ServerConnection, session: RealtimeSession,
                         link: Link, record: SessionRecord, faults: Faults) -> None:
        handled = 0
        while True:
            if faults.stop_reading_after is not None and handled >= faults.stop_reading_after:
                log.info("fault: connection %d stops reading", record.index)
                await asyncio.Future()  # until the emulator closes
            try:
                data = await reader.read(65536)
            except ConnectionError:
                return
            try:
                conn.receive_data(data)
            except RemoteProtocolError as exc:
                log.info("connection %d: %s", record.index, exc)
                too_big = "too large" in str(exc)
                link.close(1009 if too_big else 1002, "message too big" if too_big else "protocol error")
                return
            for event in conn.events():
                if isinstance(event, ClientClosed):
                    record.close_code = event.code
                    link.flush()
                    return
                handled += 1
                if faults.silent:
                    continue
                self.deliver(event, session, record)
            link.flush()
            if not data:
                return

    def deliver(self, event: ev.ClientEvent | ClientMessage, session: RealtimeSession, record: SessionRecord) -> None:
        """One client message into the session, whichever transport carried it (WebSocket or data channel)."""
        if isinstance(event, ClientMessage):
            liberal = None if self.options.strict else parse_liberally(event.raw)
            if liberal is None:
                record.invalid.append(event.raw)
                session.error(error_for_message(event.raw))
                return
            event = liberal
        log.debug("connection %d <- %s", record.index, event.type)
        if self.options.keep_history:
            record.events.append(event)
            self.received.append(event)
        session.handle(event)

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            conn: ServerConnection, raw: bytearray, first: bytes = b"") -> UpgradeRequest | None:
        try:
            async with asyncio.timeout(self.options.handshake_timeout_s):
                while True:
                    data, first = first or await reader.read(65536), b""
                    if not data:
                        return None
                    raw += data
                    request = conn.receive_request(data)
                    if request is not None:
                        return request
        except RemoteProtocolError as exc:
            conn.refuse(400, error_body(400, str(exc)))
            writer.write(conn.data_to_send())
            return None
        except (TimeoutError, ConnectionError):
            return None

    async def _mint(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: UpgradeRequest,
                    raw: bytes) -> None:
        """Answer Inworld's ``token:generate`` (an HTTP POST on the same port), then close."""
        body = raw[raw.find(b"\r\n\r\n") + 4 :]
        try:
            length = int(request.headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            answer = Answer(413 if length > MAX_BODY_BYTES else 400, {"code": 3, "message": "bad Content-Length",
                                                                       "details": []})
        else:
            try:
                async with asyncio.timeout(self.options.handshake_timeout_s):
                    while len(body) < length:
                        more = await reader.read(65536)
                        if not more:
                            break
                        body += more
            except TimeoutError:
                return
            answer = self.tokens.mint(request.method, request.headers, body[:length])
        if answer.status != 200:
            log.info("token endpoint: refused with %d: %s", answer.status, answer.body.get("message"))
        writer.write(http_answer(answer))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _first_read(self, reader: asyncio.StreamReader) -> bytes:
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(self.options.handshake_timeout_s):
                return await reader.read(65536)
        return b""

    @staticmethod
    def webrtc_request(first: bytes) -> bool:
        """A request for ``/v1/realtime/ice-servers`` or ``/v1/realtime/calls`` (not a WebSocket upgrade)."""
        line = first.split(b"\r\n", 1)[0].split(b" ")
        return len(line) >= 2 and line[1].split(b"?")[0].rstrip(b"/").endswith(
            (b"/realtime/ice-servers", b"/realtime/calls"))

    @property
    def webrtc_url(self) -> str:
        """The API base URL a WebRTC client is given (``<url>/ice-servers``, ``<url>/calls``)."""
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}/v1/realtime"

    def _refusal(self, request: UpgradeRequest, record: SessionRecord,
                 faults: Faults) -> tuple[int, str, dict[str, str]] | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        record.auth_scheme = scheme.lower() if scheme.lower() in ("basic", "bearer") else None
        if faults.refuse_status is not None:
            headers = {"Retry-After": faults.retry_after} if faults.retry_after is not None else {}
            return faults.refuse_status, error_body(faults.refuse_status, "emulator fault: refused"), headers
        if request.path != self.options.path:
            return 404, error_body(404, f"no realtime endpoint at {request.path}"), {}
        key = self.options.api_key
        token = credential.strip()
        if record.auth_scheme == "bearer" and looks_like_jwt(token) and (key is not None
                                                                         or self.tokens.claims_ours(token)):
            # with a key set only our own live tokens pass; without one, other JWTs pass as any key does
            why_not = self.tokens.check(token)
            if why_not is not None:
                log.info("connection %d: refused with 401: %s", record.index, why_not)  # never the token
                return 401, error_body(401, "Invalid authorization credentials"), {}
        elif key is not None and (record.auth_scheme is None
                                  or not hmac.compare_digest(credential.strip().encode(), key.encode())):
            why = "no Basic or Bearer Authorization header" if record.auth_scheme is None else (
                f"a {record.auth_scheme.capitalize()} key that is not the one --api-key names")
            log.info("connection %d: refused with 401: %s", record.index, why)  # never the key itself
            return 401, error_body(401, "Invalid authorization credentials"), {}
        if not request.query.get("key"):
            return 400, error_body(400, "missing required query parameter 'key'"), {}
        protocol = request.query.get("protocol")
        if protocol is not None and protocol != "realtime":  # absent is fine: inworld.ai/voice-agents omits it
            return 400, error_body(400, "query parameter 'protocol' must be 'realtime'"), {}
        return None

    async def _expire(self, session: RealtimeSession, link: Link, ttl_s: float) -> None:
        await asyncio.sleep(ttl_s)
        session.expire()
        link.close(1000, "session expired")


async def _every(interval: float, action: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(interval)
        action()


def _offers_realtime(request: UpgradeRequest) -> bool:
    """Whether the client offered the ``realtime`` subprotocol (inworld.ai/voice-agents' snippet does)."""
    offered = request.headers.get("sec-websocket-protocol", "")
    return "realtime" in (p.strip() for p in offered.split(","))


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        scheme = out["authorization"].partition(" ")[0]
        out["authorization"] = f"{scheme} <redacted>".strip()
    return out
