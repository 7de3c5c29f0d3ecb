"""Write spec/states.json and spec/STATES.md from the tables in protocol/states.py: python -m spec.generate_states.

``tests/test_spec.py`` fails when either file differs from what this writes.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from inworld_realtime.protocol.session_layer import SessionLayer
from inworld_realtime.protocol.states import TRANSITIONS, TURN_TRANSITIONS, Transition, table_as_data

SPEC = Path(__file__).resolve().parent


def states_json() -> str:
    return json.dumps(table_as_data(), indent=2) + "\n"


def _cell(names: list[str] | None, prefix: str = "") -> str:
    return ", ".join(f"{prefix}`{n}`" for n in names or []) or "-"


def _table(rows: list[Transition]) -> list[str]:
    out = ["| trigger | from | to | when | does (before; after) |", "|---|---|---|---|---|"]
    for t in rows:
        dest = t["dest"]
        when = ", ".join([*(f"`{c}`" for c in t.get("conditions", [])), *(f"not `{c}`" for c in t.get("unless", []))])
        does = "; ".join(x for x in (_cell(t.get("before")), _cell(t.get("after"))) if x != "-") or "-"
        out.append(f"| `{t['trigger']}` | {', '.join(s.value for s in t['source'])} | "
                   f"{dest.value if dest is not None else '(stays)'} | {when or '-'} | {does} |")
    return out


def _glossary() -> list[str]:
    names = sorted({n for table in (TRANSITIONS, TURN_TRANSITIONS) for t in table
                    for key in ("conditions", "unless", "before", "after") for n in t.get(key, [])})  # type: ignore[attr-defined]
    lines = []
    for name in names:
        doc = inspect.getdoc(getattr(SessionLayer, name)) or ""
        lines.append(f"- `{name}`: {doc.splitlines()[0] if doc else ''}")
    return lines


def states_md() -> str:
    data = table_as_data()
    lines = [
        "# The connection's states",
        "",
        "Generated from `protocol/states.py` by `python -m spec.generate_states` (a test fails when this file or",
        "`states.json` is out of date). The tables are the behaviour: each row names the methods of",
        "`session_layer.SessionLayer` that run on it; a trigger no row allows is refused by the machine",
        "(`LocalProtocolError` for the caller's `connect`/`close`/`send`; a server event out of order is handed out",
        "and changes nothing). Audio and transcript deltas never go through a trigger.",
        "",
        f"Initial state: `{data['initial']}`. Open (a socket carries frames): {', '.join(data['open'])}"  # type: ignore[arg-type]
        f". Sends go straight out in {', '.join(data['sending'])}; they are held in "  # type: ignore[arg-type]
        f"{', '.join(data['holding'])}.",  # type: ignore[arg-type]
        "",
        "## Connection",
        "",
        *_table(TRANSITIONS),
        "",
        "## The user's turn (server turn detection)",
        "",
        *_table(TURN_TRANSITIONS),
        "",
        "## What the named methods do",
        "",
        *_glossary(),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    (SPEC / "states.json").write_text(states_json())
    (SPEC / "STATES.md").write_text(states_md())
