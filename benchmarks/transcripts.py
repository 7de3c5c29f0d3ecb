"""Microseconds per user-transcript delta through the whole core, rolling vs additive, by how long the turn is.

Each figure is frame bytes in to a ``transcript_so_far`` out, for the last delta of a user turn whose
transcript so far has the given length, so it shows whether a delta costs more as the turn (or the
conversation) grows. The view's memory after many turns is printed too.

Run: python -m benchmarks.transcripts
"""

from __future__ import annotations

import json
import statistics
import time

from inworld_realtime.protocol.server import ServerConnection

from .core_receive import ready_connection

N = 3000
REPEATS = 5
LENGTHS = (20, 200, 2000)


def _frame(server: ServerConnection, item_id: str, delta: str) -> bytes:
    server.send(json.dumps({"type": "conversation.item.input_audio_transcription.delta", "event_id": "e",
                            "item_id": item_id, "content_index": 0, "delta": delta}))
    return server.data_to_send()


def _per_delta(shape: str, length: int) -> float:
    """Median microseconds for one delta of a turn already ``length`` characters long."""
    conn, server = ready_connection()
    words = ("word " * (length // 5 + 1))[:length]
    # teach the view its shape on a first turn, then hold a turn of ``length`` characters
    for d in (["hi", "hi there"] if shape == "rolling" else ["hi", " there"]):
        conn.receive_data(_frame(server, "warm", d))
    conn.receive_data(_frame(server, "turn", words))
    list(conn.events())
    frame = _frame(server, "turn", words + "x" if shape == "rolling" else "x")
    open_items = conn.conversation.user_transcripts._open
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(N):
            open_items["turn"] = words  # the turn stays at its length (both shapes pay this store)
            conn.receive_data(frame)
            for event in conn.events():
                text = event.transcript_so_far  # type: ignore[union-attr]
        runs.append((time.perf_counter() - start) / N * 1e6)
    assert text == words + "x"
    return statistics.median(runs)


def main() -> dict[str, float]:
    figures: dict[str, float] = {}
    print(f"{'shape':10} {'turn length (chars)':>20} {'us per delta':>14}")
    for shape in ("rolling", "additive"):
        for length in LENGTHS:
            us = _per_delta(shape, length)
            figures[f"{shape}_{length}"] = us
            print(f"{shape:10} {length:>20} {us:>14.1f}")
    conn, server = ready_connection()
    for turn in range(2000):  # 2000 turns whose transcription never completes, 12 rolling deltas each
        for n in range(1, 13):
            conn.receive_data(_frame(server, f"item_{turn}", "word " * n))
        list(conn.events())
    view = conn.conversation.user_transcripts
    held = sum(len(t) for t in view._open.values())
    figures["open_items_after_2000_turns"] = len(view)
    figures["chars_held_after_2000_turns"] = held
    print(f"after 2000 never-completed turns: {len(view)} items open, {held} characters held")
    return figures


if __name__ == "__main__":
    main()
