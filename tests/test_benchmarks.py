"""The session-cost kinds move real audio both ways: a figure from a kind that heard nothing would mean nothing."""

from __future__ import annotations

import asyncio
import time

from benchmarks import session_cost
from benchmarks.blaster import running_blaster


def test_every_like_for_like_kind_hears_the_answer_and_paces_its_sends() -> None:
    kinds = ["ours", "core", "essential", "floor", "websockets"]
    with running_blaster() as base:
        url = f"{base}?mode=live&interval=0.1"

        async def all_kinds() -> list[dict[str, object]]:
            at = time.time() + 1.5
            return list(await asyncio.gather(*(session_cost.child(kind, url, 1, at, 1.5) for kind in kinds)))

        figures = asyncio.run(all_kinds())
    for kind, got in zip(kinds, figures, strict=True):
        assert got["kind"] == kind
        assert 0.3 < float(got["answer_audio_s_per_s"]) < 1.0, got  # 60 ms every 100 ms: about 0.6 s a second
        assert got["send_us"] is not None and float(got["send_us"]) > 0, got  # the pacing loop sent frames
