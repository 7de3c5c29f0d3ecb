"""The HTTP/1.1 WebSocket upgrade, both sides, without h11: small, bounded, strict."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .errors import ConfigurationError, HandshakeError, RemoteProtocolError

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFAULT_URL = "wss://api.inworld.ai/api/v1/realtime/session"
USER_AGENT = "inworld-realtime-sansio/0.1 (+python)"
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024


def accept_key(client_key: str | bytes) -> str:
    """The ``Sec-WebSocket-Accept`` value a server must answer for ``client_key``."""
    raw = client_key.encode("ascii") if isinstance(client_key, str) else client_key
    return base64.b64encode(hashlib.sha1(raw + WS_GUID).digest()).decode("ascii")


def new_session_key() -> str:
    """A fresh value for the ``key`` query parameter: one per connection."""
    return f"realtime-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Target:
    """Where to connect, parsed from the URL."""

    secure: bool
    host: str
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def authority(self) -> str:
        default = 443 if self.secure else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


#: An HTTP header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A host name as it may stand in a URL and a Host header (RFC 3986 reg-name, ASCII).
_REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+")
#: Headers the upgrade itself sets: an extra header of the same name would break or forge it.
_RESERVED_HEADERS = frozenset({"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
                               "sec-websocket-extensions", "content-length", "transfer-encoding"})


def check_url(url: Any) -> None:
    """Raise ``ConfigurationError`` unless ``url`` is a ws/wss URL with a usable host and port."""
    parse_target(url, "check")


def _check_host(host: str) -> str:
    if ":" in host:  # only an IPv6 literal may hold a colon
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ConfigurationError(f"URL host {host!r} is not a valid IPv6 address") from None
        return host
    if _REG_NAME.fullmatch(host):
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ConfigurationError(f"URL host {host!r} is not a valid host name") from None
    if not _REG_NAME.fullmatch(ascii_host):
        raise ConfigurationError(f"URL host {host!r} is not a valid host name")
    return ascii_host


def parse_target(url: str, session_key: str | None = None) -> Target:
    """Split a ws/wss URL and add the ``key`` and ``protocol=realtime`` parameters."""
    if not isinstance(url, str):
        raise ConfigurationError(f"URL must be a string, not {type(url).__name__}")
    if any(c in url for c in "\r\n\0\t "):
        raise ConfigurationError("URL contains whitespace or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an out-of-range or non-numeric port, an unclosed IPv6 bracket
        raise ConfigurationError(f"bad URL: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        raise ConfigurationError(f"URL scheme must be ws or wss, not {parts.scheme!r}")
    if not parts.hostname:
        raise ConfigurationError(f"URL has no host: {url!r}")
    if port == 0:
        raise ConfigurationError("URL port must be between 1 and 65535, not 0")
    host = _check_host(parts.hostname)
    secure = parts.scheme == "wss"
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("key", session_key or new_session_key())
    query.setdefault("protocol", "realtime")
    path = urlunsplit(("", "", quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~"), urlencode(query), ""))
    return Target(secure, host, port or (443 if secure else 80), path)


def check_headers(headers: Any) -> dict[str, str]:
    """A copy of ``headers`` fit for the upgrade request, or ``ConfigurationError`` (values never echoed)."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"extra_headers must be a mapping of str to str, not {type(headers).__name__}")
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ConfigurationError(f"extra header name {name!r} is not a valid HTTP header name")
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigurationError(f"extra header {name} is set by the WebSocket upgrade itself")
        if not isinstance(value, str):
            raise ConfigurationError(f"extra header {name} must have a str value, not {type(value).__name__}")
        check_header_value(name, value)
        out[name] = value
    return out


