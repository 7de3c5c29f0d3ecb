"""The API key never shows up in logs, reprs, exception messages or event dumps, even through faults."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from inworld_realtime.emulator import EmulatorOptions, EmulatorThread, Faults, ScriptedBrain
from inworld_realtime.io_adapters import ConnectError
from inworld_realtime.protocol import HandshakeError, RealtimeConnection, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ConversationItem
from tests.client_harness import driver

SECRET = "c2stbGl2ZS1WRVJZLVNFQ1JFVC1LRVk6c2hoaGhoLWRvbnQtdGVsbA=="
FAST = {"connect_timeout": 2.0, "backoff_initial": 0.02, "backoff_max": 0.1, "keepalive_timeout": 5.0,
        "ping_interval": 0.5}


def dump(thing: Any) -> str:
    parts = [repr(thing), str(thing)]
    if hasattr(thing, "model_dump_json"):
        parts.append(thing.model_dump_json())
    return "\n".join(parts)


@pytest.mark.parametrize("adapter", ["asyncio", "blocking"])
def test_a_full_session_with_faults_never_reveals_the_key(adapter: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    faults = Faults(drop_after=5, first_connections=1, malformed_after=3)
    options = EmulatorOptions(api_key=SECRET, brain=ScriptedBrain(replies=["Sure."] * 4), pace=0, faults=faults)
    with EmulatorThread(options) as emu, \
            driver(adapter, SECRET, SessionProperties(output_modalities=["text"]), emu.url, **FAST) as d:
        d.call("connect")
        seen.append(dump(d.client))
        seen.append(dump(d.client.connection))
        d.call("send", ev.ConversationItemCreate(item=ConversationItem.user_text("hi")))
        d.call("create_response")
        while True:
            event = d.next_event(8)
            seen.append(dump(event))
            if isinstance(event, ev.ResponseDone) and event.response.status == "completed":
                break
        seen += [dump(s) for s in emu.sessions]
    with EmulatorThread(EmulatorOptions(api_key="another-key")) as emu, \
            driver(adapter, SECRET, None, emu.url, **FAST) as d:
        with pytest.raises(HandshakeError) as info:
            d.call("connect")
        seen.append(dump(info.value))
        seen.append(repr(info.value.headers))
    with driver(adapter, SECRET, None, "ws://127.0.0.1:9/s", **FAST) as d:
        with pytest.raises(ConnectError) as refused:
            d.call("connect")
        seen.append(dump(refused.value))
    seen += [r.getMessage() for r in caplog.records]
    seen.append(caplog.text)
    assert seen and all(SECRET not in text for text in seen)
    assert all(SECRET[:20] not in text for text in seen)


def test_the_core_hides_the_key_in_its_repr_and_errors() -> None:
    conn = RealtimeConnection(SECRET, url="ws://127.0.0.1:1/s")
    conn.connect()
    assert SECRET not in repr(conn)
    assert SECRET in conn.data_to_send().decode()  # only on the wire, in the Authorization header
    assert SECRET not in repr(vars(conn))  # once sent, no attribute shows it
