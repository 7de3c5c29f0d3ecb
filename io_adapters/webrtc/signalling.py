"""Signalling: ``GET <url>/ice-servers`` and ``POST <url>/calls`` over one plain HTTP/1.1 exchange each."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from inworld_realtime.protocol import ConfigurationError, ConnectError, HandshakeError

from ..transport import is_loopback


@dataclass(frozen=True)
class HttpReply:
    """A signalling endpoint's answer."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


async def http_request(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"",
                       context: ssl.SSLContext | None = None) -> HttpReply:
    """One HTTP/1.1 exchange (``Connection: close``) with the API's base URL; enough for signalling."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    if secure and context is None:
        context = ssl.create_default_context()
    reader, writer = await asyncio.open_connection(host, port, ssl=context if secure else None,
                                                   server_hostname=host if secure else None)
    try:
        authority = f"[{host}]" if ":" in host else host
        if parts.port:
            authority += f":{port}"
        lines = [f"{method} {parts.path.rstrip('/')}{path} HTTP/1.1", f"Host: {authority}", "Connection: close",
                 "User-Agent: inworld-realtime-python", f"Content-Length: {len(body)}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
        raw = await reader.read()
    finally:
        writer.close()
    return parse_reply(raw)


def parse_reply(raw: bytes) -> HttpReply:
    """An HTTP response read to EOF (plain or chunked body)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise ConnectError(f"not an HTTP response from the signalling endpoint: {raw[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunk(body)
    elif "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return HttpReply(int(status_line[1]), status_line[2] if len(status_line) > 2 else "", headers, body)


def _unchunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(data[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
    return bytes(out)


@dataclass(frozen=True)
class IceServer:
    """A STUN/TURN server as ``/v1/realtime/ice-servers`` lists it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def __repr__(self) -> str:
        return f"IceServer({list(self.urls)!r})"  # never the TURN credential

    @classmethod
    def parse(cls, data: Any) -> IceServer:
        urls = data.get("urls") or data.get("url") or ()
        return cls(tuple([urls] if isinstance(urls, str) else urls), data.get("username"), data.get("credential"))


def ice_servers_from(payload: Any) -> list[IceServer]:
    """The ``ice_servers`` (or ``iceServers``) list of an answer, liberally read."""
    listed = payload.get("ice_servers", payload.get("iceServers", [])) if isinstance(payload, dict) else payload
    return [IceServer.parse(s) for s in listed or [] if isinstance(s, dict)]


def refused(reply: HttpReply) -> HandshakeError:
    return HandshakeError(reply.status, reply.reason, reply.headers, reply.body.decode("utf-8", "replace"))




def check_url(url: str, allow_insecure: bool) -> None:
    """Plain http:// signalling carries the key: only to loopback unless the caller opted in."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not allow_insecure and not is_loopback(parts.hostname or ""):
        raise ConfigurationError(f"refusing plain http:// to {parts.hostname}; use https:// or allow_insecure=True")


__all__ = ["HttpReply", "IceServer", "check_url", "http_request", "ice_servers_from", "parse_reply", "refused"]
