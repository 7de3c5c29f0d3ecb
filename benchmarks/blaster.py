"""A server that costs almost nothing per session, so that the client is what a benchmark saturates.

It answers the upgrade, says ``session.created``, answers the first frame (``session.update``) and then, by the
``mode`` in the query string: ``flood`` writes ``n`` pre-framed 60 ms audio deltas as fast as the socket
takes them, then ``response.done``; ``sink`` reads and discards; ``live`` sends one 60 ms delta every 60 ms
(its send time in ``event_id``, so the client can tell how late it is) and discards what it reads;
``interval`` and ``n`` change the pace and end the answer after ``n`` deltas.
Run in its own process: ``python -m benchmarks.blaster --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from wsproto.frame_protocol import FrameProtocol, Opcode

from inworld_realtime.protocol.handshake import build_accept, parse_request
from inworld_realtime.protocol.server import ServerConnection

PCM_60MS_24K = bytes(range(256)) * 11 + bytes(64)  # 2880 bytes
DELTA = base64.b64encode(PCM_60MS_24K).decode()


def delta_text(event_id: str = "event_1") -> str:
    """One ``response.output_audio.delta`` as the server would send it."""
    return json.dumps({"type": "response.output_audio.delta", "event_id": event_id, "response_id": "resp_1",
                       "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": DELTA})


def frame(text: str) -> bytes:
    """An unmasked server text frame."""
    server = ServerConnection(upgraded=True)
    server.send(text)
    return server.data_to_send()


CREATED = frame(json.dumps({"type": "session.created", "event_id": "e0", "session": {"id": "sess_1"}}))
UPDATED = frame(json.dumps({"type": "session.updated", "event_id": "e1", "session": {"id": "sess_1"}}))
RESPONSE_CREATED = frame(json.dumps({"type": "response.created", "event_id": "e2",
                                     "response": {"id": "resp_1", "object": "realtime.response",
                                                  "status": "in_progress", "output": []}}))
RESPONSE_DONE = frame(json.dumps({"type": "response.done", "event_id": "e3",
                                  "response": {"id": "resp_1", "object": "realtime.response",
                                               "status": "completed", "output": []}}))
DELTA_FRAME = frame(delta_text())


class Session(asyncio.Protocol):
    """One client: the upgrade, the session handshake, then the mode's traffic."""

    def __init__(self) -> None:
        self.head = b""
        self.transport: asyncio.Transport | None = None
        self.mode = ""
        self.n = 0
        self.configured = False
        self.ticker: asyncio.TimerHandle | None = None
        self.interval = 0.06
        self.sent = 0
        self.frames = FrameProtocol(client=False, extensions=[])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.mode:
            self.head += data
            parsed = parse_request(self.head)
            if parsed is None:
                return
            request, data = parsed
            self.mode = request.query.get("mode", "sink")
            self.n = int(request.query.get("n", "0" if self.mode == "live" else "1000"))  # live: 0 = no end
            self.interval = float(request.query.get("interval", "0.06"))
            self.transport.write(build_accept(request) + CREATED)
            if not data:
                return
        self.frames.receive_bytes(data)  # unmasked and dropped; only a close and pings are answered
        for received in self.frames.received_frames():
            if received.opcode is Opcode.CLOSE:
                self.transport.write(self.frames.close(1000))
                self.transport.close()
                return
            if received.opcode is Opcode.PING:  # websockets' keepalive closes a session after 40 s otherwise
                self.transport.write(self.frames.pong(received.payload))
        if not self.configured:  # the first frame after session.created is session.update
            self.configured = True
            self.transport.write(UPDATED)
            if self.mode == "flood":
                self.transport.write(RESPONSE_CREATED + DELTA_FRAME * self.n + RESPONSE_DONE)
            elif self.mode == "live":
                self.transport.write(RESPONSE_CREATED)
                self.tick()

    def tick(self) -> None:
        """One delta stamped with its send time, every ``interval`` (60 ms); after ``n`` of them (if set), done."""
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(frame(delta_text(f"t{time.time():.6f}")))
        self.sent += 1
        if self.n and self.sent >= self.n:
            self.transport.write(RESPONSE_DONE)
            return
        self.ticker = asyncio.get_running_loop().call_later(self.interval, self.tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ticker is not None:
            self.ticker.cancel()


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Session, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))



@contextlib.contextmanager
def child_server(*module_args: str, cpus: set[int] | None = None) -> Iterator[str]:
    """``python -m MODULE ARGS --port P`` in a child process (its CPU is not ours), on ``cpus`` if given;
    yields its WebSocket URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    child = subprocess.Popen([sys.executable, "-m", *module_args, "--port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=pinned(cpus))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        yield f"ws://127.0.0.1:{port}/api/v1/realtime/session"
    finally:
        child.terminate()
        child.wait(10)


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A child's ``preexec_fn`` that runs it on ``cpus`` (None: wherever the system puts it)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def running_blaster() -> contextlib.AbstractContextManager[str]:
    """The blaster in a child process; yields its WebSocket URL."""
    return child_server("benchmarks.blaster")

if __name__ == "__main__":
    main()
