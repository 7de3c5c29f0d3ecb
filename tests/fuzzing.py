"""Hypothesis strategies for hostile server byte streams, shared by the CI properties and the long campaign."""

from __future__ import annotations

import json
import os
import struct

from hypothesis import strategies as st

from inworld_realtime.protocol import RealtimeConnection
from inworld_realtime.protocol import events as ev
from tests.core_helpers import ready

MAX_MESSAGE = 8192


def raw_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = False) -> bytes:
    """One WebSocket frame built by hand, so it can break any rule."""
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(head) + payload


def ready_connection() -> RealtimeConnection:
    """A connection past session.updated, with a small message limit."""
    return ready(MAX_MESSAGE, api_key="fuzz-key")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
event_types = st.sampled_from([*ev.SERVER_EVENT_TYPES, *ev.BETA_EVENT_NAMES, "x.unknown", ""])
json_messages = st.builds(
    lambda kind, body: json.dumps({"type": kind, **body} if isinstance(body, dict) else body),
    event_types, json_values | st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)

_valid_text = json_messages.map(lambda text: raw_frame(0x1, text.encode()))
_bad_utf8 = st.binary(min_size=1, max_size=40).map(lambda b: raw_frame(0x1, b"\xff\xfe" + b))
_masked = json_messages.map(lambda text: raw_frame(0x1, text.encode(), mask=True))
_reserved_opcode = st.tuples(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]), st.binary(max_size=20)).map(
    lambda t: raw_frame(t[0], t[1]))
_big_control = st.sampled_from([0x8, 0x9, 0xA]).map(lambda op: raw_frame(op, b"x" * 126))
_fragmented_control = st.sampled_from([0x9, 0xA]).map(lambda op: raw_frame(op, b"ping", fin=False))
_rsv = st.integers(1, 7).map(lambda r: raw_frame(0x1, b'{"type":"ping"}', rsv=r))
_fragments = st.lists(st.binary(max_size=50), min_size=1, max_size=5).map(
    lambda parts: b"".join(raw_frame(0x1 if i == 0 else 0x0, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)))
_orphan_continuation = st.binary(max_size=20).map(lambda b: raw_frame(0x0, b))
_oversized = st.integers(MAX_MESSAGE + 1, MAX_MESSAGE * 4).map(lambda n: raw_frame(0x1, b"a" * n))
_binary = st.binary(max_size=64).map(lambda b: raw_frame(0x2, b))
_ping = st.binary(max_size=125).map(lambda b: raw_frame(0x9, b))
_close = st.tuples(st.integers(0, 5000), st.text(max_size=20)).map(
    lambda t: raw_frame(0x8, struct.pack("!H", t[0]) + t[1].encode()))

frames = st.one_of(_valid_text, _bad_utf8, _masked, _reserved_opcode, _big_control, _fragmented_control, _rsv,
                   _fragments, _orphan_continuation, _oversized, _binary, _ping, _close, st.binary(max_size=64))
streams = st.lists(frames, min_size=1, max_size=12).map(b"".join)
