"""The connection's states and the tables of what moves between them and what each move does.

Each transition names its work: ``conditions``/``unless`` choose between rows of one trigger,
``before``/``after`` are methods of the session layer (``inworld_realtime.protocol.session_layer.SessionLayer``) that
send, hold, release, replay or report. Triggers the tables do not list are refused by the machine.
Audio and transcript deltas never go through a trigger (a trigger costs about 25 us).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict


class ConnectionState(StrEnum):
    """Where a ``RealtimeConnection`` stands."""

    CLOSED = "closed"
    CONNECTING = "connecting"
    AWAITING_SESSION = "awaiting_session"
    CONFIGURING = "configuring"
    READY = "ready"
    RESPONDING = "responding"
    EXPIRING = "expiring"
    CLOSING = "closing"
    DISCONNECTED = "disconnected"
    FAILED = "failed"


class TurnState(StrEnum):
    """Where the user's current turn stands, as the server's turn detection reports it."""

    SILENT = "silent"
    SPEAKING = "speaking"
    STOPPED = "stopped"


S = ConnectionState
T = TurnState
#: States with an upgraded WebSocket that can carry frames.
OPEN_STATES = frozenset({S.AWAITING_SESSION, S.CONFIGURING, S.READY, S.RESPONDING, S.EXPIRING})
#: States in which client events go straight out.
SENDING_STATES = frozenset({S.READY, S.RESPONDING})
#: States in which the socket is over (an adapter stops feeding it; ``connect()`` may start another).
ENDED_STATES = frozenset({S.CLOSED, S.DISCONNECTED, S.FAILED})
#: States in which client events are held until the (next) session is configured.
HOLDING_STATES = frozenset({S.CONNECTING, S.AWAITING_SESSION, S.CONFIGURING, S.EXPIRING, S.DISCONNECTED, S.FAILED})


class Transition(TypedDict, total=False):
    trigger: str
    source: list[ConnectionState] | list[TurnState]
    dest: ConnectionState | TurnState | None  # None: an internal transition (the state stays)
    conditions: list[str]
    unless: list[str]
    before: list[str]
    after: list[str]


_OPEN = [S.AWAITING_SESSION, S.CONFIGURING, S.READY, S.RESPONDING]
_HOLDING_UNCONFIGURED = [S.CONNECTING, S.AWAITING_SESSION, S.DISCONNECTED, S.FAILED]
_ANSWERED = ["abort_response"]  # a response cut off is owed again on the next session

TRANSITIONS: list[Transition] = [
    {"trigger": "connect", "source": [S.CLOSED, S.DISCONNECTED, S.FAILED], "dest": S.CONNECTING,
     "after": ["send_upgrade_request"]},
    {"trigger": "upgraded", "source": [S.CONNECTING], "dest": S.AWAITING_SESSION, "after": ["report_connected"]},
    {"trigger": "session_created", "source": [S.AWAITING_SESSION], "dest": S.CONFIGURING,
     "after": ["send_session_update"]},
    {"trigger": "session_updated", "source": [S.CONFIGURING], "dest": S.READY, "conditions": ["resuming"],
     "after": ["replay_history", "replay_turn_audio", "owe_unanswered_turn", "release_held", "report_configured"]},
    {"trigger": "session_updated", "source": [S.CONFIGURING], "dest": S.READY,
     "after": ["release_held", "report_configured"]},
    {"trigger": "response_created", "source": [S.READY], "dest": S.RESPONDING},
    {"trigger": "response_done", "source": [S.RESPONDING], "dest": S.READY},
    {"trigger": "session_expired", "source": [*_OPEN], "dest": S.EXPIRING},
    # What the caller sends: out at once, held for the next configured session, or merged into it.
    {"trigger": "send", "source": [S.READY, S.RESPONDING], "dest": None, "before": ["apply_event"],
     "after": ["write_event"]},
    {"trigger": "send", "source": [S.CONFIGURING], "dest": None, "conditions": ["is_session_update"],
     "before": ["apply_event"], "after": ["write_event"]},
    {"trigger": "send", "source": [*_HOLDING_UNCONFIGURED, S.EXPIRING], "dest": None,
     "conditions": ["is_session_update"], "before": ["apply_event"]},
    {"trigger": "send", "source": [*_HOLDING_UNCONFIGURED, S.CONFIGURING, S.EXPIRING], "dest": None,
     "before": ["apply_event"], "after": ["hold_event"]},
    {"trigger": "close", "source": [*_OPEN, S.EXPIRING], "dest": S.CLOSING, "after": ["send_close", "discard_held"]},
    {"trigger": "close", "source": [S.CONNECTING, S.DISCONNECTED, S.FAILED], "dest": S.CLOSED,
     "after": ["discard_held"]},
    {"trigger": "close", "source": [S.CLOSED, S.CLOSING], "dest": None, "after": ["discard_held"]},
    {"trigger": "closed_by_server", "source": _OPEN, "dest": S.CLOSED, "conditions": ["normal_closure"],
     "before": _ANSWERED, "after": ["discard_held", "report_closed"]},
    {"trigger": "closed_by_server", "source": [*_OPEN, S.EXPIRING], "dest": S.DISCONNECTED, "before": _ANSWERED,
     "after": ["report_dropped"]},
    {"trigger": "closed_by_server", "source": [S.CLOSING], "dest": S.CLOSED, "after": ["report_closed"]},
    {"trigger": "dropped", "source": [S.CONNECTING, *_OPEN, S.EXPIRING], "dest": S.DISCONNECTED,
     "before": _ANSWERED, "after": ["report_dropped"]},
    {"trigger": "dropped", "source": [S.CLOSING], "dest": S.CLOSED, "after": ["report_dropped"]},
    {"trigger": "fail", "source": [S.CONNECTING, *_OPEN, S.EXPIRING, S.CLOSING], "dest": S.FAILED,
     "before": _ANSWERED},
]

#: The user's turn: where server VAD put the end of speech decides what a commit takes.
TURN_TRANSITIONS: list[Transition] = [
    {"trigger": "speech_started", "source": [T.SILENT, T.SPEAKING, T.STOPPED], "dest": T.SPEAKING},
    {"trigger": "speech_stopped", "source": [T.SILENT, T.SPEAKING, T.STOPPED], "dest": T.STOPPED,
     "before": ["mark_commit_point"]},
    {"trigger": "committed", "source": [T.SILENT, T.SPEAKING, T.STOPPED], "dest": T.SILENT,
     "before": ["take_committed_audio"]},
    {"trigger": "cleared", "source": [T.SILENT, T.SPEAKING, T.STOPPED], "dest": T.SILENT,
     "before": ["forget_turn_audio"]},
    {"trigger": "new_socket", "source": [T.SILENT, T.SPEAKING, T.STOPPED], "dest": T.SILENT,
     "before": ["restart_turn_count"]},
]


def _rows(table: list[Transition]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for t in table:
        dest = t["dest"]
        row: dict[str, object] = {"trigger": t["trigger"], "source": [s.value for s in t["source"]],
                                  "dest": dest.value if dest is not None else None}
        for key in ("conditions", "unless", "before", "after"):
            if t.get(key):
                row[key] = list(t[key])  # type: ignore[literal-required]
        rows.append(row)
    return rows


def table_as_data() -> dict[str, object]:
    """The state tables as JSON-ready data (what ``spec/states.json`` holds)."""
    return {
        "initial": S.CLOSED.value,
        "states": [s.value for s in ConnectionState],
        "open": sorted(s.value for s in OPEN_STATES),
        "sending": sorted(s.value for s in SENDING_STATES),
        "holding": sorted(s.value for s in HOLDING_STATES),
        "transitions": _rows(TRANSITIONS),
        "turn": {"initial": T.SILENT.value, "states": [s.value for s in TurnState],
                 "transitions": _rows(TURN_TRANSITIONS)},
    }
