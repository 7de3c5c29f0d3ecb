"""WebSocket and WebRTC side by side in one run: bytes on the wire, client CPU, first-audio latency.

The emulator runs in this process; each client runs alone in a child process (so its CPU is its own) and holds
the same conversation: a microphone that streams 20 ms frames in real time for the whole session (speech, then
silence), ``--turns`` spoken turns each answered with speech. Every byte between client and emulator passes a
relay written here, which counts it:

- WebSocket: a TCP relay (the client's ``ws://`` URL points at it); the stream bytes are counted.
- WebRTC: a UDP relay; the emulator's answer names the relay as its only candidate, so ICE, DTLS, SCTP and RTP
  all cross it; the datagram payloads are counted (plus 28 bytes of IPv4/UDP header each). The HTTP signalling
  (one ice-servers GET, one calls POST, about 6 KB) goes around it and is not counted.

Each transport runs twice: through a clean relay (bytes, CPU), then through an impaired one that adds 50 ms each
way and loses 2 % (latency). The impaired TCP relay models loss as TCP sees it: a lost segment arrives one
200 ms retransmission timeout late and holds back everything behind it (head-of-line blocking); the UDP relay
simply drops the datagram (Opus conceals it, SCTP retransmits).
Run: python -m benchmarks.transport [--turns 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

TCP_RTO_S = 0.2
MSS = 1448
UDP_HEADER = 28
RATE = 24000
FRAME_MS = 20
REPLY = "Sure, the library opens at nine and closes at six."


@dataclass
class Impairment:
    delay_s: float = 0.0
    loss: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))


@dataclass
class Counter:
    up: int = 0  # client to server
    down: int = 0
    packets: int = 0


# --- relays -------------------------------------------------------------------------------------------------------


async def tcp_relay(port: int, counter: Counter, impair: Impairment) -> asyncio.Server:
    """A TCP relay to 127.0.0.1:``port`` that counts stream bytes, delays them and models TCP loss."""
    loop = asyncio.get_running_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        release = 0.0

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()

        task = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                if up:
                    counter.up += len(data)
                else:
                    counter.down += len(data)
                due = loop.time() + impair.delay_s
                segments = max(1, math.ceil(len(data) / MSS))
                if data and impair.loss and impair.rng.random() < 1 - (1 - impair.loss) ** segments:
                    due += TCP_RTO_S  # a segment is retransmitted after the RTO
                release = max(release, due)  # in order: what follows a lost segment waits for it
                queue.put_nowait((release, data))
                if not data:
                    break
            await task
        except (ConnectionError, asyncio.CancelledError):
            task.cancel()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False), return_exceptions=True)

    return await asyncio.start_server(accept, "127.0.0.1", 0)


class _Side(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, client_side: bool) -> None:
        self.relay, self.client_side = relay, client_side
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay.received(data, addr, self.client_side)


class UdpRelay:
    """A UDP relay between one client and 127.0.0.1:``port``: counts, delays and drops datagrams."""

    def __init__(self, port: int, counter: Counter, impair: Impairment) -> None:
        self.port, self.counter, self.impair = port, counter, impair
        self.client: tuple[str, int] | None = None
        self.front: _Side | None = None
        self.back: _Side | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        _, self.front = await loop.create_datagram_endpoint(lambda: _Side(self, True), local_addr=("127.0.0.1", 0))
        _, self.back = await loop.create_datagram_endpoint(lambda: _Side(self, False), local_addr=("127.0.0.1", 0))
        assert self.front.transport is not None
        return int(self.front.transport.get_extra_info("sockname")[1])

    def received(self, data: bytes, addr: tuple[str, int], from_client: bool) -> None:
        counter = self.counter
        counter.packets += 1
        if from_client:
            self.client = addr
            counter.up += len(data)
        else:
            counter.down += len(data)
        if self.impair.loss and self.impair.rng.random() < self.impair.loss:
            return
        loop = asyncio.get_running_loop()
        if from_client:
            assert self.back is not None and self.back.transport is not None
            send, to = self.back.transport.sendto, ("127.0.0.1", self.port)
        else:
            assert self.front is not None and self.front.transport is not None and self.client is not None
            send, to = self.front.transport.sendto, self.client
        if self.impair.delay_s:
            loop.call_later(self.impair.delay_s, send, data, to)
        else:
            send(data, to)

    def close(self) -> None:
        for side in (self.front, self.back):
            if side is not None and side.transport is not None:
                side.transport.close()


# --- the client, in a child process -------------------------------------------------------------------------------


async def converse(transport: str, url: str, turns: int) -> dict[str, Any]:
    """One session: a real-time microphone, ``turns`` spoken turns; the client's CPU and what it measured."""
    from inworld_realtime.protocol import events as ev
    from tests.emulator_helpers import speech_like

    client: Any
    if transport == "webrtc":
        from inworld_realtime.emulator.webrtc import gather_on_loopback
        from inworld_realtime.io_adapters.webrtc import AsyncWebRTCClient

        gather_on_loopback()
        client = AsyncWebRTCClient("bench", url=url, ice_servers=[], connect_timeout=20)
    else:
        from inworld_realtime.io_adapters import AsyncRealtimeClient

        client = AsyncRealtimeClient("bench", url=url, connect_timeout=20)
    speech = speech_like(RATE, lead_ms=200, tail_ms=0)
    frame = RATE * 2 * FRAME_MS // 1000
    pending = bytearray()
    spoken_end: list[float] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    await client.connect()

    async def microphone() -> None:
        tick = time.monotonic()
        while True:
            if pending:
                chunk = bytes(pending[:frame])
                del pending[:frame]
                if not pending:
                    spoken_end.append(tick)
            else:
                chunk = bytes(frame)
            await client.send_audio(chunk)
            tick += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, tick - time.monotonic()))

    mic = asyncio.create_task(microphone())
    latencies: list[float] = []
    audio = 0
    try:
        for _ in range(turns):
            pending += speech
            first: float | None = None
            while True:
                event = await client.recv(timeout=30)
                if isinstance(event, ev.ResponseOutputAudioDelta):
                    audio += len(event.pcm)
                    if first is None and spoken_end:
                        first = time.monotonic()
                        latencies.append(first - spoken_end[-1])
                if isinstance(event, ev.ResponseDone):
                    break
            await asyncio.sleep(0.5)
    finally:
        mic.cancel()
        await asyncio.gather(mic, return_exceptions=True)
        await client.close()
    return {"cpu_s": time.process_time() - cpu0, "wall_s": time.monotonic() - wall0, "latencies": latencies,
            "answer_ms": audio / 2 / RATE * 1000}


