"""CPU per send_audio of one 20 ms frame (what a transport delivers), ours vs pipecat-ai 1.14's path.

Both buffer to 60 ms appends, base64, serialise JSON and frame it masked; pipecat's framing is the websockets
package's sans-I/O protocol (what its asyncio connection runs). Socket writes are left out of both.
Run: python -m benchmarks.core_send
"""

from __future__ import annotations

import base64
import json
import statistics
import time

from inworld_realtime.protocol import (
    AudioConfiguration,
    AudioInput,
    PCMAudioFormat,
    RealtimeConnection,
    SessionProperties,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ServerConnection

FRAMES = 6000
REPEATS = 5
RATE = 24000
FRAME = bytes(range(256)) * 3 + bytes(RATE * 2 // 50 - 768)  # 20 ms at 24 kHz


def ours() -> float:
    props = SessionProperties(audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=RATE))))
    conn = RealtimeConnection("k", props, url="ws://127.0.0.1:1/s")
    conn.connect()
    server = ServerConnection()
    server.receive_request(conn.data_to_send())
    server.accept()
    server.send(ev.SessionCreated())
    server.send(ev.SessionUpdated())
    conn.receive_data(server.data_to_send())
    list(conn.events())
    conn.data_to_send()
    start = time.process_time()
    for _ in range(FRAMES):
        conn.send_audio(FRAME)
        conn.data_to_send()
    elapsed = time.process_time() - start
    conn.reset_conversation()
    return elapsed / FRAMES * 1e6


def pipecat() -> float | None:
    try:
        from pipecat.services.inworld.realtime import events as pev
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri
    except ImportError:
        return None
    from inworld_realtime.protocol.handshake import accept_key

    ws = ClientProtocol(parse_uri("ws://127.0.0.1/s"), max_size=None)
    request = ws.connect()
    ws.send_request(request)
    ws.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept_key(request.headers["Sec-WebSocket-Key"]).encode() + b"\r\n\r\n")
    ws.data_to_send()
    chunk_bytes = int(RATE * 2 * 60 / 1000)
    buffer = b""
    start = time.process_time()
    for _ in range(FRAMES):  # pipecat 1.14's _send_user_audio + send_client_event + _ws_send
        buffer += FRAME
        while len(buffer) >= chunk_bytes:
            chunk, buffer = buffer[:chunk_bytes], buffer[chunk_bytes:]
            payload = base64.b64encode(chunk).decode("utf-8")
            message = pev.InputAudioBufferAppendEvent(audio=payload).model_dump(exclude_none=True, by_alias=True)
            ws.send_text(json.dumps(message).encode())
            ws.data_to_send()
    return (time.process_time() - start) / FRAMES * 1e6


def main() -> dict[str, float]:
    mine_runs: list[float] = []
    theirs_runs: list[float | None] = []
    for _ in range(REPEATS):  # interleaved, so a noisy neighbour weighs on both alike
        mine_runs.append(ours())
        theirs_runs.append(pipecat())
    mine = statistics.median(mine_runs)
    print(f"send_audio of a 20 ms 24 kHz frame, CPU per frame, median of {REPEATS} x {FRAMES}:")
    print(f"  ours:          {mine:6.2f} us")
    if theirs_runs[0] is None:
        print("  pipecat-ai is not installed: no comparison")
        return {"ours_us": mine}
    theirs = statistics.median(t for t in theirs_runs if t is not None)
    print(f"  pipecat 1.14:  {theirs:6.2f} us")
    print(f"  ratio ours/pipecat: {mine / theirs:.2f}")
    return {"ours_us": mine, "pipecat_us": theirs, "ratio": mine / theirs}


if __name__ == "__main__":
    main()
