"""The connection's states and the one table of transitions between them."""

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
    CLOSING = "closing"
    DISCONNECTED = "disconnected"
    FAILED = "failed"


S = ConnectionState
#: States with an upgraded WebSocket that can carry frames.
OPEN_STATES = frozenset({S.AWAITING_SESSION, S.CONFIGURING, S.READY, S.RESPONDING})
#: States in which client events go straight out.
SENDING_STATES = frozenset({S.READY, S.RESPONDING})
#: States in which the socket is over (an adapter stops feeding it; ``connect()`` may start another).
ENDED_STATES = frozenset({S.CLOSED, S.DISCONNECTED, S.FAILED})
#: States in which client events are held until the (next) session is configured.
HOLDING_STATES = frozenset({S.CONNECTING, S.AWAITING_SESSION, S.CONFIGURING, S.DISCONNECTED, S.FAILED})


class Transition(TypedDict):
    trigger: str
    source: list[ConnectionState]
    dest: ConnectionState
    sends: str


_OPEN = [S.AWAITING_SESSION, S.CONFIGURING, S.READY, S.RESPONDING]

TRANSITIONS: list[Transition] = [
    {"trigger": "connect", "source": [S.CLOSED, S.DISCONNECTED, S.FAILED], "dest": S.CONNECTING,
     "sends": "the HTTP upgrade request"},
    {"trigger": "upgraded", "source": [S.CONNECTING], "dest": S.AWAITING_SESSION, "sends": ""},
    {"trigger": "session_created", "source": [S.AWAITING_SESSION], "dest": S.CONFIGURING,
     "sends": "session.update with the configured SessionProperties"},
    {"trigger": "session_updated", "source": [S.CONFIGURING], "dest": S.READY,
     "sends": "history replay, the uncommitted user audio, then every held client event in order"},
    {"trigger": "response_created", "source": [S.READY], "dest": S.RESPONDING, "sends": ""},
    {"trigger": "response_done", "source": [S.RESPONDING], "dest": S.READY, "sends": ""},
    {"trigger": "close", "source": list(_OPEN), "dest": S.CLOSING, "sends": "a close frame"},
    {"trigger": "close", "source": [S.CONNECTING, S.DISCONNECTED, S.FAILED], "dest": S.CLOSED, "sends": ""},
    {"trigger": "remote_closed", "source": list(_OPEN), "dest": S.CLOSED, "sends": "the close frame echoed"},
    {"trigger": "close_complete", "source": [S.CLOSING], "dest": S.CLOSED, "sends": ""},
    {"trigger": "dropped", "source": [S.CONNECTING, *_OPEN], "dest": S.DISCONNECTED,
     "sends": "the close frame echoed, when there was one"},
    {"trigger": "dropped", "source": [S.CLOSING], "dest": S.CLOSED, "sends": ""},
    {"trigger": "fail", "source": [S.CONNECTING, *_OPEN, S.CLOSING], "dest": S.FAILED,
     "sends": "a close frame with the WebSocket error code, when the socket was upgraded"},
]


def table_as_data() -> dict[str, object]:
    """The state table as JSON-ready data (what ``spec/states.json`` holds)."""
    return {
        "initial": S.CLOSED.value,
        "states": [s.value for s in ConnectionState],
        "transitions": [
            {"trigger": t["trigger"], "source": [s.value for s in t["source"]], "dest": t["dest"].value,
             "sends": t["sends"]}
            for t in TRANSITIONS
        ],
    }
