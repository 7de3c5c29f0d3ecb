"""The emulator's token endpoint: checks Inworld's signed mint request, issues JWTs, and verifies them on connect.

The request and answer follow Inworld's minting helpers (see ``inworld_realtime.protocol.token``). The JWT
itself is ours: HS256 under a secret drawn when the emulator starts, so only the emulator that minted a token
accepts it; Inworld's token format and lifetime are not published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inworld_realtime.protocol.token import ENGINE_HOST, ApiKey, SignedAuthorization

TOKEN_PATH = "/auth/v1/tokens/token:generate"
ISSUER = "inworld-realtime-emulator"
MAX_BODY_BYTES = 64 * 1024


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def looks_like_jwt(credential: str) -> bool:
    """Three dot-separated base64url parts: what a minted token looks like (a portal key has no dots)."""
    parts = credential.split(".")
    return len(parts) == 3 and all(parts)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of the token endpoint: status and JSON body."""

    status: int
    body: dict[str, Any]


class TokenIssuer:
    """Mints and verifies the emulator's JWTs.

    ``api_key`` is the emulator's accepted key: when it is a Basic credential (Base64 ``id:secret``) a mint
    request must be signed with that secret; otherwise any well-formed, fresh signed request is accepted (the
    secret cannot be checked).
    """

    def __init__(self, api_key: str | None, ttl_s: float, engine_host: str = ENGINE_HOST) -> None:
        self._signing_key = secrets.token_bytes(32)
        self.ttl_s = ttl_s
        self.engine_host = engine_host
        self._key: ApiKey | None = None
        if api_key is not None:
            try:
                self._key = ApiKey.from_basic(api_key)
            except ValueError:
                self._key = None

    def __repr__(self) -> str:
        return f"<TokenIssuer ttl={self.ttl_s:g}s key={'set' if self._key else 'any'}>"

    def mint(self, method: str, headers: dict[str, str], body: bytes, now: float | None = None) -> Answer:
        """Answer one request to ``TOKEN_PATH`` (errors shaped like the emulator's other HTTP errors)."""
        now = time.time() if now is None else now
        if method != "POST":
            return Answer(405, _error(405, "use POST"))
        try:
            signed = SignedAuthorization.parse(headers.get("authorization", ""))
        except ValueError as exc:
            return Answer(401, _error(401, f"Invalid authorization: {exc}"))
        if self._key is not None:
            if signed.key != self._key.key or not signed.verify(self._key.secret, now, self.engine_host):
                return Answer(401, _error(401, "Invalid signature"))
        else:
            try:
                fresh = abs(now - signed.timestamp()) <= 300
            except ValueError:
                fresh = False
            if not fresh:
                return Answer(401, _error(401, "DateTime is not within 5 minutes of the server's clock"))
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return Answer(400, _error(400, "the body is not JSON"))
        if not isinstance(request, dict) or request.get("key") != signed.key:
            return Answer(400, _error(400, "'key' must be the ApiKey the request is signed with"))
        resources = request.get("resources")
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            return Answer(400, _error(400, "'resources' must be a list of names such as 'workspaces/<id>'"))
        return Answer(200, self.issue(signed.key, resources, now=now))

    def issue(self, subject: str, resources: list[str] | None = None, ttl_s: float | None = None,
              now: float | None = None) -> dict[str, Any]:
        """A token answer ``{token, type, expirationTime, sessionId}`` (``ttl_s`` may be negative, for tests)."""
        now = time.time() if now is None else now
        expires = int(now + (self.ttl_s if ttl_s is None else ttl_s))
        session_id = f"sess_{uuid.uuid4().hex[:16]}"
        claims = {"iss": ISSUER, "sub": subject, "resources": resources or [], "sid": session_id,
                  "iat": int(now), "exp": expires}
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._signing_key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        expiration = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": f"{head}.{payload}.{_b64url(sig)}", "type": "Bearer", "expirationTime": expiration,
                "sessionId": session_id}

    @staticmethod
    def claims_ours(token: str) -> bool:
        """Whether a JWT says an emulator issued it (unverified: ``check`` decides whether it is true)."""
        try:
            claims = json.loads(_unb64url(token.split(".")[1]))
        except (IndexError, binascii.Error, ValueError):
            return False
        return isinstance(claims, dict) and claims.get("iss") == ISSUER

    def check(self, token: str, now: float | None = None) -> str | None:
        """None when ``token`` is one this emulator minted and it has not expired; else why not."""
        now = time.time() if now is None else now
        parts = token.split(".")
        if len(parts) != 3:
            return "not a JWT"
        expected = hmac.new(self._signing_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            given = _unb64url(parts[2])
            claims = json.loads(_unb64url(parts[1]))
        except (binascii.Error, ValueError):
            return "malformed token"
        if not hmac.compare_digest(expected, given):
            return "a token this server did not mint"
        exp = claims.get("exp") if isinstance(claims, dict) else None
        if not isinstance(exp, int | float) or now >= exp:
            return "an expired token"
        return None


def _error(status: int, message: str) -> dict[str, Any]:
    from .server import _GRPC_CODES

    return {"code": _GRPC_CODES.get(status, 2), "message": message, "details": []}


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed",
            413: "Payload Too Large"}


def http_answer(answer: Answer) -> bytes:
    """The HTTP/1.1 bytes of an answer (the connection closes after it)."""
    payload = json.dumps(answer.body).encode()
    head = [f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, 'Error')}", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload


__all__ = ["ISSUER", "TOKEN_PATH", "Answer", "TokenIssuer", "http_answer", "looks_like_jwt"]
