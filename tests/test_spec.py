"""spec/ is checked against the core: every example parses, the state table matches, every scenario replays as bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from inworld_realtime.protocol import ConnectionState, RealtimeConnection, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.server import ServerConnection
from inworld_realtime.protocol.states import table_as_data
from spec.examples import CLIENT, SERVER
from spec.generate_states import states_json, states_md

SPEC = Path(__file__).resolve().parents[1] / "spec"
CLIENT_FILES = sorted((SPEC / "events" / "client").glob("*.json"))
SERVER_FILES = sorted((SPEC / "events" / "server").glob("*.json"))
SCENARIOS = sorted((SPEC / "scenarios").glob("*.jsonl"))


def test_there_is_an_example_for_every_event_type() -> None:
    client_types = {cls.model_fields["type"].default for cls in ev.ClientEvent.__subclasses__()}
    assert {p.stem for p in CLIENT_FILES} == client_types == set(CLIENT)
    server_names = {p.stem for p in SERVER_FILES}
    assert set(ev.SERVER_EVENT_TYPES) | set(ev.BETA_EVENT_NAMES) | {"untyped.errorType"} == server_names
    assert set(SERVER) | {"untyped.errorType"} == server_names


@pytest.mark.parametrize("path", CLIENT_FILES, ids=lambda p: p.stem)
def test_client_examples_parse_and_round_trip(path: Path) -> None:
    text = path.read_text()
    event = ev.parse_client_event(text)
    assert event.type == path.stem
    again = ev.parse_client_event(event.to_json())
    assert again == event
    assert json.loads(event.to_json()) == json.loads(text)  # nothing lost, nothing added


@pytest.mark.parametrize("path", SERVER_FILES, ids=lambda p: p.stem)
def test_server_examples_parse_into_their_models(path: Path) -> None:
    event = ev.parse_server_event(path.read_text())
    if path.stem == "untyped.errorType":
        assert isinstance(event, ev.UntypedServerMessage) and event.error_type == "SESSION_RESOURCES_EXHAUSTED"
        return
    ga = ev.BETA_EVENT_NAMES.get(path.stem, path.stem)
    assert isinstance(event, ev.SERVER_EVENT_TYPES[ga])
    assert event.type == ga


def test_state_table_in_spec_is_the_one_in_the_code() -> None:
    assert json.loads((SPEC / "states.json").read_text()) == table_as_data()
    assert (SPEC / "states.json").read_text() == states_json(), "run python -m spec.generate_states"
    assert (SPEC / "STATES.md").read_text() == states_md(), "run python -m spec.generate_states"


def is_subset(expected: Any, actual: Any) -> bool:
    """Every field the scenario names is on the wire with that value (event ids aside)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and is_subset(v, actual[k]) for k, v in expected.items() if k != "event_id")
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            is_subset(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual)


class Replay:
    """Feeds a scenario to a RealtimeConnection as WebSocket bytes, cut into pieces by ``split``."""

    def __init__(self, meta: dict[str, Any], rng: random.Random | None) -> None:
        self.conn = RealtimeConnection("spec-key", SessionProperties.model_validate(meta.get("session", {})),
                                       url="ws://127.0.0.1:1/s", chunk_ms=meta.get("chunk_ms", 60))
        self.rng = rng
        self.seen: list[Any] = []
        self.sent: list[dict[str, Any]] = []
        self.server = ServerConnection()

    def handshake(self) -> None:
        if self.conn.state is not ConnectionState.CONNECTING:
            self.conn.connect()
        self.server = ServerConnection()
        self.server.receive_request(self.conn.data_to_send())
        self.server.accept()
        self.feed(self.server.data_to_send())

    def feed(self, data: bytes) -> None:
        if self.rng is None:
            self.conn.receive_data(data)
        else:
            i = 0
            while i < len(data):
                n = self.rng.randint(1, 64) if self.rng.random() < 0.8 else 1
                self.conn.receive_data(data[i : i + n])
                i += n
        self.seen += list(self.conn.events())

    def collect(self) -> None:
        decoder = ServerConnection(upgraded=True)
        data = self.conn.data_to_send()
        if data:
            decoder.receive_data(data)
        self.sent += [json.loads(e.to_json()) for e in decoder.events() if isinstance(e, ev.ClientEvent)]

    def expect_sent(self, expected: dict[str, Any] | None) -> None:
        self.collect()
        if expected is None:
            assert self.sent == [], f"nothing should be sent, got {self.sent}"
            return
        assert self.sent, f"expected {expected['type']} on the wire, nothing was sent"
        actual = self.sent.pop(0)
        assert is_subset(expected, actual), f"expected {expected}\n     got {actual}"


def run(path: Path, rng: random.Random | None) -> Replay:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    replay = Replay(lines[0]["meta"], rng)
    replay.conn.connect()
    replay.handshake()
    for line in lines[1:]:
        kind = line.get("dir")
        if kind == "server":
            if "event" in line:
                replay.server.send(json.dumps(line["event"]))
            elif "raw" in line:
                replay.server.send(line["raw"])
            if line.get("eof"):
                replay.conn.receive_data(b"")
                replay.seen += list(replay.conn.events())
            else:
                replay.feed(replay.server.data_to_send())
        elif kind == "client":
            if "call" in line:
                getattr(replay.conn, line["call"])(**line["args"])
                replay.expect_sent(line["sends"])
                continue
            if not line.get("auto"):
                replay.conn.send(ev.parse_client_event(json.dumps(line["event"])))
            if line.get("held"):
                replay.collect()
                assert replay.sent == []
            else:
                replay.expect_sent(line["event"])
        elif kind == "reconnect":
            replay.collect()
            replay.sent.clear()
            replay.handshake()
        elif kind == "expect":
            check(replay, line)
    replay.collect()
    assert replay.sent == [], f"unexpected client events: {replay.sent}"
    return replay


def check(replay: Replay, line: dict[str, Any]) -> None:
    conn = replay.conn
    assert conn.state.value == line["state"]
    if "emitted" in line:
        names = [type(e).__name__ for e in replay.seen]
        assert names[-len(line["emitted"]):] == line["emitted"], names
    if "held" in line:
        assert len(conn._layer.outbox) == line["held"]
    if "pcm_bytes" in line:
        pcm = sum(len(e.pcm) for e in replay.seen if isinstance(e, ev.ResponseOutputAudioDelta))
        assert pcm == line["pcm_bytes"]
    if "history" in line:
        history = [[t.item.role, t.text] for t in conn.conversation.items.values()]
        assert history == line["history"]
    if "function_call" in line:
        done = [e for e in replay.seen if isinstance(e, ev.ResponseFunctionCallArgumentsDone)][-1]
        assert {"call_id": done.call_id, "name": done.name, "arguments": done.arguments} == line["function_call"]
    if "pending_calls" in line:
        assert list(conn.conversation.function_calls) == line["pending_calls"]
    replay.seen.clear()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("split", ["whole", "one-byte", "random-1", "random-2"])
def test_scenario_replays_through_the_core(path: Path, split: str) -> None:
    rng = None if split == "whole" else random.Random(split)
    replay = run(path, rng) if split != "one-byte" else run_one_byte(path)
    assert replay.conn.state is not ConnectionState.FAILED


def run_one_byte(path: Path) -> Replay:
    class OneByte(random.Random):
        def randint(self, a: int, b: int) -> int:
            return 1

    return run(path, OneByte())


def test_there_are_at_least_five_scenarios() -> None:
    assert len(SCENARIOS) >= 5
