"""Time from connect() to a configured session over loopback with an injected 50 ms round trip.

A relay on 127.0.0.1 delays every chunk by 25 ms each way between the client and the emulator, so the
time divided by 50 ms counts the round trips each client waits for. Run: python -m benchmarks.connect
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time

from inworld_realtime.emulator import Emulator, EmulatorOptions
from inworld_realtime.io_adapters import AsyncRealtimeClient

ONE_WAY_S = 0.025
ROUNDS = 7


async def relay(target_port: int) -> tuple[asyncio.Server, int]:
    """A TCP relay that delays each chunk by ONE_WAY_S in both directions (order kept)."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.create_task(deliver())
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                queue.put_nowait((time.monotonic() + ONE_WAY_S, data))
        queue.put_nowait((time.monotonic() + ONE_WAY_S, b""))
        with contextlib.suppress(Exception):
            await task

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        with contextlib.suppress(asyncio.CancelledError):  # the relay is shut down under open connections
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def ours(url: str) -> float:
    start = time.monotonic()
    client = AsyncRealtimeClient("bench", None, url)
    await client.connect()
    elapsed = time.monotonic() - start
    await client.close()
    return elapsed


async def pipecat_path(url: str) -> float:
    """pipecat 1.14's sequence: websockets connect, session.created, session.update, session.updated."""
    from websockets.asyncio.client import connect

    start = time.monotonic()
    async with connect(f"{url}?key=bench&protocol=realtime", additional_headers={"Authorization": "Basic x"}) as ws:
        async for message in ws:
            kind = json.loads(message)["type"]
            if kind == "session.created":
                await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            elif kind == "session.updated":
                return time.monotonic() - start
    raise RuntimeError("no session.updated")


async def measure() -> dict[str, float]:
    async with Emulator(EmulatorOptions()) as emu:
        server, port = await relay(emu.port)
        url = f"ws://127.0.0.1:{port}/api/v1/realtime/session"
        try:
            results: dict[str, list[float]] = {"ours": [], "pipecat": []}
            for _ in range(ROUNDS):
                results["ours"].append(await ours(url))
                results["pipecat"].append(await pipecat_path(url))
        finally:
            server.close()
            await server.wait_closed()
    return {k: statistics.median(v) for k, v in results.items()}


def main() -> dict[str, float]:
    medians = asyncio.run(measure())
    rtt = 2 * ONE_WAY_S
    print(f"connect() to session configured, loopback + {rtt * 1000:.0f} ms injected round trip, median of {ROUNDS}:")
    for name, seconds in medians.items():
        print(f"  {name:8s} {seconds * 1000:6.1f} ms = {seconds / rtt:4.2f} round trips")
    print("  the protocol needs 2: the upgrade (answered with session.created) and session.update/updated")
    return {f"{name}_round_trips": seconds / rtt for name, seconds in medians.items()}


if __name__ == "__main__":
    main()
