"""``python -m inworld_realtime.emulator``: run a local Inworld-compatible realtime server until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import sys
from collections.abc import Sequence
from typing import Literal

from inworld_realtime.io_adapters.wav import write_wav

from .brain import ScriptedBrain, ToolRule
from .engines import describe_engines
from .faults import Faults
from .options import EmulatorOptions
from .server import Emulator
from .speech import Synthesizer


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m inworld_realtime.emulator",
        description="A local server speaking the Inworld Realtime WebSocket protocol (for tests and offline demos).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    p.add_argument("--api-key", help="accept only this key (Basic or Bearer); default: accept any")
    b = p.add_argument_group("what the emulator hears and says")
    b.add_argument("--script", metavar="FILE.json",
                   help='JSON script: {"transcripts": [...], "replies": [...], "tools": [{"name", "keywords", '
                        '"arguments", "reply"}]}')
    b.add_argument("--transcript", action="append", default=[], metavar="TEXT",
                   help="transcript of the next user audio turn (repeatable, in order)")
    b.add_argument("--reply", action="append", default=[], metavar="TEXT", help="next reply (repeatable, in order)")
    b.add_argument("--tool", action="append", default=[], metavar="NAME[=JSON_ARGS]",
                   help="call tool NAME (with these arguments) when the user mentions it (repeatable)")
    b.add_argument("--no-recognition", action="store_true",
                   help="describe unscripted audio by its length instead of recognising it (pocketsphinx)")
    b.add_argument("--voice-engine", choices=["auto", "espeak", "tone"], default="auto",
                   help="speech synthesis: espeak-ng when installed (auto), or a tone pattern")
    b.add_argument("--pace", type=float, default=1.0,
                   help="output audio speed against the clock: 1 real time, 0 as fast as possible (default 1)")
    b.add_argument("--chunk-ms", type=int, default=100, help="duration of each output audio delta (default 100)")
    b.add_argument("--response-delay-ms", type=float, default=0.0, help="thinking time before each response")
    b.add_argument("--transcript-deltas", choices=["rolling", "additive"], default="rolling",
                   help="user-transcript deltas: the whole transcript so far (Inworld, default) or pieces (OpenAI)")
    b.add_argument("--partial-transcript-ms", type=int, default=500, metavar="MS",
                   help="while the user speaks, transcribe the speech so far this often (0: only at the commit)")
    b.add_argument("--no-turn-suggestions", action="store_true", help="no server_vad turn_suggestion events")
    b.add_argument("--no-output-buffer-events", action="store_true",
                   help="no output_audio_buffer.started/stopped around the answer's audio")
    b.add_argument("--token-ttl", type=float, default=3600.0, metavar="SECONDS",
                   help="lifetime of the tokens minted at /auth/v1/tokens/token:generate (default 3600)")
    b.add_argument("--ping-interval", type=float, default=15.0, metavar="SECONDS",
                   help="send Inworld's ping event this often (default 15; 0: never)")
    o = p.add_argument_group("OpenAI's behaviour, which Inworld does not document (all off by default)")
    o.add_argument("--session-ttl", type=float, metavar="SECONDS",
                   help="send session_expired and close after SECONDS")
    o.add_argument("--strict", action="store_true",
                   help="refuse unknown session fields, model ids that are not provider/model, non-function tools "
                        "and string audio formats")
    o.add_argument("--cancel-without-response-error", action="store_true",
                   help="answer a response.cancel with nothing to cancel with response_cancel_not_active")
    o.add_argument("--openai-extras", action="store_true",
                   help="send output_audio_buffer.cleared and the usage of input transcriptions")
    b.add_argument("--omit-function-name", action="store_true",
                   help="leave name out of function_call_arguments.done, as Inworld sometimes does")
    b.add_argument("--beta-event-names", action="store_true",
                   help="send response.audio.delta and other beta names")
    f = p.add_argument_group("fault injection")
    f.add_argument("--drop-after", type=int, metavar="N",
                   help="drop the TCP connection (no close frame) after N events")
    f.add_argument("--close-after", type=int, metavar="N", help="send a close frame after N events")
    f.add_argument("--close-code", type=int, default=1011, help="code of that close frame (default 1011)")
    f.add_argument("--close-reason", default="emulator fault", help="reason of that close frame")
    f.add_argument("--delay-ms", type=float, default=0.0, help="delay every event by this much")
    f.add_argument("--fragment", type=int, default=0, metavar="K", help="split every message into K frames")
    f.add_argument("--ws-ping-interval", type=float, metavar="SECONDS", help="send WebSocket pings this often")
    f.add_argument("--malformed-after", type=int, metavar="N", help="send a message of broken JSON after N events")
    f.add_argument("--untyped-after", type=int, metavar="N", help='send {"errorType": ...} after N events')
    f.add_argument("--untyped-error", default="SESSION_RESOURCES_EXHAUSTED", help="errorType of that message")
    f.add_argument("--refuse", type=int, metavar="STATUS", help="refuse the upgrade with this HTTP status")
    f.add_argument("--retry-after", metavar="VALUE", help="Retry-After header sent with --refuse")
    f.add_argument("--silent", action="store_true", help="accept the upgrade, then never send anything")
    f.add_argument("--stop-reading-after", type=int, metavar="N", help="stop reading after N client messages")
    f.add_argument("--faulty-connections", type=int, metavar="N",
                   help="apply the faults to the first N connections only")
    s = p.add_argument_group("listen to the voice, without a server")
    s.add_argument("--say", metavar="TEXT", help="write TEXT as the emulator would speak it to --out, then exit")
    s.add_argument("--out", metavar="FILE.wav", default="emulator-voice.wav", help="WAV file for --say")
    s.add_argument("--rate", type=int, default=24000, help="sample rate for --say (default 24000)")
    s.add_argument("--voice", default="Clive", help="voice name for --say (default Clive)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: every event)")
    return p


def say(text: str, out: str, rate: int, voice: str, engine: Literal["auto", "espeak", "tone"]) -> str:
    """Synthesise ``text`` into a mono 16-bit WAV; returns the engine used."""
    if not 8000 <= rate <= 48000:
        raise ValueError(f"--rate must be 8000-48000, got {rate}")
    synth = Synthesizer(engine)
    pcm = synth.synthesize(text, rate, voice)
    try:
        write_wav(out, pcm, rate)
    except OSError as exc:
        raise ValueError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return synth.backend


def _tool_rule(spec: str) -> ToolRule:
    name, sep, raw = spec.partition("=")
    if not name:
        raise ValueError(f"--tool {spec!r}: missing tool name")
    arguments = {}
    if sep:
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--tool {name}: arguments are not valid JSON ({exc})") from exc
        if not isinstance(arguments, dict):
            raise ValueError(f"--tool {name}: arguments must be a JSON object")
    return ToolRule(name, arguments=arguments)


def options_from_args(args: argparse.Namespace) -> EmulatorOptions:
    """EmulatorOptions from parsed arguments; ValueError names the bad one."""
    if args.script:
        try:
            brain = ScriptedBrain.from_file(args.script)
        except OSError as exc:
            raise ValueError(f"cannot read --script {args.script}: {exc.strerror or exc}") from exc
        brain = ScriptedBrain(
            [*brain.transcripts, *args.transcript], [*brain.replies, *args.reply],
            [*brain.tools, *(_tool_rule(t) for t in args.tool)], echo_prefix=brain.echo_prefix,
            greeting=brain.greeting, match_tool_names=brain.match_tool_names,
            recognize=brain.recognize and not args.no_recognition,
        )
    else:
        brain = ScriptedBrain(args.transcript, args.reply, [_tool_rule(t) for t in args.tool],
                              recognize=not args.no_recognition)
    faults = Faults(
        drop_after=args.drop_after, close_after=args.close_after, close_code=args.close_code,
        close_reason=args.close_reason, delay_ms=args.delay_ms, fragment=args.fragment,
        ws_ping_interval_s=args.ws_ping_interval,
        malformed_after=args.malformed_after, untyped_after=args.untyped_after, untyped_error=args.untyped_error,
        refuse_status=args.refuse, retry_after=args.retry_after, silent=args.silent,
        stop_reading_after=args.stop_reading_after, first_connections=args.faulty_connections,
    )
    return EmulatorOptions(
        host=args.host, port=args.port, api_key=args.api_key, brain=brain, faults=faults,
        voice_engine=args.voice_engine, pace=args.pace, audio_chunk_ms=args.chunk_ms,
        response_delay_ms=args.response_delay_ms, session_ttl_s=args.session_ttl,
        ping_interval_s=args.ping_interval or None, strict=args.strict,
        cancel_without_response_error=args.cancel_without_response_error, openai_extras=args.openai_extras,
        omit_function_call_name=args.omit_function_name, beta_event_names=args.beta_event_names,
        transcript_deltas=args.transcript_deltas, partial_transcript_ms=args.partial_transcript_ms or None,
        turn_suggestions=not args.no_turn_suggestions, output_audio_buffer_events=not args.no_output_buffer_events,
        token_ttl_s=args.token_ttl, keep_history=False,
    )


async def _serve(options: EmulatorOptions) -> None:
    emulator = Emulator(options)
    await emulator.start()
    webrtc = f" and {emulator.webrtc_url} (WebRTC)" if importlib.util.find_spec("aiortc") is not None else ""
    print(f"Inworld realtime emulator listening on {emulator.url}{webrtc} {describe_engines(emulator)}", flush=True)
    try:
        await asyncio.Future()
    finally:
        await emulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.say is not None:
            engine = say(args.say, args.out, args.rate, args.voice, args.voice_engine)
            print(f"wrote {args.out} ({engine}, {args.rate} Hz)")
            return 0
        options = options_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(options))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
