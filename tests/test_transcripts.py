"""The core's view of the user's words: rolling-rewrite deltas (Inworld) and additive ones (OpenAI) alike."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inworld_realtime.protocol import RealtimeConnection
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.transcripts import MAX_OPEN_ITEMS, UserTranscripts
from tests.core_helpers import configured, deliver, pump

ITEM = "item_user_1"
#: Inworld's shape (Mastra, Inworld's apps): every delta is the whole transcript so far, sent while the
#: user speaks, and a later one may rewrite words an earlier one had ("whether" -> "weather").
ROLLING = ["what", "what is", "what is the", "what is the whether", "what is the weather in",
           "what is the weather in Paris"]
ROLLING_FINAL = "What is the weather in Paris?"
#: OpenAI's shape: additive pieces.
ADDITIVE = ["what", " is", " the", " weather", " in", " Paris"]


def rolling_stream(item_id: str = ITEM, final: bool = True) -> list[dict[str, Any]]:
    """The server events of one spoken turn with rolling deltas, some before the user stops speaking."""
    deltas = [{"type": "conversation.item.input_audio_transcription.delta", "item_id": item_id,
               "content_index": 0, "delta": d} for d in ROLLING]
    events: list[dict[str, Any]] = [
        {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": item_id},
        *deltas[:3],
        {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1800, "item_id": item_id},
        {"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None},
        {"type": "conversation.item.added", "previous_item_id": None,
         "item": {"id": item_id, "type": "message", "role": "user",
                  "content": [{"type": "input_audio", "transcript": None}]}},
        *deltas[3:],
    ]
    if final:
        events.append({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                       "content_index": 0, "transcript": ROLLING_FINAL})
    return [{"event_id": f"event_{n}", **e} for n, e in enumerate(events)]


def replay(conn: RealtimeConnection, events: list[dict[str, Any]]) -> list[ev.Event]:
    import json

    server = configured(conn)
    pump(conn, server)
    list(conn.events())
    return deliver(conn, server, *(json.dumps(e) for e in events))


def so_far(events: list[ev.Event]) -> list[str]:
    return [e.transcript_so_far for e in events if isinstance(e, ev.InputAudioTranscriptionDelta)]


# ---------------------------------------------------------------- the rule


def feed(view: UserTranscripts, deltas: list[str], item_id: str = ITEM) -> list[str | None]:
    return [view.delta(item_id, d) for d in deltas]


def test_rolling_rewrites_replace_and_may_revise_words() -> None:
    view = UserTranscripts()
    assert feed(view, ROLLING) == ROLLING
    assert view.shape == "rolling" and view.get(ITEM) == "what is the weather in Paris"


def test_additive_pieces_are_joined() -> None:
    view = UserTranscripts()
    assert feed(view, ADDITIVE)[-1] == "what is the weather in Paris"
    assert view.shape == "additive"


def test_a_rewrite_that_shares_no_prefix_is_still_rolling_once_the_session_is_known() -> None:
    view = UserTranscripts()
    feed(view, ["hi", "hi there"], "first")
    assert feed(view, ["I", "Hi, I think"], "second") == ["I", "Hi, I think"]


def test_a_rewrite_that_changes_case_is_rolling() -> None:
    view = UserTranscripts()
    assert feed(view, ["what", "What is", "What is the"]) == ["what", "What is", "What is the"]
    assert view.shape == "rolling"


def test_an_unclear_piece_is_appended_and_teaches_nothing() -> None:
    """Inworld's apps append what they cannot place; the view does too, and waits for clearer evidence."""
    view = UserTranscripts()
    assert feed(view, ["I", "Hi, I think"]) == ["I", "IHi, I think"]
    assert view.shape is None
    assert feed(view, ["what", " is"], "second") == ["what", "what is"] and view.shape == "additive"


def test_an_empty_first_delta_teaches_nothing() -> None:
    view = UserTranscripts()
    assert feed(view, ["", "what", " is"]) == ["", "what", "what is"] and view.shape == "additive"


def test_a_stale_shorter_snapshot_keeps_the_text() -> None:
    view = UserTranscripts()
    assert feed(view, ["hello there", "hello"]) == ["hello there", "hello there"]


def test_completed_wins_and_a_late_delta_changes_nothing() -> None:
    view = UserTranscripts()
    feed(view, ROLLING[:2])
    view.completed(ITEM)
    assert view.get(ITEM) is None and view.delta(ITEM, "what is it") is None


def test_the_view_is_bounded() -> None:
    view = UserTranscripts()
    for n in range(MAX_OPEN_ITEMS * 4):  # items whose transcription never completes
        view.delta(f"item_{n}", "words " * 3)
        view.completed(f"done_{n}")
    assert len(view) == MAX_OPEN_ITEMS and len(view._closed) == MAX_OPEN_ITEMS
    view.clear()
    assert len(view) == 0 and view.shape is None


@given(st.lists(st.text(alphabet="abc ", min_size=1, max_size=6), min_size=1, max_size=12))
def test_rolling_text_is_never_longer_than_the_latest_snapshot(words: list[str]) -> None:
    """Rolling deltas built from growing snapshots: the view holds the last one, never a concatenation."""
    snapshots = ["".join(words[: i + 1]) for i in range(len(words))]
    view = UserTranscripts()
    out = feed(view, snapshots)
    assert out[-1] == snapshots[-1]


@given(st.lists(st.sampled_from([" is", " the", " weather", ",", " Paris", "?"]), min_size=1, max_size=12))
def test_additive_pieces_after_a_first_word_are_joined(pieces: list[str]) -> None:
    view = UserTranscripts()
    out = feed(view, ["what", *pieces])
    assert out[-1] == "what" + "".join(pieces)


