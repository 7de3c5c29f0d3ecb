"""The one error tree of the package: configuration, misuse, peer faults, and not getting a session at all."""

from __future__ import annotations

from collections.abc import Mapping


class ProtocolError(Exception):
    """Base class of every error the core raises."""


class ConfigurationError(ProtocolError, ValueError):
    """A bad option or URL: a ``ValueError``, as the standard library would raise, and a ``ProtocolError``."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the connection's state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol; the connection is failed."""


class HandshakeError(RemoteProtocolError):
    """The server refused the WebSocket upgrade; carries status, headers and body."""

    def __init__(
        self,
        status: int,
        reason: str = "",
        headers: Mapping[str, str] | None = None,
        body: str = "",
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers: dict[str, str] = dict(headers or {})
        self.body = body
        super().__init__(self._describe())

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (a 429's Retry-After), when given as a number."""
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def _describe(self) -> str:
        if self.status == 401:
            what = "authentication failed: the API key was refused"
        elif self.status == 403:
            what = "forbidden: the key is not allowed to open a realtime session"
        elif self.status == 429:
            what = "rate limited"
        elif self.status >= 500:
            what = "server error"
        else:
            what = "handshake refused"
        text = f"HTTP {self.status} {self.reason}".rstrip() + f": {what}"
        if self.body:
            snippet = self.body if len(self.body) <= 300 else self.body[:300] + "..."
            text += f" ({snippet})"
        return text


class ConnectError(ProtocolError, ConnectionError):
    """No configured session could be opened (the adapters give up after their retry policy)."""


class ConnectTimeout(ConnectError, TimeoutError):
    """The connect deadline passed before a session was configured."""


class SessionEnded(ProtocolError, ConnectionError):
    """The client is closed, or its event stream ended: nothing more can be sent or received on it."""


class ReceiveTimeout(ProtocolError, TimeoutError):
    """No event arrived within the time the caller gave ``recv``."""
