"""Minting a short-lived JWT for ``Authorization: Bearer``, sans-IO: build the signed request, read the answer.

Browser and mobile clients connect with a JWT that a server mints from the API key's id and secret. The
request, as Inworld's own minting helpers send it (``inworld-ai/inworld-api-examples``
``realtime/python/auth/mint_jwt.py`` and ``realtime/js/jwt/mint-jwt.js``, commit aef8ecc; Inworld's docs,
"Authentication", https://docs.inworld.ai/api-reference/introduction and
https://dev.docs.inworld.ai/realtime/resources/authentication):

- ``POST https://api.inworld.ai/auth/v1/tokens/token:generate``, JSON body
  ``{"key": <key id>, "resources": ["workspaces/<id>"]}``;
- ``Authorization: IW1-HMAC-SHA256 ApiKey=<key id>,DateTime=<YYYYMMDDHHMMSS UTC>,Nonce=<11 hex>,
  Signature=<hex>``, where the signature folds HMAC-SHA256 over the date-time, the engine host
  (``api-engine.inworld.ai``, ``:443`` removed), ``ai.inworld.engine.WorldEngine/GenerateToken`` and the nonce,
  starting from the key ``"IW1" + secret``, then takes HMAC-SHA256 of ``"iw1_request"``;
- the answer is ``{"token", "type", "expirationTime", "sessionId"}``.

Nothing here opens a socket: ``io_adapters.token`` sends the request. The secret never appears in a repr, a
log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ConfigurationError, RemoteProtocolError

TOKEN_URL = "https://api.inworld.ai/auth/v1/tokens/token:generate"
ENGINE_HOST = "api-engine.inworld.ai"
SIGNED_METHOD = "ai.inworld.engine.WorldEngine/GenerateToken"
DEFAULT_WORKSPACE = "workspaces/default-workspace"
SCHEME = "IW1-HMAC-SHA256"
_AUTH_FIELDS = re.compile(r"(\w+)=([^,\s]*)")


@dataclass(frozen=True)
class ApiKey:
    """An API key's id and secret (the portal's Basic credential is Base64 of ``id:secret``)."""

    key: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.key or not self.secret:
            raise ConfigurationError("an API key needs both its id and its secret to sign a token request")
        if any(c in self.key for c in ",= \t\r\n"):
            raise ConfigurationError("the API key id must not contain ',', '=' or whitespace")

    def __repr__(self) -> str:
        return f"ApiKey(key={self.key!r}, secret=<hidden>)"

    @classmethod
    def from_basic(cls, credential: str) -> ApiKey:
        """The id and secret inside a Basic credential (Base64 ``id:secret``), as Inworld's portal shows it."""
        try:
            text = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ConfigurationError("the Basic credential is not Base64 of 'key:secret'") from None
        key, sep, secret = text.partition(":")
        if not sep:
            raise ConfigurationError("the Basic credential is not Base64 of 'key:secret'")
        return cls(key, secret)


def datetime_stamp(now: float) -> str:
    """``YYYYMMDDHHMMSS`` in UTC, the ``DateTime`` of a signed request."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")


def new_nonce() -> str:
    """Eleven hex digits, as Inworld's helpers draw them."""
    return secrets.token_hex(8)[:11]


def signature(secret: str, datetime_utc: str, nonce: str, engine_host: str = ENGINE_HOST,
              method: str = SIGNED_METHOD) -> str:
    """The hex ``Signature`` of a token request (Inworld's IW1 chain of HMAC-SHA256)."""
    digest = f"IW1{secret}".encode()
    for part in (datetime_utc, engine_host.replace(":443", ""), method, nonce):
        digest = hmac.new(digest, part.encode(), hashlib.sha256).digest()
    return hmac.new(digest, b"iw1_request", hashlib.sha256).hexdigest()


def authorization(key: ApiKey, datetime_utc: str, nonce: str, engine_host: str = ENGINE_HOST) -> str:
    """The ``Authorization`` header value of a token request."""
    sig = signature(key.secret, datetime_utc, nonce, engine_host)
    return f"{SCHEME} ApiKey={key.key},DateTime={datetime_utc},Nonce={nonce},Signature={sig}"


