"""What both adapters decide the same way: transport security, retry and back-off, errors."""

from __future__ import annotations

import base64
import ipaddress
import random
import ssl
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from protocol import ConnectError as ConnectError  # one error tree, defined in protocol.errors
from protocol import ConnectTimeout as ConnectTimeout
from protocol import HandshakeError
from protocol.handshake import Target


@dataclass(frozen=True)
class Options:
    """Adapter settings shared by the asyncio and the blocking client."""

    connect_timeout: float = 10.0
    keepalive_timeout: float = 30.0
    ping_interval: float = 10.0
    reconnect: bool = True
    max_reconnect_attempts: int = 5
    backoff_initial: float = 0.25
    backoff_max: float = 8.0
    max_queue_bytes: int = 1024 * 1024
    allow_insecure: bool = False
    close_timeout: float = 2.0


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_target(target: Target, allow_insecure: bool) -> None:
    """Refuse plain ws:// to anything but loopback unless the caller opted in."""
    if not target.secure and not allow_insecure and not is_loopback(target.host):
        raise ConnectError(f"refusing unencrypted ws:// to {target.host}; use wss:// or pass allow_insecure=True")


def tls_context(target: Target, context: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """The TLS context for ``target``: the caller's, else the system's verified default."""
    if not target.secure:
        return None
    return context or ssl.create_default_context()


def backoff(attempt: int, options: Options, error: BaseException | None, rng: random.Random) -> float:
    """Seconds before reconnect ``attempt`` (1-based): full jitter, Retry-After honoured."""
    if isinstance(error, HandshakeError) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), 60.0)
    ceiling = min(options.backoff_max, options.backoff_initial * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


def retryable(error: BaseException | None) -> bool:
    """Whether trying again could help (a refused key or a bad URL will not)."""
    if isinstance(error, HandshakeError):
        return error.status in (408, 425, 429) or error.status >= 500
    return True


def describe(error: BaseException) -> str:
    """One line for an adapter event; never carries the key (errors from the core do not)."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy to tunnel through with CONNECT."""

    host: str
    port: int
    authorization: str | None = None

    def __repr__(self) -> str:
        return f"Proxy({self.host}:{self.port})"  # never the credentials

    def connect_request(self, target: Target) -> bytes:
        """The CONNECT request for ``target``."""
        authority = f"{target.host}:{target.port}"
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if self.authorization:
            lines.append(f"Proxy-Authorization: {self.authorization}")
        return ("\r\n".join([*lines, "", ""])).encode("latin-1")


def proxy_for(target: Target) -> Proxy | None:
    """The proxy the standard environment variables name for ``target`` (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)."""
    proxies = urllib.request.getproxies_environment()
    url = proxies.get("https" if target.secure else "http")
    if not url or urllib.request.proxy_bypass_environment(target.host, proxies):  # type: ignore[attr-defined]
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise ConnectError(f"only http:// proxies are supported, not {parts.scheme}://")
    auth = None
    if parts.username:
        token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
        auth = f"Basic {token}"
    return Proxy(parts.hostname, parts.port or 8080, auth)


def check_connect_reply(head: bytes, proxy: Proxy) -> None:
    """Raise unless the proxy answered CONNECT with 2xx."""
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or not 200 <= int(parts[1]) < 300:
        raise ConnectError(f"proxy {proxy.host}:{proxy.port} refused the tunnel: {status_line[:100]!r}")
