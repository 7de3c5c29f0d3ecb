"""Several sessions on one event loop, each speaking a WAV file at real-time pace: the client paces them all.

``stream_wav`` hands the audio to the loop's one pacing clock (one timer for every session, not a sleep loop
each). Without INWORLD_API_KEY it talks to the local emulator. Run: python examples/many_sessions.py [N]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from inworld_realtime.io_adapters import AsyncRealtimeClient
from inworld_realtime.protocol import AudioConfiguration, AudioInput, PCMAudioFormat, SessionProperties, TurnDetection
from inworld_realtime.protocol import events as ev

WAV = Path(__file__).with_name("question.wav")  # 16 kHz mono 16-bit
SESSION = SessionProperties(audio=AudioConfiguration(input=AudioInput(
    format=PCMAudioFormat(rate=16000), turn_detection=TurnDetection(type="server_vad"))))


async def one(key: str, url: str | None, index: int) -> str:
    """Speak the question, then wait for the spoken answer; a line about what came back."""
    async with AsyncRealtimeClient(key, SESSION, url) as client:
        speaking = asyncio.create_task(client.stream_wav(WAV))  # paced by the loop's clock
        heard = 0
        async for event in client:
            if isinstance(event, ev.ResponseOutputAudioDelta):
                heard += len(event.pcm)
            elif isinstance(event, ev.ResponseDone):
                break
        sent = await speaking
        seconds = heard / 2 / client.connection.output_rate
        return f"session {index}: sent {sent / 32000:.1f} s of audio, heard {seconds:.1f} s"


async def main(count: int) -> None:
    key, url = os.environ.get("INWORLD_API_KEY"), os.environ.get("INWORLD_URL")
    if key is None:
        from inworld_realtime.emulator import EmulatorOptions, EmulatorThread

        with EmulatorThread(EmulatorOptions()) as emulator:
            await run(count, "local", emulator.url)
    else:
        await run(count, key, url)


async def run(count: int, key: str, url: str | None) -> None:
    start = time.monotonic()
    for line in await asyncio.gather(*(one(key, url, i) for i in range(count))):
        print(line)
    print(f"{count} sessions in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
