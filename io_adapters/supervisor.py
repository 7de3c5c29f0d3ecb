"""The sans-IO supervisor: the one decision-maker above the core, for every client (asyncio, blocking, and any
other transport that carries the same session).

Like the core, it reads no clock and never sleeps: the executor passes ``now`` (a monotonic time in seconds)
with each fact and acts on the decision it gets back. Facts: an attempt failed and how (``attempt_error``,
``failed``), the transport opened (``session_started``), bytes were heard (``heard``), the core produced an event
(``settle``), time passed (``tick``), the caller's backlog changed (``backlog``), close or reset was asked
(``closing``), the socket ended (``dropped``). Decisions: retry after this delay or give up with this error and
these events, this event configured (or rejected) the opening, ping now or abort a dead transport, wake me at
``next_tick()``, pause or resume reading, raise this error to the caller. See docs/driver.md.
"""

from __future__ import annotations

import math
import random
import socket
import ssl
from dataclasses import dataclass
from typing import Literal

from inworld_realtime.protocol import (
    ConnectError,
    ConnectTimeout,
    HandshakeError,
    ReceiveTimeout,
    RemoteProtocolError,
    SessionEnded,
)
from inworld_realtime.protocol import events as ev

from .events import AudioDropped, Reconnected, ReconnectFailed, Reconnecting
from .transport import ProxyRefused

#: Handshake answers worth another try: timeout, too early, rate limited (and every 5xx).
RETRY_STATUSES = frozenset({408, 425, 429})
#: The longest ``Retry-After`` honoured, so that a confused server cannot park a client for hours.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Options:
    """Adapter settings shared by the asyncio and the blocking client."""

    connect_timeout: float = 10.0
    keepalive_timeout: float = 30.0
    ping_interval: float = 10.0
    reconnect: bool = True
    max_reconnect_attempts: int = 5
    backoff_initial: float = 0.25
    backoff_max: float = 8.0
    max_queue_bytes: int = 1024 * 1024
    allow_insecure: bool = False
    close_timeout: float = 2.0
    max_events: int = 10_000
    stable_after: float = 10.0
    """Seconds a configured session must last before its drop resets the reconnect count: a server that
    configures sessions and drops them at once is a failing server, not a recovering one."""


class SessionRejected(ConnectError):
    """The server answered our ``session.update`` with an error: the same configuration will fail again."""


@dataclass(frozen=True, slots=True)
class Settled:
    """The opening's outcome, seen in the core's events: configured (``announce``, when set, follows the event)
    or rejected (the error is what the attempt raises)."""

    outcome: ev.SessionConfigured | SessionRejected
    announce: Reconnected | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after ``delay`` seconds; ``event`` (when set) goes to the caller first."""

    delay: float
    event: Reconnecting | None


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: ``error`` is what connect() raises; ``event`` (when set) ends the caller's event stream."""

    error: BaseException
    events: tuple[AudioDropped | ReconnectFailed, ...]


def describe(error: BaseException | None) -> str:
    """One line for an adapter event; never carries the key (errors from the core do not)."""
    if error is None:
        return "connection lost"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    return chain


def retryable(error: BaseException | None) -> bool:
    """Whether trying again could help: load shedding and network hiccups yes; a refused key, a bad URL,
    an untrusted certificate or a rejected configuration no."""
    for cause in _causes(error) if error is not None else []:
        if isinstance(cause, HandshakeError | ProxyRefused):
            return cause.status in RETRY_STATUSES or cause.status >= 500
        if isinstance(cause, SessionRejected | ssl.SSLCertVerificationError):
            return False
        if isinstance(cause, socket.gaierror):
            return cause.errno == socket.EAI_AGAIN  # a temporary DNS failure; an unknown name stays unknown
    return True


