"""The supervisor on its own: time and facts in, decisions out; no socket, no clock, no sleep."""

from __future__ import annotations

import errno
import random
import socket
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inworld_realtime.io_adapters import AudioDropped, Reconnected, ReconnectFailed, Reconnecting, SessionRejected
from inworld_realtime.io_adapters.supervisor import (
    MAX_RETRY_AFTER,
    GiveUp,
    Options,
    Retry,
    Supervisor,
    describe,
    retryable,
)
from inworld_realtime.io_adapters.transport import ProxyRefused
from inworld_realtime.protocol import ConnectError, ConnectTimeout, HandshakeError
from inworld_realtime.protocol import events as ev

OPTIONS = Options(connect_timeout=10.0, keepalive_timeout=3.0, ping_interval=1.0, max_reconnect_attempts=3,
                  backoff_initial=0.5, backoff_max=4.0)


def wrapped(cause: BaseException) -> ConnectError:
    """What the adapters raise: a ConnectError whose cause is the socket's error."""
    try:
        raise ConnectError(f"cannot connect: {cause}") from cause
    except ConnectError as exc:
        return exc


def configured(items: int = 0, audio_ms: int = 0) -> ev.SessionConfigured:
    return ev.SessionConfigured(None, True, items, audio_ms)


class Fixed(random.Random):
    """Jitter pinned to a fraction of its range, to check the bounds exactly."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction




@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_load_shedding_and_server_errors_are_retried(status: int) -> None:
    assert retryable(HandshakeError(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 426, 451])
def test_other_refusals_end_at_once(status: int) -> None:
    assert not retryable(HandshakeError(status))


@pytest.mark.parametrize("cause", [
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    ConnectionResetError(errno.ECONNRESET, "reset"),
    TimeoutError("timed out"),
    ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),  # a TLS handshake cut short
    socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
], ids=["refused", "reset", "timeout", "tls-eof", "dns-temporary"])
def test_network_hiccups_are_retried(cause: BaseException) -> None:
    assert retryable(wrapped(cause))
    assert retryable(cause)


@pytest.mark.parametrize("cause", [
    ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate"),
    socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    SessionRejected("the server rejected the session: bad voice"),
    ProxyRefused("proxy refused the tunnel", 407),
], ids=["untrusted-certificate", "unknown-name", "rejected-session", "proxy-407"])
def test_what_another_try_cannot_fix_ends_at_once(cause: BaseException) -> None:
    assert not retryable(wrapped(cause))


def test_timeouts_unknown_errors_and_proxy_5xx_are_retried() -> None:
    assert retryable(ConnectTimeout("no WebSocket handshake"))
    assert retryable(ProxyRefused("bad gateway", 502))
    assert retryable(None)




def test_first_connect_retries_a_503_within_its_deadline_and_emits_nothing() -> None:
    sup = Supervisor(OPTIONS, Fixed(1.0))
    sup.start(100.0)
    assert sup.attempt_deadline(100.0) == 110.0
    decision = sup.failed(100.1, HandshakeError(503))
    assert decision == Retry(0.5, None)  # no Reconnecting: the caller is still in connect()
    assert sup.attempt_deadline(100.7) == 110.0  # the same deadline for every attempt of the first connect
    assert sup.configured(101.0, configured()) is None  # no Reconnected either


def test_first_connect_honours_retry_after_when_it_fits_the_deadline() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    assert sup.failed(0.1, HandshakeError(429, headers={"retry-after": "2"})) == Retry(2.0, None)


def test_first_connect_raises_the_last_error_when_the_wait_would_pass_the_deadline() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    error = HandshakeError(429, headers={"retry-after": "30"})
    assert sup.failed(0.1, error) == GiveUp(error, ())


def test_an_attempt_cut_short_by_the_deadline_raises_the_previous_answer() -> None:
    sup = Supervisor(OPTIONS, Fixed(0.0))
    sup.start(0.0)
    refused = HandshakeError(503)
    assert isinstance(sup.failed(9.0, refused), Retry)
    decision = sup.failed(10.0, ConnectTimeout("no WebSocket handshake"))
    assert isinstance(decision, GiveUp) and decision.error is refused
    alone = Supervisor(OPTIONS)
    alone.start(0.0)
    timeout = ConnectTimeout("no WebSocket handshake")
    assert alone.failed(10.0, timeout) == GiveUp(timeout, ())  # nothing better to say


def test_a_refused_key_fails_at_once_with_no_second_attempt() -> None:
    for status in (401, 403):
        sup = Supervisor(OPTIONS)
        sup.start(0.0)
        error = HandshakeError(status)
        decision = sup.failed(0.1, error)
        assert isinstance(decision, GiveUp) and decision.error is error and decision.events == ()


def test_first_connect_gives_up_after_max_attempts() -> None:
    sup = Supervisor(OPTIONS, Fixed(0.0))
    sup.start(0.0)
    refused = wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    decisions = [sup.failed(0.0, refused) for _ in range(4)]
    assert [type(d) for d in decisions] == [Retry, Retry, Retry, GiveUp]




def test_a_drop_reconnects_with_events_and_announces_the_new_session() -> None:
    sup = Supervisor(OPTIONS, Fixed(0.5))
    sup.start(0.0)
    sup.configured(0.5, configured())
    first = sup.dropped(50.0, None, clean=False)
    assert first == Retry(0.25, Reconnecting(1, 0.25, "connection lost"))
    assert sup.attempt_deadline(50.3) == 60.3  # each reconnect attempt has connect_timeout of its own
    second = sup.failed(51.0, HandshakeError(503))
    assert isinstance(second, Retry) and second.event is not None
    assert second.event.attempt == 2 and second.delay == 0.5 and "503" in second.event.reason
    assert sup.configured(52.0, configured(3, 240)) == Reconnected(2, 3, 240)
    again = sup.dropped(90.0, None, clean=False)  # the count starts over after a success
    assert isinstance(again, Retry) and again.event is not None and again.event.attempt == 1


def test_reconnecting_gives_up_with_an_event_and_reports_the_audio_left_behind() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    sup.configured(0.0, configured())
    sup.dropped(5.0, None, clean=False)
    error = HandshakeError(401)
    decision = sup.failed(5.5, error, unsent_ms=420)
    assert isinstance(decision, GiveUp) and decision.error is error
    dropped, failed = decision.events
    assert dropped == AudioDropped(420, "reconnecting gave up: no session left to carry it")
    assert isinstance(failed, ReconnectFailed) and "401" in failed.error


def test_reconnecting_gives_up_after_max_attempts_without_audio_to_report() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    sup.configured(0.0, configured())
    decisions = [sup.dropped(1.0, None, clean=False)]
    decisions += [sup.failed(2.0, HandshakeError(503)) for _ in range(3)]
    assert [type(d) for d in decisions] == [Retry, Retry, Retry, GiveUp]
    last = decisions[-1]
    assert isinstance(last, GiveUp) and [type(e) for e in last.events] == [ReconnectFailed]


def flap(sup: Supervisor, now: float, lasted: float, unsent_ms: int = 0) -> Retry | GiveUp | None:
    """A reconnect that the server configures, then drops ``lasted`` seconds later."""
    sup.configured(now, configured())
    return sup.dropped(now + lasted, ConnectionResetError("reset by peer"), clean=False, unsent_ms=unsent_ms)


def test_sessions_that_drop_right_after_configuring_give_up_after_max_attempts() -> None:
    """Regression: configured() reset the count, so a server that configures and drops at once made both
    clients reconnect forever; each quick flap is now one more failed attempt."""
    sup = Supervisor(OPTIONS, Fixed(0.5))
    sup.start(0.0)
    now = 0.0
    decisions = [flap(sup, now, 1.0)]
    for _ in range(OPTIONS.max_reconnect_attempts):
        now += 5.0
        decisions.append(flap(sup, now, OPTIONS.stable_after - 0.5, unsent_ms=300))
    assert [type(d) for d in decisions] == [Retry, Retry, Retry, GiveUp]
    assert [d.event.attempt for d in decisions if isinstance(d, Retry) and d.event] == [1, 2, 3]
    last = decisions[-1]
    assert isinstance(last, GiveUp) and isinstance(last.error, ConnectionResetError)
    assert [type(e) for e in last.events] == [AudioDropped, ReconnectFailed]
    assert "reset by peer" in last.events[1].error  # type: ignore[union-attr]


def test_a_flap_adds_to_the_failures_of_its_own_reconnect() -> None:
    sup = Supervisor(OPTIONS, Fixed(0.5))
    sup.start(0.0)
    sup.configured(0.0, configured())
    sup.dropped(30.0, None, clean=False)
    sup.failed(31.0, HandshakeError(503))  # attempt 2 refused
    decision = flap(sup, 32.0, 0.1)  # attempt 3 configured, then dropped at once
    assert isinstance(decision, Retry) and decision.event is not None and decision.event.attempt == 3


def test_a_session_that_lasted_resets_the_count_as_before() -> None:
    sup = Supervisor(OPTIONS, Fixed(0.5))
    sup.start(0.0)
    now = 0.0
    for _ in range(3 * OPTIONS.max_reconnect_attempts):  # never gives up: each session outlived the window
        decision = flap(sup, now, OPTIONS.stable_after)
        assert isinstance(decision, Retry) and decision.event is not None and decision.event.attempt == 1
        now += 60.0
    quick = [flap(sup, now + 20.0 * i, 0.5) for i in range(OPTIONS.max_reconnect_attempts)]
    assert [type(d) for d in quick] == [Retry, Retry, GiveUp]  # the earlier long sessions left no debt


def test_the_first_session_flapping_starts_the_count_at_one() -> None:
    """The first opening's failures had their own deadline; they are not carried into reconnecting."""
    sup = Supervisor(OPTIONS, Fixed(0.5))
    sup.start(0.0)
    sup.failed(0.5, HandshakeError(503))
    sup.failed(1.0, HandshakeError(503))
    sup.configured(1.5, configured())
    decision = sup.dropped(2.0, None, clean=False)
    assert isinstance(decision, Retry) and decision.event is not None and decision.event.attempt == 1


