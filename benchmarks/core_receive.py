"""Microseconds from raw frame bytes to PCM for one 60 ms 24 kHz audio delta, ours vs pipecat-ai 1.14.

Run: python -m benchmarks.core_receive   (pipecat-ai must be installed for its column)
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from collections.abc import Callable

from websockets.uri import parse_uri as urlparse_ws

from inworld_realtime.protocol import RealtimeConnection, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import b64decode
from inworld_realtime.protocol.handshake import accept_key
from inworld_realtime.protocol.server import ServerConnection

N = 5000
REPEATS = 7
PCM = bytes(range(256)) * 11 + bytes(64)  # 2880 bytes = 60 ms at 24 kHz, 16-bit mono


def _message() -> str:
    return json.dumps({
        "type": "response.output_audio.delta", "event_id": "event_4821", "response_id": "resp_1",
        "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": base64.b64encode(PCM).decode(),
    })


def ready_connection() -> tuple[RealtimeConnection, ServerConnection]:
    """A core past its handshake and configured, with the server side that feeds it."""
    conn = RealtimeConnection("k", url="ws://127.0.0.1:1/s")
    conn.connect()
    server = ServerConnection()
    server.receive_request(conn.data_to_send())
    server.accept()
    server.send(ev.SessionCreated(session=SessionProperties()))
    server.send(ev.SessionUpdated(session=SessionProperties()))
    conn.receive_data(server.data_to_send())
    list(conn.events())
    conn.data_to_send()
    return conn, server


def _interleaved(paths: list[tuple[str, Callable[[], object]]]) -> list[tuple[str, float]]:
    """Median over REPEATS rounds of the mean microseconds per call; every round times every path in turn,
    so a noisy neighbour weighs on all of them alike."""
    runs: dict[str, list[float]] = {name: [] for name, _ in paths}
    for _ in range(REPEATS):
        for name, fn in paths:
            start = time.perf_counter()
            for _ in range(N):
                fn()
            runs[name].append((time.perf_counter() - start) / N * 1e6)
    return [(name, statistics.median(runs[name])) for name, _ in paths]


def main() -> dict[str, float]:
    message = _message()
    conn, server = ready_connection()
    server.send(message)
    frame = server.data_to_send()

    def ours_from_frame() -> bytes:
        conn.receive_data(frame)
        for event in conn.events():
            pcm: bytes = event.pcm  # type: ignore[union-attr]
        assert pcm == PCM
        return pcm

    def ours_from_text() -> bytes:
        event = ev.parse_server_event(message)
        return b64decode(event.delta)  # type: ignore[union-attr]

    paths: list[tuple[str, Callable[[], object]]] = [
        ("ours: frame bytes -> PCM (wsproto + 1 pydantic pass + b64)", ours_from_frame),
        ("ours: message text -> PCM", ours_from_text)]
    try:
        from pipecat.services.inworld.realtime import events as pipecat_events
    except ImportError:
        print("pipecat-ai is not installed: its column is missing (pip install pipecat-ai==1.14.0)")
        pipecat_events = None
    if pipecat_events is not None:
        def pipecat_from_text() -> bytes:
            json.loads(message)  # pipecat's receive loop looks at the raw JSON first
            event = pipecat_events.parse_server_event(message)
            return base64.b64decode(event.delta)

        paths.append(("pipecat 1.14: message text -> PCM (json.loads + parse_server_event + b64)",
                      pipecat_from_text))
        from websockets.client import ClientProtocol
        from websockets.protocol import State

        ws = ClientProtocol(urlparse_ws("ws://127.0.0.1/s"), max_size=None)
        request = ws.connect()
        ws.send_request(request)
        ws.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Accept: " + accept_key(request.headers["Sec-WebSocket-Key"]).encode()
                        + b"\r\n\r\n")
        ws.events_received()
        assert ws.state is State.OPEN  # past the handshake, as in pipecat's receive loop

        def pipecat_from_frame() -> bytes:
            ws.receive_data(frame)
            text = ws.events_received()[0].data.decode()
            json.loads(text)
            event = pipecat_events.parse_server_event(text)
            return base64.b64decode(event.delta)

        paths.append(("pipecat 1.14: frame bytes -> PCM (websockets framing + the above)", pipecat_from_frame))
    rows = _interleaved(paths)
    print(f"Python {sys.version.split()[0]}, {N} deltas x {REPEATS} interleaved runs, median of per-run means")
    for name, us in rows:
        print(f"  {us:8.2f} us  {name}")
    if pipecat_events is not None:
        print(f"  ratio ours/pipecat from frame bytes: {rows[0][1] / rows[3][1]:.2f}")
        print(f"  ratio ours/pipecat from message text: {rows[1][1] / rows[2][1]:.2f}")
    return {name: us for name, us in rows}


if __name__ == "__main__":
    main()
