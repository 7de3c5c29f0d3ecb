"""The single writer of one connection's socket, where the output faults are applied."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from inworld_realtime.protocol.server import ServerConnection

from .faults import Faults
from .records import SessionRecord

log = logging.getLogger(__name__)
CLOSE_WAIT_S = 5.0
"""How long a client has to answer our close frame before its socket is closed."""


class Link:
    """The only writer of one connection's socket; output faults are applied here, in send order."""

    def __init__(self, conn: ServerConnection, writer: asyncio.StreamWriter, faults: Faults,
                 record: SessionRecord) -> None:
        self.conn = conn
        self.writer = writer
        self.faults = faults
        self.record = record
        self.muted = faults.silent
        self.dead = False
        self._queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._close_timer: asyncio.TimerHandle | None = None

    def send_text(self, text: str) -> None:
        """Queue one message."""
        if not self.dead:
            self._queue.put_nowait(("text", text))

    def ping(self) -> None:
        """Queue a WebSocket ping."""
        self._queue.put_nowait(("ping",))

    def flush(self) -> None:
        """Write what the connection queued by itself (pongs, the close echo)."""
        self._queue.put_nowait(("flush",))

    def close(self, code: int, reason: str) -> None:
        """Queue a close frame after what is already queued."""
        self._queue.put_nowait(("close", code, reason))

    def finish(self) -> None:
        """Write what is queued, then close the socket."""
        self._queue.put_nowait(("finish",))

    async def run(self) -> None:
        """Write queued output until finished or dead."""
        conn, faults = self.conn, self.faults
        while True:
            kind, *args = await self._queue.get()
            if kind == "finish":
                await self._write()
                self._close_transport()
                if self._close_timer is not None:
                    self._close_timer.cancel()
                return
            if self.dead:
                continue
            if kind == "text":
                if faults.delay_ms:
                    await asyncio.sleep(faults.delay_ms / 1000)
                if not conn.closed and not self.muted:
                    self._send(args[0])
                    if await self._after_event():
                        continue
            elif kind == "ping" and not conn.closed:
                conn.ping(b"emulator")
            elif kind == "close":
                conn.close(args[0], args[1])
            await self._write()
            if conn.closed and self._close_timer is None:
                # The client has this long to answer our close frame before the socket goes.
                self._close_timer = asyncio.get_running_loop().call_later(CLOSE_WAIT_S, self.writer.transport.abort)

    def _send(self, text: str) -> None:
        if self.faults.fragment > 1:
            self.conn.send_fragmented(text, self.faults.fragment)
        else:
            self.conn.send(text)
        self.record.sent += 1

    async def _after_event(self) -> bool:
        """Apply the counted faults after an event; True when the connection was dropped."""
        f, sent = self.faults, self.record.sent
        if f.malformed_after is not None and sent == f.malformed_after:
            self.conn.send('{"type": "response.output_audio.delta", "delta": "AAAA", ')
        if f.untyped_after is not None and sent == f.untyped_after:
            self.conn.send(json.dumps({"errorType": f.untyped_error, "message": "emulator fault: untyped message"}))
        if f.drop_after is not None and sent >= f.drop_after:
            self.writer.transport.set_write_buffer_limits(0)
            await self._write()
            log.info("fault: dropping connection %d after %d events", self.record.index, sent)
            self.dead = True
            self.writer.transport.abort()
            return True
        if f.close_after is not None and sent >= f.close_after and not self.conn.closed:
            self.conn.close(f.close_code, f.close_reason)
        return False

    async def _write(self) -> None:
        data = self.conn.data_to_send()
        if not data or self.dead or self.muted:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.dead = True

    def _close_transport(self) -> None:
        self.dead = True
        with contextlib.suppress(Exception):
            self.writer.close()