def test_a_zero_window_keeps_the_old_reset_on_every_configured_session() -> None:
    sup = Supervisor(Options(max_reconnect_attempts=1, stable_after=0.0), Fixed(0.5))
    sup.start(0.0)
    assert all(isinstance(flap(sup, 10.0 * i, 0.0), Retry) for i in range(5))


def test_a_clean_close_our_close_or_reconnect_off_simply_end() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    assert sup.dropped(1.0, None, clean=True) is None
    sup.closing = True
    assert sup.dropped(1.0, None, clean=False) is None
    off = Supervisor(Options(reconnect=False))
    off.start(0.0)
    assert off.dropped(1.0, ConnectionResetError(), clean=False) is None


def test_closing_ends_an_opening_at_once() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    sup.closing = True
    refused = HandshakeError(503)
    decision = sup.failed(0.1, refused)
    assert isinstance(decision, GiveUp) and decision.events == ()
    assert isinstance(decision.error, ConnectError) and decision.error.__cause__ is refused


def test_a_rejected_configuration_is_a_connect_error_with_the_server_message() -> None:
    sup = Supervisor(OPTIONS)
    event = ev.ErrorEvent.model_validate({"type": "error", "error": {"type": "invalid_request_error",
                                                                      "message": "unknown voice"}})
    rejected = sup.rejected(event)
    assert isinstance(rejected, ConnectError) and "unknown voice" in str(rejected)
    assert not retryable(rejected)


