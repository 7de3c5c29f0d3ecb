"""``InworldRealtimeLLMService`` on our asyncio client: pipecat's frames and settings, our wire.

The class keeps pipecat-ai 1.14's service (constructor, ``Settings``, frames in and out, handlers) by
subclassing it, and replaces everything that touches the socket: the connection is an
``AsyncRealtimeClient`` (parse once, reconnect and replay, keepalive, G.711), client events are converted
to the core's models, and the parts pipecat gets wrong are overridden (see DIFFERENCES.md).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Literal

from loguru import logger
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMFullResponseEndFrame,
    LLMUpdateSettingsFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.inworld.realtime import events as pev
from pipecat.services.inworld.realtime.llm import CurrentAudioResponse, InworldRealtimeLLMSettings
from pipecat.services.inworld.realtime.llm import InworldRealtimeLLMService as _PipecatService
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.types import assert_given, is_given
from pydantic import BaseModel

from inworld_realtime.protocol import NON_FATAL_ERROR_CODES, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.handshake import DEFAULT_URL

from ..aio import AsyncRealtimeClient
from ..events import Reconnected, ReconnectFailed, Reconnecting
from ..transports import Transport, client_class, url_for

SDK_NAME = "inworld-realtime-pipecat-shim"


NULL_SENT = frozenset({"turn_detection"})
"""Fields sent as ``null`` when the caller set them to None: manual turns (DIFFERENCES.md 5). pipecat drops
every other None, and so does the shim, so that its ``session.update`` is pipecat's."""


def to_wire(value: Any) -> Any:
    """A pipecat model as JSON data, as pipecat serialises it (None left out), but with ``NULL_SENT`` kept."""
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, field in type(value).model_fields.items():
            item = getattr(value, name)
            if item is None and not (name in NULL_SENT and name in value.model_fields_set):
                continue
            out[field.alias or name] = to_wire(item)
        return out
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):  # plain data (providerData, tool schemas): kept as given, None included
        return {k: to_wire(v) for k, v in value.items()}
    return value


def to_core_event(event: pev.ClientEvent) -> ev.ClientEvent:
    """Convert one of pipecat's client events into the core's model."""
    data = to_wire(event)
    data["type"] = event.type  # type: ignore[attr-defined]
    if isinstance(event, pev.ResponseCreateEvent) and event.response is not None:
        # pipecat sends the beta name ``modalities``; the GA API reads ``output_modalities``.
        response = dict(data.get("response") or {})
        modalities = response.pop("modalities", event.response.modalities)
        if modalities is not None:
            response["output_modalities"] = modalities
        data["response"] = response
    result: ev.ClientEvent = ev.client_event_adapter.validate_python(data)
    return result


def merge_session(base: pev.SessionProperties, update: pev.SessionProperties) -> pev.SessionProperties:
    """``base`` with what ``update`` names replaced, nested objects merged (formats replaced whole)."""
    merged = _merge_models(base, update)
    assert isinstance(merged, pev.SessionProperties)
    return merged


def _merge_models(base: BaseModel, update: BaseModel) -> BaseModel:
    merged = base.model_copy(deep=True)
    for name in update.model_fields_set:
        new, old = getattr(update, name), getattr(merged, name)
        if isinstance(new, BaseModel) and isinstance(old, BaseModel) and type(new) is type(old) \
                and name != "format":
            setattr(merged, name, _merge_models(old, new))
        else:
            setattr(merged, name, new)
    return merged


