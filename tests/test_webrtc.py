"""The WebRTC transport end to end over loopback: real ICE on 127.0.0.1, real DTLS/SCTP, real Opus both ways."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc")

from inworld_realtime.emulator import Emulator, EmulatorOptions
from inworld_realtime.emulator.brain import ScriptedBrain, ToolRule
from inworld_realtime.emulator.webrtc import endpoint, gather_on_loopback
from inworld_realtime.io_adapters.events import Reconnected, Reconnecting
from inworld_realtime.io_adapters.webrtc import AsyncWebRTCClient, IceServer
from inworld_realtime.protocol import ConnectTimeout, HandshakeError
from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import ConversationItem, ItemContent
from inworld_realtime.protocol.session import FunctionTool, SessionProperties

from .emulator_helpers import rms, speech_like

RATE = 24000
KEY = "sk-test-webrtc-secret-0123456789"
gather_on_loopback()  # every candidate of every peer in this process on 127.0.0.1


def run(coro: Any, timeout: float = 40.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@asynccontextmanager
async def emulator(**brain: Any) -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorOptions(brain=ScriptedBrain(**brain), api_key=KEY)) as emu:
        yield emu


def client(emu: Emulator, **options: Any) -> AsyncWebRTCClient:
    options.setdefault("connect_timeout", 8.0)
    return AsyncWebRTCClient(options.pop("key", KEY), url=emu.webrtc_url, **options)


async def speak(c: AsyncWebRTCClient, pcm: bytes) -> None:
    for start in range(0, len(pcm), 960):
        await c.send_audio(pcm[start : start + 960])


async def until(c: AsyncWebRTCClient, done: Callable[[Any], bool], seen: list[Any], timeout: float = 15.0) -> Any:
    """Collect events into ``seen`` until one satisfies ``done``."""
    while True:
        event = await c.recv(timeout=timeout)
        seen.append(event)
        if done(event):
            return event


async def drain(c: AsyncWebRTCClient, quiet: float) -> list[Any]:
    """Events until none came for ``quiet`` seconds."""
    out: list[Any] = []
    while True:
        try:
            out.append(await c.recv(timeout=quiet))
        except TimeoutError:
            return out


def audio_ms(events: list[Any], item_id: str | None = None) -> float:
    pcm = sum(len(e.pcm) for e in events if isinstance(e, ev.ResponseOutputAudioDelta)
              and (item_id is None or e.item_id == item_id))
    return pcm / 2 / RATE * 1000


def candidates(sdp: str) -> list[str]:
    return re.findall(r"a=candidate:\S+ \d+ \w+ \d+ (\S+) \d+", sdp)


def test_a_spoken_turn_goes_out_as_opus_and_the_answer_comes_back_on_the_track() -> None:
    async def main() -> None:
        async with emulator(transcripts=["hello there"], replies=["Hi! Nice to hear you."]) as emu:
            async with client(emu) as c:
                pc = c._pc
                assert pc is not None
                assert c.rtc_configuration is not None
                assert c.rtc_configuration.iceServers == []  # what the endpoint listed, never a default
                ice = pc.getTransceivers()[0].sender.transport.transport.iceGatherer._connection
                assert ice.stun_server is None and ice.turn_server is None  # aiortc added no public server
                call = endpoint(emu).calls[-1]
                for sdp in (pc.localDescription.sdp, pc.remoteDescription.sdp, call.pc.localDescription.sdp):
                    assert candidates(sdp) and set(candidates(sdp)) == {"127.0.0.1"}
                assert "opus/48000" in pc.remoteDescription.sdp.lower()
                await speak(c, speech_like(RATE))
                seen: list[Any] = []
                done = await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
                assert done.response.status == "completed"
                seen += await drain(c, 0.8)  # the rest of the answer plays out after response.done
                record = emu.sessions[-1]
            texts = [e.transcript for e in seen if isinstance(e, ev.InputAudioTranscriptionCompleted)]
            assert texts == ["hello there"]
            said = [e.transcript for e in seen if isinstance(e, ev.ResponseOutputAudioTranscriptDone)]
            assert said == ["Hi! Nice to hear you."]
            # The user's audio reached the emulator through Opus (it heard the speech and the silence after it).
            assert record.audio_bytes > len(speech_like(RATE)) // 2
            # The answer was heard: audible deltas, about as long as what the emulator synthesised.
            deltas = [e for e in seen if isinstance(e, ev.ResponseOutputAudioDelta)]
            assert deltas and all(e.delta == "" for e in deltas)  # from the track, none from the data channel
            heard = b"".join(e.pcm for e in deltas)
            assert rms(heard) > 300
            spoken_ms = record.responses[-1].audio_ms
            assert 0.8 * spoken_ms <= audio_ms(seen) <= 1.2 * spoken_ms + 100
            assert ("GET", "/v1/realtime/ice-servers", "bearer") in endpoint(emu).requests

    run(main())


@pytest.mark.parametrize(("auth_type", "key", "body"), [
    ("bearer", KEY, "json"),
    ("basic", KEY, "sdp"),
    ("bearer", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl", "sdp"),  # a JWT, as Inworld's JWT examples
])
def test_every_auth_form_and_both_offer_bodies_open_a_session(auth_type: str, key: str, body: str) -> None:
    async def main() -> None:
        async with emulator(replies=["Fine."]) as emu:
            async with client(emu, key=key, auth_type=auth_type, body=body, ice_servers=[]) as c:
                await c.send(ev.ConversationItemCreate(item=ConversationItem(
                    type="message", role="user", content=[ItemContent(type="input_text", text="how are you")])))
                await c.create_response(output_modalities=["text"])
                seen: list[Any] = []
                await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
                assert [e.text for e in seen if isinstance(e, ev.ResponseOutputTextDone)] == ["Fine."]
            web = endpoint(emu)
            assert web.requests == [("POST", "/v1/realtime/calls", auth_type)]  # ice_servers=[]: nothing fetched
            assert c.call_id is None if body == "sdp" else (c.call_id or "").startswith("call_")

    run(main())


def test_the_emulator_answers_both_body_forms_as_the_sources_describe() -> None:
    """Raw SDP in, raw SDP out (Inworld's clients); JSON in, ``{id, sdp, ice_servers}`` out (the reference)."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    from inworld_realtime.io_adapters.webrtc import http_request

    async def main() -> None:
        async with emulator() as emu:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.createDataChannel("oai-events")
            await pc.setLocalDescription(await pc.createOffer())
            offer = pc.localDescription.sdp
            auth = {"Authorization": f"Bearer {KEY}"}
            raw = await http_request(emu.webrtc_url, "POST", "/calls", {**auth, "Content-Type": "application/sdp"},
                                     offer.encode())
            assert raw.status == 201 and raw.headers["content-type"] == "application/sdp"
            assert raw.body.startswith(b"v=0")
            as_json = await http_request(emu.webrtc_url, "POST", "/calls", {**auth, "Content-Type": "application/json"},
                                         json.dumps({"sdp": offer, "session": {"instructions": "Be brief."}}).encode())
            answer = json.loads(as_json.body)
            assert as_json.status == 201 and answer["id"].startswith("call_") and answer["sdp"].startswith("v=0")
            assert answer["ice_servers"] == []
            assert emu.sessions[-1].config is not None and emu.sessions[-1].config.instructions == "Be brief."
            ice = await http_request(emu.webrtc_url, "GET", "/ice-servers", auth)
            assert json.loads(ice.body) == {"ice_servers": []}
            bad = await http_request(emu.webrtc_url, "POST", "/calls", {**auth, "Content-Type": "application/sdp"},
                                     b"hello")
            assert bad.status == 400
            await pc.close()

    run(main())


def test_a_refused_offer_is_a_handshake_error_with_status_and_body_and_the_key_is_never_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        async with emulator() as emu:
            wrong = "sk-wrong-key-9876543210"
            with pytest.raises(HandshakeError) as info:
                await client(emu, key=wrong, ice_servers=[]).connect()
            assert info.value.status == 401
            assert "Invalid authorization credentials" in info.value.body
            assert wrong not in str(info.value) and wrong not in repr(info.value)
            async with client(emu) as c:
                assert KEY not in repr(c) and KEY not in repr(c.connection)

    run(main())
    assert KEY not in caplog.text and "sk-wrong-key" not in caplog.text


def test_no_ice_connectivity_in_time_is_a_connect_timeout_naming_ice() -> None:
    async def main() -> None:
        async with emulator() as emu:
            endpoint(emu).answer_unreachable = True
            c = client(emu, connect_timeout=2.0, ice_servers=[])
            with pytest.raises(ConnectTimeout, match="ICE"):
                await c.connect()

    run(main())


def test_ice_servers_come_from_the_endpoint_and_go_to_the_peer() -> None:
    """The list the endpoint gives is the list the peer gets (no public server added)."""
    async def main() -> None:
        async with emulator() as emu, client(emu) as c:
            assert c.rtc_configuration is not None and c.rtc_configuration.iceServers == []
        assert IceServer.parse({"urls": "turn:x", "username": "u", "credential": "secret"}).urls == ("turn:x",)
        assert "secret" not in repr(IceServer(("turn:x",), "u", "secret"))

    run(main())


@pytest.mark.parametrize("fault", ["channel", "peer"])
def test_a_closed_channel_or_a_dead_peer_reconnects_with_a_new_call(fault: str) -> None:
    async def main() -> None:
        async with emulator() as emu:  # the emulator echoes
            async with client(emu, backoff_initial=0.05) as c:
                await c.send(ev.ConversationItemCreate(item=ConversationItem(
                    type="message", role="user", content=[ItemContent(type="input_text", text="one")])))
                await c.create_response(output_modalities=["text"])
                seen: list[Any] = []
                await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
                call = endpoint(emu).calls[-1]
                if fault == "channel":
                    assert call.channel is not None
                    call.channel.close()
                else:
                    call.abort()
                back = await until(c, lambda e: isinstance(e, Reconnected), seen)
                assert any(isinstance(e, Reconnecting) for e in seen)
                assert any(isinstance(e, ev.ConnectionClosed) and not e.clean for e in seen)
                assert back.replayed_items == 2  # the history, replayed over the new channel
                assert len(endpoint(emu).calls) == 2
                await c.send(ev.ConversationItemCreate(item=ConversationItem(
                    type="message", role="user", content=[ItemContent(type="input_text", text="two")])))
                await c.create_response(output_modalities=["text"])
                await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
            replayed = [e for e in emu.sessions[-1].events if isinstance(e, ev.ConversationItemCreate)]
            assert [item_words(e.item) for e in replayed][:2] == ["one", "You said: one"]
            assert [e.text for e in seen if isinstance(e, ev.ResponseOutputTextDone)] == [
                "You said: one", "You said: two"]

    run(main())


def item_words(item: ConversationItem) -> str:
    return " ".join(c.text or c.transcript or "" for c in item.content or [])



def test_talk_with_transport_webrtc_against_the_embedded_emulator_is_heard(tmp_path: Path) -> None:
    from .test_cli import QUESTION, run_cli
    from .test_cli import rms as wav_rms

    out = tmp_path / "answer.wav"
    result = run_cli("talk", str(QUESTION), "--out", str(out), "--fast", "--transport", "webrtc")
    assert result.returncode == 0, result.stderr
    assert "over WebRTC" in result.stdout and "http://127.0.0.1:" in result.stdout
    assert result.stdout.count("assistant: You said: ") == 1
    rate, seconds, level = wav_rms(out)
    assert rate == 24000 and seconds > 1.0 and level > 300  # the answer, heard through the Opus track


def test_a_tool_call_over_the_data_channel_and_its_answer_on_the_track() -> None:
    async def main() -> None:
        rule = ToolRule("get_weather", ("weather",), {"city": "Paris"}, reply="It is {result} in Paris.")
        session = SessionProperties(tools=[FunctionTool(name="get_weather", description="Weather in a city")])
        async with emulator(transcripts=["what is the weather in Paris"], tools=[rule]) as emu, \
                client(emu, session=session) as c:
            await speak(c, speech_like(RATE))
            seen: list[Any] = []
            call = await until(c, lambda e: isinstance(e, ev.ResponseFunctionCallArgumentsDone), seen)
            assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
            await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
            await c.send(ev.ConversationItemCreate(item=ConversationItem(
                type="function_call_output", call_id=call.call_id, output="sunny")))
            await c.create_response()
            done = await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
            assert done.response.status == "completed"
            said = [e.transcript for e in seen if isinstance(e, ev.ResponseOutputAudioTranscriptDone)]
            assert said == ["It is sunny in Paris."]
            item = said_item(seen)
            assert audio_ms(seen, item) > 500  # spoken on the track, before response.done as over a WebSocket

    run(main())


def said_item(events: list[Any]) -> str:
    return next(e.item_id for e in reversed(events) if isinstance(e, ev.ResponseOutputAudioTranscriptDone))


LONG = ("Once upon a time there was a small robot who lived in a lighthouse and counted the ships that passed "
        "by every single night, writing each name in a very long book.")


def test_barge_in_truncates_at_what_the_track_played() -> None:
    async def main() -> None:
        async with emulator(transcripts=["tell me a story", "stop"], replies=[LONG, "Okay."]) as emu, \
                client(emu) as c:
            await speak(c, speech_like(RATE))
            seen: list[Any] = []
            await until(c, lambda e: isinstance(e, ev.ResponseOutputAudioDelta) and audio_ms(seen) > 800, seen)
            interrupting = asyncio.create_task(speak(c, speech_like(RATE, lead_ms=0)))
            await until(c, lambda e: isinstance(e, ev.InputAudioBufferSpeechStarted), seen)
            item = next(e.item_id for e in seen if isinstance(e, ev.ResponseOutputAudioDelta))
            played = audio_ms(seen, item)
            truncate = await c.truncate()
            assert truncate is not None and truncate.item_id == item
            assert abs(truncate.audio_end_ms - played) <= 25  # what the track played, to a frame
            cancelled = await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
            assert cancelled.response.status == "cancelled"
            await interrupting
            seen += await drain(c, 0.5)
            record = emu.sessions[-1]
            sent_ms = record.responses[0].audio_ms  # what the emulator had sent when it heard the barge-in
            assert record.responses[0].status == "cancelled"
            assert 800 <= played <= sent_ms + 25 and played < 3000  # the story lasts about ten seconds
            # The emulator stopped the track at the barge-in: little more of the item was played after it.
            assert audio_ms(seen, item) <= played + 300
            assert [t.audio_end_ms for t in record.truncates] == [truncate.audio_end_ms]

    run(main())


def test_a_drop_mid_answer_reconnects_replays_the_history_and_the_answer_is_given_again() -> None:
    async def main() -> None:
        async with emulator(transcripts=["hello there"], replies=[LONG]) as emu, \
                client(emu, backoff_initial=0.05) as c:
            await speak(c, speech_like(RATE))
            seen: list[Any] = []
            await until(c, lambda e: isinstance(e, ev.ResponseOutputAudioDelta) and audio_ms(seen) > 400, seen)
            endpoint(emu).calls[-1].abort()  # the peer dies mid-answer
            back = await until(c, lambda e: isinstance(e, Reconnected), seen)
            assert back.replayed_items >= 1
            aborted = [e for e in seen if isinstance(e, ev.ResponseAborted)]
            assert len(aborted) == 1
            before = len(seen)
            done = await until(c, lambda e: isinstance(e, ev.ResponseDone), seen, timeout=20)
            assert done.response.status == "completed"  # the owed answer, asked again on the new call
            again = seen[before:]
            assert audio_ms(again) > 1000
            first = emu.sessions[-2]
            second = emu.sessions[-1]
            assert first.closed and not second.closed
            replayed = [e.item for e in second.events if isinstance(e, ev.ConversationItemCreate)]
            assert [item_words(i) for i in replayed][:1] == ["hello there"]
            assert any(isinstance(e, ev.ResponseCreate) for e in second.events)

    run(main())


def test_track_audio_is_given_to_the_answer_it_belongs_to_even_when_it_plays_before_its_event() -> None:
    from inworld_realtime.io_adapters.webrtc import PlayedAudio
    from inworld_realtime.protocol.items import ContentPart

    loud, quiet = b"\x00\x10" * 480, bytes(960)  # 20 ms at 24 kHz
    played = PlayedAudio()
    assert played.on_audio(quiet, RATE) == []  # silence with no answer: nothing
    assert played.on_audio(loud, RATE) == [] and played.on_audio(loud, RATE) == []  # no answer named yet: kept
    played.on_event(ev.ResponseContentPartAdded(response_id="r", item_id="a", output_index=0, content_index=0,
                                                part=ContentPart(type="audio")))
    deltas = played.on_audio(loud, RATE)
    assert [d.item_id for d in deltas] == ["a", "a", "a"]  # the early frames, then this one
    played.on_event(ev.ResponseOutputAudioDone(response_id="r", item_id="a"))
    assert played.on_audio(loud, RATE)  # the track still plays the answer after its done event
    for _ in range(15):
        assert played.on_audio(quiet, RATE) == []
    assert played.item_id is None  # 300 ms of silence after done: the answer is over
    assert played.played["a"] == 4 * len(loud)
    played.on_event(ev.ResponseContentPartAdded(response_id="r2", item_id="b", output_index=0, content_index=0,
                                                part=ContentPart(type="audio")))
    assert played.on_audio(loud, RATE)
    played.on_event(ev.InputAudioBufferSpeechStarted(audio_start_ms=0, item_id="u"))
    assert played.item_id is None and played.on_audio(loud, RATE) == []  # a barge-in ends it at once


def test_the_pipecat_shim_takes_a_transport_and_runs_a_voice_turn_over_webrtc() -> None:
    pytest.importorskip("pipecat")
    from pipecat.frames.frames import TTSAudioRawFrame
    from pipecat.processors.aggregators.llm_context import LLMContext

    from inworld_realtime.io_adapters.pipecat_shim import InworldRealtimeLLMService

    from .test_emulator_pipecat import Harness
    from .test_pipecat_shim import voice_turn

    async def main() -> None:
        async with Emulator(EmulatorOptions(brain=ScriptedBrain(transcripts=["hello emulator"]))) as emu:
            h = Harness(emu.url, LLMContext(), InworldRealtimeLLMService, transport="webrtc")
            await h.start()
            try:
                frames = await voice_turn(h)
                assert isinstance(h.llm.client, AsyncWebRTCClient)
                await h.stop()
            finally:
                await h.stop(graceful=False)
            audio = b"".join(f.audio for f in frames if isinstance(f, TTSAudioRawFrame))
            assert rms(audio) > 300
            assert endpoint(emu).requests[-1][:2] == ("POST", "/v1/realtime/calls")

    run(main(), timeout=60)


def test_the_livekit_plugin_takes_a_transport_and_answers_over_webrtc() -> None:
    pytest.importorskip("livekit.agents")
    from .test_livekit_plugin import agent_session

    async def main() -> None:
        async with agent_session(ScriptedBrain(), transport="webrtc") as (emu, session, recorder, _):
            result = await session.run(user_input="Hello there")
            result.expect.next_event().is_message(role="assistant")
            [reply] = recorder.assistant()
            assert reply.text_content == "You said: Hello there"
            assert [r[:2] for r in endpoint(emu).requests] == [("GET", "/v1/realtime/ice-servers"),
                                                               ("POST", "/v1/realtime/calls")]

    run(main(), timeout=60)


def test_reset_conversation_opens_a_fresh_call_and_close_is_idempotent() -> None:
    async def main() -> None:
        async with emulator() as emu:
            c = client(emu, ice_servers=[])
            await c.connect()
            await c.send(ev.ConversationItemCreate(item=ConversationItem(
                type="message", role="user", content=[ItemContent(type="input_text", text="remember me")])))
            await c.create_response(output_modalities=["text"])
            seen: list[Any] = []
            await until(c, lambda e: isinstance(e, ev.ResponseDone), seen)
            await c.reset_conversation()
            assert len(endpoint(emu).calls) == 2 and endpoint(emu).calls[0].record.closed
            assert not [e for e in emu.sessions[-1].events if isinstance(e, ev.ConversationItemCreate)]  # no replay
            await c.close()
            await c.close()
            rest = [e async for e in c]  # the stream ends after the session's last events
            assert isinstance(rest[-1], ev.ConnectionClosed) and rest[-1].clean
            with pytest.raises(ConnectionError):
                await c.recv(timeout=1)

    run(main())


def test_bad_configuration_fails_before_any_attempt() -> None:
    from inworld_realtime.protocol import ConfigurationError

    with pytest.raises(ConfigurationError, match="http"):
        AsyncWebRTCClient("k", url="wss://api.inworld.ai/api/v1/realtime/session")
    with pytest.raises(ConfigurationError, match="body"):
        AsyncWebRTCClient("k", body="xml")  # type: ignore[arg-type]

    async def plain_http_elsewhere() -> None:
        with pytest.raises(ConfigurationError, match="plain http"):
            await AsyncWebRTCClient("k", url="http://example.com/v1/realtime").connect()

    run(plain_http_elsewhere())


def test_the_channel_takes_the_replay_after_a_reconnect_through_the_cores_pull_in_bounded_steps() -> None:
    from inworld_realtime.io_adapters.webrtc.channel import ChannelConnection

    conn = ChannelConnection(KEY, None, "http://127.0.0.1:1/v1/realtime")

    def configure() -> list[str]:
        conn.connect()
        conn.channel_open()
        update = [json.loads(m)["type"] for m in conn.take_messages()]
        conn.receive_message(ev.SessionUpdated(session=conn.session).to_json())
        return update

    assert configure() == ["session.update"]
    for i in range(20):
        conn.send(ev.ConversationItemCreate(item=ConversationItem(
            id=f"u{i}", type="message", role="user", content=[ItemContent(type="input_text", text=f"turn {i}")])))
    assert len(conn.take_messages()) == 20
    conn.connection_lost("the data channel closed")
    assert configure() == ["session.update"]
    assert conn.more_to_send  # the replay waits to be taken
    step = conn.take_messages(200)
    assert 0 < len(step) < 20 and conn.more_to_send  # one bounded step, whole messages
    rest = conn.take_messages()
    assert not conn.more_to_send
    assert [json.loads(m)["item"]["id"] for m in step + rest] == [f"u{i}" for i in range(20)]


def test_the_webrtc_client_has_every_public_name_of_the_websocket_client() -> None:
    from inworld_realtime.io_adapters import AsyncRealtimeClient

    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert public(AsyncRealtimeClient) - public(AsyncWebRTCClient) == set()  # e.g. stream_audio, which talk uses


def test_the_track_reaches_a_mono_listener_at_the_level_it_was_given() -> None:
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame

    from inworld_realtime.io_adapters.webrtc import PcmTrack, Resampler

    rate = 16000
    pcm = speech_like(rate, syllables=3, lead_ms=0, tail_ms=0)  # about 0.6 s, all voiced

    async def frames() -> list[Any]:
        track = PcmTrack(rate)
        track.push(pcm)
        return [await track.recv() for _ in range(len(pcm) // track.frame_bytes)]

    encoder, decoder, mono = OpusEncoder(), OpusDecoder(), Resampler(rate)
    heard = bytearray()
    for frame in run(frames()):  # aiortc's own Opus path, as the peer's sender and receiver run it
        for packet in encoder.encode(frame)[0]:
            for decoded in decoder.decode(JitterFrame(data=packet, timestamp=0)):
                heard += mono.frame(decoded)
    assert rms(bytes(heard)) == pytest.approx(rms(pcm), rel=0.12)  # not 3 dB down (a factor of 0.71)
