"""``inworld-realtime``: hold a spoken exchange from a WAV file, with Inworld or the local emulator."""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import time
import wave
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from protocol import (
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    HandshakeError,
    InputTranscription,
    PCMAudioFormat,
    ProtocolError,
    SessionProperties,
    TurnDetection,
)
from protocol import events as ev
from protocol.session import SUPPORTED_SAMPLE_RATES

from .wav import write_wav

FRAME_MS = 20
TRAILING_SILENCE_MS = 1500


class CliError(Exception):
    """A failure worth one line to the user, not a traceback."""


@dataclass
class Report:
    """What the exchange produced, for the summary and for tests."""

    user_transcript: str = ""
    assistant_transcript: str = ""
    audio: bytearray = field(default_factory=bytearray)
    turn_end: float | None = None
    first_audio: float | None = None
    done: float | None = None


def read_wav(path: Path) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate; stereo is mixed down, unsupported rates are resampled to 16 kHz."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except FileNotFoundError as exc:
        raise CliError(f"{path}: no such file") from exc
    except (wave.Error, EOFError, OSError) as exc:
        raise CliError(f"{path}: not a readable WAV file ({exc})") from exc
    if width != 2:
        raise CliError(f"{path}: {8 * width}-bit samples; 16-bit PCM WAV is needed")
    if channels not in (1, 2):
        raise CliError(f"{path}: {channels} channels; mono or stereo is needed")
    if not frames:
        raise CliError(f"{path}: the file holds no audio")
    samples = struct.unpack(f"<{len(frames) // 2}h", frames)
    if channels == 2:
        samples = tuple((a + b) // 2 for a, b in zip(samples[0::2], samples[1::2], strict=True))
    if rate not in SUPPORTED_SAMPLE_RATES:
        samples = _resample(samples, rate, 16000)
        rate = 16000
    return struct.pack(f"<{len(samples)}h", *samples), rate


def _resample(samples: Sequence[int], src: int, dst: int) -> tuple[int, ...]:
    n = int(len(samples) * dst / src)
    last = len(samples) - 1
    out = []
    for i in range(n):
        pos = i * src / dst
        j = int(pos)
        a, b = samples[min(j, last)], samples[min(j + 1, last)]
        out.append(int(a + (b - a) * (pos - j)))
    return tuple(out)


def build_session(args: argparse.Namespace, input_rate: int) -> SessionProperties:
    """The session the command asks for."""
    if args.turn_detection == "manual":
        audio_in = AudioInput(format=PCMAudioFormat(rate=input_rate),  # type: ignore[arg-type]
                              transcription=InputTranscription(model=args.stt_model), turn_detection=None)
    else:
        audio_in = AudioInput(format=PCMAudioFormat(rate=input_rate),  # type: ignore[arg-type]
                              transcription=InputTranscription(model=args.stt_model),
                              turn_detection=TurnDetection(type=args.turn_detection, eagerness=args.eagerness,
                                                           create_response=True, interrupt_response=True))
    return SessionProperties(
        model=args.model,
        instructions=args.instructions,
        output_modalities=["audio", "text"],
        audio=AudioConfiguration(
            input=audio_in,
            output=AudioOutput(format=PCMAudioFormat(rate=args.rate), model=args.tts_model, voice=args.voice),
        ),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inworld-realtime", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    talk = sub.add_parser("talk", help="speak a WAV file to the model and record its spoken answer")
    talk.add_argument("wav", type=Path, help="16-bit PCM WAV with the user's words")
    talk.add_argument("--out", type=Path, default=Path("answer.wav"), help="where to write the answer")
    talk.add_argument("--url", help="realtime endpoint (default: Inworld's with a key, else the local emulator)")
    talk.add_argument("--auth", choices=["basic", "bearer"], default="basic", help="Authorization scheme")
    talk.add_argument("--fast", action="store_true", help="stream the WAV as fast as possible, not in real time")
    talk.add_argument("--voice", default="Clive")
    talk.add_argument("--model", default="openai/gpt-4.1-mini", help="LLM model id")
    talk.add_argument("--tts-model", default="inworld-tts-1.5-max")
    talk.add_argument("--stt-model", default="inworld/inworld-stt-1")
    talk.add_argument("--instructions", default="You are a helpful voice assistant. Answer briefly.")
    talk.add_argument("--rate", type=int, choices=SUPPORTED_SAMPLE_RATES, default=24000, help="output sample rate")
    talk.add_argument("--turn-detection", choices=["semantic_vad", "server_vad", "manual"], default="server_vad")
    talk.add_argument("--eagerness", choices=["low", "medium", "high", "auto"], default=None)
    talk.add_argument("--transcript", help="local emulator only: what it hears (default: the WAV's .txt sibling)")
    talk.add_argument("--script", type=Path, help="local emulator only: a JSON script for its scripted brain")
    talk.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the whole exchange")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``inworld-realtime`` and ``python -m io_adapters``."""
    args = _parser().parse_args(argv)
    try:
        report = asyncio.run(talk(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if report.audio else 1


def _emulator_brain(args: argparse.Namespace) -> Any:
    from .emulator import ScriptedBrain

    if args.script is not None:
        try:
            return ScriptedBrain.from_file(args.script)
        except (OSError, ValueError) as exc:
            raise CliError(str(exc)) from exc
    transcript = args.transcript
    sidecar = args.wav.with_suffix(".txt")
    if transcript is None and sidecar.is_file():
        transcript = sidecar.read_text(encoding="utf-8").strip()
    return ScriptedBrain(transcripts=[transcript] if transcript else [])


async def talk(args: argparse.Namespace, out: TextIO | None = None) -> Report:
    """Stream the WAV, print transcripts live, write the answer, print a latency report."""
    from . import AsyncRealtimeClient

    out = out or sys.stdout
    pcm, rate = read_wav(args.wav)
    session = build_session(args, rate)
    api_key = os.environ.get("INWORLD_API_KEY") or None
    url = args.url
    report = Report()
    async with AsyncExitStack() as stack:
        if url is None and api_key is None:
            from .emulator import Emulator, EmulatorOptions, describe_engines

            emulator = await stack.enter_async_context(
                Emulator(EmulatorOptions(brain=_emulator_brain(args), pace=0 if args.fast else 1.0)))
            stack.callback(lambda: print(describe_engines(emulator), file=out))
            url = emulator.url
            print(f"(no INWORLD_API_KEY: talking to the local emulator at {url})", file=out)
        kwargs: dict[str, Any] = {"url": url} if url else {}
        client = AsyncRealtimeClient(api_key or "local-emulator", session, auth_type=args.auth, **kwargs)
        try:
            await asyncio.wait_for(client.connect(), timeout=min(args.timeout, 20.0))
            stack.push_async_callback(client.close)
            sender = asyncio.create_task(_stream(client, pcm, rate, args))
            try:
                await asyncio.wait_for(_receive(client, report, out), timeout=args.timeout)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
        except HandshakeError as exc:
            if exc.status == 401:
                raise CliError("the API key was refused (HTTP 401)") from None
            raise CliError(f"the server refused the connection: {exc}") from None
        except TimeoutError:
            raise CliError(f"no complete answer within {args.timeout:.0f} s") from None
        except (OSError, ProtocolError) as exc:
            raise CliError(f"cannot talk to {_host(url)}: {exc}") from None
    if not report.audio:
        raise CliError("the answer held no audio")
    write_wav(args.out, bytes(report.audio), args.rate)
    _summary(report, args, out)
    return report


def _host(url: str | None) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url or "wss://api.inworld.ai").netloc


async def _stream(client: Any, pcm: bytes, rate: int, args: argparse.Namespace) -> None:
    step = rate * 2 * FRAME_MS // 1000
    padded = pcm + bytes(rate * 2 * TRAILING_SILENCE_MS // 1000)
    start = time.monotonic()
    for index, offset in enumerate(range(0, len(padded), step)):
        await client.send_audio(padded[offset : offset + step])
        if not args.fast:
            delay = start + (index + 1) * FRAME_MS / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    if args.turn_detection == "manual":
        await client.commit()
        await client.create_response()


async def _receive(client: Any, report: Report, out: TextIO) -> None:
    speaking = False
    async for event in client:
        now = time.monotonic()
        if isinstance(event, ev.InputAudioBufferSpeechStopped | ev.InputAudioBufferCommitted):
            report.turn_end = report.turn_end or now
        elif isinstance(event, ev.InputAudioTranscriptionCompleted):
            report.user_transcript = event.transcript
            print(f"you:       {event.transcript}", file=out, flush=True)
        elif isinstance(event, ev.ResponseOutputAudioDelta):
            report.first_audio = report.first_audio or now
            report.audio += event.pcm
        elif isinstance(event, ev.ResponseOutputAudioTranscriptDelta | ev.ResponseOutputTextDelta):
            if not speaking:
                print("assistant: ", end="", file=out)
                speaking = True
            report.assistant_transcript += event.delta
            print(event.delta, end="", file=out, flush=True)
        elif isinstance(event, ev.ErrorEvent):
            print(f"\n(server error: {event.error.message})", file=out, flush=True)
        elif isinstance(event, ev.ResponseDone) and report.audio:
            report.done = now
            if speaking:
                print(file=out)
            return
    raise CliError("the connection ended before the answer was complete")


def _summary(report: Report, args: argparse.Namespace, out: TextIO) -> None:
    seconds = len(report.audio) / (2 * args.rate)
    print(f"wrote {args.out} ({seconds:.2f} s at {args.rate} Hz)", file=out)
    if report.turn_end is not None and report.first_audio is not None and report.done is not None:
        print(f"latency: first audio {1000 * (report.first_audio - report.turn_end):.0f} ms after the end of "
              f"your turn, response done after {1000 * (report.done - report.turn_end):.0f} ms", file=out)
