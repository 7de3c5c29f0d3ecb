"""The whole-frame fast path gives what wsproto's decoder gives, for any slicing; other frames fall back to it."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import ParseFailed

from inworld_realtime.protocol import frames
from inworld_realtime.protocol.websocket import ClientWebSocket

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bytes | None = None,
          wide: int = 0) -> bytes:
    """A server frame; ``wide`` forces a 2- or 8-byte length (non-minimal when the payload is short)."""
    size = len(payload)
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    bit = 0x80 if mask else 0
    if wide == 8 or (not wide and size >= 65536):
        head = struct.pack("!BBQ", first, bit | 127, size)
    elif wide == 2 or size >= 126:
        head = struct.pack("!BBH", first, bit | 126, size)
    else:
        head = struct.pack("!BB", first, bit | size)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


class Outcome:
    """What a ClientWebSocket made of a byte stream."""

    def __init__(self, limit: int = 1 << 24) -> None:
        self.messages: list[tuple[bytes, bool]] = []
        self.closes: list[tuple[int, str]] = []
        self.out: list[Any] = []
        self.error: int | None = None
        self.ws = ClientWebSocket(self.out, self._message, self._close, limit)

    def _message(self, payload: Any, binary: bool) -> None:
        assert not self.closes, "a message after the close"
        self.messages.append((bytes(payload), binary))

    def _close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def feed(self, data: bytes, cuts: list[int]) -> Outcome:
        try:
            at = 0
            for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
                if self.closes:
                    break
                self.ws.receive_frames(memoryview(data[at:cut]) if cut % 2 else data[at:cut])
                at = cut
        except ParseFailed as exc:
            self.error = int(exc.code)
        return self

    def reference(self, data: bytes) -> Outcome:
        """wsproto's decoder alone, all at once: the decoder as it was before the fast path."""
        try:
            self.ws._slow(data)
        except ParseFailed as exc:
            self.error = int(exc.code)
        return self


payloads = st.binary(max_size=300) | st.sampled_from([bytes(range(256)) * 256 + b"tail", b"\xff" * 65535])
messages = st.tuples(st.booleans(), payloads, st.integers(1, 4))
controls = st.sampled_from([PING, PONG]).flatmap(lambda op: st.tuples(st.just(op), st.binary(max_size=125)))


@st.composite
def conversations(draw: st.DrawFn) -> tuple[bytes, list[tuple[bytes, bool]], int, int | None]:
    """Messages (some fragmented, with pings and pongs between fragments), maybe a close at the end."""
    stream, expected, pings = b"", [], 0
    for binary, payload, parts in draw(st.lists(messages, max_size=8)):
        opcode = BINARY if binary else TEXT
        step = max(1, -(-len(payload) // parts))
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        for index, piece in enumerate(pieces):
            stream += frame(opcode if index == 0 else CONT, piece, fin=index == len(pieces) - 1)
            if draw(st.booleans()):
                op, body = draw(controls)
                stream += frame(op, body)
                pings += op == PING
        expected.append((payload, binary))
    code = draw(st.none() | st.sampled_from([1000, 1001, 4000]))
    if code is not None:
        stream += frame(CLOSE, struct.pack("!H", code) + b"bye") + frame(TEXT, b"after the close")
    return stream, expected, pings, code


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(conversations(), st.lists(st.integers(0, 1 << 20), max_size=12))
def test_same_messages_as_wsproto_for_any_slicing(conversation: Any, cuts: list[int]) -> None:
    stream, expected, pings, code = conversation
    got = Outcome().feed(stream, cuts)
    assert got.error is None
    assert got.messages == expected == Outcome().reference(stream).messages
    assert len([f for f in got.out if f[0] == 0x8A]) == pings  # a PONG for every PING
    assert got.closes == ([] if code is None else [(code, "bye")])
    assert got.ws.message_bytes == 0


hostile_frames = st.one_of(
    st.builds(frame, st.sampled_from([TEXT, BINARY, CONT, CLOSE, PING, PONG, 0x3, 0xB]), st.binary(max_size=200),
              st.booleans(), st.integers(0, 7), st.none() | st.just(b"\x01\x02\x03\x04"), st.sampled_from([0, 2, 8])),
    st.binary(min_size=1, max_size=12),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_frames, max_size=6), st.lists(st.integers(0, 5000), max_size=8), st.integers(1, 300))
def test_hostile_streams_fail_as_wsproto_fails(parts: list[bytes], cuts: list[int], limit: int) -> None:
    """Control frames, fragments, reserved bits, masks, bad opcodes, non-minimal lengths: wsproto's verdict."""
    stream = b"".join(parts)
    got = Outcome(limit).feed(stream, cuts)
    want = Outcome(limit).reference(stream)
    if got.error == 1009 and want.error is None:  # the fast path refuses an oversized frame from its header
        assert got.messages == want.messages
        return
    assert (got.messages, got.error, got.closes) == (want.messages, want.error, want.closes)


def test_whole_data_frames_never_reach_wsproto() -> None:
    outcome = Outcome()
    fed: list[bytes] = []
    decoder = outcome.ws._decoder
    original = decoder.receive_bytes

    def spy(data: bytes) -> None:
        fed.append(bytes(data))
        original(data)

    decoder.receive_bytes = spy  # type: ignore[method-assign]
    stream = frame(TEXT, b'{"type": "x"}') + frame(BINARY, bytes(70000)) + frame(TEXT, b"a" * 200)
    outcome.feed(stream, [1, 3, 5, 100, 70010])
    assert fed == []
    assert [len(m) for m, _ in outcome.messages] == [13, 70000, 200]
    outcome.feed(frame(PING, b"hi") + frame(TEXT, b"z"), [])
    assert b"".join(fed) == frame(PING, b"hi")  # only the control frame, and nothing after it
    assert outcome.messages[-1] == (b"z", False)


def test_an_oversized_frame_is_refused_from_its_header() -> None:
    outcome = Outcome(limit=1000).feed(frame(TEXT, b"x" * 2000)[:8], [])
    assert outcome.error == 1009


@given(st.binary(max_size=5000), st.binary(min_size=4, max_size=4))
def test_masking_is_the_xor_with_the_repeated_key(payload: bytes, key: bytes) -> None:
    want = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert frames.mask_pure(payload, key) == want
    assert frames.mask(payload, key) == want  # the compiled path, when installed, agrees


def _unmask(frame_bytes: bytes) -> tuple[bytes, bytes]:
    """(key, payload) of a masked client frame with a 16-bit length or shorter."""
    size = frame_bytes[1] & 0x7F
    head = 2 if size < 126 else 4
    key = frame_bytes[head : head + 4]
    return key, frames.mask_pure(frame_bytes[head + 4 :], key)


def test_every_frame_gets_a_fresh_key() -> None:
    body = b'{"type":"input_audio_buffer.append","audio":"AAAA"}'
    made = [frames.text_frame(body) for _ in range(300)]
    assert all(_unmask(f)[1] == body for f in made)
    assert len({_unmask(f)[0] for f in made}) > 290  # 300 draws of 32 random bits: a repeat is possible


def test_without_the_compiled_masker_the_pure_one_is_used(monkeypatch: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "websockets.speedups", None)  # as if websockets were not installed
    assert frames._compiled_mask() is None