# ---------------------------------------------------------------- through the core


def test_rolling_stream_through_the_core() -> None:
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    events = replay(conn, rolling_stream())
    assert so_far(events) == ROLLING
    assert conn.conversation.transcript(ITEM) == ROLLING_FINAL
    assert len(conn.conversation.user_transcripts) == 0  # nothing kept once the item completed
    # the completed user turn is replayed by its words after a reconnect
    [user] = [i for i in conn.conversation.replay_items() if i.role == "user"]
    assert user.content is not None and user.content[0].text == ROLLING_FINAL


def test_transcript_so_far_while_the_user_speaks() -> None:
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    replay(conn, rolling_stream(final=False)[:4])  # speech_started and three deltas
    assert conn.conversation.transcript(ITEM) == "what is the"


def test_additive_stream_through_the_core() -> None:
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    events = replay(conn, [{"type": "conversation.item.input_audio_transcription.delta", "item_id": ITEM,
                            "delta": d} for d in ADDITIVE])
    assert so_far(events)[-1] == "what is the weather in Paris"
    assert conn.conversation.transcript(ITEM) == "what is the weather in Paris"


@pytest.mark.parametrize("end", ["failed", "deleted"])
def test_a_failed_or_deleted_item_is_let_go(end: str) -> None:
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    last = ({"type": "conversation.item.input_audio_transcription.failed", "item_id": ITEM,
             "error": {"message": "no"}} if end == "failed" else
            {"type": "conversation.item.deleted", "item_id": ITEM})
    replay(conn, [*rolling_stream(final=False)[:3], last])
    assert len(conn.conversation.user_transcripts) == 0


def test_reset_forgets_the_learned_shape() -> None:
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    replay(conn, rolling_stream(final=False))
    assert conn.conversation.user_transcripts.shape == "rolling"
    conn.conversation.clear()
    assert conn.conversation.user_transcripts.shape is None and conn.conversation.transcript(ITEM) is None


def test_the_caller_sees_the_delta_it_was_sent() -> None:
    """``delta`` stays as the server sent it; ``transcript_so_far`` is the core's, and never goes on the wire."""
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    events = replay(conn, [{"type": "conversation.item.input_audio_transcription.delta", "item_id": ITEM,
                            "delta": d} for d in ["what", " is"]])
    deltas = [e for e in events if isinstance(e, ev.InputAudioTranscriptionDelta)]
    assert [d.delta for d in deltas] == ["what", " is"]
    assert "transcript_so_far" not in deltas[-1].to_wire()


# ---------------------------------------------------------------- through the CLI's exchange


def test_rolling_stream_through_the_cli() -> None:
    """The CLI shows the completed words once; a turn that fails shows the words heard so far, not a pile-up."""
    from inworld_realtime.io_adapters.cli import Exchange

    failed = [*rolling_stream("item_user_0", final=False),
              {"type": "conversation.item.input_audio_transcription.failed", "item_id": "item_user_0",
               "error": {"message": "the recognizer stopped"}}]
    conn = RealtimeConnection("test-key", url="ws://127.0.0.1:1/s")
    events = replay(conn, failed + rolling_stream())
    exchange = Exchange(24000, realtime=False)
    lines = [line for event in events for line in exchange.feed(event, 0.0)]
    assert lines == ["(the server could not transcribe your turn: the recognizer stopped)",
                     "you (partly heard): what is the weather in Paris",
                     f"you:       {ROLLING_FINAL}"]
    assert exchange.report.user_transcripts == ["what is the weather in Paris", ROLLING_FINAL]
    assert exchange.hearing == {}


def test_rolling_stream_through_the_cli_command() -> None:
    """``inworld-realtime talk`` as a user runs it, against a loopback server that sends rolling deltas."""
    import base64
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from tests.client_harness import Peer, ScriptedServer

    root = Path(__file__).resolve().parents[1]
    answer = base64.b64encode(bytes(4800)).decode()  # 100 ms of silence at 24 kHz
    response = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}},
        {"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_a", "output_index": 0,
         "content_index": 0, "delta": answer},
        {"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "item_id": "item_a",
         "output_index": 0, "content_index": 0, "delta": "It is sunny."},
        {"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}},
    ]
    failed = [*rolling_stream("item_user_0", final=False)[1:3],
              {"type": "conversation.item.input_audio_transcription.failed", "item_id": "item_user_0",
               "error": {"message": "the recognizer stopped"}}]

    async def script(peer: Peer) -> None:
        await peer.open_session()
        await peer.recv("input_audio_buffer.append", timeout=10)
        for event in [*failed, *rolling_stream(), *response]:
            await peer.send({"event_id": "e", **event})
        while True:
            await peer.recv(timeout=30)

    with ScriptedServer(script) as server, tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("INWORLD_API_KEY", "INWORLD_URL")}
        result = subprocess.run(
            [sys.executable, "-m", "inworld_realtime", "talk", str(root / "examples" / "question.wav"), "--out",
             str(Path(tmp) / "answer.wav"), "--fast", "--url", server.url, "--timeout", "20"],
            capture_output=True, text=True, env={**env, "INWORLD_API_KEY": "test-key", "PYTHONPATH": str(root)},
            timeout=60, cwd=root)
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("you")]
    assert shown == ["you (partly heard): what is", f"you:       {ROLLING_FINAL}"], result.stdout
    assert "assistant: It is sunny." in result.stdout
