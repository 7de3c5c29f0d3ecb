"""The CLI's decision-maker fed events by hand: what the listener heard, and when the exchange is complete."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

import pytest

from inworld_realtime.io_adapters import Reconnected, ReconnectFailed, Reconnecting
from inworld_realtime.io_adapters.cli import Exchange, _converse
from inworld_realtime.protocol import Response
from inworld_realtime.protocol import events as ev

RATE = 24000
SECOND = b"\x01\x00" * RATE  # one second of output audio


def created(rid: str) -> ev.ResponseCreated:
    return ev.ResponseCreated(response=Response(id=rid))


def done(rid: str, status: str = "completed") -> ev.ResponseDone:
    return ev.ResponseDone(response=Response(id=rid, status=status))  # type: ignore[arg-type]


def audio(rid: str, pcm: bytes) -> ev.ResponseOutputAudioDelta:
    return ev.ResponseOutputAudioDelta(response_id=rid, pcm=pcm)


def words(rid: str, text: str) -> ev.ResponseOutputAudioTranscriptDelta:
    return ev.ResponseOutputAudioTranscriptDelta(response_id=rid, delta=text)


def turn(x: Exchange, at: float) -> None:
    x.feed(ev.InputAudioBufferSpeechStarted(), at)
    x.feed(ev.InputAudioBufferSpeechStopped(), at + 1)
    x.feed(ev.InputAudioBufferCommitted(item_id="u"), at + 1)


def test_a_response_aborted_by_a_drop_is_dropped_and_the_new_one_kept() -> None:
    x = Exchange(RATE, realtime=False)
    turn(x, 0)
    for event in (created("a"), words("a", "You said: "), audio("a", SECOND)):
        x.feed(event, 2)
    lines = x.feed(ev.ResponseAborted("a", "connection lost"), 2.5)
    assert "discarded" in lines[0]
    assert x.feed(Reconnecting(1, 0.1, "connection lost"), 2.5)[0].startswith("reconnecting (attempt 1")
    assert not x.complete(input_ended=True)
    x.feed(Reconnected(1, 1, 0), 3)
    for event in (created("b"), words("b", "You said: hello"), audio("b", SECOND)):
        x.feed(event, 3)
    assert x.feed(done("b"), 4) == ["assistant: You said: hello"]
    assert x.complete(input_ended=True)
    assert x.report.audio == SECOND
    assert x.report.assistant_transcript == "You said: hello"


def test_an_interrupted_response_is_cut_where_the_listener_was() -> None:
    x = Exchange(RATE, realtime=True)
    turn(x, 0)
    x.feed(created("a"), 1.0)
    x.feed(audio("a", SECOND * 3), 1.0)  # three seconds arrive at once; playback starts at 1.0
    x.feed(ev.InputAudioBufferSpeechStarted(), 2.5)  # the user speaks 1.5 s into it
    x.feed(audio("a", SECOND), 2.6)  # arrives after the interruption: never heard
    lines = x.feed(done("a", "cancelled"), 2.7)
    assert lines == ["assistant: [interrupted after 1.5 s]"]
    assert len(x.report.audio) == int(1.5 * RATE) * 2
    assert not x.complete(input_ended=True)  # the interrupting turn still waits for its answer
    x.feed(ev.InputAudioBufferSpeechStopped(), 3.5)
    x.feed(ev.InputAudioBufferCommitted(item_id="u2"), 3.5)
    x.feed(created("b"), 3.6)
    x.feed(audio("b", SECOND), 3.6)
    assert not x.complete(input_ended=True)
    x.feed(done("b"), 4.0)
    assert x.complete(input_ended=True)
    assert len(x.report.audio) == int(1.5 * RATE) * 2 + len(SECOND)


def test_the_exchange_is_not_complete_before_the_input_ended_or_while_the_user_speaks() -> None:
    x = Exchange(RATE, realtime=False)
    turn(x, 0)
    x.feed(created("a"), 1)
    x.feed(audio("a", SECOND), 1)
    x.feed(done("a"), 2)
    assert not x.complete(input_ended=False)
    assert x.complete(input_ended=True)
    x.feed(ev.InputAudioBufferSpeechStarted(), 3)
    assert not x.complete(input_ended=True)
    x.feed(ev.InputAudioBufferSpeechStopped(), 4)
    assert not x.complete(input_ended=True)  # a second turn, not answered yet


def test_a_commit_without_speech_events_is_a_turn_and_speech_stopped_plus_commit_is_one() -> None:
    x = Exchange(RATE, realtime=False)
    turn(x, 0)
    assert x.turns == 1
    x.feed(ev.InputAudioBufferCommitted(item_id="manual"), 5)
    assert x.turns == 2
    assert x.heard_nothing() is False
    assert Exchange(RATE, realtime=False).heard_nothing()


def test_only_the_client_giving_up_gives_up() -> None:
    """How many reconnects are too many is the client's call (flaps included); the exchange follows it."""
    x = Exchange(RATE, realtime=False)
    for attempt in range(1, 20):
        assert x.feed(Reconnecting(attempt, 0.1, "connection lost"), attempt) == [
            f"reconnecting (attempt {attempt}, in 0.1 s): connection lost"]
        x.feed(Reconnected(attempt, 0, 0), attempt + 0.5)
        assert x.gave_up is None and not x.reconnecting
    assert x.report.reconnects == 19
    y = Exchange(RATE, realtime=False)
    y.feed(ReconnectFailed("HandshakeError: 503"), 0)
    assert y.gave_up == "HandshakeError: 503"


def test_speech_after_a_reply_was_heard_whole_cuts_nothing() -> None:
    x = Exchange(RATE, realtime=True)
    turn(x, 0)
    x.feed(created("a"), 1.0)
    x.feed(words("a", "Sunny."), 1.0)
    x.feed(audio("a", SECOND), 1.0)
    x.feed(ev.InputAudioBufferSpeechStarted(), 2.5)  # the second of audio was over at 2.0
    assert x.feed(done("a"), 2.6) == ["assistant: Sunny."]
    assert x.report.audio == SECOND


def test_speech_before_any_audio_means_none_of_it_is_heard() -> None:
    x = Exchange(RATE, realtime=True)
    turn(x, 0)
    x.feed(created("a"), 1.0)
    x.feed(words("a", "Once upon"), 1.0)
    x.feed(ev.InputAudioBufferSpeechStarted(), 1.1)
    x.feed(audio("a", SECOND), 1.2)  # the player had stopped: never heard
    assert x.feed(done("a", "cancelled"), 1.3) == ["assistant: Once upon [interrupted before it was heard]"]
    assert x.report.audio == b"" and x.report.replies == []


def test_a_fault_in_the_sender_is_raised_at_once_not_taken_for_no_speech() -> None:
    class Silent:
        async def recv(self, timeout: float | None = None) -> None:
            await asyncio.sleep(timeout or 0)
            raise TimeoutError

    async def broken_sender() -> None:
        raise AttributeError("the client has no stream_audio")

    async def main() -> None:
        sender = asyncio.create_task(broken_sender())
        args = argparse.Namespace(wav=Path("question.wav"), timeout=30.0)
        async with asyncio.timeout(5):
            await _converse(Silent(), Exchange(RATE, realtime=False), sender, args, io.StringIO(), 4.0)

    with pytest.raises(AttributeError, match="stream_audio"):
        asyncio.run(main())