class InworldRealtimeLLMService(_PipecatService):  # type: ignore[misc]
    """pipecat-ai 1.14's Inworld Realtime service, running on ``inworld_realtime.io_adapters.AsyncRealtimeClient``."""

    Settings = InworldRealtimeLLMSettings

    def __init__(
        self,
        *,
        api_key: str,
        llm_model: str | None = None,
        voice: str | None = None,
        tts_model: str | None = None,
        stt_model: str | None = None,
        base_url: str = DEFAULT_URL,
        auth_type: Literal["basic", "bearer"] = "basic",
        settings: InworldRealtimeLLMSettings | None = None,
        start_audio_paused: bool = False,
        client_options: dict[str, Any] | None = None,
        transport: Transport = "websocket",
        **kwargs: Any,
    ) -> None:
        """Same arguments as pipecat's; ``client_options`` go to ``AsyncRealtimeClient``; ``transport="webrtc"``
        runs the same session over WebRTC (``AsyncWebRTCClient``; ``base_url`` then names the API base)."""
        client_class(transport)  # an unknown transport, or WebRTC without aiortc, fails here
        super().__init__(api_key=api_key, llm_model=llm_model, voice=voice, tts_model=tts_model,
                         stt_model=stt_model, base_url=base_url, auth_type=auth_type, settings=settings,
                         start_audio_paused=start_audio_paused, **kwargs)
        self._client: AsyncRealtimeClient | None = None
        self._client_options = dict(client_options or {})
        self._transport = transport
        self._capture: list[pev.ClientEvent] | None = None
        self._announced_items: set[str] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    def client(self) -> AsyncRealtimeClient | None:
        """The asyncio client under the service (None while disconnected)."""
        return self._client

    # ------------------------------------------------------------ connection

    async def _initial_session(self) -> SessionProperties:
        """The session.update pipecat would send first, converted to the core's model."""
        self._capture = []
        try:
            await self._send_session_update()
        finally:
            captured, self._capture = self._capture, None
        update = captured[-1]
        assert isinstance(update, pev.SessionUpdateEvent)
        core = to_core_event(update)
        assert isinstance(core, ev.SessionUpdate)
        return core.session

    async def _send_session_update(self) -> None:
        await super()._send_session_update()

    async def _connect(self) -> None:
        if self._client is not None:
            return
        try:
            session = await self._initial_session()
            client = client_class(self._transport)(self.api_key, session, url_for(self._transport, self.base_url),
                                                   self._auth_type, **self._client_options)
            await client.connect()
        except Exception as exc:
            await self.push_error(error_msg=f"Error connecting to Inworld: {exc}", exception=exc)
            return
        self._client = client
        self._announced_items.clear()
        state: Any = self  # pipecat declares these attributes as None
        state._receive_task = self.create_task(self._receive_task_handler())

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        self._disconnecting = True
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        await super()._disconnect()

    async def send_client_event(self, event: pev.ClientEvent) -> None:
        """Send one of pipecat's client events, converted to the core's model."""
        if self._capture is not None:
            self._capture.append(event)
            return
        if self._client is None or self._disconnecting:
            return
        try:
            await self._client.send(to_core_event(event))
        except Exception as exc:
            await self.push_error(error_msg=f"Error sending client event: {exc}", exception=exc)

    async def _send_session_update_event(self, session: pev.SessionProperties) -> None:
        await self.send_client_event(pev.SessionUpdateEvent(session=session))

    # ------------------------------------------------------------ audio in

    async def _send_user_audio(self, frame: InputAudioRawFrame) -> None:
        """Audio goes to the core as it comes: it chunks, encodes G.711 and holds it until configured."""
        if self._llm_needs_conversation_setup and self._context is None:
            return  # like pipecat: nothing is sent before the pipeline's first context
        if self._client is not None:
            await self._client.send_audio(frame.audio)

    # ------------------------------------------------------------ settings

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """pipecat's frame handling, with settings given as a plain mapping merged, not replaced."""
        if (isinstance(frame, LLMUpdateSettingsFrame) and frame.settings and frame.delta is None
                and (frame.service is None or frame.service is self)):
            delta: Any = self.Settings.from_mapping(frame.settings)
            settings: Any = self._settings
            if is_given(delta.session_properties):
                current = assert_given(settings.session_properties)
                delta.session_properties = merge_session(current, delta.session_properties)
            update: Any = frame
            update.delta, update.settings = delta, None
        await super().process_frame(frame, direction)

    # ------------------------------------------------------------ events in

    async def _receive_task_handler(self) -> None:
        """Dispatch the core's typed events (parsed once) to pipecat's handlers."""
        client = self._client
        assert client is not None
        async for event in client:
            try:
                await self._dispatch(event)
            except Exception as exc:
                logger.exception(f"{self}: failed handling {getattr(event, 'type', type(event).__name__)}")
                await self.push_error(error_msg=f"Error handling a server event: {exc}", exception=exc)

    async def _dispatch(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if isinstance(event, ev.ResponseOutputAudioDelta):
            await self._handle_evt_audio_delta(event)
        elif isinstance(event, ev.ResponseOutputAudioTranscriptDelta | ev.ResponseOutputTextDelta):
            await self._handle_evt_audio_transcript_delta(event)
        elif kind == "session.created":
            pass  # the core already sent session.update
        elif kind == "session.updated":
            await self._handle_evt_session_updated(event)
        elif kind == "response.created":
            self._announced_items.clear()
            await self._handle_evt_response_created(event)
        elif kind == "response.output_audio.done":
            await self._handle_evt_audio_done(event)
        elif kind in ("response.output_item.added", "conversation.item.added"):
            if event.item.id not in self._announced_items:  # both may announce one item
                self._announced_items.add(event.item.id)
                await self._handle_evt_conversation_item_added(event)
        elif kind == "conversation.item.input_audio_transcription.delta":
            await self._handle_evt_input_audio_transcription_delta(event)
        elif kind == "conversation.item.input_audio_transcription.completed":
            await self._handle_evt_input_audio_transcription_completed(event)
        elif kind == "response.done":
            await self._handle_evt_response_done(event)
        elif kind == "input_audio_buffer.speech_started":
            await self._handle_evt_speech_started(event)
        elif kind == "input_audio_buffer.speech_stopped":
            await self._handle_evt_speech_stopped(event)
        elif kind == "response.function_call_arguments.done":
            await self._handle_evt_function_call_arguments_done(event)
        elif kind == "error":
            if event.error.code in NON_FATAL_ERROR_CODES:
                logger.debug(f"{self} {event.error.message}")
            else:  # not fatal: the connection stays up and the server closes it if it must
                await self.push_error(error_msg=f"Inworld Realtime Error: {event.error.message}")
        elif isinstance(event, ev.ResponseAborted):
            await self._end_aborted_response()
        elif isinstance(event, Reconnecting):
            logger.warning(f"{self}: connection lost ({event.reason}); reconnecting (attempt {event.attempt})")
        elif isinstance(event, Reconnected):
            logger.info(f"{self}: reconnected; replayed {event.replayed_items} items, "
                        f"{event.replayed_audio_ms} ms of audio")
        elif isinstance(event, ReconnectFailed):
            await self.push_error(error_msg=f"Inworld Realtime connection lost: {event.error}", fatal=True)
        elif isinstance(event, ev.UntypedServerMessage):
            logger.warning(f"{self}: server message without a type: {event.error_type or event.payload}")

    async def _end_aborted_response(self) -> None:
        """The connection dropped mid-answer: close the response for the pipeline; the core asks again."""
        self._response_active = False
        self._current_audio_response = None
        if self._current_assistant_response is not None:
            self._current_assistant_response = None
            await self.push_frame(TTSStoppedFrame())
            await self.push_frame(LLMFullResponseEndFrame())

    async def _handle_evt_input_audio_transcription_delta(self, evt: ev.InputAudioTranscriptionDelta) -> None:
        """The user's words so far, from the core: Inworld's deltas are rolling rewrites, which pipecat appends."""
        if evt.delta and evt.transcript_so_far:
            self._interim_transcription_text = evt.transcript_so_far
            await self.push_frame(InterimTranscriptionFrame(evt.transcript_so_far, "", time_now_iso8601()),
                                  FrameDirection.UPSTREAM)

    async def _handle_evt_audio_delta(self, evt: ev.ResponseOutputAudioDelta) -> None:
        """Assistant audio: the core already decoded base64 and G.711 into 16-bit PCM."""
        await self.stop_ttfb_metrics()
        state: Any = self
        current: CurrentAudioResponse | None = state._current_audio_response
        if current is not None and current.item_id != evt.item_id:
            state._current_audio_response = current = None
        if current is None:
            current = state._current_audio_response = CurrentAudioResponse(
                item_id=evt.item_id, content_index=evt.content_index, start_time_ms=int(time.time() * 1000))
            await self.push_frame(TTSStartedFrame())
        current.total_size += len(evt.pcm)
        await self.push_frame(TTSAudioRawFrame(audio=evt.pcm, sample_rate=self._get_output_sample_rate(),
                                               num_channels=1))

    # ------------------------------------------------------------ interruption and reset

    async def _truncate_current_audio_response(self) -> None:
        """Tell the server how much of the answer was heard, so its memory matches the user's."""
        current, self._current_audio_response = self._current_audio_response, None
        if current is None or self._client is None:
            return
        elapsed_ms = time.time() * 1000 - current.start_time_ms
        pushed_ms = current.total_size / 2 / self._get_output_sample_rate() * 1000
        await self._client.truncate(min(elapsed_ms, pushed_ms))

    async def reset_conversation(self) -> None:
        """A fresh server conversation, set up again from the pipeline's context right away."""
        logger.debug(f"{self}: resetting the Inworld conversation")
        await self._disconnect()
        self._llm_needs_conversation_setup = True
        if self._context is not None:
            await self._process_completed_function_calls(send_new_results=False)
        await self._connect()
        if self._context is not None and self._client is not None:
            await self._setup_conversation()

    async def _setup_conversation(self) -> None:
        """Put the context's messages and instructions into the new session, without asking for a response."""
        assert self._context is not None
        adapter = self.get_llm_adapter()
        settings: Any = self._settings
        params = await adapter.get_llm_invocation_params(
            self._context, system_instruction=assert_given(settings.system_instruction))
        for item in params["messages"]:
            event = pev.ConversationItemCreateEvent(item=item)
            self._messages_added_manually[event.item.id] = True
            await self.send_client_event(event)
        await self._send_session_update()
        self._llm_needs_conversation_setup = False
        self._api_session_ready = True


__all__ = ["CurrentAudioResponse", "InworldRealtimeLLMService", "InworldRealtimeLLMSettings", "merge_session",
           "to_core_event", "to_wire"]
