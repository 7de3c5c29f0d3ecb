"""Failures users of other realtime clients hit, each reproduced with the emulator and shown not to hurt us."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

from inworld_realtime.emulator import Emulator, EmulatorOptions, Faults, ScriptedBrain
from inworld_realtime.io_adapters import AsyncRealtimeClient, Reconnected
from inworld_realtime.protocol import AudioConfiguration, AudioInput, ConnectionState, PCMAudioFormat, SessionProperties
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ConversationItem, ItemContent
from tests.emulator_helpers import speech_like

TEXT = SessionProperties(output_modalities=["text"])
QUICK = {"connect_timeout": 3.0, "backoff_initial": 0.02, "backoff_max": 0.1}


def run(options: EmulatorOptions, session: SessionProperties | None,
        body: Callable[[AsyncRealtimeClient, Emulator], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Emulator(options) as emu:
            client = AsyncRealtimeClient("k", session, emu.url, **QUICK)  # type: ignore[arg-type]
            try:
                await client.connect()
                await asyncio.wait_for(body(client, emu), 15)
            finally:
                await client.close()

    asyncio.run(main())


async def until(client: AsyncRealtimeClient, kind: type, check: Callable[[Any], bool] = lambda e: True) -> list[Any]:
    seen = []
    async for event in client:
        seen.append(event)
        if isinstance(event, kind) and check(event):
            return seen
    raise AssertionError(f"stream ended before {kind.__name__}")


def completed(event: ev.ResponseDone) -> bool:
    return event.response.status == "completed"


async def ask(client: AsyncRealtimeClient, text: str = "Hello?") -> list[Any]:
    await client.send(ev.ConversationItemCreate(item=ConversationItem.user_text(text)))
    await client.create_response()
    return await until(client, ev.ResponseDone, completed)


def options(**kw: Any) -> EmulatorOptions:
    return EmulatorOptions(brain=ScriptedBrain(replies=["Fine."] * 6), pace=0, **kw)


def test_recoverable_error_event_is_not_fatal() -> None:  # pipecat-ai/pipecat#1781
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        await client.update_session(SessionProperties(max_output_tokens=-5))
        seen = await until(client, ev.ErrorEvent)
        assert seen[-1].error.type == "invalid_request_error"
        assert client.state is ConnectionState.READY
        assert "Fine." in "".join(e.delta for e in await ask(client) if isinstance(e, ev.ResponseOutputTextDelta))

    run(options(), TEXT, body)


def test_cancel_without_an_active_response_keeps_the_socket() -> None:  # pipecat-ai/pipecat#3755
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        assert await client.cancel_response() is False  # the client does not even send it
        await client.send(ev.ResponseCancel())  # sent by hand: the server's error must not hurt
        error = (await until(client, ev.ErrorEvent))[-1]
        assert error.error.code == "response_cancel_not_active"
        await ask(client)

    run(options(cancel_without_response_error=True), TEXT, body)  # OpenAI's error, which Inworld's clients never see


def test_response_create_racing_the_servers_auto_response_after_a_tool_result() -> None:  # pipecat PR #3960
    session = TEXT.model_copy(update={"tools": [{"type": "function", "name": "get_time", "description": "now"}]})

    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        await client.send(ev.ConversationItemCreate(item=ConversationItem.user_text("Call get_time please")))
        await client.create_response()
        call = (await until(client, ev.ResponseFunctionCallArgumentsDone))[-1]
        await until(client, ev.ResponseDone)
        await client.send(ev.ConversationItemCreate(item=ConversationItem.function_output(call.call_id, '"noon"')))
        await client.create_response()  # the server (auto_tool_response on) already started one
        seen = await until(client, ev.ResponseDone, completed)
        assert client.state is not ConnectionState.FAILED
        errors = [e.error.code for e in seen if isinstance(e, ev.ErrorEvent)]
        assert set(errors) <= {"conversation_already_has_active_response"}

    run(options(), session, body)


def test_truncate_is_clamped_and_never_sent_before_audio() -> None:  # pipecat#2106, #3677; livekit/agents#6157
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        assert await client.truncate(1000) is None
        await ask(client)  # audio answer
        event = await client.truncate(10_000_000)
        assert event is not None
        await until(client, ev.ConversationItemTruncated)
        record = emu.sessions[0]
        assert record.errors == [] and record.truncates[0].audio_end_ms == event.audio_end_ms <= 10_000

    run(options(), None, body)


def test_audio_before_session_updated_is_heard_under_the_configured_session() -> None:  # pipecat PR #5355
    async def main() -> None:
        async with Emulator(options()) as emu:
            props = SessionProperties(instructions="Custom rules",
                                      audio=AudioConfiguration(input=AudioInput(format=PCMAudioFormat(rate=16000))))
            client = AsyncRealtimeClient("k", props, emu.url, **QUICK)  # type: ignore[arg-type]
            connect = asyncio.create_task(client.connect())
            await asyncio.sleep(0)  # the upgrade is under way; the session is not configured yet
            assert client.state is ConnectionState.CONNECTING
            await client.send_audio(bytes(3200))
            await connect
            await client.close()
            types = [e.type for e in emu.sessions[-1].events]
            assert types.index("session.update") < types.index("input_audio_buffer.append")
            assert emu.sessions[-1].updates[0].instructions == "Custom rules"

    asyncio.run(main())


def test_session_expired_reconnects_and_replays() -> None:  # livekit/agents#2358
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        await ask(client, "Remember the word banana.")
        seen = await until(client, Reconnected)
        assert any(isinstance(e, ev.ErrorEvent) and e.error.code == "session_expired" for e in seen)
        await until(client, ev.ConversationItemAdded)  # the replayed history, echoed by the new session
        texts = [part.text for e in emu.sessions[1].events if isinstance(e, ev.ConversationItemCreate)
                 for part in e.item.content or []]
        assert "Remember the word banana." in texts

    run(options(session_ttl_s=1.0), TEXT, body)


def test_a_drop_during_a_response_ends_it_with_an_event() -> None:  # livekit/agents PR #5276
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        await client.send(ev.ConversationItemCreate(item=ConversationItem.user_text("Talk to me")))
        await client.create_response()
        seen = await until(client, Reconnected)
        aborted = [e for e in seen if isinstance(e, ev.ResponseAborted)]
        assert aborted and aborted[0].response_id
        await until(client, ev.ResponseDone, completed)  # and the answer is asked for again

    run(options(faults=Faults(drop_after=5, first_connections=1)), None, body)


def test_beta_event_names_are_accepted() -> None:  # openai/openai-python#2698
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        seen = await ask(client)
        assert any(isinstance(e, ev.ResponseOutputAudioDelta) and e.pcm for e in seen)
        assert not [e for e in seen if isinstance(e, ev.UnknownServerEvent | ev.InvalidServerEvent)]

    run(options(beta_event_names=True), None, body)


def test_an_item_with_more_than_one_mebibyte_of_audio() -> None:  # BerriAI/litellm#15747
    async def body(client: AsyncRealtimeClient, emu: Emulator) -> None:
        audio = base64.b64encode(speech_like(24000) * 6).decode()
        assert len(audio) > 1024 * 1024
        item = ConversationItem(role="user", content=[ItemContent(type="input_audio", audio=audio)])
        await client.send(ev.ConversationItemCreate(item=item))
        added = (await until(client, ev.ConversationItemAdded))[-1]
        assert added.item.id == item.id and client.state is ConnectionState.READY

    run(options(), None, body)
