"""A LiveKit voice agent on Inworld Realtime: it greets, hears examples/question.wav, calls a tool, answers.

Run: .venv/bin/python examples/livekit_agent.py [IN.wav] [--out FILE.wav] [-v]. Without INWORLD_API_KEY it
starts the local emulator in the process, which hears the WAV as the ``inworld-realtime talk`` command's does
(it recognises the speech with the [speech] extra, else takes the WAV's .txt sibling); with it, it talks to
Inworld (INWORLD_URL overrides the address). The session runs without a LiveKit room: a frame feed is its
microphone and a clock-paced sink its speaker. The agent's voice goes to --out (default: a fresh temporary
directory, printed at the end). Logs show warnings only (-v: everything). The only line that differs from
an agent on LiveKit's OpenAI plugin is the model.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import wave
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from livekit.agents import Agent, AgentSession, RunContext, function_tool, llm

from inworld_realtime.emulator import Emulator, EmulatorOptions, ScriptedBrain, ToolRule
from inworld_realtime.emulator.recognition import available as recognises
from inworld_realtime.io_adapters.cli import as_written
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
    parser.add_argument("--out", type=Path, default=None, help="where to write the agent's voice")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every log line")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    out = args.out or Path(tempfile.mkdtemp(prefix="livekit-agent-")) / "agent.wav"
    sidecar = args.wav.with_suffix(".txt")
    reference = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else None
    with wave.open(str(args.wav), "rb") as w:
        rate, channels, pcm = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    async with AsyncExitStack() as stack:
        url = os.environ.get("INWORLD_URL")
        key = os.environ.get("INWORLD_API_KEY")
        if key is None and url is None:
            heard = [] if recognises() or reference is None else [reference]  # as the talk command hears
            brain = ScriptedBrain(heard, tools=[ToolRule("get_weather", keywords=("weather",),
                                                         arguments={"city": "Paris"})])
            emulator = await stack.enter_async_context(Emulator(EmulatorOptions(brain=brain)))
            url = emulator.url
            print(f"(local emulator at {url})")
        model = RealtimeModel(base_url=url, llm_model="openai/gpt-4.1-nano", voice="Sarah")  # key: INWORLD_API_KEY
        session: AgentSession[Any] = AgentSession(  # the clock-paced speaker cannot pause
            llm=model, turn_handling={"interruption": {"resume_false_interruption": False}})
        mic, speaker = FrameFeed(), ClockSpeaker()
        session.input.audio, session.output.audio = mic, speaker
        answered = asyncio.Event()

        def on_item(event: Any) -> None:
            item = event.item
            if isinstance(item, llm.ChatMessage) and item.text_content:
                text = as_written(item.text_content, reference) if item.role == "user" else item.text_content
                print(f"{item.role}: {text}", flush=True)
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
    write_wav(out, audio, out_rate)
    print(f"wrote {out} ({len(audio) / 2 / out_rate:.1f} s of the agent's voice)")


if __name__ == "__main__":
    asyncio.run(main())
