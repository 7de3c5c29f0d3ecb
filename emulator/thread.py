"""The emulator on a thread of its own, for blocking code and tests without an event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from inworld_realtime.protocol import events as ev

from .options import EmulatorOptions
from .records import SessionRecord
from .server import Emulator


class EmulatorThread:
    """An emulator on its own event loop thread, for blocking code: ``with EmulatorThread() as emu: emu.url``."""

    def __init__(self, options: EmulatorOptions | None = None) -> None:
        self.emulator = Emulator(options)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The ``ws://`` URL the emulator listens on."""
        return self.emulator.url

    @property
    def received(self) -> list[ev.ClientEvent]:
        """Client events received by every session."""
        return self.emulator.received

    @property
    def sessions(self) -> list[SessionRecord]:
        """One record per connection."""
        return self.emulator.sessions

    def start(self, timeout: float = 10.0) -> EmulatorThread:
        """Start the thread and wait until the emulator listens (its error is raised here)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="inworld-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the emulator did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the emulator and join its thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(timeout)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.emulator.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.emulator.close()