def test_describe_names_the_error() -> None:
    assert describe(None) == "connection lost"
    assert describe(ConnectionResetError()) == "ConnectionResetError"
    assert describe(HandshakeError(503)).startswith("HandshakeError: HTTP 503")




def test_keepalive_pings_after_a_quiet_spell_and_declares_a_silent_peer_dead() -> None:
    sup = Supervisor(OPTIONS)
    sup.session_started(0.0)
    assert sup.next_tick() == 1.0
    assert sup.tick(0.5) is None
    assert sup.tick(1.0) == "ping"
    assert sup.next_tick() == 2.0
    sup.heard(1.5)  # the pong
    assert sup.tick(2.0) is None and sup.next_tick() == 2.5
    assert sup.tick(2.5) == "ping" and sup.tick(3.5) == "ping"
    assert sup.tick(4.5) == "dead"  # 3 s since the last byte at 1.5
    assert sup.stalled and sup.lost_reason("connection lost") == "keepalive timeout: no data from the server"


def test_a_dead_peer_is_named_once_then_the_next_socket_starts_afresh() -> None:
    sup = Supervisor(OPTIONS)
    sup.start(0.0)
    sup.configured(0.0, configured())
    sup.session_started(0.0)
    assert sup.tick(3.0) == "dead"
    assert sup.lost_reason("reset").startswith("keepalive timeout")
    sup.dropped(3.0, None, clean=False)
    assert sup.lost_reason("reset") == "reset"  # a failure of the next attempt is not a keepalive timeout


