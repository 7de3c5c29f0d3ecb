"""The driver (the core plus the supervisor) without sockets: a fake clock, the core's own server side in memory,
and a tiny executor that does what the supervisor says. What both clients decide is decided here, so every
scenario is checked once, fast; tests/test_parity.py and tests/test_races.py check that the two executors carry
it out the same way over real sockets."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from inworld_realtime.io_adapters import Reconnected, Reconnecting, SessionRejected
from inworld_realtime.io_adapters.supervisor import GiveUp, Options, Retry, Supervisor
from inworld_realtime.protocol import (
    ConnectError,
    ConnectionState,
    ConnectTimeout,
    HandshakeError,
    ProtocolError,
    RealtimeConnection,
    ReceiveTimeout,
    RemoteProtocolError,
    SessionEnded,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ServerConnection
from inworld_realtime.protocol.states import ENDED_STATES
from tests.core_helpers import FakeClock, pump, upgrade

OPTIONS = Options(connect_timeout=5.0, keepalive_timeout=3.0, ping_interval=1.0, max_events=4,
                  backoff_initial=0.5, backoff_max=1.0, max_reconnect_attempts=2)


@dataclass
class Executor:
    """What a client does, minus the sockets: one core, one in-memory server, one event queue, one clock."""

    clock: FakeClock = field(default_factory=FakeClock)
    options: Options = OPTIONS
    queue: list[Any] = field(default_factory=list)
    paused: bool = False  # the transport's reading, as the supervisor commanded
    pings: int = 0
    aborted: int = 0

    def __post_init__(self) -> None:
        self.conn = RealtimeConnection("k", SessionProperties(output_modalities=["text"]), "ws://127.0.0.1:1/s",
                                       clock=self.clock)
        self.sup = Supervisor(self.options)
        self.server: ServerConnection | None = None
        self.configured: ev.SessionConfigured | SessionRejected | None = None

    def dispatch(self) -> None:
        configuring = self.conn.state is ConnectionState.CONFIGURING
        for event in self.conn.events():
            self.queue.append(event)
            if self.configured is None and (settled := self.sup.settle(self.clock.now, event, configuring)):
                self.configured = settled.outcome
                if settled.announce is not None:
                    self.queue.append(settled.announce)
        self.backlog()

    def backlog(self) -> None:
        decision = self.sup.backlog(self.clock.now, len(self.queue))
        if decision is not None:
            self.paused = decision == "pause"

    def open(self, reject: bool = False) -> None:
        """One attempt that reaches a configured (or rejected) session."""
        self.configured = None
        self.server = upgrade(self.conn)
        self.server.send(ev.SessionCreated(session=SessionProperties()))
        self.conn.receive_data(self.server.data_to_send())
        pump(self.conn, self.server)
        if reject:
            self.server.send(ev.ErrorEvent.model_validate(
                {"type": "error", "error": {"type": "invalid_request_error", "message": "bad voice"}}))
        else:
            self.server.send(ev.SessionUpdated(session=SessionProperties(output_modalities=["text"])))
        self.hear(self.server.data_to_send())
        if not reject:
            self.sup.session_started(self.clock.now)

    def hear(self, data: bytes) -> None:
        """Bytes from the server, unless reading is paused (then TCP holds them)."""
        assert not self.paused
        self.sup.heard(self.clock.now)
        self.conn.receive_data(data)
        self.dispatch()

    def take(self) -> Any:
        """The caller reads one event."""
        event = self.queue.pop(0)
        if self.sup.paused:
            self.backlog()
        return event

    def advance(self, seconds: float) -> None:
        """Time passes; the executor wakes at every deadline the supervisor names and does what tick says."""
        end = self.clock.now + seconds
        while (when := self.sup.next_tick()) <= end and self.conn.state not in ENDED_STATES:
            self.clock.now = max(self.clock.now, when)
            action = self.sup.tick(self.clock.now)
            if action == "ping" and self.conn.ping():
                self.pings += 1
                self.conn.data_to_send()  # the server never answers: a half-open peer
            elif action == "dead":
                self.aborted += 1
                self.conn.connection_lost(self.sup.lost_reason(""))
                self.dispatch()
        self.clock.now = end


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_configured_session_announces_nothing_on_the_first_connect() -> None:
    x = Executor()
    x.sup.start(x.clock.now)
    x.open()
    assert isinstance(x.configured, ev.SessionConfigured)
    assert names(x.queue) == ["Connected", "SessionCreated", "SessionUpdated", "SessionConfigured"]


def test_an_error_answering_the_configuration_rejects_the_opening() -> None:
    x = Executor()
    x.sup.start(x.clock.now)
    x.open(reject=True)
    assert isinstance(x.configured, SessionRejected)
    assert "bad voice" in str(x.configured)
    decision = x.sup.failed(x.clock.now, x.configured)
    assert isinstance(decision, GiveUp)  # the same configuration would fail again


def test_an_error_after_the_session_is_configured_settles_nothing() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    error = ev.ErrorEvent.model_validate({"type": "error", "error": {"type": "x", "message": "m"}})
    assert sup.settle(1.0, error, configuring=False) is None


def test_a_silent_server_is_pinged_then_declared_dead() -> None:
    x = Executor(options=Options(**{**OPTIONS.__dict__, "max_events": 1000}))
    x.sup.start(x.clock.now)
    x.open()
    x.advance(2.9)
    assert x.pings == 2 and x.aborted == 0
    x.advance(0.2)
    assert x.aborted == 1
    closed = [e for e in x.queue if isinstance(e, ev.ConnectionClosed)]
    assert closed and "keepalive timeout" in closed[0].reason


def test_a_caller_that_stops_reading_is_not_a_dead_server() -> None:
    """Finding 2: reading pauses at max_events; the keepalive then judges nobody, for as long as it lasts."""
    x = Executor()
    x.sup.start(x.clock.now)
    x.open()
    assert x.paused  # four opening events: the caller is already max_events behind
    assert x.sup.next_tick() == math.inf
    x.advance(60.0)  # twenty keepalive timeouts without reading
    assert x.aborted == 0 and x.pings == 0
    x.take()
    assert x.paused  # three left: not yet half
    x.take()
    x.take()
    assert not x.paused  # at half: reading resumes, and the server's silence is counted from now
    assert x.sup.next_tick() == x.clock.now + OPTIONS.ping_interval
    x.advance(2.9)
    assert x.aborted == 0
    x.advance(0.2)
    assert x.aborted == 1  # a server silent for a whole keepalive timeout after the resume is dead


def test_an_opening_is_never_paused_and_a_drop_unpauses() -> None:
    """Finding 2: the pause belongs to a socket; after a reconnect it is decided afresh, once configured."""
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    assert sup.backlog(0.0, 100) is None  # the first opening has a deadline to meet
    sup.configured(0.1, ev.SessionConfigured(None, False, 0, 0))
    assert sup.backlog(0.1, 100) == "pause"
    assert isinstance(sup.dropped(1.0, ConnectionResetError(), clean=False), Retry)
    assert not sup.paused  # the new socket is not paused...
    assert sup.backlog(1.0, 100) is None  # ...nor paused while it opens
    sup.configured(1.5, ev.SessionConfigured(None, True, 0, 0))
    assert sup.backlog(1.5, 100) == "pause"  # the caller is still behind: the new socket pauses too


def test_closing_resumes_a_paused_reader() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    sup.configured(0.1, ev.SessionConfigured(None, False, 0, 0))
    assert sup.backlog(0.1, 10) == "pause"
    sup.closing = True
    assert sup.backlog(0.2, 10) == "resume"  # the close frame's answer must be read


def test_a_drop_reconnects_and_announces_the_replacement() -> None:
    x = Executor(options=Options(**{**OPTIONS.__dict__, "max_events": 1000}))
    x.sup.start(x.clock.now)
    x.open()
    x.queue.clear()
    x.advance(3.1)
    decision = x.sup.dropped(x.clock.now, None, x.conn.state is ConnectionState.CLOSED)
    assert isinstance(decision, Retry) and isinstance(decision.event, Reconnecting)
    x.clock.now += decision.delay
    x.open()
    assert names(x.queue)[-2:] == ["SessionConfigured", "Reconnected"]
    assert isinstance(x.queue[-1], Reconnected) and x.queue[-1].attempt == 1


def test_cancel_right_after_asking_is_sent_and_the_answer_is_not_owed_again() -> None:
    """Finding 3, in the core both executors share: cancel covers a response asked for and not created yet."""
    x = Executor(options=Options(**{**OPTIONS.__dict__, "max_events": 1000}))
    x.sup.start(x.clock.now)
    x.open()
    x.conn.create_response()
    assert x.conn.cancel_response() is True
    assert x.server is not None
    assert names(pump(x.conn, x.server)) == ["ResponseCreate", "ResponseCancel"]
    x.conn.connection_lost("dropped before response.created")  # nothing is owed: the caller cancelled it
    x.open()
    assert "ResponseCreate" not in names(pump(x.conn, x.server))


def test_a_cancelled_response_cut_off_by_a_drop_is_not_asked_for_again() -> None:
    x = Executor(options=Options(**{**OPTIONS.__dict__, "max_events": 1000}))
    x.sup.start(x.clock.now)
    x.open()
    x.conn.create_response()
    assert x.server is not None
    pump(x.conn, x.server)
    x.server.send(ev.ResponseCreated.model_validate(
        {"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}}))
    x.hear(x.server.data_to_send())
    assert x.conn.cancel_response() is True
    x.conn.connection_lost("dropped mid-response")
    x.open()
    assert "ResponseCreate" not in names(pump(x.conn, x.server))


@pytest.mark.parametrize(("error", "raised", "reason"), [
    (TimeoutError(), ConnectTimeout, "connect timeout"),
    (ConnectionRefusedError(111, "refused"), ConnectError, "connect failed"),
    (EOFError("short read"), ConnectError, "connect failed"),
    (HandshakeError(503), HandshakeError, "connect failed"),
    (RemoteProtocolError("bad upgrade"), RemoteProtocolError, "connect failed"),
    (asyncio.CancelledError(), asyncio.CancelledError, "cancelled"),
])
def test_attempt_errors_map_into_the_tree(error: BaseException, raised: type[BaseException], reason: str) -> None:
    mapped, why = Supervisor(OPTIONS).attempt_error(error, "no connection to", "example:443")
    assert isinstance(mapped, raised) and why == reason
    if isinstance(mapped, ConnectError) and not isinstance(mapped, ConnectTimeout):
        assert mapped.__cause__ is error


def test_an_executors_own_transport_error_is_a_connect_error() -> None:
    class Overrun(Exception):
        pass

    mapped, _ = Supervisor(OPTIONS).attempt_error(Overrun(), "no WebSocket handshake from", "h:1", (Overrun,))
    assert isinstance(mapped, ConnectError)


def test_every_error_the_clients_raise_is_in_the_tree() -> None:
    """Finding 4: the executors raise what the supervisor hands them."""
    sup = Supervisor(OPTIONS)
    for error in (sup.closing_error(), sup.ended_error()):
        assert isinstance(error, SessionEnded | ProtocolError) and isinstance(error, ConnectionError)
    timeout = sup.recv_timeout(0.5)
    assert isinstance(timeout, ReceiveTimeout | ProtocolError) and isinstance(timeout, TimeoutError)
    assert isinstance(timeout, ProtocolError) and isinstance(sup.closing_error(), ProtocolError)
