"""``RealtimeModel``: Inworld Realtime for LiveKit's ``AgentSession(llm=...)``."""

from __future__ import annotations

import os
import weakref
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from livekit.agents import llm
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from inworld_realtime.protocol import ConfigurationError, TurnDetection
from inworld_realtime.protocol.handshake import DEFAULT_URL
from inworld_realtime.protocol.session import SUPPORTED_SAMPLE_RATES

from ..transport import is_loopback
from ..transports import Transport, client_class
from .options import (
    DEFAULT_LLM_MODEL,
    DEFAULT_STT_MODEL,
    DEFAULT_TTS_MODEL,
    DEFAULT_VOICE,
    SAMPLE_RATE,
    Modality,
    Options,
    default_turn_detection,
    realtime_url,
)

if TYPE_CHECKING:
    from .session import RealtimeSession


class RealtimeModel(llm.RealtimeModel):
    """Inworld's realtime speech-to-speech model, on ``inworld_realtime.io_adapters.AsyncRealtimeClient``."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        llm_model: str = DEFAULT_LLM_MODEL,
        voice: str = DEFAULT_VOICE,
        tts_model: str = DEFAULT_TTS_MODEL,
        stt_model: str | None = DEFAULT_STT_MODEL,
        base_url: str | None = None,
        auth_type: Literal["basic", "bearer"] = "basic",
        turn_detection: NotGivenOr[TurnDetection | None] = NOT_GIVEN,
        modalities: NotGivenOr[list[Modality]] = NOT_GIVEN,
        temperature: float | None = None,
        speed: float | None = None,
        max_output_tokens: int | Literal["inf"] | None = None,
        tool_choice: llm.ToolChoice | None = None,
        noise_reduction: Literal["near_field", "far_field"] | str | None = None,
        input_sample_rate: int = SAMPLE_RATE,
        output_sample_rate: int = SAMPLE_RATE,
        provider_data: dict[str, Any] | None = None,
        client_options: dict[str, Any] | None = None,
        transport: Transport = "websocket",
    ) -> None:
        """``api_key`` defaults to ``INWORLD_API_KEY`` (a loopback URL, the local emulator, needs none);
        ``base_url`` defaults to ``INWORLD_URL``, else Inworld's, and may be a bare ``ws``/``http`` host
        (Inworld's path is added); ``turn_detection=None`` asks for manual turns;
        ``stt_model=None`` turns user transcription off (sent as null); ``noise_reduction`` is
        ``"near_field"`` or ``"far_field"``; ``client_options`` go to ``AsyncRealtimeClient``;
        ``transport="webrtc"`` runs the sessions over WebRTC (``AsyncWebRTCClient``, the ``webrtc`` extra)."""
        client_class(transport)  # an unknown transport, or WebRTC without aiortc, fails here
        url = realtime_url(base_url or os.environ.get("INWORLD_URL") or DEFAULT_URL)
        key = api_key if api_key is not None else os.environ.get("INWORLD_API_KEY")
        if not key and is_loopback(urlsplit(url).hostname or ""):
            key = "local-emulator"  # the local emulator accepts any key
        if not key:
            raise ConfigurationError("no Inworld API key: pass api_key or set INWORLD_API_KEY")
        chosen: list[Modality] = list(modalities) if is_given(modalities) else ["audio", "text"]
        if not chosen or any(m not in ("text", "audio") for m in chosen):
            raise ConfigurationError(f"modalities must be 'text' and/or 'audio', not {chosen!r}")
        for rate in (input_sample_rate, output_sample_rate):
            if rate not in SUPPORTED_SAMPLE_RATES:
                raise ConfigurationError(f"sample rate {rate} is not one Inworld takes: "
                                         f"{', '.join(map(str, SUPPORTED_SAMPLE_RATES))}")
        self._opts = Options(
            api_key=key, base_url=url, auth_type=auth_type, llm_model=llm_model, voice=voice,
            tts_model=tts_model, stt_model=stt_model,
            turn_detection=turn_detection if is_given(turn_detection) else default_turn_detection(),
            modalities=chosen, temperature=temperature, speed=speed, max_output_tokens=max_output_tokens,
            tool_choice=tool_choice, noise_reduction=noise_reduction, input_sample_rate=input_sample_rate,
            output_sample_rate=output_sample_rate,
            provider_data=dict(provider_data or {}), client_options=dict(client_options or {}),
            transport=transport,
        )
        self._opts.session()  # a bad option fails here, not in the first session
        super().__init__(capabilities=self._opts.capabilities(turn_detection_given=is_given(turn_detection)))
        self._sessions: weakref.WeakSet[RealtimeSession] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._opts.llm_model} voice={self._opts.voice} at {self._opts.base_url}>"

    @property
    def model(self) -> str:
        return self._opts.llm_model

    @property
    def provider(self) -> str:
        return "inworld"

    def session(self, *, turn_detection_disabled: bool = False) -> RealtimeSession:
        from .session import RealtimeSession

        opts = replace(self._opts, turn_detection=None) if turn_detection_disabled else replace(self._opts)
        sess = RealtimeSession(self, opts)
        self._sessions.add(sess)
        return sess

    def update_options(
        self,
        *,
        voice: NotGivenOr[str] = NOT_GIVEN,
        temperature: NotGivenOr[float] = NOT_GIVEN,
        speed: NotGivenOr[float] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice | None] = NOT_GIVEN,
        turn_detection: NotGivenOr[TurnDetection | None] = NOT_GIVEN,
        stt_model: NotGivenOr[str | None] = NOT_GIVEN,
        noise_reduction: NotGivenOr[Literal["near_field", "far_field"] | str | None] = NOT_GIVEN,
        max_output_tokens: NotGivenOr[int | Literal["inf"] | None] = NOT_GIVEN,
    ) -> None:
        """Change these for later sessions and every open one (None turns a setting off)."""
        changes: dict[str, Any] = dict(voice=voice, temperature=temperature, speed=speed, tool_choice=tool_choice,
                                       turn_detection=turn_detection, stt_model=stt_model,
                                       noise_reduction=noise_reduction, max_output_tokens=max_output_tokens)
        self._opts.change(**changes)
        self._opts.refresh(self._capabilities)
        for sess in self._sessions:
            sess.update_options(**changes)

    async def aclose(self) -> None:
        """Nothing to release: each session owns its connection."""
