"""``python -m benchmarks.round2``: what issue 21's additions cost.

- minting a token against the emulator on loopback (signed request, HMAC check, JWT), round trip;
- float32 audio at the edge: PCM16 to float32 and back for one 60 ms chunk at 24 kHz;
- live transcript previews: the CPU of the preview passes a real-time turn triggers (every 500 ms of speech,
  one pass at a time, each over the speech so far and followed by a rest as long as itself) next to the final
  pass, on examples/question.wav.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from inworld_realtime.emulator import Emulator, EmulatorOptions
from inworld_realtime.io_adapters.token import mint_token
from inworld_realtime.protocol import float32
from inworld_realtime.protocol.token import ApiKey

QUESTION = Path(__file__).resolve().parent.parent / "examples" / "question.wav"


async def _mints(rounds: int) -> list[float]:
    basic = "a2lkOnNlY3JldA=="  # kid:secret
    async with Emulator(EmulatorOptions(api_key=basic, ping_interval_s=None)) as emu:
        key = ApiKey("kid", "secret")
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await mint_token(key, url=emu.token_url)
            times.append(time.perf_counter() - started)
        return times


def mint(rounds: int = 50) -> None:
    times = asyncio.run(_mints(rounds))
    print(f"token mint round trip on loopback: median {statistics.median(times) * 1000:.2f} ms, "
          f"p90 {sorted(times)[int(len(times) * 0.9)] * 1000:.2f} ms over {rounds}")


def float32_edge(rounds: int = 2000) -> None:
    pcm = (bytes(range(256)) * 12)[: 24000 * 60 // 1000 * 2]
    wire = float32.pcm16_to_float32(pcm)
    for name, convert, data in (("PCM16 to float32", float32.pcm16_to_float32, pcm),
                                ("float32 to PCM16", float32.float32_to_pcm16, wire)):
        best = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(rounds // 5):
                convert(data)
            best.append((time.perf_counter() - started) / (rounds // 5))
        print(f"float32 edge, {name}, one 60 ms 24 kHz chunk: {min(best) * 1e6:.0f} us (best of 5)")


def previews() -> None:
    import wave

    from inworld_realtime.emulator.recognition import available, shared_recognizer

    if not available():
        print("live previews: pocketsphinx not installed (the speech extra); skipped")
        return
    with wave.open(str(QUESTION), "rb") as w:
        pcm, rate = w.readframes(w.getnframes()), w.getframerate()
    recognizer = shared_recognizer()
    assert recognizer is not None
    recognizer.recognize(pcm[: rate], rate)  # load the model first
    final = recognizer.recognize(pcm, rate)
    step = rate // 2 * 2  # 500 ms of 16-bit audio
    spent, passes, heard = 0.0, 0, 0
    while heard < len(pcm):  # a pass starts a rest as long as the previous pass after it, on the speech so far
        heard = min(len(pcm), max(heard + step, int(2 * spent * rate) * 2))
        result = recognizer.recognize_partial(pcm[:heard], rate, lambda: False)
        assert result is not None
        spent += result.cpu_s
        passes += 1
    audio_s = len(pcm) / 2 / rate
    print(f"live previews of a {audio_s:.1f} s turn: {passes} passes, {spent:.2f} s CPU in all "
          f"(final pass {final.cpu_s:.2f} s CPU; previews stop at the commit)")


def main() -> None:
    mint()
    float32_edge()
    previews()


if __name__ == "__main__":
    main()
