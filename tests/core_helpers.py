"""Drive a RealtimeConnection against the core's own server side, entirely in memory."""

from __future__ import annotations

from inworld_realtime.protocol import ConnectionState, RealtimeConnection, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.events import Event
from inworld_realtime.protocol.server import ServerConnection, ServerSideEvent


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def upgrade(conn: RealtimeConnection) -> ServerConnection:
    """Connect ``conn`` and accept its upgrade; returns the server side."""
    server = ServerConnection()
    if conn.state is not ConnectionState.CONNECTING:
        conn.connect()
    assert server.receive_request(conn.data_to_send()) is not None
    server.accept()
    conn.receive_data(server.data_to_send())
    return server


def pump(conn: RealtimeConnection, server: ServerConnection) -> list[ServerSideEvent]:
    """Deliver what the client queued to the server; returns what the server parsed."""
    data = conn.data_to_send()
    if data:
        server.receive_data(data)
    return list(server.events())


def deliver(conn: RealtimeConnection, server: ServerConnection, *events: ev.ServerEvent | str) -> list[Event]:
    """Send server events (or raw text) to the client; returns the client's events."""
    for event in events:
        server.send(event)
    conn.receive_data(server.data_to_send())
    return list(conn.events())


def configured(conn: RealtimeConnection) -> ServerConnection:
    """Take ``conn`` through session.created/session.updated to READY."""
    server = upgrade(conn)
    deliver(conn, server, ev.SessionCreated(session=SessionProperties()))
    update = [e for e in pump(conn, server) if isinstance(e, ev.SessionUpdate)]
    assert update, "no session.update after session.created"
    deliver(conn, server, ev.SessionUpdated(session=update[0].session))
    return server


def ready(max_message_bytes: int = 16 * 1024 * 1024, url: str = "ws://127.0.0.1:1/s",
          api_key: str = "test-key") -> RealtimeConnection:
    """A connection past session.updated with nothing left to read or send."""
    conn = RealtimeConnection(api_key, url=url, max_message_bytes=max_message_bytes)
    server = configured(conn)
    pump(conn, server)
    list(conn.events())
    assert conn.state is ConnectionState.READY
    return conn