def check_header_value(name: str, value: str) -> None:
    """Refuse a value that would split the request (CR, LF, NUL) or cannot be sent (not Latin-1)."""
    if any(c in value for c in "\r\n\0"):
        raise ConfigurationError(f"header {name} contains a line break or NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigurationError(f"header {name} contains characters outside Latin-1") from None


def build_request(
    target: Target,
    authorization: str,
    ws_key: str,
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """The upgrade request bytes."""
    headers = {
        "Host": target.authority,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": ws_key,
        "Sec-WebSocket-Version": "13",
        "User-Agent": USER_AGENT,
        "Authorization": authorization,
        **(extra_headers or {}),
    }
    for name, value in headers.items():
        check_header_value(name, value)
    lines = [f"GET {target.path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def new_ws_key() -> str:
    """A random 16-byte nonce, base64 encoded."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes anything
        raise RemoteProtocolError("handshake is not text") from exc
    start, *rest = text.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in rest:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise RemoteProtocolError(f"malformed header line in handshake: {line[:100]!r}")
        headers.append((name.lower(), value.strip()))
    return start, headers


@dataclass
class ResponseParser:
    """Reads the server's answer to the upgrade; bounded in header and body size."""

    ws_key: str
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    _error: HandshakeError | None = None
    _body_needed: int | None = None

    def feed(self, data: bytes) -> tuple[dict[str, str], bytes] | None:
        """Feed bytes; returns (headers, bytes after the head) once upgraded, else None.

        Raises ``HandshakeError`` for a non-101 answer (once its body is read, or at EOF)
        and ``RemoteProtocolError`` for a malformed one. ``b""`` means EOF.
        """
        if self._error is not None:
            self._feed_error_body(data)
            return None
        if not data:
            raise RemoteProtocolError("connection closed during the WebSocket handshake")
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > self.max_header_bytes:
                raise RemoteProtocolError(
                    f"handshake response headers exceed {self.max_header_bytes} bytes"
                )
            return None
        if end > self.max_header_bytes:
            raise RemoteProtocolError(f"handshake response headers exceed {self.max_header_bytes} bytes")
        start, header_list = _parse_head(bytes(self._buffer[:end]))
        rest = bytes(self._buffer[end + 4 :])
        self._buffer.clear()
        version, _, status_reason = start.partition(" ")
        status_text, _, reason = status_reason.partition(" ")
        if not version.startswith("HTTP/1.") or not status_text.isdigit():
            raise RemoteProtocolError(f"not an HTTP response: {start[:100]!r}")
        status = int(status_text)
        headers: dict[str, str] = {}
        for name, value in header_list:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if status != 101:
            self._error = HandshakeError(status, reason, headers)
            length = headers.get("content-length", "")
            self._body_needed = int(length) if length.isdigit() else None
            if self._body_needed == 0:
                raise self._error
            self._feed_error_body(rest)
            return None
        if headers.get("upgrade", "").lower() != "websocket":
            raise RemoteProtocolError("101 response without Upgrade: websocket")
        if "upgrade" not in headers.get("connection", "").lower():
            raise RemoteProtocolError("101 response without Connection: Upgrade")
        if headers.get("sec-websocket-accept") != accept_key(self.ws_key):
            raise RemoteProtocolError("Sec-WebSocket-Accept does not match our key")
        if headers.get("sec-websocket-extensions"):
            raise RemoteProtocolError("server accepted an extension we did not offer")
        return headers, rest

    def _feed_error_body(self, data: bytes) -> None:
        assert self._error is not None
        err = self._error
        self._buffer += data[: max(0, MAX_ERROR_BODY_BYTES - len(self._buffer))]
        eof = not data
        complete = self._body_needed is not None and len(self._buffer) >= self._body_needed
        if eof or complete or len(self._buffer) >= MAX_ERROR_BODY_BYTES:
            body = bytes(self._buffer[: self._body_needed] if self._body_needed else self._buffer)
            raise HandshakeError(err.status, err.reason, err.headers, body.decode("utf-8", "replace"))


@dataclass
class UpgradeRequest:
    """A client's upgrade request as a server sees it."""

    method: str
    target: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))


def parse_request(data: bytes, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES) -> tuple[UpgradeRequest, bytes] | None:
    """Server side: parse an upgrade request from the bytes read so far (None: need more)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > max_header_bytes:
            raise RemoteProtocolError(f"request headers exceed {max_header_bytes} bytes")
        return None
    start, header_list = _parse_head(data[:end])
    parts = start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise RemoteProtocolError(f"malformed request line: {start[:100]!r}")
    headers: dict[str, str] = {}
    for name, value in header_list:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return UpgradeRequest(parts[0], parts[1], headers), data[end + 4 :]


def build_accept(request: UpgradeRequest) -> bytes:
    """Server side: the 101 answer to a valid upgrade request."""
    key = request.headers.get("sec-websocket-key")
    if request.method != "GET" or not key or "websocket" not in request.headers.get("upgrade", "").lower():
        raise RemoteProtocolError("not a WebSocket upgrade request")
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode("ascii")


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            426: "Upgrade Required", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


def build_refusal(status: int, body: str = "", headers: dict[str, str] | None = None) -> bytes:
    """Server side: an HTTP error answer with a JSON or text body."""
    payload = body.encode("utf-8")
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"Content-Length: {len(payload)}",
            "Content-Type: application/json", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
