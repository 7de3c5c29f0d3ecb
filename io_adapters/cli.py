"""``inworld-realtime``: hold a spoken exchange from a WAV file, with Inworld or the local emulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import re
import socket
import ssl
import struct
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit

from inworld_realtime import __version__
from inworld_realtime.protocol import (
    DEFAULT_URL,
    AudioConfiguration,
    AudioInput,
    AudioOutput,
    ConfigurationError,
    HandshakeError,
    InputTranscription,
    PCMAudioFormat,
    ProtocolError,
    SessionProperties,
    TurnDetection,
)
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.session import SUPPORTED_SAMPLE_RATES

from .events import Reconnected, ReconnectFailed, Reconnecting
from .transport import is_loopback
from .transports import DEFAULT_WEBRTC_URL, TRANSPORTS, client_class

TRAILING_SILENCE_MS = 1500
NO_SPEECH_GRACE_S = 4.0
"""How long after the end of the input a server that heard no speech at all gets to start a turn (with
--fast, plus the input's duration: a server may listen to it in real time however fast it arrived)."""
REALTIME_PATH = "/api/v1/realtime/session"

# Exit codes: one per way an exchange can end, so that scripts can tell them apart.
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4
EXIT_DROPPED = 5
EXIT_NO_SPEECH = 6
EXIT_TIMEOUT = 7
EXIT_NO_ANSWER = 8
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "the exchange completed and the answer was written",
    EXIT_USAGE: "bad arguments, URL, input WAV or output path (nothing was sent)",
    EXIT_REFUSED: "the server refused the API key (HTTP 401/403)",
    EXIT_UNREACHABLE: "no realtime session: unreachable, not a WebSocket server, no upgrade in time, refused",
    EXIT_DROPPED: "the connection kept dropping and reconnecting gave up, or it ended mid-exchange",
    EXIT_NO_SPEECH: "the server heard no speech in the input",
    EXIT_TIMEOUT: "no complete answer within --timeout seconds after the end of the input",
    EXIT_NO_ANSWER: "the server ended the answer as failed, or answered without audio",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class CliError(Exception):
    """A failure worth one line to the user, not a traceback; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


MAX_HEARING = 16
"""User items whose words so far the exchange keeps while their transcription is under way."""


@dataclass
class Reply:
    """One assistant response as the listener hears it."""

    response_id: str | None
    transcript: str = ""
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    start: float | None = None
    """When its playback starts: its first audio, or the end of the previous reply's playback."""
    cut_at: float | None = None
    """When the user's speech interrupted it; nothing after that is heard."""
    unheard: int = 0
    """Bytes of audio that arrived after the interruption."""
    status: str = "in_progress"

    @property
    def words(self) -> str:
        return self.transcript or self.text


@dataclass
class Report:
    """What the exchange produced, for the summary and for tests."""

    user_transcripts: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    reconnects: int = 0
    latency: tuple[float, float] | None = None
    """First audio and response done, in seconds after the end of the last answered turn."""

    @property
    def user_transcript(self) -> str:
        return " ".join(self.user_transcripts)

    @property
    def assistant_transcript(self) -> str:
        return " ".join(r.words for r in self.replies if r.words)

    @property
    def audio(self) -> bytes:
        return b"".join(bytes(r.audio) for r in self.replies)


def as_written(transcript: str, reference: str | None) -> str:
    """A recogniser's bare words shown as the input's text has them, when they are its very words.

    The emulator's recogniser gives lower-case words without punctuation. When they are, word for word, those
    of ``reference`` (the WAV's .txt sibling), its casing and punctuation are shown; every other transcript
    (a misheard word, or a server's own casing) is shown as it came.
    """
    if reference is None or transcript != transcript.lower() or re.search(r"[.,?!;:]", transcript):
        return transcript
    return reference if _words(transcript) == _words(reference) and _words(reference) else transcript


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class Exchange:
    """Decides, event by event, what the listener heard and whether the exchange is complete (no I/O).

    Responses are kept in order; one aborted by a dropped connection is discarded (the client asks for it
    again after reconnecting); one interrupted by the user's speech is cut where the user started speaking.
    ``realtime`` plays the audio at its own speed (a listener's speaker); otherwise as fast as it arrives.
    """

    def __init__(self, rate: int, realtime: bool, reference: str | None = None) -> None:
        self.rate = rate
        self.realtime = realtime
        self.reference = reference
        """What the input says, as written (the WAV's .txt sibling), if known: see ``as_written``."""
        self.report = Report()
        self.active: dict[str | None, Reply] = {}
        self.turns = 0
        """User turns the server ended: a speech_stopped, or a commit that none announced."""
        self.answered = 0
        self.completed = 0
        self.closed: ev.ConnectionClosed | None = None
        self.in_speech = False
        self.heard_speech = False
        self.reconnecting = False
        self.gave_up: str | None = None
        self.failed: str | None = None
        self._speaker_free = 0.0
        self._turn_end: float | None = None
        self._turn_counted = False  # the current turn's speech_stopped was counted; its commit is not another
        self.hearing: dict[str, str] = {}
        """The user's words so far per item not transcribed yet: the core's view, rolling or additive deltas alike."""
        self._replay_noted = -1  # the turn (by self.turns) whose replay limit was shown: one line per turn
        self._undelivered: dict[int, int] = {}  # ms of a turn's audio the server never received, by turn
        self._undelivered_shown: dict[int, int] = {}

    def complete(self, input_ended: bool) -> bool:
        """The whole input was sent and its last turn was answered, with nothing still under way."""
        return (input_ended and self.completed > 0 and self.answered == self.turns and not self.active
                and not self.in_speech and not self.reconnecting)

    def heard_nothing(self) -> bool:
        """No sign that the server heard a turn: no speech, no commit, no response."""
        return not self.heard_speech and self.turns == 0 and not self.active and not self.report.replies

    def heard_ms(self, reply: Reply, at: float) -> float:
        received = len(reply.audio) / 2 / self.rate * 1000
        if not self.realtime or reply.start is None:
            return received
        return max(0.0, min(received, (at - reply.start) * 1000))

    def _reply(self, response_id: str | None) -> Reply:
        reply = self.active.get(response_id)
        if reply is None:
            reply = self.active[response_id] = Reply(response_id)
        return reply

    def feed(self, event: Any, now: float) -> list[str]:
        """Take one event; returns the lines to show for it."""
        if isinstance(event, ev.ResponseOutputAudioDelta):
            reply = self._reply(event.response_id)
            if reply.cut_at is not None:
                reply.unheard += len(event.pcm)
                return []
            if reply.start is None:
                reply.start = max(now, self._speaker_free)
            reply.audio += event.pcm
            return []
        if isinstance(event, ev.ResponseOutputAudioTranscriptDelta | ev.ResponseOutputTextDelta):
            reply = self._reply(event.response_id)
            if reply.cut_at is None and isinstance(event, ev.ResponseOutputAudioTranscriptDelta):
                reply.transcript += event.delta
            elif reply.cut_at is None:
                reply.text += event.delta
            return []
        if isinstance(event, ev.InputAudioBufferSpeechStarted):
            self.in_speech = self.heard_speech = True
            self._turn_counted = False
            for reply in self.active.values():  # a listener's player stops when the user speaks
                if reply.cut_at is None:
                    reply.cut_at = now
            return []
        if isinstance(event, ev.InputAudioBufferSpeechStopped):
            self.in_speech = False
            lines = self._undelivered_total()
            if not self._turn_counted:
                self.turns += 1
                self._turn_end = now
                self._turn_counted = True
            return lines
        if isinstance(event, ev.InputAudioBufferCommitted):
            self.in_speech = False
            lines = self._undelivered_total()
            if self._turn_counted:
                self._turn_counted = False  # the commit of the turn speech_stopped ended
            else:
                self.turns += 1
                self._turn_end = now
            return lines
        if isinstance(event, ev.ConnectionClosed):
            self.closed = event
            return []
        if isinstance(event, ev.InputAudioTranscriptionDelta):
            if event.transcript_so_far and (event.item_id in self.hearing or len(self.hearing) < MAX_HEARING):
                self.hearing[event.item_id] = event.transcript_so_far  # the whole text so far, never joined here
            return []
        if isinstance(event, ev.InputAudioTranscriptionCompleted):
            self.hearing.pop(event.item_id, None)  # the completed transcript wins
            self.report.user_transcripts.append(event.transcript)
            return [f"you:       {as_written(event.transcript, self.reference)}"]
        if isinstance(event, ev.InputAudioTranscriptionFailed):
            reason = event.error.message if event.error is not None else "no reason given"
            lines = [f"(the server could not transcribe your turn: {reason})"]
            heard = self.hearing.pop(event.item_id, None)
            if heard:
                self.report.user_transcripts.append(heard)
                lines.append(f"you (partly heard): {heard}")
            return lines
        if isinstance(event, ev.ResponseCreated):
            self._reply(event.response.id)
            return []
        if isinstance(event, ev.ResponseDone):
            return self._done(event, now)
        if isinstance(event, ev.ResponseAborted):
            self.active.pop(event.response_id, None)
            return [f"(connection lost mid-answer: {_short(event.reason)}; "
                    "that answer is discarded and asked for again)"]
        if isinstance(event, Reconnecting):
            self.reconnecting = True
            self.report.reconnects += 1
            return [f"reconnecting (attempt {event.attempt}, in {event.delay:.1f} s): {_short(event.reason)}"]
        if isinstance(event, Reconnected):
            self.reconnecting = False
            return [f"reconnected: {event.replayed_items} conversation items and "
                    f"{event.replayed_audio_ms} ms of your audio replayed"]
        if isinstance(event, ReconnectFailed):
            self.gave_up = _short(event.error)
            return []
        if isinstance(event, ev.ErrorEvent):
            return [f"(server error: {_short(event.error.message)})"]
        if isinstance(event, ev.AudioDropped):
            return self._dropped(event)
        if isinstance(event, ev.ReplayTrimmed) and event.item_id is None:  # the turn in progress outgrew replay
            return self._replay_limited(event)
        return []

    def _replay_limited(self, event: ev.ReplayTrimmed) -> list[str]:
        """One line per turn when a reconnect could no longer resend all of it (the server hears it all)."""
        turn = self.turns  # turns ended so far: the event belongs to the one under way
        if self._replay_noted == turn:
            return []
        self._replay_noted = turn
        window = re.search(r"max_replay_audio_ms=(\d+)", event.reason)
        limit = f"{int(window.group(1)) / 1000:g} s" if window else "the replay limit"
        return [f"(your turn is longer than {limit}: the server hears all of it, but were the connection to "
                f"drop now, only its last {limit} could be sent again)"]

    def _dropped(self, event: ev.AudioDropped) -> list[str]:
        """At most one line per turn, however many events the core sends: audio that never reached the server
        (dropped while it waited for a session), with the turn's total once the turn ends."""
        turn = self.turns  # turns ended so far: the drop belongs to the one under way
        before = self._undelivered.get(turn, 0)
        self._undelivered[turn] = before + event.duration_ms
        if before:
            return []  # the total is shown once the turn ends
        self._undelivered_shown[turn] = event.duration_ms
        return [f"(the server heard only part of this turn: {event.duration_ms} ms of your audio never reached "
                f"it ({_short(event.reason)}))"]

    def _undelivered_total(self) -> list[str]:
        """At the end of a turn, how much of it never reached the server, if more than was already said."""
        turn = self.turns
        total = self._undelivered.get(turn, 0)
        if total <= self._undelivered_shown.get(turn, 0):
            return []
        self._undelivered_shown[turn] = total
        return [f"(the server heard only part of this turn: {total} ms of your audio in all never reached it)"]

    def _done(self, event: ev.ResponseDone, now: float) -> list[str]:
        reply = self.active.pop(event.response.id, None) or Reply(event.response.id)
        reply.status = str(event.response.status or "completed")
        lines: list[str] = []
        heard = self.heard_ms(reply, reply.cut_at) if reply.cut_at is not None else 0.0
        keep = int(heard * self.rate / 1000) * 2
        if reply.cut_at is not None and (reply.unheard or len(reply.audio) > keep):
            del reply.audio[keep:]
            suffix = f"[interrupted after {heard / 1000:.1f} s]" if keep else "[interrupted before it was heard]"
        elif reply.status == "cancelled":
            suffix = "[cancelled]"
        else:
            suffix = ""
        if reply.start is not None:
            self._speaker_free = reply.start + len(reply.audio) / 2 / self.rate
        if reply.audio:
            self.report.replies.append(reply)
        if reply.words or reply.audio or suffix:
            lines.append("assistant: " + " ".join(part for part in (reply.words.strip(), suffix) if part))
        if reply.status == "failed":
            details = event.response.status_details
            self.failed = str(getattr(details, "error", None) or details or "no reason given")
            lines.append(f"(the response failed: {self.failed})")
        elif reply.status in ("completed", "incomplete"):
            self.answered = self.turns
            self.completed += 1
            if self._turn_end is not None and reply.start is not None:
                self.report.latency = (reply.start - self._turn_end, now - self._turn_end)
        return lines


# ---------------------------------------------------------------- checks made before anything is sent


def read_wav(path: Path) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate; stereo is mixed down, unsupported rates are resampled to 16 kHz."""
    try:
        with open(path, "rb") as f, wave.open(f, "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path} is a directory; give a WAV file") from None
    except PermissionError:
        raise CliError(f"{path}: permission denied") from None
    except (wave.Error, EOFError, OSError) as exc:
        raise CliError(f"{path}: not a readable WAV file ({exc})") from None
    if width != 2:
        raise CliError(f"{path}: {8 * width}-bit samples; 16-bit PCM WAV is needed")
    if channels not in (1, 2):
        raise CliError(f"{path}: {channels} channels; mono or stereo is needed")
    if not frames:
        raise CliError(f"{path}: the file holds no audio")
    if channels == 2:
        samples = struct.unpack(f"<{len(frames) // 2}h", frames)
        mixed = tuple((a + b) // 2 for a, b in zip(samples[0::2], samples[1::2], strict=True))
        frames = struct.pack(f"<{len(mixed)}h", *mixed)
    if rate not in SUPPORTED_SAMPLE_RATES:
        from inworld_realtime.emulator.pcm import resample  # the one resampler (pure Python, no engines)

        frames, rate = resample(frames, rate, 16000), 16000
    return frames, rate


def check_url(url: str, insecure: bool) -> str:
    """The realtime URL, or a one-line error saying how to fix it."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError as exc:
        raise CliError(f"--url {url!r} is not a valid URL ({exc})") from None
    if parts.scheme in ("http", "https"):
        fixed = ("wss" if parts.scheme == "https" else "ws") + url[len(parts.scheme):]
        raise CliError(f"--url must be a WebSocket URL (ws:// or wss://), not {parts.scheme}://; try --url {fixed}")
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise CliError(f"--url {url!r} is not a WebSocket URL; expected wss://HOST{REALTIME_PATH} "
                       f"(or ws://127.0.0.1:PORT{REALTIME_PATH} for a local server)")
    if parts.path in ("", "/"):
        base = url.split("?", 1)[0].rstrip("/")
        raise CliError(f"--url has no path; the realtime endpoint is at {REALTIME_PATH}: "
                       f"try --url {base}{REALTIME_PATH}")
    if parts.scheme == "ws" and not insecure and not is_loopback(parts.hostname):
        raise CliError(f"refusing unencrypted ws:// to {parts.hostname} (the API key would travel in clear); "
                       "use wss://, or add --insecure if you mean it")
    return url


def check_output(path: Path) -> Path:
    """An output path we can write, checked before the exchange rather than after it."""
    if path.is_dir():
        raise CliError(f"--out {path} is a directory; give a file name such as {path / 'answer.wav'}")
    parent = path.parent
    if not parent.is_dir():
        raise CliError(f"--out {path}: the directory {parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise CliError(f"--out {path}: cannot write in {parent} ({exc.strerror or exc})") from None
    return path


def write_output(path: Path, pcm: bytes, rate: int) -> None:
    """Write the answer; a regular file is replaced whole, so a failure never leaves half a WAV."""
    from .wav import write_wav

    if path.exists() and not path.is_file():  # /dev/null and the like
        write_wav(path, pcm, rate)
        return
    if path.exists():
        mode = path.stat().st_mode & 0o777
    else:
        umask = os.umask(0)  # read it back: there is no other way
        os.umask(umask)
        mode = 0o666 & ~umask  # what open() would have given it (mkstemp makes 0600 files)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write_wav(tmp, pcm, rate)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------- the command


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


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions kept as written; every default that is a value (not None or a flag's False) shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text and text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


TALK_DESCRIPTION = f"""\
Stream a WAV file to a realtime voice model as a microphone would, show what happens
(connecting, each transcript, each reply, reconnects and why) and write the assistant's
audio as a listener would have heard it: replies in order, a reply the user interrupted
cut where the user started speaking, a reply lost to a dropped connection (and asked for
again) present once.

Where it talks:
  --url URL                    that server (also read from INWORLD_URL)
  INWORLD_API_KEY set          Inworld ({DEFAULT_URL})
  neither                      a local emulator started inside the command: it recognises
                               the speech with the [speech] extra installed, else it takes
                               the transcript from the WAV's .txt sibling (or --transcript)

INWORLD_API_KEY holds the key (Basic auth by default); it is never printed."""

TALK_EPILOG = "exit status:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES.items())


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="inworld-realtime", description=__doc__.replace("``", ""),
                     formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    talk = sub.add_parser("talk", help="speak a WAV file to the model and record its spoken answer",
                          description=TALK_DESCRIPTION, epilog=TALK_EPILOG, formatter_class=_Formatter)
    talk.add_argument("wav", type=Path, help="16-bit PCM WAV with the user's words")
    talk.add_argument("--out", type=Path, default=Path("answer.wav"), help="where to write the answer")
    talk.add_argument("--url", default=os.environ.get("INWORLD_URL") or None,
                      help="realtime WebSocket URL (default: $INWORLD_URL; else Inworld's with INWORLD_API_KEY, "
                           "else a local emulator)")
    talk.add_argument("--auth", choices=["basic", "bearer"], default="basic", help="Authorization scheme for the key")
    talk.add_argument("--transport", choices=TRANSPORTS, default="websocket",
                      help="WebSocket (PCM in JSON) or WebRTC (Opus on a track, events on a data channel; "
                           "--url is then the API base, https://api.inworld.ai/v1/realtime)")
    talk.add_argument("--insecure", action="store_true",
                      help="allow unencrypted ws:// to a host other than this one (default: refused)")
    talk.add_argument("--fast", action="store_true",
                      help="stream the WAV as fast as possible (default: in real time, as a microphone)")
    talk.add_argument("--voice", default="Clive", help="the assistant's voice")
    talk.add_argument("--model", default="openai/gpt-4.1-mini", help="LLM model id")
    talk.add_argument("--tts-model", default="inworld-tts-1.5-max", help="speech synthesis model")
    talk.add_argument("--stt-model", default="inworld/inworld-stt-1", help="transcription model")
    talk.add_argument("--instructions", default="You are a helpful voice assistant. Answer briefly.",
                      help="system instructions")
    talk.add_argument("--rate", type=int, choices=SUPPORTED_SAMPLE_RATES, default=24000, help="output sample rate")
    talk.add_argument("--turn-detection", choices=["semantic_vad", "server_vad", "manual"], default="server_vad",
                      help="who ends the user's turn (manual: one turn, committed at the end of the WAV)")
    talk.add_argument("--eagerness", choices=["low", "medium", "high", "auto"], default=None,
                      help="how soon semantic_vad ends a turn (default: the server's)")
    talk.add_argument("--transcript", help="local emulator only: what it hears (default: what it recognises with "
                                           "the [speech] extra, else the WAV's .txt sibling)")
    talk.add_argument("--script", type=Path, metavar="FILE.json",
                      help='local emulator only: what it hears and answers, as JSON: {"transcripts": [one per turn], '
                           '"replies": [one per turn], "tools": [{"name": ..., "keywords": [...], "arguments": '
                           '{...}}], "greeting": ..., "echo_prefix": ...}; it wins over --transcript (default: '
                           'echo what it hears)')
    talk.add_argument("--connect-timeout", type=float, default=10.0,
                      help="seconds to wait for the connection and the WebSocket upgrade")
    talk.add_argument("--timeout", type=float, default=60.0,
                      help="seconds to wait for the answer after the end of the input")
    _add_token_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``inworld-realtime`` and ``python -m inworld_realtime``."""
    args = _parser().parse_args(argv)
    if args.command == "token":
        return token_command(args)
    from .pacing import loop_factory

    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:  # uvloop when installed
            runner.run(talk(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _emulator_brain(args: argparse.Namespace) -> Any:
    from inworld_realtime.emulator import ScriptedBrain

    if args.script is not None:
        try:
            return ScriptedBrain.from_file(args.script)
        except (OSError, ValueError) as exc:
            raise CliError(f"--script {args.script}: {exc}") from None
    transcript = args.transcript
    sidecar = args.wav.with_suffix(".txt")
    if transcript is None and sidecar.is_file() and importlib.util.find_spec("pocketsphinx") is None:
        try:
            transcript = sidecar.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"{sidecar}: cannot read the transcript ({exc})") from None
    return ScriptedBrain(transcripts=[transcript] if transcript else [])


def _sidecar_text(wav: Path) -> str | None:
    """The WAV's .txt sibling, what it says as written; None when there is none or it cannot be read."""
    try:
        return wav.with_suffix(".txt").read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


async def talk(args: argparse.Namespace, out: TextIO | None = None) -> Report:
    """Check everything, stream the WAV, show the exchange, write the answer, print a latency report."""
    out = out or sys.stdout
    if args.timeout <= 0 or args.connect_timeout <= 0:
        raise CliError("--timeout and --connect-timeout must be positive")
    pcm, rate = read_wav(args.wav)
    check_output(args.out)
    api_key = os.environ.get("INWORLD_API_KEY") or None
    webrtc = getattr(args, "transport", "websocket") == "webrtc"
    url = args.url if args.url is not None else ((DEFAULT_WEBRTC_URL if webrtc else DEFAULT_URL) if api_key else None)
    if url is not None and not webrtc:
        check_url(url, args.insecure)
    brain = _emulator_brain(args) if url is None or args.script else None  # a bad --script fails before connecting
    session = build_session(args, rate)
    exchange = Exchange(args.rate, realtime=not args.fast, reference=_sidecar_text(args.wav))
    async with AsyncExitStack() as stack:
        if url is None:
            from inworld_realtime.emulator import Emulator, EmulatorOptions, describe_engines

            assert brain is not None
            emulator = await stack.enter_async_context(
                Emulator(EmulatorOptions(brain=brain, pace=0 if args.fast else 1.0)))
            stack.callback(lambda: print(describe_engines(emulator), file=out))
            if webrtc:  # the embedded emulator's calls and ours stay on loopback, as its WebSockets do
                from inworld_realtime.emulator.webrtc import gather_on_loopback

                gather_on_loopback()
            url = emulator.webrtc_url if webrtc else emulator.url
            print(f"(no INWORLD_API_KEY: talking to the local emulator at {url})", file=out)
        print(f"connecting to {_shown(url)}" + (" over WebRTC" if webrtc else ""), file=out, flush=True)
        client = _client(args.transport)(api_key or "local-emulator", session, url=url, auth_type=args.auth,
                                 connect_timeout=args.connect_timeout, allow_insecure=args.insecure)
        stack.push_async_callback(client.close)
        await _connect(client, url, args.connect_timeout)
        print("connected; streaming " + ("as fast as possible" if args.fast else "in real time"), file=out,
              flush=True)
        sender = asyncio.create_task(_stream(client, pcm, rate, args))
        try:
            grace = NO_SPEECH_GRACE_S + (len(pcm) / 2 / rate if args.fast else 0.0)
            await _converse(client, exchange, sender, args, out, min(args.timeout, grace))
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    report = exchange.report
    if exchange.failed is not None:
        raise CliError(f"the server ended the answer as failed ({exchange.failed}); try again", EXIT_NO_ANSWER)
    if not report.audio:
        raise CliError("the answer held no audio; check --voice and --tts-model", EXIT_NO_ANSWER)
    try:
        write_output(args.out, report.audio, args.rate)
    except OSError as exc:
        raise CliError(f"--out {args.out}: cannot write the answer ({exc.strerror or exc})") from None
    _summary(report, args, out)
    return report


def _client(transport: str) -> Any:
    """The client class of the chosen transport; one line when its extra is not installed."""
    try:
        return client_class(transport)
    except ConfigurationError as exc:
        raise CliError(f"--transport {transport}: {exc}") from None


async def _connect(client: Any, url: str, timeout: float) -> None:
    """Open the session, or one line saying why not and what to do."""
    from . import ConnectError, ConnectTimeout

    host = urlsplit(url).netloc.rpartition("@")[2]  # never a user:password
    try:
        # The client bounds each step; this bounds them all, however many attempts the client makes.
        async with asyncio.timeout(bound := 2 * timeout + 1):
            await client.connect()
    except HandshakeError as exc:
        status = f"HTTP {exc.status}" + (f" {exc.reason}" if exc.reason else "")
        if exc.status in (401, 403):
            raise CliError(f"the server refused the API key ({status}); check INWORLD_API_KEY and --auth",
                           EXIT_REFUSED) from None
        if 200 <= exc.status < 400:
            raise CliError(f"{host} is not a WebSocket server (it answered the upgrade with {status}); "
                           "check --url", EXIT_UNREACHABLE) from None
        if exc.status == 404 and urlsplit(url).path.rstrip("/") == REALTIME_PATH:
            raise CliError(f"{host} has no realtime endpoint ({status}): is --url a realtime server?",
                           EXIT_UNREACHABLE) from None
        if exc.status == 404:
            raise CliError(f"{host} has no realtime endpoint at {urlsplit(url).path} ({status}); "
                           f"Inworld's is {REALTIME_PATH}: check --url", EXIT_UNREACHABLE) from None
        later = f"try again in {exc.retry_after:g} s" if exc.retry_after is not None else "try again later"
        raise CliError(f"{host} refused the session ({status}); {later} or check --url", EXIT_UNREACHABLE) from None
    except (ConnectTimeout, TimeoutError) as exc:
        detail = (_short(str(exc)) if isinstance(exc, ConnectTimeout) and str(exc)
                  else f"no realtime session from {host} within {bound:g} s")
        raise CliError(f"{detail}: is --url a realtime WebSocket server? (or raise --connect-timeout)",
                       EXIT_UNREACHABLE) from None
    except (ConnectError, OSError) as exc:  # before ProtocolError: ConnectError is one too
        if "rejected the session" in str(exc):  # an error event answered our session.update
            raise CliError(f"{_first_line(exc)}: check --model, --voice, --tts-model and --stt-model",
                           EXIT_UNREACHABLE) from None
        raise CliError(f"cannot connect to {host} ({_why(exc)}); check --url and that the server is up",
                       EXIT_UNREACHABLE) from None
    except ProtocolError as exc:
        raise CliError(f"{host} does not speak the realtime WebSocket protocol ({_first_line(exc)}); check --url",
                       EXIT_UNREACHABLE) from None


def _why(exc: BaseException) -> str:
    """What went wrong under a connect error, in a few words."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(cause, socket.gaierror):
        return f"unknown host: {cause.strerror or cause}"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({_short(cause.reason or str(cause)) or 'no details'}); a plain server needs ws://, not wss://"
    return _first_line(cause)


def _shown(url: str) -> str:
    """The URL without any user:password in it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _first_line(exc: BaseException) -> str:
    return _short(str(exc)) or type(exc).__name__


def _short(text: str, limit: int = 160) -> str:
    """The first line of ``text``, cut to ``limit`` characters: a server's words never flood the terminal."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


async def _stream(client: Any, pcm: bytes, rate: int, args: argparse.Namespace) -> None:
    """The whole input then trailing silence, paced like a microphone by the client's clock (unless --fast)."""
    padded = pcm + bytes(rate * 2 * TRAILING_SILENCE_MS // 1000)
    try:
        await client.stream_audio(padded, realtime=not args.fast)
        if args.turn_detection == "manual":
            await client.commit()
            await client.create_response()
    except (ConnectionError, ProtocolError):
        pass  # the session ended; the event stream says why


async def _converse(client: Any, exchange: Exchange, sender: asyncio.Task[None], args: argparse.Namespace,
                    out: TextIO, no_speech_after: float) -> None:
    """Show events until the exchange is complete, or raise the one line that says why it is not."""
    input_end: float | None = None
    while True:
        now = time.monotonic()
        if input_end is None and sender.done():
            input_end = now
            if not sender.cancelled() and (error := sender.exception()) is not None:
                raise error  # not the session ending (_stream takes those): a fault, not "no speech heard"
        if exchange.gave_up is not None:
            raise CliError(f"gave up reconnecting ({exchange.gave_up}); the server keeps dropping the connection: "
                           "try again later, or check --url", EXIT_DROPPED)
        if exchange.complete(input_end is not None):
            return
        if input_end is not None:
            waited = now - input_end
            if exchange.heard_nothing() and waited >= no_speech_after:
                raise CliError(f"no speech heard in {args.wav}: the server detected no turn in it (silent or too "
                               "quiet?); try a louder recording, or --turn-detection manual", EXIT_NO_SPEECH)
            if waited >= args.timeout:
                raise CliError(f"no complete answer within {args.timeout:g} s after the end of the input; "
                               "raise --timeout if the server is slow", EXIT_TIMEOUT)
        try:
            event = await client.recv(timeout=0.25)
        except TimeoutError:
            continue
        except ConnectionError:
            if exchange.gave_up is None:
                closed = exchange.closed
                how = f" (close code {closed.code}{': ' + closed.reason if closed.reason else ''})" if closed else ""
                raise CliError(f"the server closed the session before the exchange completed{how}; try again",
                               EXIT_DROPPED) from None
            continue
        lines = exchange.feed(event, time.monotonic())
        if isinstance(event, ev.InputAudioBufferSpeechStarted):
            await _truncate_heard(client, exchange)
        for line in lines:
            print(line, file=out, flush=True)


async def _truncate_heard(client: Any, exchange: Exchange) -> None:
    """Tell the server how much of an interrupted reply the listener heard."""
    for reply in exchange.active.values():
        if reply.cut_at is not None and reply.audio:
            with contextlib.suppress(ConnectionError, ProtocolError):
                await client.truncate(exchange.heard_ms(reply, reply.cut_at))


def _summary(report: Report, args: argparse.Namespace, out: TextIO) -> None:
    seconds = len(report.audio) / (2 * args.rate)
    replies = len(report.replies)
    print(f"wrote {args.out} ({seconds:.2f} s at {args.rate} Hz, {replies} repl{'y' if replies == 1 else 'ies'})",
          file=out)
    if report.latency is not None:
        first, done = report.latency
        print(f"latency: first audio {1000 * first:.0f} ms after the end of your turn, "
              f"response done after {1000 * done:.0f} ms", file=out)


TOKEN_DESCRIPTION = """\
Mint a short-lived JWT for Authorization: Bearer (browser and mobile clients), with
Inworld's signed token:generate request, and print it.

The key: INWORLD_KEY and INWORLD_SECRET (as Inworld's examples), else INWORLD_API_KEY
(the portal's Base64 'key:secret' credential). The secret is never printed."""


def _add_token_command(sub: Any) -> None:
    from inworld_realtime.protocol.token import DEFAULT_WORKSPACE, ENGINE_HOST, TOKEN_URL

    token = sub.add_parser("token", help="mint a short-lived JWT for bearer auth and print it",
                           description=TOKEN_DESCRIPTION, formatter_class=_Formatter)
    token.add_argument("--url", default=os.environ.get("INWORLD_TOKEN_URL") or TOKEN_URL,
                       help="token endpoint ($INWORLD_TOKEN_URL when set)")
    token.add_argument("--workspace", default=os.environ.get("INWORLD_WORKSPACE") or DEFAULT_WORKSPACE,
                       help="the resource the token is for ($INWORLD_WORKSPACE when set)")
    token.add_argument("--engine-host", default=os.environ.get("INWORLD_ENGINE_HOST") or ENGINE_HOST,
                       help="host named in the signature ($INWORLD_ENGINE_HOST when set)")
    token.add_argument("--json", action="store_true",
                       help="print the whole answer (token, type, expirationTime, sessionId) as JSON")
    token.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the endpoint")


def token_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``inworld-realtime token``: the token on stdout (or the answer as JSON); errors on stderr, no secret."""
    import json

    from inworld_realtime.protocol.errors import ConnectError, ProtocolError
    from inworld_realtime.protocol.token import MintError

    from .token import api_key_from_env, mint_token_sync

    out = out or sys.stdout
    try:
        key = api_key_from_env()
        token = mint_token_sync(key, args.workspace, url=args.url, engine_host=args.engine_host,
                                timeout=args.timeout)
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, ValueError):
            return EXIT_USAGE
        if isinstance(exc, MintError) and exc.status in (401, 403):
            return EXIT_REFUSED
        return EXIT_UNREACHABLE if isinstance(exc, ConnectError) else EXIT_NO_ANSWER
    if args.json:
        answer = {"token": token.token, "type": token.type, "expirationTime": token.expiration_time,
                  "sessionId": token.session_id, **token.extra}
        print(json.dumps(answer), file=out)
    else:
        print(token.token, file=out)
    return EXIT_OK
