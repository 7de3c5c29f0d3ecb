"""The asyncio client's event handoff (a deque and one shared waiter future): nothing lost, no reader stranded."""

from __future__ import annotations

import asyncio

from inworld_realtime.io_adapters.aio import _Inbox


def test_a_put_wakes_the_waiting_reader_in_order() -> None:
    async def main() -> list[object]:
        inbox = _Inbox()
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        inbox.put("a")
        inbox.put("b")
        return [await reader, await inbox.get()]

    assert asyncio.run(main()) == ["a", "b"]


def test_a_cancelled_reader_does_not_strand_another_sharing_the_waiter() -> None:
    async def main() -> object:
        inbox = _Inbox()
        cancelled = asyncio.create_task(inbox.get())
        survivor = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)  # both await the one waiter future
        cancelled.cancel()  # the cancel reaches that shared future
        await asyncio.sleep(0)
        assert cancelled.cancelled() and not survivor.done()
        inbox.put("event")
        return await asyncio.wait_for(survivor, 1.0)

    assert asyncio.run(main()) == "event"


def test_a_timed_out_read_loses_nothing() -> None:
    async def main() -> tuple[bool, object, int]:
        inbox = _Inbox()
        try:
            await asyncio.wait_for(inbox.get(), 0.01)
            timed_out = False
        except TimeoutError:
            timed_out = True
        inbox.put("late")
        return timed_out, await inbox.get(), len(inbox.items)

    assert asyncio.run(main()) == (True, "late", 0)