# --- the driver ---------------------------------------------------------------------------------------------------


async def run_one(transport: str, impair: Impairment, turns: int) -> dict[str, Any]:
    """The emulator here, a relay in front of it, the client in a child process."""
    from inworld_realtime.emulator import Emulator, EmulatorOptions, ScriptedBrain

    counter = Counter()
    brain = ScriptedBrain(transcripts=["where is the library"] * turns, replies=[REPLY] * turns)
    relays: list[UdpRelay] = []
    async with Emulator(EmulatorOptions(brain=brain)) as emu:
        if transport == "webrtc":
            from inworld_realtime.emulator.webrtc import WebRTCEndpoint, endpoint, unreachable

            web = endpoint(emu)
            original = WebRTCEndpoint._open_call

            async def through_relay(self: WebRTCEndpoint, offer: str, *args: Any) -> Any:
                # The emulator learns the client only from checks that cross the relay (a peer-reflexive
                # candidate), so its media goes back through the relay too.
                call = await original(self, unreachable(offer), *args)
                sdp = call.pc.localDescription.sdp
                ports = set(re.findall(r"a=candidate:\S+ \d+ \w+ \d+ 127\.0\.0\.1 (\d+)", sdp))
                assert len(ports) == 1, sdp
                relay = UdpRelay(int(ports.pop()), counter, impair)
                relays.append(relay)
                front = await relay.start()
                call.answer = re.sub(r"(a=candidate:\S+ \d+ \w+ \d+ 127\.0\.0\.1 )\d+", rf"\g<1>{front}", sdp)
                return call

            web._open_call = through_relay.__get__(web)  # type: ignore[method-assign]
            url = emu.webrtc_url
            server = None
        else:
            server = await tcp_relay(emu.port, counter, impair)
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}{emu.options.path}"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.transport", "--client", transport, "--url", url, "--turns", str(turns),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await child.communicate()
        if server is not None:
            server.close()
        for relay in relays:
            relay.close()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    minutes = result["wall_s"] / 60
    headers = counter.packets * UDP_HEADER if transport == "webrtc" else 0
    result.update(up=counter.up, down=counter.down, packets=counter.packets,
                  kb_per_min=(counter.up + counter.down + headers) / 1000 / minutes,
                  up_kb_per_min=counter.up / 1000 / minutes, down_kb_per_min=counter.down / 1000 / minutes,
                  cpu_ms_per_min=result["cpu_s"] * 1000 / minutes)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--client", choices=["websocket", "webrtc"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        print(json.dumps(asyncio.run(converse(args.client, args.url, args.turns))))
        return {}
    figures: dict[str, Any] = {}
    for transport in ("websocket", "webrtc"):
        clean = asyncio.run(run_one(transport, Impairment(), args.turns))
        impaired = asyncio.run(run_one(transport, Impairment(delay_s=0.05, loss=0.02), args.turns))
        figures[transport] = {"clean": clean, "impaired": impaired}
    print(f"{args.turns} spoken turns per session, microphone streaming in real time; "
          "client CPU measured in its own process")
    print(f"{'':34}{'WebSocket':>14}{'WebRTC':>14}")

    def line(label: str, pick: Any, fmt: str) -> None:
        print(f"{label:34}" + "".join(f"{pick(figures[t]):>14{fmt}}" for t in ("websocket", "webrtc")))

    line("KB on the wire per minute", lambda f: f["clean"]["kb_per_min"], ".0f")
    line("  client to server", lambda f: f["clean"]["up_kb_per_min"], ".0f")
    line("  server to client", lambda f: f["clean"]["down_kb_per_min"], ".0f")
    line("client CPU ms per session-minute", lambda f: f["clean"]["cpu_ms_per_min"], ".0f")
    line("first audio, clean relay, ms", lambda f: 1000 * statistics.median(f["clean"]["latencies"]), ".0f")
    line("first audio, 50 ms + 2 % loss, ms", lambda f: 1000 * statistics.median(f["impaired"]["latencies"]), ".0f")
    line("  worst turn, impaired, ms", lambda f: 1000 * max(f["impaired"]["latencies"]), ".0f")
    line("answer audio heard, impaired, ms", lambda f: f["impaired"]["answer_ms"] / args.turns, ".0f")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    return figures


if __name__ == "__main__":
    main()
