"""``RealtimeSession``: one Inworld session behind LiveKit's realtime interface.

LiveKit calls in synchronously (``push_audio``, ``interrupt``...) or with coroutines that must not
reorder with the audio; every request goes through one queue that a single task sends with the
asyncio client's public methods. A second task turns the client's typed events into LiveKit's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from livekit import rtc
from livekit.agents import llm, utils
from livekit.agents.metrics.base import Metadata
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given
from livekit.agents.voice.generation import remove_instructions

from inworld_realtime.protocol import SessionProperties, TurnDetection
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.audio import pcm_ms

from ..aio import AsyncRealtimeClient
from ..events import Reconnected, ReconnectFailed, Reconnecting
from ..transports import client_class, url_for
from .audio import InputAudio, output_frame
from .convert import from_item, to_item, to_tool_choice, to_tools
from .generation import Generation, Modality, response_metrics
from .model import RealtimeModel
from .options import Options

log = logging.getLogger("inworld_realtime.io_adapters.livekit_plugin")

Op = bytes | ev.ClientEvent | Callable[[], Awaitable[Any]]
REPLY_TIMEOUT = 10.0
"""Seconds ``generate_reply`` waits for ``response.created``."""
ITEM_TIMEOUT = 5.0
"""Seconds ``update_chat_ctx`` waits for the server to confirm its items."""
MIN_COMMIT_MS = 100
"""The server refuses to commit less audio than this."""
MAX_INTERIM_ITEMS = 16
"""User items with an interim transcript shown and no final one yet (and items asked to go first and not yet
added) that the session remembers."""
QUIET_ERRORS = frozenset({"response_cancel_not_active", "input_audio_buffer_commit_empty"})
"""Error codes that answer a harmless race (a cancel after the end, a commit after the VAD's own)."""


class RealtimeSession(llm.RealtimeSession[Literal["inworld_server_event_received"]]):
    """One connection to Inworld Realtime, reconnecting (and replaying history) on drops."""

    def __init__(self, model: RealtimeModel, opts: Options) -> None:
        super().__init__(model)
        self._model = model
        self._opts = opts
        self._capabilities = opts.capabilities(turn_detection_given=not model.capabilities.can_disable_turn_detection)
        self._client: AsyncRealtimeClient = client_class(opts.transport)(
            opts.api_key, opts.session(), url_for(opts.transport, opts.base_url), opts.auth_type,
            **opts.client_options)  # or an AsyncWebRTCClient: the same surface
        self._ops: asyncio.Queue[Op] = asyncio.Queue()
        self._audio_in = InputAudio(opts.input_sample_rate)
        self._uncommitted_bytes = 0
        self._tools = llm.ToolContext.empty()
        self._instructions: str | None = None
        self._remote = llm.remote_chat_context.RemoteChatContext()
        self._chat_lock = asyncio.Lock()
        self._tools_lock = asyncio.Lock()
        self._waiters: dict[str, asyncio.Future[None]] = {}  # "added:<id>", "deleted:<id>" and client event ids
        self._replies: dict[str, asyncio.Future[llm.GenerationCreatedEvent]] = {}
        self._discarded: set[str] = set()
        self._generation: Generation | None = None
        self._item_response: dict[str, str] = {}  # output item id -> its response id
        self._head_inserts: dict[str, None] = {}  # items created with previous_item_id "root", until added
        self._partial_transcripts: dict[str, str] = {}  # the last interim transcript shown, per user item
        self._speech_started_at: dict[str, float] = {}
        self._closing = False
        self._failed = False
        self._main = asyncio.create_task(self._run(), name="inworld-livekit-session")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._client!r}>"

    # ------------------------------------------------------------ properties

    @property
    def capabilities(self) -> llm.RealtimeCapabilities:
        return self._capabilities

    @property
    def chat_ctx(self) -> llm.ChatContext:
        return self._remote.to_chat_ctx()

    @property
    def tools(self) -> llm.ToolContext:
        return self._tools.copy()

    @property
    def client(self) -> AsyncRealtimeClient:
        """The asyncio client under the session."""
        return self._client

    # ------------------------------------------------------------ connection

    async def _run(self) -> None:
        started = time.perf_counter()
        try:
            await self._client.connect()
        except Exception as exc:
            self._fail(exc)
            return
        self._report_connection_acquired(time.perf_counter() - started)
        sender = asyncio.create_task(self._send_loop(), name="inworld-livekit-send")
        try:
            async for event in self._client:
                try:
                    self._dispatch(event)
                except Exception:
                    log.exception("failed handling %s", getattr(event, "type", type(event).__name__))
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if not self._closing:
                self._fail(ConnectionError("the Inworld Realtime connection ended"))

    async def _send_loop(self) -> None:
        client = self._client
        while True:
            op = await self._ops.get()
            try:
                if isinstance(op, bytes):
                    await client.send_audio(op)
                elif isinstance(op, ev.ClientEvent):
                    await client.send(op)
                else:
                    await op()
            except ConnectionError:
                return  # the client has ended; _run reports it
            except Exception as exc:
                log.exception("failed sending to Inworld")
                self._emit_error(exc, recoverable=True)

    def _fail(self, exc: Exception) -> None:
        """The session cannot go on: end the generation, fail what waits, tell LiveKit once."""
        self._close_generation()
        self._fail_waiting(f"the Inworld session ended: {exc}")
        if not self._failed:
            self._failed = True
            self._emit_error(exc, recoverable=False)

    def _fail_waiting(self, why: str) -> None:
        waiting: list[asyncio.Future[Any]] = [*self._replies.values(), *self._waiters.values()]
        self._replies.clear()
        self._waiters.clear()
        for fut in waiting:
            if not fut.done():
                fut.set_exception(llm.RealtimeError(why))

    def _emit_error(self, exc: Exception, recoverable: bool) -> None:
        self.emit("error", llm.RealtimeModelError(timestamp=time.time(), label=self._model.label, error=exc,
                                                  recoverable=recoverable))

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_generation()
        self._fail_waiting("the realtime session is closed")
        await self._client.close()
        self._main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._main

    # ------------------------------------------------------------ configuration

    async def update_instructions(self, instructions: str) -> None:
        self._instructions = instructions
        self._ops.put_nowait(ev.SessionUpdate(session=SessionProperties(instructions=instructions)))

    async def update_tools(self, tools: list[llm.Tool]) -> None:
        async with self._tools_lock:
            wire, kept = to_tools(tools)
            self._ops.put_nowait(ev.SessionUpdate(session=SessionProperties(tools=wire)))
            self._tools = llm.ToolContext(kept)

    def update_options(
        self,
        *,
        tool_choice: NotGivenOr[llm.ToolChoice | None] = NOT_GIVEN,
        voice: NotGivenOr[str] = NOT_GIVEN,
        temperature: NotGivenOr[float] = NOT_GIVEN,
        speed: NotGivenOr[float] = NOT_GIVEN,
        turn_detection: NotGivenOr[TurnDetection | None] = NOT_GIVEN,
        stt_model: NotGivenOr[str | None] = NOT_GIVEN,
        noise_reduction: NotGivenOr[Literal["near_field", "far_field"] | str | None] = NOT_GIVEN,
        max_output_tokens: NotGivenOr[int | Literal["inf"] | None] = NOT_GIVEN,
    ) -> None:
        """Change the live session: tool choice, voice, temperature, speech speed, turn detection,
        transcription (``stt_model=None``: off), noise reduction and the maximum output tokens."""
        update = self._opts.change(voice=voice, temperature=temperature, speed=speed, tool_choice=tool_choice,
                                   turn_detection=turn_detection, stt_model=stt_model,
                                   noise_reduction=noise_reduction, max_output_tokens=max_output_tokens)
        if is_given(turn_detection) or is_given(stt_model):
            self._opts.refresh(self._capabilities)
        if update is not None:
            self._ops.put_nowait(ev.SessionUpdate(session=update))

    async def update_chat_ctx(self, chat_ctx: llm.ChatContext) -> None:
        """Create and delete conversation items until the server's conversation matches ``chat_ctx``."""
        async with self._chat_lock:
            wanted = chat_ctx.copy(exclude_handoff=True, exclude_config_update=True)
            remove_instructions(wanted)
            events = self._chat_ctx_events(wanted)
            if not events:
                return
            futures: list[asyncio.Future[None]] = []
            for event in events:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                key = f"deleted:{event.item_id}" if isinstance(event, ev.ConversationItemDelete) \
                    else f"added:{event.item.id}"
                self._waiters[key] = self._waiters[event.event_id] = fut
                futures.append(fut)
                self._ops.put_nowait(event)
            try:
                results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), ITEM_TIMEOUT)
            except TimeoutError:
                raise llm.RealtimeError("update_chat_ctx timed out") from None
            finally:
                for key, fut in list(self._waiters.items()):
                    if fut in futures:
                        del self._waiters[key]
            rejected = [str(r) for r in results if isinstance(r, BaseException)]
            if rejected:
                log.warning("Inworld rejected part of a chat context update: %s", "; ".join(rejected))

    def _chat_ctx_events(self, wanted: llm.ChatContext) -> list[ev.ConversationItemCreate | ev.ConversationItemDelete]:
        remote = self._remote.to_chat_ctx()
        remote_ids = {item.id for item in remote.items}
        # Items with no wire form (empty or image-only messages, handoffs) are only kept when already remote.
        wanted = llm.ChatContext([i for i in wanted.items if i.id in remote_ids or to_item(i) is not None])
        diff = llm.utils.compute_chat_ctx_diff(remote, wanted)
        events: list[ev.ConversationItemCreate | ev.ConversationItemDelete] = []
        order = [i.id for i in remote.items]
        for item_id in diff.to_remove:
            events.append(ev.ConversationItemDelete(item_id=item_id))
            order.remove(item_id)
        creates = list(diff.to_create)
        for previous, item_id in diff.to_update:
            old = remote.get_by_id(item_id)
            if isinstance(old, llm.ChatMessage) and not old.content:
                continue  # audio the server holds without a transcript: nothing to compare, keep it
            events.append(ev.ConversationItemDelete(item_id=item_id))
            order.remove(item_id)
            creates.append((previous, item_id))
        for previous, item_id in creates:
            chat_item = wanted.get_by_id(item_id)
            item = to_item(chat_item) if chat_item is not None else None
            if item is None:
                continue
            tail = order[-1] if order else None
            if previous == tail:  # appending: no anchor needed
                events.append(ev.ConversationItemCreate(item=item))
                order.append(item_id)
            else:
                events.append(ev.ConversationItemCreate(item=item, previous_item_id=previous or "root"))
                if previous is None:
                    if len(self._head_inserts) >= MAX_INTERIM_ITEMS:  # ones the server refused are let go
                        del self._head_inserts[next(iter(self._head_inserts))]
                    self._head_inserts[item_id] = None
                order.insert(order.index(previous) + 1 if previous in order else 0, item_id)
        return events

    # ------------------------------------------------------------ audio in

    def push_audio(self, frame: rtc.AudioFrame) -> None:
        pcm = self._audio_in.convert(frame)
        if pcm:
            self._uncommitted_bytes += len(pcm)
            self._ops.put_nowait(pcm)

    def push_video(self, frame: rtc.VideoFrame) -> None:
        """Inworld Realtime takes no images: frames are dropped."""

    def commit_audio(self) -> None:
        if pcm_ms(self._uncommitted_bytes, self._opts.input_sample_rate) < MIN_COMMIT_MS:
            log.debug("not committing less than %d ms of audio", MIN_COMMIT_MS)
            return
        self._uncommitted_bytes = 0
        self._ops.put_nowait(self._client.commit)

    def clear_audio(self) -> None:
        self._uncommitted_bytes = 0
        self._ops.put_nowait(ev.InputAudioBufferClear())

    # ------------------------------------------------------------ responses

    def generate_reply(
        self,
        *,
        instructions: NotGivenOr[str] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        tools: NotGivenOr[list[llm.Tool]] = NOT_GIVEN,
    ) -> asyncio.Future[llm.GenerationCreatedEvent]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[llm.GenerationCreatedEvent] = loop.create_future()
        if self._failed or self._closing:
            fut.set_exception(llm.RealtimeError("the realtime session is closed"))
            return fut
        request = utils.shortuuid("response_create_")
        self._replies[request] = fut
        props = ev.ResponseProperties(metadata={"client_event_id": request})
        if is_given(instructions):
            # per-response instructions replace the session's, so both are sent (as LiveKit's OpenAI plugin does)
            props.instructions = f"{self._instructions}\n{instructions}" if self._instructions else instructions
        if is_given(tool_choice):
            props.tool_choice = to_tool_choice(tool_choice)
        if is_given(tools):
            props.tools = to_tools(tools)[0]
        # The request id is the event's own id: a refusal (a response already active) names it in its error.
        self._ops.put_nowait(ev.ResponseCreate(event_id=request, response=props))

        def timed_out() -> None:
            if not fut.done():
                self._discarded.add(request)
                fut.set_exception(llm.RealtimeError("generate_reply timed out"))

        timer = loop.call_later(REPLY_TIMEOUT, timed_out)

        def done(f: asyncio.Future[llm.GenerationCreatedEvent]) -> None:
            timer.cancel()
            self._replies.pop(request, None)
            if f.cancelled():
                self._discarded.add(request)  # cancelled when it arrives
                self.interrupt()

        fut.add_done_callback(done)
        return fut

    def interrupt(self) -> None:
        """Cancel the response generating now: by its id, so a cancel sent late cannot hit the next one."""
        gen = self._generation
        if gen is not None:
            self._ops.put_nowait(ev.ResponseCancel(response_id=gen.response_id))
        elif self._replies:
            self._ops.put_nowait(self._client.cancel_response)

    def truncate(
        self,
        *,
        message_id: str,
        modalities: list[Modality],
        audio_end_ms: int,
        audio_transcript: NotGivenOr[str] = NOT_GIVEN,
    ) -> None:
        """Cut an assistant message at what the user heard (nothing heard: delete it)."""
        node = self._remote.get(message_id)
        if "audio" not in modalities:
            # Text has no audio to cut: the server's item is replaced by the heard text. The mirror is left as
            # it is (a copy is diffed against it) and follows the server's own delete and add.
            if is_given(audio_transcript) and node is not None and isinstance(node.item, llm.ChatMessage):
                wanted = self._remote.to_chat_ctx()
                heard = node.item.model_copy(update={"content": [audio_transcript] if audio_transcript else []})
                wanted.items = [heard if i.id == message_id else i for i in wanted.items]
                self._ops.put_nowait(self._sync_later(wanted))
            return
        if is_given(audio_transcript) and node is not None and isinstance(node.item, llm.ChatMessage):
            node.item.content = [audio_transcript] if audio_transcript else []
        if audio_end_ms <= 0:
            self._ops.put_nowait(ev.ConversationItemDelete(item_id=message_id))
        else:
            self._ops.put_nowait(self._truncate_later(message_id, audio_end_ms))

    def _truncate_later(self, message_id: str, audio_end_ms: int) -> Callable[[], Awaitable[None]]:
        async def truncate() -> None:
            # By id: by the time this runs the next answer may be the core's current one. The core clamps.
            if await self._client.truncate(audio_end_ms, item_id=message_id) is None:
                log.debug("not truncating %s: no audio of it was received", message_id)

        return truncate

    def _sync_later(self, wanted: llm.ChatContext) -> Callable[[], Awaitable[None]]:
        async def sync() -> None:
            for event in self._chat_ctx_events(wanted):
                await self._client.send(event)

        return sync

    # ------------------------------------------------------------ events in

    def _dispatch(self, event: Any) -> None:
        self.emit("inworld_server_event_received", event)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _on_speech_started(self, event: ev.InputAudioBufferSpeechStarted) -> None:
        if event.item_id and self._opts.stt_model is not None:  # kept until the transcript comes
            self._speech_started_at[event.item_id] = time.time()
        self.emit("input_speech_started", llm.InputSpeechStartedEvent())

    def _on_speech_stopped(self, event: ev.InputAudioBufferSpeechStopped) -> None:
        self.emit("input_speech_stopped",
                  llm.InputSpeechStoppedEvent(user_transcription_enabled=self._opts.stt_model is not None))

    def _on_committed(self, event: ev.InputAudioBufferCommitted) -> None:
        self._uncommitted_bytes = 0

    def _add_remote(self, item: Any, previous: str | None, announce: bool, at_head: bool = False) -> None:
        """Mirror an item the server holds (a reconnect replays items it already announced)."""
        if self._remote.get(item.id) is None:
            chat_item = from_item(item)
            if chat_item is not None:
                if at_head:
                    anchor = None
                elif previous and self._remote.get(previous) is not None:
                    anchor = previous
                else:
                    anchor = self._remote.tail_id
                self._remote.insert(anchor, chat_item)
                if announce:
                    self.emit("remote_item_added", llm.RemoteItemAddedEvent(previous_item_id=anchor, item=chat_item))
        self._settle(f"added:{item.id}")

    def _on_item_added(self, event: ev.ConversationItemAdded) -> None:
        # "root" puts the item first; so does no previous item (null, as the OpenAI API reads it) for an item we
        # asked to put first. Any other item without a previous one is appended: the server may leave it out.
        previous = event.previous_item_id
        asked_first = event.item.id in self._head_inserts
        self._head_inserts.pop(event.item.id, None)
        at_head = previous == "root" or (previous is None and asked_first)
        self._add_remote(event.item, previous, announce=True, at_head=at_head)

    def _on_item_deleted(self, event: ev.ConversationItemDeleted) -> None:
        if self._remote.get(event.item_id) is not None:
            self._remote.delete(event.item_id)
        self._settle(f"deleted:{event.item_id}")

    def _settle(self, key: str) -> None:
        fut = self._waiters.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_transcription_delta(self, event: ev.InputAudioTranscriptionDelta) -> None:
        """An interim transcript: the core's transcript so far (Inworld's deltas are rolling rewrites)."""
        text = event.transcript_so_far
        if not text or self._partial_transcripts.get(event.item_id) == text:
            return
        if event.item_id not in self._partial_transcripts and len(self._partial_transcripts) >= MAX_INTERIM_ITEMS:
            del self._partial_transcripts[next(iter(self._partial_transcripts))]
        self._partial_transcripts[event.item_id] = text
        self.emit("input_audio_transcription_completed",
                  llm.InputTranscriptionCompleted(item_id=event.item_id, transcript=text, is_final=False))

    def _on_transcription(self, event: ev.InputAudioTranscriptionCompleted) -> None:
        self._partial_transcripts.pop(event.item_id, None)
        node = self._remote.get(event.item_id)
        if node is not None and isinstance(node.item, llm.ChatMessage):
            node.item.content = [event.transcript] if event.transcript else []
        self.emit("input_audio_transcription_completed", llm.InputTranscriptionCompleted(
            item_id=event.item_id, transcript=event.transcript, is_final=True,
            turn_started_at=self._speech_started_at.pop(event.item_id, None)))

    def _on_transcription_failed(self, event: ev.InputAudioTranscriptionFailed) -> None:
        log.warning("Inworld could not transcribe %s: %s", event.item_id, event.error.message if event.error else "")
        partial = self._partial_transcripts.pop(event.item_id, None)
        if partial is not None:  # close the interim stream LiveKit is showing
            self.emit("input_audio_transcription_completed", llm.InputTranscriptionCompleted(
                item_id=event.item_id, transcript=partial, is_final=True,
                turn_started_at=self._speech_started_at.pop(event.item_id, None)))

    def _on_response_created(self, event: ev.ResponseCreated) -> None:
        self._close_generation()
        metadata = (event.response.model_extra or {}).get("metadata")
        request = metadata.get("client_event_id") if isinstance(metadata, dict) else None
        gen = Generation(event.response.id, audio_output=self._capabilities.audio_output)
        self._generation = gen
        if request in self._discarded:
            self._discarded.discard(request)
            gen.discarded = True
            self._ops.put_nowait(ev.ResponseCancel(response_id=gen.response_id))
            return
        fut = self._replies.pop(request, None) if request else None
        if fut is None and metadata is None and self._replies:
            fut = self._replies.pop(next(iter(self._replies)))  # a server that does not echo metadata: in order
        created = gen.event(user_initiated=fut is not None and not fut.done())
        if fut is not None and not fut.done():
            fut.set_result(created)
        self.emit("generation_created", created)

    def _live(self, response_id: str | None = None) -> Generation | None:
        gen = self._generation
        if gen is None or gen.discarded or (response_id and response_id != gen.response_id):
            return None
        return gen

    def _on_output_item_added(self, event: ev.ResponseOutputItemAdded) -> None:
        self._item_response[event.item.id] = event.response_id
        self._add_remote(event.item, None, announce=True)
        gen = self._live(event.response_id)
        if gen is not None and event.item.type == "message":
            gen.message(event.item.id)

    def _on_content_part_added(self, event: ev.ResponseContentPartAdded) -> None:
        gen = self._live(event.response_id)
        if gen is not None and event.part is not None:
            gen.message(event.item_id).settle(["text"] if event.part.type == "text" else ["audio", "text"])

    def _on_text_delta(self, event: ev.ResponseOutputTextDelta | ev.ResponseOutputAudioTranscriptDelta) -> None:
        gen = self._live(event.response_id)
        if gen is None:
            return
        msg = gen.message(event.item_id)
        if not gen.audio_output and gen.first_output_at is None:
            gen.first_output_at = time.time()
        msg.transcript += event.delta
        with contextlib.suppress(utils.aio.ChanClosed):
            msg.text.send_nowait(event.delta)

    def _on_audio_delta(self, event: ev.ResponseOutputAudioDelta) -> None:
        gen = self._live(event.response_id)
        if gen is None or not event.pcm:
            return
        msg = gen.message(event.item_id)
        msg.settle(["audio", "text"])
        if gen.first_output_at is None:
            gen.first_output_at = time.time()
        with contextlib.suppress(utils.aio.ChanClosed):
            msg.audio.send_nowait(output_frame(event.pcm, self._opts.output_sample_rate))

    def _on_arguments_done(self, event: ev.ResponseFunctionCallArgumentsDone) -> None:
        gen = self._live(event.response_id)
        if gen is not None:
            gen.call(event.item_id or utils.shortuuid("item_"), event.call_id, event.name or "", event.arguments)

    def _on_output_item_done(self, event: ev.ResponseOutputItemDone) -> None:
        item = event.item
        node = self._remote.get(item.id)
        if node is not None and isinstance(node.item, llm.FunctionCall) and item.arguments is not None:
            node.item.arguments = item.arguments  # the replay of a reconnect needs the whole call
            node.item.name = node.item.name or item.name or ""
        gen = self._live(event.response_id)
        if gen is None:
            return
        if item.type == "function_call" and item.call_id:
            gen.call(item.id, item.call_id, item.name or "", item.arguments or "")
        elif item.type == "message" and item.id in gen.messages:
            gen.messages[item.id].close(["audio", "text"] if gen.audio_output else ["text"])

    def _on_response_done(self, event: ev.ResponseDone) -> None:
        gen = self._generation
        if gen is None or gen.response_id != event.response.id:
            return
        self._generation = None
        gen.close()
        for item in event.response.output:
            self._item_response.pop(item.id, None)
        if gen.discarded:
            return
        for item_id, msg in gen.messages.items():
            node = self._remote.get(item_id)
            if node is not None and isinstance(node.item, llm.ChatMessage) and not node.item.content \
                    and msg.transcript:
                node.item.content = [msg.transcript]
        status = event.response.status
        self.emit("metrics_collected", response_metrics(
            gen, event.effective_usage, status, self._model.label,
            Metadata(model_name=self._model.model, model_provider=self._model.provider)))
        if status == "failed":
            self._emit_error(llm.RealtimeError(f"the response failed: {event.response.status_details}"),
                             recoverable=True)

    def _on_response_aborted(self, event: ev.ResponseAborted) -> None:
        """The connection dropped mid-answer: end it for LiveKit; the core asks again after reconnecting."""
        self._close_generation()
        for item_id, response_id in list(self._item_response.items()):
            if response_id == event.response_id:
                del self._item_response[item_id]
                if self._remote.get(item_id) is not None:
                    self._remote.delete(item_id)

    def _close_generation(self) -> None:
        gen, self._generation = self._generation, None
        if gen is not None:
            gen.close()

    def _on_error(self, event: ev.ErrorEvent) -> None:
        error = event.error
        if error.event_id:
            fut = self._waiters.pop(error.event_id, None)
            if fut is not None:
                if not fut.done():
                    fut.set_exception(llm.RealtimeError(error.message, code=error.code))
                return
            reply = self._replies.pop(error.event_id, None)
            if reply is not None and not reply.done():
                reply.set_exception(llm.RealtimeError(error.message, code=error.code))
        if error.code in QUIET_ERRORS or error.message.startswith("Cancellation failed"):
            log.debug("Inworld: %s", error.message)
            return
        log.error("Inworld Realtime error: %s (%s)", error.message, error.code)
        self._emit_error(llm.RealtimeError(error.message, code=error.code), recoverable=True)

    def _on_audio_dropped(self, event: ev.AudioDropped) -> None:
        log.warning("%d ms of input audio were dropped: %s", event.duration_ms, event.reason)

    def _on_untyped(self, event: ev.UntypedServerMessage) -> None:
        self._emit_error(llm.RealtimeError(f"Inworld reported {event.error_type or 'an untyped message'}",
                                           code=event.error_type), recoverable=True)

    def _on_reconnecting(self, event: Reconnecting) -> None:
        log.warning("Inworld connection lost (%s); reconnecting, attempt %d", event.reason, event.attempt)
        self._emit_error(ConnectionError(f"connection lost ({event.reason}); reconnecting"), recoverable=True)

    def _on_reconnected(self, event: Reconnected) -> None:
        log.info("Inworld session resumed: %d items and %d ms of audio replayed", event.replayed_items,
                 event.replayed_audio_ms)
        self.emit("session_reconnected", llm.RealtimeSessionReconnectedEvent())

    def _on_reconnect_failed(self, event: ReconnectFailed) -> None:
        self._fail(ConnectionError(f"could not reconnect to Inworld: {event.error}"))