def test_traffic_keeps_the_peer_alive_without_pings() -> None:
    sup = Supervisor(OPTIONS)
    sup.session_started(0.0)
    for step in range(1, 100):
        now = step * 0.5
        sup.heard(now - 0.1)
        assert sup.tick(now) is None
    sup.session_started(200.0)
    assert not sup.stalled and sup.lost_reason("reset") == "reset"


@given(st.floats(0.0, 1e6), st.floats(0.001, 100.0), st.floats(0.001, 100.0))
def test_the_next_tick_is_never_later_than_the_keepalive_deadline(start: float, keepalive: float,
                                                                  interval: float) -> None:
    sup = Supervisor(Options(keepalive_timeout=keepalive, ping_interval=interval))
    sup.session_started(start)
    due = sup.next_tick()
    assert start < due <= start + keepalive
    assert sup.tick(start + keepalive) == "dead"




@given(attempt=st.integers(1, 10_000), initial=st.floats(0.001, 10.0), cap=st.floats(0.001, 120.0),
       seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_under_the_exponential_ceiling_and_the_cap(attempt: int, initial: float, cap: float,
                                                                       seed: int) -> None:
    sup = Supervisor(Options(backoff_initial=initial, backoff_max=cap), random.Random(seed))
    delay = sup.backoff(attempt, None)
    assert 0.0 <= delay <= min(cap, initial * 2 ** min(attempt - 1, 62))


@given(attempt=st.integers(1, 50), fraction=st.floats(0.0, 1.0))
def test_backoff_spans_the_whole_range_from_zero(attempt: int, fraction: float) -> None:
    sup = Supervisor(OPTIONS, Fixed(fraction))
    ceiling = min(OPTIONS.backoff_max, OPTIONS.backoff_initial * 2 ** (attempt - 1))
    assert sup.backoff(attempt, None) == pytest.approx(ceiling * fraction)


@given(retry_after=st.floats(allow_nan=False), attempt=st.integers(1, 100))
def test_retry_after_is_honoured_but_bounded(retry_after: float, attempt: int) -> None:
    sup = Supervisor(OPTIONS, Fixed(0.5))
    error = wrapped(HandshakeError(429, headers={"retry-after": repr(retry_after)}))
    assert sup.backoff(attempt, error) == min(max(retry_after, 0.0), MAX_RETRY_AFTER)


@given(header=st.sampled_from(["nan", "NaN", "-nan", "soon", "", "Wed, 21 Oct 2026 07:28:00 GMT", "1e999"]),
       attempt=st.integers(1, 20))
def test_a_retry_after_that_is_not_a_number_of_seconds_never_stalls(header: str, attempt: int) -> None:
    sup = Supervisor(OPTIONS, Fixed(1.0))
    delay = sup.backoff(attempt, HandshakeError(503, headers={"retry-after": header}))
    assert 0.0 <= delay <= MAX_RETRY_AFTER


@given(failures=st.lists(st.sampled_from([503, 429, 408, 500]), min_size=1, max_size=30),
       step=st.floats(0.0, 3.0), seed=st.integers(0, 1000))
def test_the_first_connect_never_waits_past_its_deadline(failures: list[int], step: float, seed: int) -> None:
    sup = Supervisor(Options(connect_timeout=5.0, max_reconnect_attempts=100), random.Random(seed))
    now = 0.0
    sup.start(now)
    for status in failures:
        decision = sup.failed(now, HandshakeError(status))
        if isinstance(decision, GiveUp):
            assert decision.error.status == status  # type: ignore[attr-defined]
            return
        assert decision.event is None and now + decision.delay < 5.0
        now += decision.delay + step