class Supervisor:
    """Decides what one client's connection does next; holds the timers' deadlines, never a clock."""

    def __init__(self, options: Options, rng: random.Random | None = None) -> None:
        self.options = options
        self.rng = rng or _JITTER
        self.attempt = 0  # failed attempts in the current opening (first connect or reconnect)
        self.reconnecting = False  # opening a replacement session (events are surfaced)
        self.deadline = 0.0  # the first connect's deadline
        self.last_error: BaseException | None = None  # the last failure of the first connect
        self.closing = False
        self.last_rx = 0.0
        self.last_ping = 0.0
        self.stalled = False
        self.configured_at = -math.inf  # when the current session was configured
        self.carried = 0  # failed attempts a quick drop of the current session adds to (its opening's count)
        self.opening = False  # between a (re)connect's start and its configured session: nothing pauses it
        self.paused = False  # the caller is behind: reading is paused, and the keepalive does not judge the server

    def start(self, now: float) -> None:
        """The caller asked to connect: every attempt of this first opening ends by ``connect_timeout``."""
        self.attempt = 0
        self.reconnecting = False
        self.closing = self.paused = False
        self.opening = True
        self.deadline = now + self.options.connect_timeout
        self.last_error = None

    def attempt_deadline(self, now: float) -> float:
        """When the attempt starting ``now`` must have produced a configured session."""
        if self.reconnecting:
            return now + self.options.connect_timeout
        return self.deadline

    def backoff(self, attempt: int, error: BaseException | None) -> float:
        """Seconds before retry ``attempt`` (1-based): the server's Retry-After, else full jitter under a cap."""
        for cause in _causes(error) if error is not None else []:
            wait = cause.retry_after if isinstance(cause, HandshakeError) else None
            if wait is not None and not math.isnan(wait):  # "nan" parses as a float; it is not a wait
                return min(max(wait, 0.0), MAX_RETRY_AFTER)
        ceiling = min(self.options.backoff_max, self.options.backoff_initial * 2 ** min(attempt - 1, 62))
        return self.rng.uniform(0.0, ceiling)

    def failed(self, now: float, error: BaseException | None, unsent_ms: int = 0) -> Retry | GiveUp:
        """An attempt failed (refused, reset, timed out, dropped before configured); ``unsent_ms`` is the input
        audio that only a new session could still carry (reported as dropped if we give up)."""
        self.attempt += 1
        options = self.options
        if not self.reconnecting:
            if isinstance(error, ConnectTimeout) and self.last_error is not None and now >= self.deadline:
                error = self.last_error  # the deadline cut this attempt short: the previous answer says more
            self.last_error = error
        if self.closing:  # whatever the attempt met, the reason it ends is the caller's close()
            closed = ConnectError("the client is closed")
            closed.__cause__ = error
            return GiveUp(closed, ())
        if not retryable(error) or self.attempt > options.max_reconnect_attempts:
            return self._give_up(error, unsent_ms)
        delay = self.backoff(self.attempt, error)
        if not self.reconnecting:
            if now + delay >= self.deadline:  # the caller's deadline passes first: raise what we know now
                return self._give_up(error, unsent_ms)
            return Retry(delay, None)
        return Retry(delay, Reconnecting(self.attempt, delay, describe(error)))

    def dropped(self, now: float, error: BaseException | None, clean: bool,
                unsent_ms: int = 0) -> Retry | GiveUp | None:
        """The configured session ended; None when it should simply end (closed by us or cleanly by the server,
        or reconnecting is off)."""
        self.stalled = self.paused = False  # said already (lost_reason); the next socket starts afresh, unpaused
        if self.closing or clean or not self.options.reconnect:
            return None
        self.reconnecting = self.opening = True
        # A session that lived ``stable_after`` starts a fresh count; one that flapped is one more failed attempt.
        self.attempt = self.carried if now - self.configured_at < self.options.stable_after else 0
        return self.failed(now, error, unsent_ms)

    def configured(self, now: float, event: ev.SessionConfigured) -> Reconnected | None:
        """The session answered our configuration: the opening succeeded; a replacement is announced."""
        attempt, reconnecting = self.attempt, self.reconnecting
        self.attempt = 0
        self.reconnecting = self.opening = False
        self.configured_at = now
        self.carried = attempt if reconnecting else 0  # the first opening's failures had their own deadline
        self.heard(now)
        if not reconnecting:
            return None
        return Reconnected(attempt, event.replayed_items, event.replayed_audio_ms)

    def rejected(self, event: ev.ErrorEvent) -> SessionRejected:
        """The server answered our configuration with an error."""
        return SessionRejected(f"the server rejected the session: {event.error.message}")

    def settle(self, now: float, event: object, configuring: bool) -> Settled | None:
        """One of the core's events while an opening waits for its answer (``configuring``: the core's state is
        CONFIGURING): ``SessionConfigured`` settles it, an error answering our configuration rejects it."""
        if isinstance(event, ev.SessionConfigured):
            return Settled(event, self.configured(now, event))
        if isinstance(event, ev.ErrorEvent) and configuring:
            return Settled(self.rejected(event))
        return None

    def attempt_error(self, error: BaseException, step: str, where: str,
                      io_errors: tuple[type[BaseException], ...] = ()) -> tuple[BaseException, str]:
        """What a failed attempt raises (the one error tree) and the reason the core's connection ends with;
        ``io_errors`` are the executor's own transport failures (beside ``OSError``)."""
        if isinstance(error, TimeoutError) and not isinstance(error, ConnectError):
            timeout = ConnectTimeout(f"{step} {where} within {self.options.connect_timeout} s")
            return timeout, "connect timeout"
        if isinstance(error, ConnectError | RemoteProtocolError):
            return error, "connect failed"
        if isinstance(error, (OSError, EOFError, *io_errors)):
            wrapped = ConnectError(f"cannot connect to {where}: {error}")
            wrapped.__cause__ = error
            return wrapped, "connect failed"
        return error, "cancelled"

    def closing_error(self) -> SessionEnded:
        """What a send raises once close() or reset_conversation() started."""
        return SessionEnded("the client is closed")

    def ended_error(self) -> SessionEnded:
        """What recv raises once the event stream ended."""
        return SessionEnded("the realtime session has ended")

    def recv_timeout(self, timeout: float | None) -> ReceiveTimeout:
        return ReceiveTimeout(f"no event within {timeout} s")

    def backlog(self, now: float, size: int) -> Literal["pause", "resume"] | None:
        """The caller's queue holds ``size`` events: at ``max_events`` reading pauses (TCP then holds the server,
        nothing is lost), at half it resumes. An opening is never paused (it has a deadline to meet). While
        paused the server cannot be heard, so it is not judged: its keepalive clock restarts at the resume."""
        limit = self.options.max_events
        if not self.paused:
            if size >= limit and not self.opening:
                self.paused = True
                return "pause"
            return None
        if size <= limit // 2 or self.closing:
            self.paused = False
            self.last_rx = max(self.last_rx, now)
            return "resume"
        return None

    def _give_up(self, error: BaseException | None, unsent_ms: int) -> GiveUp:
        if not self.reconnecting:
            return GiveUp(error or ConnectError("connection lost"), ())
        failed = ReconnectFailed(describe(error))
        if unsent_ms <= 0:
            return GiveUp(error or ConnectError("connection lost"), (failed,))
        dropped = AudioDropped(unsent_ms, "reconnecting gave up: no session left to carry it")
        return GiveUp(error or ConnectError("connection lost"), (dropped, failed))

    def session_started(self, now: float) -> None:
        """A socket was upgraded: the keepalive clock starts."""
        self.last_rx = self.last_ping = now
        self.stalled = False

    def heard(self, now: float) -> None:
        """Bytes arrived: the peer is alive."""
        self.last_rx = now

    def tick(self, now: float) -> Literal["dead", "ping"] | None:
        """Due at ``next_tick()``: ``"dead"`` after ``keepalive_timeout`` of silence, ``"ping"`` after
        ``ping_interval`` of quiet since the last byte or ping, else nothing."""
        options = self.options
        if self.paused:
            return None  # a paused reader is not a dead server
        if now >= self.last_rx + options.keepalive_timeout:  # sums, as in next_tick(): due means due
            self.stalled = True
            return "dead"
        if now >= max(self.last_rx, self.last_ping) + options.ping_interval:
            self.last_ping = now
            return "ping"
        return None

    def next_tick(self) -> float:
        """When ``tick`` may next have something to say (never while reading is paused)."""
        options = self.options
        if self.paused:
            return math.inf
        return min(self.last_rx + options.keepalive_timeout, max(self.last_rx, self.last_ping) + options.ping_interval)

    def lost_reason(self, reason: str) -> str:
        """What a socket's end is called: a keepalive abort says so, whatever the transport reported."""
        return "keepalive timeout: no data from the server" if self.stalled else reason

    def lost(self, error: BaseException | None) -> str:
        """The reason the core's connection ends with when the transport failed with ``error``."""
        if self.closing and not self.stalled:
            return "closed"
        return self.lost_reason(f"connection lost: {error}" if error else "connection lost")

    def must_wait(self, queued: int) -> bool:
        """Whether a sender waits for the write queue (``queued`` bytes) to drain; raises once closing."""
        if self.closing:
            raise self.closing_error()
        return queued > self.options.max_queue_bytes


_JITTER = random.Random()  # shared: a Random's state is 2.5 KiB per client


__all__ = ["GiveUp", "Options", "Retry", "SessionRejected", "Settled", "Supervisor", "describe", "retryable"]