_HANDLERS: dict[type, Callable[[RealtimeSession, Any], None]] = {
    ev.InputAudioBufferSpeechStarted: RealtimeSession._on_speech_started,
    ev.InputAudioBufferSpeechStopped: RealtimeSession._on_speech_stopped,
    ev.InputAudioBufferCommitted: RealtimeSession._on_committed,
    ev.ConversationItemAdded: RealtimeSession._on_item_added,
    ev.ConversationItemDeleted: RealtimeSession._on_item_deleted,
    ev.InputAudioTranscriptionDelta: RealtimeSession._on_transcription_delta,
    ev.InputAudioTranscriptionCompleted: RealtimeSession._on_transcription,
    ev.InputAudioTranscriptionFailed: RealtimeSession._on_transcription_failed,
    ev.ResponseCreated: RealtimeSession._on_response_created,
    ev.ResponseOutputItemAdded: RealtimeSession._on_output_item_added,
    ev.ResponseContentPartAdded: RealtimeSession._on_content_part_added,
    ev.ResponseOutputTextDelta: RealtimeSession._on_text_delta,
    ev.ResponseOutputAudioTranscriptDelta: RealtimeSession._on_text_delta,
    ev.ResponseOutputAudioDelta: RealtimeSession._on_audio_delta,
    ev.ResponseFunctionCallArgumentsDone: RealtimeSession._on_arguments_done,
    ev.ResponseOutputItemDone: RealtimeSession._on_output_item_done,
    ev.ResponseDone: RealtimeSession._on_response_done,
    ev.ResponseAborted: RealtimeSession._on_response_aborted,
    ev.ErrorEvent: RealtimeSession._on_error,
    ev.UntypedServerMessage: RealtimeSession._on_untyped,
    ev.AudioDropped: RealtimeSession._on_audio_dropped,
    Reconnecting: RealtimeSession._on_reconnecting,
    Reconnected: RealtimeSession._on_reconnected,
    ReconnectFailed: RealtimeSession._on_reconnect_failed,
}
