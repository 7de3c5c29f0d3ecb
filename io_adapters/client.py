"""What the asyncio and the blocking client share without I/O: one constructor, one route to the server."""

from __future__ import annotations

import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from inworld_realtime.protocol import (
    ConnectError,
    ConnectionState,
    RealtimeConnection,
    RemoteProtocolError,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.handshake import DEFAULT_URL, Target, parse_target
from inworld_realtime.protocol.states import OPEN_STATES

from .supervisor import GiveUp, Options, Retry, Supervisor
from .transport import Proxy, check_target, proxy_for, tls_context

#: What one attempt to open a session may raise; the supervisor decides whether another attempt follows.
ATTEMPT_ERRORS = (ConnectError, RemoteProtocolError, OSError)


@dataclass(frozen=True, slots=True)
class Route:
    """Where the bytes go: the target, its TLS context (None for ws://) and the HTTP proxy, if any."""

    target: Target
    context: ssl.SSLContext | None
    proxy: Proxy | None


class ClientBase:
    """The constructor both clients share (the options are declared here, once), and their common parts."""

    def __init__(
        self,
        api_key: str | None = None,
        session: SessionProperties | None = None,
        url: str = DEFAULT_URL,
        auth_type: Literal["basic", "bearer"] = "basic",
        *,
        connect_timeout: float = 10.0,
        keepalive_timeout: float = 30.0,
        ping_interval: float = 10.0,
        reconnect: bool = True,
        max_reconnect_attempts: int = 5,
        backoff_initial: float = 0.25,
        backoff_max: float = 8.0,
        max_queue_bytes: int = 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure: bool = False,
        chunk_ms: int = 60,
        max_message_bytes: int = 16 * 1024 * 1024,
        max_replay_audio_ms: int = 10_000,
        max_held_audio_ms: int = 10_000,
        extra_headers: dict[str, str] | None = None,
        max_events: int = 10_000,
        stable_after: float = Options.stable_after,
        rng: random.Random | None = None,
        max_replay_items: int = 200,
        max_history_audio_ms: int = 30_000,
    ) -> None:
        self.connection = RealtimeConnection(
            api_key, session, url, auth_type, chunk_ms=chunk_ms, max_message_bytes=max_message_bytes,
            max_replay_audio_ms=max_replay_audio_ms, max_held_audio_ms=max_held_audio_ms,
            extra_headers=extra_headers, max_replay_items=max_replay_items, max_history_audio_ms=max_history_audio_ms)
        self.options = Options(connect_timeout, keepalive_timeout, ping_interval, reconnect, max_reconnect_attempts,
                               backoff_initial, backoff_max, max_queue_bytes, allow_insecure,
                               max_events=max(1, max_events), stable_after=stable_after)
        self._ssl_context = ssl_context
        self._sup = Supervisor(self.options, rng)
        self._init_io()

    def _init_io(self) -> None:
        """The adapter's own state: queues, locks, sockets."""
        raise NotImplementedError

    def _flush(self) -> None:
        """Hand the core's outgoing bytes to the socket (or leave them in the core while there is none)."""
        raise NotImplementedError

    def _surface(self, event: Any) -> None:
        """Queue an event for the caller."""
        raise NotImplementedError

    def _forget_events(self) -> None:
        """Empty the caller's queue (nothing of a failed first attempt reaches the caller)."""
        raise NotImplementedError

    def _next_attempt(self, decision: Retry | GiveUp) -> float:
        """Act on the supervisor's decision: surface its events, then the seconds to wait, or raise its error."""
        if not self._sup.reconnecting:
            self._forget_events()
        if isinstance(decision, GiveUp):
            for event in decision.events:
                self._surface(event)
            raise decision.error
        if decision.event is not None:
            self._surface(decision.event)
        return decision.delay

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.connection!r}>"

    @property
    def state(self) -> ConnectionState:
        """The core's state."""
        return self.connection.state

    def _route(self) -> Route:
        """Decided once per connect(): a configuration mistake fails here, before any attempt is made."""
        target = parse_target(self.connection.url)
        check_target(target, self.options.allow_insecure)
        return Route(target, tls_context(target, self._ssl_context), proxy_for(target))

    def _start_close(self) -> bool:
        """Mark the client closing and send the close frame; True when a server's answer is worth awaiting."""
        self._sup.closing = True
        conn = self.connection
        if conn.state in OPEN_STATES:
            conn.close()
            self._flush()
            return True
        if conn.state not in (ConnectionState.CLOSED, ConnectionState.CLOSING):
            conn.close()
        return False

    def _forget_conversation(self) -> None:
        """After the socket is gone: end the core's connection and forget history, so the next session is fresh."""
        conn = self.connection
        if conn.state is ConnectionState.CLOSING:
            conn.connection_lost("conversation reset")
        elif conn.state is not ConnectionState.CLOSED:
            conn.close()
        self._discard_events()
        conn.reset_conversation()

    def _discard_events(self) -> None:
        """Drop the core's pending events unseen (a failed attempt's, or a forgotten conversation's)."""
        for _ in self.connection.events():
            pass

    def _unsent_ms(self) -> int:
        """Input audio only a new session can still deliver: held by the core, or sent into the dead socket."""
        return self.connection.held_audio_ms + self.connection.turn_audio_ms


class AsyncRequests:
    """What both asyncio clients (WebSocket and WebRTC) do alike: ``async with`` opens and closes the session,
    and the requests whose bytes the core decides (the client's ``_flush`` sends them)."""

    connection: RealtimeConnection
    _flush: Callable[[], None]
    send: Callable[[ev.ClientEvent], Awaitable[None]]
    connect: Callable[[], Awaitable[None]]
    close: Callable[[], Awaitable[None]]

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def cancel_response(self) -> bool:
        """Cancel the response in progress or asked for; False when there is none."""
        sent = self.connection.cancel_response()
        self._flush()
        return sent

    async def truncate(self, played_ms: float | None = None,
                       item_id: str | None = None) -> ev.ConversationItemTruncate | None:
        """Tell the server how much of the current answer (or of the item ``item_id``) was heard; by default
        what the core counts as played (over WebRTC, what the track played)."""
        event = self.connection.truncate(played_ms, item_id)
        self._flush()
        return event

    async def update_session(self, session: SessionProperties) -> None:
        """Change the live session (and every future one)."""
        await self.send(ev.SessionUpdate(session=session))


__all__ = ["ATTEMPT_ERRORS", "AsyncRequests", "ClientBase", "Route"]
