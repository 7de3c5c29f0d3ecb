"""What both adapters do the same way on the way to a socket: transport security, HTTP proxies."""

from __future__ import annotations

import base64
import ipaddress
import ssl
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from inworld_realtime.protocol import ConfigurationError, ConnectError
from inworld_realtime.protocol.handshake import Target


class ProxyRefused(ConnectError):
    """The HTTP proxy would not open the tunnel; ``status`` is its answer (0 when it gave none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_target(target: Target, allow_insecure: bool) -> None:
    """Refuse plain ws:// to anything but loopback unless the caller opted in: a configuration mistake, so
    connect() raises it before any attempt and never retries it."""
    if not target.secure and not allow_insecure and not is_loopback(target.host):
        raise ConfigurationError(f"refusing unencrypted ws:// to {target.host}; use wss:// or pass allow_insecure=True")


def tls_context(target: Target, context: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """The TLS context for ``target``: the caller's, else the system's verified default."""
    if not target.secure:
        return None
    return context or ssl.create_default_context()


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
        raise ConfigurationError(f"only http:// proxies are supported, not {parts.scheme}://")
    auth = None
    if parts.username:
        token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
        auth = f"Basic {token}"
    return Proxy(parts.hostname, parts.port or 8080, auth)


def check_connect_reply(head: bytes, proxy: Proxy) -> None:
    """Raise unless the proxy answered CONNECT with 2xx."""
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    if not 200 <= status < 300:
        raise ProxyRefused(f"proxy {proxy.host}:{proxy.port} refused the tunnel: {status_line[:100]!r}", status)