@dataclass(frozen=True)
class SignedAuthorization:
    """A parsed ``IW1-HMAC-SHA256`` header (what a server checks)."""

    key: str
    datetime_utc: str
    nonce: str
    signature: str = field(repr=False)

    @classmethod
    def parse(cls, header: str) -> SignedAuthorization:
        """Read the header; a ``ValueError`` (never echoing the header) when it is not one."""
        scheme, _, rest = header.strip().partition(" ")
        if scheme != SCHEME:
            raise ValueError(f"expected the {SCHEME} scheme")
        found = dict(_AUTH_FIELDS.findall(rest))
        missing = [k for k in ("ApiKey", "DateTime", "Nonce", "Signature") if not found.get(k)]
        if missing:
            raise ValueError(f"the {SCHEME} header lacks {', '.join(missing)}")
        return cls(found["ApiKey"], found["DateTime"], found["Nonce"], found["Signature"])

    def timestamp(self) -> float:
        """``DateTime`` as seconds since the epoch (``ValueError`` when malformed)."""
        return datetime.strptime(self.datetime_utc, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()

    def verify(self, secret: str, now: float, engine_host: str = ENGINE_HOST, max_skew_s: float = 300.0) -> bool:
        """Whether the signature is the secret's and the date-time within ``max_skew_s`` of ``now``."""
        try:
            stamp = self.timestamp()
        except ValueError:
            return False
        expected = signature(secret, self.datetime_utc, self.nonce, engine_host)
        return abs(now - stamp) <= max_skew_s and hmac.compare_digest(expected, self.signature.lower())


@dataclass(frozen=True)
class MintRequest:
    """The HTTP request that mints a token: send it as is (``headers`` hold the signature, never the secret)."""

    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes
    method: str = "POST"


def build_mint_request(key: ApiKey, workspace: str = DEFAULT_WORKSPACE, *, url: str = TOKEN_URL,
                       engine_host: str = ENGINE_HOST, now: float | None = None,
                       nonce: str | None = None) -> MintRequest:
    """The signed ``token:generate`` request for ``key`` (``now`` and ``nonce`` injectable for tests)."""
    if not workspace.startswith("workspaces/"):
        workspace = f"workspaces/{workspace}"
    stamp = datetime_stamp(time.time() if now is None else now)
    header = authorization(key, stamp, nonce or new_nonce(), engine_host)
    body = json.dumps({"key": key.key, "resources": [workspace]}).encode()
    return MintRequest(url, {"Authorization": header, "Content-Type": "application/json"}, body)


class MintError(RemoteProtocolError):
    """The token endpoint refused or answered something that is not a token (``status``: its HTTP status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Token:
    """A minted token; ``token`` is the JWT to send as ``Authorization: Bearer <token>``."""

    token: str = field(repr=False)
    type: str = "Bearer"
    expiration_time: str | None = None
    session_id: str | None = None
    expires_at: float | None = None
    """``expirationTime`` as seconds since the epoch, when it could be read."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def authorization(self) -> str:
        """The header value a client sends."""
        return f"Bearer {self.token}"

    def expired(self, now: float, margin_s: float = 0.0) -> bool:
        """Whether the token is (or within ``margin_s`` will be) past its expiry; unknown expiry: never."""
        return self.expires_at is not None and now + margin_s >= self.expires_at


def parse_expiration(value: Any) -> float | None:
    """``expirationTime`` (RFC 3339 as protobuf's JSON writes it, or epoch seconds) as epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match:  # fromisoformat wants at most microseconds; protobuf may give nanoseconds
        frac = (match.group(2) or "")[:7]
        text = match.group(1) + frac + match.group(3)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_mint_response(status: int, body: bytes | str) -> Token:
    """The token in a ``token:generate`` answer; ``MintError`` for a refusal or a body without a token."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if not 200 <= status < 300:
        raise MintError(f"token endpoint answered {status}: {text[:300]}", status)
    try:
        data = json.loads(text)
    except ValueError:
        raise MintError(f"token endpoint answered {status} with a body that is not JSON", status) from None
    if not isinstance(data, dict) or not isinstance(data.get("token"), str) or not data["token"]:
        raise MintError("token endpoint answer has no 'token'", status)
    known = {"token", "type", "expirationTime", "sessionId"}
    expiration = data.get("expirationTime")
    return Token(
        token=data["token"],
        type=str(data.get("type") or "Bearer"),
        expiration_time=None if expiration is None else str(expiration),
        session_id=data.get("sessionId") if isinstance(data.get("sessionId"), str) else None,
        expires_at=parse_expiration(expiration),
        extra={k: v for k, v in data.items() if k not in known},
    )


__all__ = [
    "DEFAULT_WORKSPACE", "ENGINE_HOST", "SCHEME", "SIGNED_METHOD", "TOKEN_URL", "ApiKey", "MintError",
    "MintRequest", "SignedAuthorization", "Token", "authorization", "build_mint_request", "datetime_stamp",
    "new_nonce", "parse_expiration", "parse_mint_response", "signature",
]
