"""Hostile server bytes give RemoteProtocolError or valid events: no other exception, hang or unbounded memory."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inworld_realtime.protocol import ConnectionState, RemoteProtocolError
from inworld_realtime.protocol import events as ev
from tests.fuzzing import MAX_MESSAGE, ready_connection, streams

EVENT_TYPES = (ev.ServerEvent, ev.UntypedServerMessage, ev.ConnectionClosed, ev.InvalidServerEvent,
               ev.ResponseAborted, ev.AudioDropped)


def feed(stream: bytes, chunk: int) -> None:
    conn = ready_connection()
    try:
        for start in range(0, len(stream), chunk):
            conn.receive_data(stream[start : start + chunk])
            for event in conn.events():
                assert isinstance(event, EVENT_TYPES), event
            conn.data_to_send()
    except RemoteProtocolError as exc:
        assert conn.state is ConnectionState.FAILED
        assert "fuzz-key" not in str(exc)
    ws = conn._layer.ws
    assert ws is not None and ws.message_bytes <= MAX_MESSAGE
    assert sum(len(p) for p in ws._parts) <= MAX_MESSAGE


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams, st.integers(1, 4096))
def test_hostile_streams(stream: bytes, chunk: int) -> None:
    feed(stream, chunk)
