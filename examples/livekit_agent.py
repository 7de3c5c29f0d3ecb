"""A LiveKit voice agent on Inworld Realtime: it greets, hears examples/question.wav, calls a tool, answers.

Run: python examples/livekit_agent.py [IN.wav] [--out agent.wav]. Without INWORLD_API_KEY it starts the
local emulator in the process; with it, it talks to Inworld (INWORLD_URL overrides the address). The
session runs without a LiveKit room: a frame feed is its microphone and a clock-paced sink its speaker.
The only line that differs from an agent on LiveKit's OpenAI plugin is the model.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import wave
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from livekit.agents import Agent, AgentSession, RunContext, function_tool, llm

from inworld_realtime.emulator import Emulator, EmulatorOptions, ScriptedBrain, ToolRule
from inworld_realtime.io_adapters.livekit_plugin import RealtimeModel  # the one line that differs
from inworld_realtime.io_adapters.livekit_plugin.local_io import ClockSpeaker, FrameFeed
from inworld_realtime.io_adapters.wav import write_wav

HERE = Path(__file__).resolve().parent


class WeatherAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a friendly voice assistant. Be brief. "
                                      "Use get_weather when asked about the weather.")

    @function_tool
    async def get_weather(self, context: RunContext, city: str) -> str:
        """Look up the current weather in a city."""
        print(f"(tool) get_weather(city={city!r})", flush=True)
        return f"sunny and 21 degrees in {city}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("wav", nargs="?", type=Path, default=HERE / "question.wav")
    parser.add_argument("--out", type=Path, default=Path("agent.wav"))
    args = parser.parse_args()
    with wave.open(str(args.wav), "rb") as w:
        rate, channels, pcm = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    async with AsyncExitStack() as stack:
        url = os.environ.get("INWORLD_URL")
        key = os.environ.get("INWORLD_API_KEY")
        if key is None and url is None:
            sidecar = args.wav.with_suffix(".txt")
            heard = [sidecar.read_text().strip()] if sidecar.is_file() else []
            brain = ScriptedBrain(heard, tools=[ToolRule("get_weather", keywords=("weather",),
                                                         arguments={"city": "Paris"})])
            emulator = await stack.enter_async_context(Emulator(EmulatorOptions(brain=brain)))
            url = emulator.url
            print(f"(local emulator at {url})")
        model = RealtimeModel(base_url=url, llm_model="openai/gpt-4.1-nano", voice="Sarah")  # key: INWORLD_API_KEY
        session: AgentSession[Any] = AgentSession(llm=model)
        mic, speaker = FrameFeed(), ClockSpeaker()
        session.input.audio, session.output.audio = mic, speaker
        answered = asyncio.Event()

        def on_item(event: Any) -> None:
            item = event.item
            if isinstance(item, llm.ChatMessage) and item.text_content:
                print(f"{item.role}: {item.text_content}", flush=True)
                if item.role == "assistant":
                    answered.set()

        session.on("conversation_item_added", on_item)
        await session.start(WeatherAgent())
        stack.push_async_callback(session.aclose)
        await asyncio.wait_for(session.generate_reply(instructions="Greet the user."), 30)
        answered.clear()
        step = rate * channels * 2 * 20 // 1000  # 20 ms frames, in real time, like a microphone
        for offset in range(0, len(pcm), step):
            mic.push_pcm(pcm[offset : offset + step], rate, channels)
            await asyncio.sleep(0.02)
        mic.push_pcm(bytes(rate * channels * 2), rate, channels)  # then a second of silence
        await asyncio.wait_for(answered.wait(), 60)
    audio = b"".join(f.data.tobytes() for f in speaker.frames)
    out_rate = speaker.frames[0].sample_rate if speaker.frames else 24000
    write_wav(args.out, audio, out_rate)
    print(f"wrote {args.out} ({len(audio) / 2 / out_rate:.1f} s of the agent's voice)")


if __name__ == "__main__":
    asyncio.run(main())
