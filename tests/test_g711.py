"""The table-driven G.711 codec: exact against the ITU reference behaviour (audioop where it still exists)."""

from __future__ import annotations

import importlib
import struct
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inworld_realtime.protocol import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        audioop = importlib.import_module("audioop")
    except ImportError:  # Python 3.13+: no reference to compare against, the fixed points below still run
        audioop = None

ALL_SAMPLES = struct.pack("<65536h", *range(-32768, 32768))


@pytest.mark.skipif(audioop is None, reason="audioop was removed in Python 3.13")
def test_matches_audioop_for_every_16_bit_sample() -> None:
    assert audioop is not None
    assert g711.pcm16_to_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert g711.pcm16_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    codes = bytes(range(256))
    assert g711.ulaw_to_pcm16(codes) == audioop.ulaw2lin(codes, 2)
    assert g711.alaw_to_pcm16(codes) == audioop.alaw2lin(codes, 2)


def test_known_code_points() -> None:
    assert g711.pcm16_to_ulaw(struct.pack("<h", 0)) == b"\xff"
    assert g711.pcm16_to_alaw(struct.pack("<h", 0)) == b"\xd5"
    assert struct.unpack("<h", g711.ulaw_to_pcm16(b"\x00"))[0] == -32124
    assert struct.unpack("<h", g711.alaw_to_pcm16(b"\xaa"))[0] == 32256


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_round_trip_error_is_within_the_quantisation_step(samples: list[int]) -> None:
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    for encode, decode in ((g711.pcm16_to_ulaw, g711.ulaw_to_pcm16), (g711.pcm16_to_alaw, g711.alaw_to_pcm16)):
        back = struct.unpack(f"<{len(samples)}h", decode(encode(pcm)))
        for a, b in zip(samples, back, strict=True):
            assert abs(a - b) <= max(16, abs(a) // 16 + 8)


def test_odd_length_pcm_is_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        g711.pcm16_to_ulaw(b"\x00\x01\x02")
