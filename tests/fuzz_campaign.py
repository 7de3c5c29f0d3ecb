"""A long fuzz campaign of the core (not part of CI): python -m tests.fuzz_campaign [--examples N].

Prints how many byte streams were tried, how long it took, and any failure hypothesis found.
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import streams
from tests.test_fuzz import feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=100_000)
    args = parser.parse_args()
    count = 0

    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(streams, st.integers(1, 4096))
    def campaign(stream: bytes, chunk: int) -> None:
        nonlocal count
        count += 1
        feed(stream, chunk)

    start = time.perf_counter()
    try:
        campaign()
        outcome = "no failure found"
    except Exception as exc:  # report whatever hypothesis shrank to
        outcome = f"FAILURE: {type(exc).__name__}: {exc}"
    print(f"{count} streams in {time.perf_counter() - start:.0f} s: {outcome}")


if __name__ == "__main__":
    main()
