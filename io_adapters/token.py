"""Minting a bearer token over HTTP: the I/O around ``protocol.token`` (standard library only).

``await mint_token(ApiKey(key, secret))`` posts Inworld's signed ``token:generate`` request and returns the
``Token``; ``mint_token_sync`` does the same for blocking code. ``api_key_from_env`` reads the key the way
Inworld's examples do (``INWORLD_KEY`` and ``INWORLD_SECRET``) or from the portal's Basic credential
(``INWORLD_API_KEY``, Base64 ``key:secret``).
"""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from inworld_realtime.protocol.errors import ConfigurationError, ConnectError, ConnectTimeout
from inworld_realtime.protocol.token import (
    DEFAULT_WORKSPACE,
    ENGINE_HOST,
    TOKEN_URL,
    ApiKey,
    MintError,
    Token,
    build_mint_request,
    parse_mint_response,
)

from .transport import is_loopback

MAX_ANSWER_BYTES = 1024 * 1024


def api_key_from_env(env: Mapping[str, str] | None = None) -> ApiKey:
    """``INWORLD_KEY`` + ``INWORLD_SECRET`` (Inworld's examples), else ``INWORLD_API_KEY`` (Base64 key:secret)."""
    env = os.environ if env is None else env
    key, secret = env.get("INWORLD_KEY", ""), env.get("INWORLD_SECRET", "")
    if key and secret:
        return ApiKey(key, secret)
    basic = env.get("INWORLD_API_KEY", "")
    if basic:
        return ApiKey.from_basic(basic)
    raise ConfigurationError("set INWORLD_KEY and INWORLD_SECRET, or INWORLD_API_KEY (the Base64 'key:secret' "
                             "credential), to mint a token")


def _loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


def mint_token_sync(key: ApiKey, workspace: str = DEFAULT_WORKSPACE, *, url: str = TOKEN_URL,
                    engine_host: str = ENGINE_HOST, timeout: float = 10.0) -> Token:
    """Mint a token (blocking). ``MintError`` for a refusal, ``ConnectError`` when the endpoint is unreachable."""
    scheme = urlsplit(url).scheme
    if scheme not in ("https", "http"):
        raise ConfigurationError(f"the token URL must be https:// (or http:// to this machine), not {scheme!r}")
    local = _loopback(url)
    if scheme == "http" and not local:
        raise ConfigurationError("refusing to send a signed request over plain http:// to another host")
    request = build_mint_request(key, workspace, url=url, engine_host=engine_host)
    http = urllib.request.Request(request.url, data=request.body, headers=request.headers, method=request.method)
    handlers = [urllib.request.ProxyHandler({})] if local else []
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(http, timeout=timeout) as answer:
            return parse_mint_response(answer.status, answer.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            return parse_mint_response(exc.code, exc.read(MAX_ANSWER_BYTES))
    except TimeoutError:
        raise ConnectTimeout(f"the token endpoint did not answer within {timeout:g} s") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ConnectError(f"cannot reach the token endpoint {url}: {reason}") from None


async def mint_token(key: ApiKey, workspace: str = DEFAULT_WORKSPACE, *, url: str = TOKEN_URL,
                     engine_host: str = ENGINE_HOST, timeout: float = 10.0) -> Token:
    """Mint a token without blocking the event loop (the request runs in a worker thread)."""
    return await asyncio.to_thread(mint_token_sync, key, workspace, url=url, engine_host=engine_host,
                                   timeout=timeout)


__all__ = ["ApiKey", "MintError", "Token", "api_key_from_env", "mint_token", "mint_token_sync"]
