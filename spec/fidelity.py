"""Where every behaviour of the emulator and every field of the models comes from, as data.

``python -m spec.fidelity`` writes ``spec/FIDELITY.md`` from it; ``tests/test_fidelity.py`` checks that every
emulator behaviour (handlers, events it sends, options, faults) and every model field is listed here, that
nothing listed is stale, and that the Markdown is up to date. Inworld is the authority: its documentation and
its published clients come first; pipecat's Inworld service next; OpenAI's GA reference only where neither
says anything; "ours" marks what we chose.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

EXAMPLES = "inworld-ai/inworld-api-examples"
ANDROID = "realtime/android/webrtc/app/src/main/java/ai/inworld/voiceagent"
PIPECAT = "pipecat-ai 1.14 pipecat/services/inworld/realtime"

KINDS = ("Inworld docs", "Inworld example client", "pipecat service", "third-party client of Inworld",
         "OpenAI GA reference (fallback)", "none: our choice")

#: id -> (kind, where)
SOURCES: dict[str, tuple[str, str]] = {
    "iw-ref": ("Inworld docs", "https://docs.inworld.ai/api-reference/realtimeAPI/realtime/realtime-websocket"),
    "iw-connect": ("Inworld docs", "https://docs.inworld.ai/realtime/connect/websocket"),
    "iw-provider-data": ("Inworld docs", "https://docs.inworld.ai/realtime/provider-data"),
    "iw-backchannel": ("Inworld docs", "https://docs.inworld.ai/realtime/usage/back-channel"),
    "iw-responsiveness": ("Inworld docs", "https://docs.inworld.ai/realtime/usage/responsiveness"),
    "iw-models": ("Inworld docs", "https://docs.inworld.ai/realtime/usage/using-realtime-models"),
    "iw-conversations": ("Inworld docs", "https://docs.inworld.ai/realtime/usage/managing-conversations"),
    "ex-browser": ("Inworld example client", f"{EXAMPLES} realtime/python/websockets/basic/index.html"),
    "ex-proxy": ("Inworld example client", f"{EXAMPLES} realtime/python/websockets/basic/server.py"),
    "ex-proxy-jwt": ("Inworld example client", f"{EXAMPLES} realtime/python/websockets/jwt/server.py"),
    "ex-twilio": ("Inworld example client", f"{EXAMPLES} integrations/twilio/src/voice/inworld-realtime.ts"),
    "ex-twilio-bridge": ("Inworld example client", f"{EXAMPLES} integrations/twilio/src/voice/call-handler.ts"),
    "ex-telnyx": ("Inworld example client", f"{EXAMPLES} integrations/telnyx/src/voice/inworld-realtime.ts"),
    "ex-android-client": ("Inworld example client", f"{EXAMPLES} {ANDROID}/realtime/events/ClientEvents.kt"),
    "ex-android-json": ("Inworld example client", f"{EXAMPLES} {ANDROID}/realtime/events/EventJson.kt"),
    "ex-android-server": ("Inworld example client", f"{EXAMPLES} {ANDROID}/realtime/events/ServerEvent.kt"),
    "ex-android-session": ("Inworld example client", f"{EXAMPLES} {ANDROID}/realtime/RealtimeSession.kt"),
    "ex-android-vm": ("Inworld example client", f"{EXAMPLES} {ANDROID}/state/ConversationViewModel.kt"),
    "ex-android-bc": ("Inworld example client", f"{EXAMPLES} {ANDROID}/audio/BackchannelAudioPlayer.kt"),
    "ex-android-tests": ("Inworld example client", f"{EXAMPLES} realtime/android/webrtc/app/src/test/java/ai/"
                                                   "inworld/voiceagent/ServerEventDecodingTest.kt"),
    "ex-ios-client": ("Inworld example client", f"{EXAMPLES} realtime/ios/webrtc/Sources/Realtime/Events/"
                                                "ClientEvents.swift"),
    "ex-ios-server": ("Inworld example client", f"{EXAMPLES} realtime/ios/webrtc/Sources/Realtime/Events/"
                                                "ServerEvent.swift"),
    "ex-ios-tests": ("Inworld example client", f"{EXAMPLES} realtime/ios/webrtc/Tests/ServerEventDecodingTests.swift"),
    "iw-auth": ("Inworld docs", "https://dev.docs.inworld.ai/realtime/resources/authentication"),
    "iw-webrtc": ("Inworld docs", "https://docs.inworld.ai/realtime/connect/webrtc"),
    "iw-webrtc-ref": ("Inworld docs", "https://docs.inworld.ai/api-reference/realtimeAPI/realtime/realtime-webrtc"),
    "ex-android-signaling": ("Inworld example client", f"{EXAMPLES} {ANDROID}/realtime/SignalingApi.kt"),
    "ex-android-rtc": ("Inworld example client", f"{EXAMPLES} {ANDROID}/webrtc/WebRtcClient.kt, "
                                                 "webrtc/IceGatheringAwaiter.kt"),
    "ex-android-auth": ("Inworld example client", f"{EXAMPLES} {ANDROID}/auth/BasicAuthProvider.kt, "
                                                  "auth/BackendJwtAuthProvider.kt"),
    "ex-ios-rtc": ("Inworld example client", f"{EXAMPLES} realtime/ios/webrtc/Sources/Realtime/"
                                             "{SignalingAPI,WebRTCClient,IceGatheringWaiter}.swift"),
    "iw-naturalness": ("Inworld docs", "https://docs.inworld.ai/realtime/usage/naturalness"),
    "iw-voice-agents": ("Inworld docs", "https://inworld.ai/voice-agents (a marketing page's code snippet: weak)"),
    "ex-mint": ("Inworld example client", f"{EXAMPLES} realtime/python/auth/mint_jwt.py, "
                                          "realtime/js/jwt/mint-jwt.js"),
    "ex-feature-tester": ("Inworld example client", f"{EXAMPLES} branch realtime-feature-tester, "
                                                    "realtime/js/websockets/basic/index.html (unmerged: weak)"),
    "pipecat-events": ("pipecat service", f"{PIPECAT}/events.py"),
    "pipecat-llm": ("pipecat service", f"{PIPECAT}/llm.py"),
    "mastra": ("third-party client of Inworld", "mastra-ai/mastra @mastra/voice-inworld 0.3.x "
                                                "voice/inworld/src/realtime/{types,index}.ts (typed against "
                                                "Inworld's schema, it says)"),
    "arche": ("third-party client of Inworld", "the Arche LiveKit-Inworld bridge (repository unknown: weak)"),
    "vision-agents": ("third-party client of Inworld", "vision-agents-plugins-inworld 0.6.9 (GetStream "
                                                       "Vision-Agents) plugins/inworld/vision_agents/plugins/inworld/"
                                                       "rtc_manager.py (Python, aiortc)"),
    "openai": ("OpenAI GA reference (fallback)", "https://platform.openai.com/docs/api-reference/realtime"),
    "ours": ("none: our choice", "-"),
}


@dataclass(frozen=True)
class Behaviour:
    """One thing the emulator does, the sources that say so, and the option that switches it (if any)."""

    key: str
    what: str
    sources: tuple[str, ...]
    option: str = ""


def _b(key: str, what: str, sources: str, option: str = "") -> Behaviour:
    return Behaviour(key, what, tuple(sources.split()), option)


BEHAVIOURS: tuple[Behaviour, ...] = (
    # connection
    _b("connect.path", "Serves `/api/v1/realtime/session`; any other path is 404.", "iw-connect ex-proxy"),
    _b("connect.query_key", "Requires `key` (any value, e.g. `voice-<epoch ms>`); missing: 400.",
       "iw-connect ex-proxy ex-twilio ex-telnyx"),
    _b("connect.query_protocol", "`protocol=realtime` as Inworld's clients send it; absent is accepted too "
       "(inworld.ai/voice-agents' browser snippet omits it: weak source; a test server is the liberal side); any "
       "other value: 400.", "iw-connect ex-proxy iw-voice-agents"),
    _b("connect.auth_basic", "Accepts `Authorization: Basic <key as given>` (the key is not decoded).",
       "iw-ref ex-proxy ex-twilio ex-telnyx"),
    _b("connect.auth_bearer", "Accepts `Authorization: Bearer <JWT>`. A JWT this emulator minted must carry its "
       "signature and be unexpired (else 401); with `api_key` set only such tokens pass, without it other JWTs "
       "pass as any key does.", "ex-proxy-jwt iw-auth ours"),
    _b("token.endpoint", "`POST /auth/v1/tokens/token:generate` on the same port checks Inworld's "
       "`IW1-HMAC-SHA256 ApiKey,DateTime,Nonce,Signature` header (the signature against `api_key` when it is "
       "Base64 `key:secret`, the date-time within 5 minutes) and the body `{key, resources}`, and answers "
       "`{token, type, expirationTime, sessionId}`. The JWT (HS256 under a secret drawn at start), its claims and "
       "its lifetime are ours: Inworld publishes none of them.", "ex-mint iw-auth ours", "token_ttl_s"),
    _b("connect.auth_refused", "With `api_key` set, a wrong or missing credential gets 401 and a JSON body "
       "`{code, message, details}` (gRPC status codes).", "ours"),
    _b("connect.subprotocol", "No WebSocket subprotocol is required; a client that offers `realtime` "
       "(inworld.ai/voice-agents' browser snippet: weak source) gets it echoed, as a browser requires.",
       "pipecat-llm ex-proxy iw-voice-agents"),
    _b("connect.event_id_optional", "Client events without `event_id` are accepted (Inworld's clients send "
       "none).", "ex-browser ex-twilio ex-android-client"),
    # WebRTC (emulator/webrtc.py; docs/webrtc.md)
    _b("webrtc.ice_servers", "`GET /v1/realtime/ice-servers` on the same port answers `{ice_servers: [...]}`: "
       "empty (host candidates on loopback suffice; the emulator never hands out a public STUN server).",
       "iw-webrtc ex-android-signaling ex-ios-rtc vision-agents ours"),
    _b("webrtc.calls", "`POST /v1/realtime/calls` takes the offer as raw `application/sdp` (answered with raw SDP, "
       "201) or as JSON `{sdp, session}` (answered `{id, sdp, ice_servers}`); the JSON `session` configures the "
       "call's session at once. Any other type is 415; an offer without a data channel, 400.",
       "iw-webrtc-ref iw-webrtc ex-android-signaling ex-ios-rtc vision-agents"),
    _b("webrtc.data_channel", "The client's data channel `oai-events` carries the same JSON events as the "
       "WebSocket both ways, except the answer's audio deltas; there is no `session.created` to wait for: the "
       "client sends `session.update` when the channel opens.",
       "iw-webrtc iw-models ex-android-rtc ex-ios-rtc vision-agents"),
    _b("webrtc.opus_track", "One Opus audio track each way: the input track's audio is appended to the input "
       "buffer at the session's rate (VAD and recognition as over the WebSocket); the answer's audio plays on the "
       "output track (48 kHz) in place of `response.output_audio.delta`; a cancelled answer or "
       "`output_audio_buffer.clear` stops the track where it is (OpenAI's WebRTC behaviour: Inworld says nothing).",
       "iw-webrtc ex-android-rtc ex-ios-rtc openai ours"),
    _b("webrtc.non_trickle_ice", "Non-trickle ICE: every candidate is in the SDP offer and answer (Inworld's "
       "clients wait for gathering, capped at 3 s or 500 ms without a new candidate); the emulator's candidates "
       "are on loopback only.", "ex-android-rtc ex-ios-rtc iw-webrtc ours"),
    _b("webrtc.auth", "`Authorization: Bearer <key>` (the docs), `Basic <key>` (Inworld's clients) or "
       "`Bearer <JWT>` on both endpoints; with `api_key` set a wrong or missing credential is 401 (a JWT-shaped "
       "bearer token is taken as minted: the emulator cannot check Inworld's signature).",
       "iw-webrtc iw-webrtc-ref ex-android-auth ex-ios-rtc ours"),
    # session
    _b("session.created_first", "`session.created` is the first event, with the server's defaults.",
       "iw-ref ex-browser ex-twilio"),
    _b("session.defaults", "Defaults: 24 kHz PCM both ways, semantic_vad with create/interrupt_response, "
       "inworld-tts-2 voice Clive, inworld-stt-1 (values chosen from Inworld's examples; Inworld does not "
       "publish its defaults).", "ex-browser iw-ref pipecat-events ours"),
    _b("session.update_merges", "`session.update` merges into the session (nested objects merge, `null` "
       "clears) and is answered by `session.updated` with the whole session.", "iw-provider-data iw-ref"),
    _b("session.updated_refreshes_expiry", "`session.updated` carries a fresh `expires_at`.", "iw-ref"),
    _b("session.unknown_fields_kept", "Unknown session fields are accepted, kept and echoed (Inworld's Go "
       "server ignores keys it does not know); `strict` refuses them as OpenAI does.",
       "ex-android-json ours", "strict"),
    _b("session.model_any", "Any non-empty model id is accepted; `strict` wants `provider/model`.",
       "iw-models ours", "strict"),
    _b("session.bad_stt_model", "An STT model that is not `provider/model` is refused with "
       "`invalid_request_error`/`invalid_value` on `session.audio.input.transcription.model`, and nothing "
       "of that update is applied.", "iw-models"),
    _b("session.range_checks", "Temperature (0-2), max_output_tokens (1-4096), speed (0.25-1.5), VAD "
       "threshold and durations out of range are refused.", "openai ours"),
    _b("session.provider_data_merge", "`providerData` branches merge on each update.", "iw-provider-data"),
    _b("tools.function", "Function tools are checked (name, schema, no duplicates).", "pipecat-events openai"),
    _b("tools.hosted", "Non-function tools (`web_search` with `providerData`) are accepted and kept; the "
       "emulator never calls them.", "ex-android-client ex-ios-client ours", "strict"),
    # audio
    _b("audio.format_strings", "Formats as strings (`pcm16`, `g711_ulaw`, `g711_alaw`, `float32`, MIME names "
       "such as `audio/pcmu`) are read like the GA objects; `session.updated` echoes them as given (only a "
       "message the core's models refuse is rewritten to GA objects first).",
       "ex-twilio ex-telnyx ours"),
    _b("audio.g711_edge", "G.711 input is decoded and output encoded at 8 kHz at the edge; inside, the "
       "emulator hears and speaks 16-bit PCM.", "ex-twilio-bridge pipecat-events"),
    _b("audio.pcm_rates", "PCM at 8/16/24/32/44.1/48 kHz.", "pipecat-events"),
    _b("audio.float32", "`audio/float32` (an object with `rate`, or the strings `float32`/`audio/float32`) in "
       "and out: 32-bit float little-endian PCM, converted at the edge; rates as for PCM.", "mastra arche"),
    _b("audio.noise_reduction", "`audio.input.noise_reduction` is accepted and kept (no effect).",
       "ex-android-client ex-ios-client"),
    _b("vad.energy", "Turn detection is an energy VAD: eagerness and silence_duration_ms set its silence, "
       "threshold its level (Inworld's semantic VAD is a model).", "ours"),
    _b("vad.interrupt", "Speech during a response cancels it when `interrupt_response` is not false.",
       "ex-browser ex-android-client openai"),
    _b("vad.create_response", "Speech stop commits the turn and creates a response when `create_response` "
       "is not false.", "ex-browser ex-twilio openai"),
    _b("vad.turn_suggestion", "Under server_vad, a pause inside speech of 200 ms (or half the silence duration) "
       "sends `input_audio_buffer.turn_suggestion` (item_id, utterance_index, probability, trailing_silence_ms, "
       "audio_duration_ms, inference_ms); speech resuming sends `turn_suggestion_revoked` and the next "
       "utterance_index. Inworld's smart-turn detector is a model: when it fires and its probability are ours.",
       "mastra ex-feature-tester ours", "turn_suggestions"),
    _b("vad.idle_timeout", "server_vad `idle_timeout_ms`: that much input audio without speech since the last "
       "response ended (or the last commit) sends `input_audio_buffer.timeout_triggered` (audio_start_ms, "
       "audio_end_ms, item_id), commits the silence as that item without transcription events, and asks for a "
       "response unless `create_response` is false. Counted in input audio, not wall-clock time (ours).",
       "mastra ex-feature-tester openai"),
    # user transcripts
    _b("transcript.rolling", "User-transcript deltas are rolling rewrites: each carries the whole transcript so "
       "far, the last one before `completed` all of it. Under server-side turn detection they stream while the "
       "user speaks: every `partial_transcript_ms` of speech the audio so far is transcribed (a scripted "
       "transcript is revealed at 2.5 words a second; pocketsphinx runs one pass at a time and only on audio "
       "arriving at about real time, so an uploaded file is recognised once, at the commit).",
       "ex-android-vm mastra ours", "transcript_deltas"),
    _b("transcript.additive", "On request, OpenAI's additive pieces instead, all after the commit.", "openai",
       "transcript_deltas"),
    _b("transcript.null", "`audio.input.transcription: null` sends no transcription events (the model still "
       "hears the words; they are kept from the client).", "mastra ours"),
    _b("stt.voice_profile", "`providerData.stt.voice_profile: true` adds `providerData.voiceProfile` (age, "
       "gender, emotion, vocal_style, accent: ranked `{label, confidence}`) to each completed transcript; gender "
       "follows a pitch estimate, the other labels are fixed (values ours).", "mastra ours"),
    _b("stt.settings", "The other `providerData.stt` keys (prompt, language_hints, end-of-turn and VAD "
       "overrides) are accepted, typed and kept; no effect.", "mastra iw-provider-data"),
    _b("tts.settings", "`providerData.tts` (segmenter_strategy, steering_handling, language, delivery_mode, "
       "conversational, user_turn_mode) is accepted, typed and kept; no effect on the emulator's voice.",
       "iw-naturalness iw-provider-data mastra"),
    _b("memory.extract", "`providerData.memory.enabled`: every `turn_interval` (5) user turns become facts (at "
       "most `max_facts`, 50) and a summary; `response.memory.extracted` carries the state (`{state: {version, "
       "facts, summary, ...}}`) and the next `session.updated` echoes it under `providerData.memory.state`; a "
       "state the client sends is adopted. Weak source for the event (its name only); its body and the facts' "
       "wording are ours.", "mastra ex-feature-tester ours"),
    # responses
    _b("response.flat_voice", "`response.create`'s flat `response.voice` sets that response's voice; the nested "
       "`response.audio.output.voice` is ignored, as Inworld's server does.", "mastra"),
    _b("output.buffer_events", "`output_audio_buffer.started` before a response's first audio delta and "
       "`.stopped` after its last (or when it is cut short), without `response_id`.", "mastra",
       "output_audio_buffer_events"),
    _b("response.sequence", "`response.created`, then per item `response.output_item.added` and "
       "`conversation.item.added`, content part, deltas, done events, `response.output_item.done` and "
       "`conversation.item.done`, then `response.done`.", "iw-ref pipecat-events openai"),
    _b("response.cancelled", "A cancelled response (client cancel or barge-in) closes its open items with "
       "`response.output_item.done`/`conversation.item.done` (status incomplete, the transcript spoken so far) "
       "and `response.done` (cancelled, with the reason); the cut part gets no audio/transcript/part done events.",
       "ex-browser openai ours"),
    _b("response.top_level_usage", "`response.done` carries `usage` on top as well as in the response.",
       "pipecat-llm"),
    _b("response.already_active", "`response.create` during a response gets "
       "`conversation_already_has_active_response`.", "pipecat-llm openai"),
    _b("response.cancel_idle", "`response.cancel` with nothing to cancel is ignored (Inworld's clients send it "
       "on every `speech_started` and fail on any `error`); the option gives OpenAI's "
       "`response_cancel_not_active`.", "ex-android-session ex-android-vm ex-browser",
       "cancel_without_response_error"),
    _b("response.auto_tool_response", "After the outputs of a response's calls arrive, the server responds by "
       "itself unless `providerData.auto_tool_response` is false.", "pipecat-llm"),
    _b("response.function_name_omitted", "`name` may be left out of `response.function_call_arguments.done`.",
       "pipecat-llm", "omit_function_call_name"),
    _b("response.beta_names", "Beta event names (`response.audio.delta`...) on request.", "ex-browser",
       "beta_event_names"),
    _b("backchannel.emit", "With `providerData.backchannel.enabled`, speech longer than `min_speech_ms` gets "
       "`response.backchannel.audio.delta` (`backchannel_id`, `delta` in the output format) and `.done` "
       "(`backchannel_id`, `phrase`), at most `max_per_turn`, `min_gap_ms` apart, scaled by `volume_gain`.",
       "iw-backchannel ex-android-server ex-android-tests ex-android-bc"),
    _b("backchannel.skipped", "`response.backchannel.skipped` is never sent (no rule in the sources says when).",
       "ours"),
    _b("responsiveness.accepted", "`providerData.responsiveness` is accepted; no filler is spoken (the sources "
       "show no filler event shape).", "iw-responsiveness ours"),
    _b("ping.default", "Inworld's `ping` event (`timestamp` in ms) is sent every `ping_interval_s` (15 s; the "
       "cadence is ours).", "pipecat-events pipecat-llm ours", "ping_interval_s"),
    _b("expiry.openai", "`session_expired` error and close 1000 after `session_ttl_s` (OpenAI's 30 minutes); "
       "off by default.", "openai", "session_ttl_s"),
    _b("extras.openai", "`output_audio_buffer.cleared` and transcription `usage`, only on request.", "openai",
       "openai_extras"),
    _b("errors.shape", "Errors are sent nested (`error: {type, code, message, param, event_id}`); clients "
       "also read a flat `message`.", "iw-ref ex-android-server ex-android-tests"),
    _b("errors.event_id", "An error about a client event carries its `event_id`; for a client that sent none "
       "(Inworld's own), the id the core's parser gave it.", "iw-ref ours"),
    _b("errors.untyped", "A message without `type` (`{\"errorType\": ...}`), as a fault.", "ex-browser",
       "untyped_after"),
)

#: Every model class and field. ``Class: sources`` covers the class, its ``type`` and an inherited
#: ``event_id``; ``Class.a b: sources`` covers fields ``a`` and ``b``.
FIELDS = """
ClientEvent: iw-ref
ClientEvent.event_id: iw-ref
SessionUpdate: iw-ref ex-browser ex-twilio ex-android-client
SessionUpdate.session: iw-ref ex-browser ex-twilio ex-android-client
InputAudioBufferAppend: iw-ref ex-browser ex-twilio
InputAudioBufferAppend.audio: iw-ref ex-browser ex-twilio
InputAudioBufferCommit: iw-ref pipecat-events
InputAudioBufferClear: iw-ref pipecat-events
OutputAudioBufferClear: openai
ConversationItemCreate: iw-ref ex-browser ex-android-client
ConversationItemCreate.item: iw-ref ex-browser ex-android-client
ConversationItemCreate.previous_item_id: pipecat-events openai
ConversationItemTruncate: iw-ref
ConversationItemTruncate.item_id content_index audio_end_ms: iw-ref
ConversationItemDelete: iw-ref
ConversationItemDelete.item_id: iw-ref
ConversationItemRetrieve: iw-ref
ConversationItemRetrieve.item_id: iw-ref
ResponseOutputAudio: openai
ResponseOutputAudio.format voice: openai
ResponseAudioSettings: openai
ResponseAudioSettings.output: openai
ResponseProperties: iw-ref
ResponseProperties.output_modalities instructions: iw-ref
ResponseProperties.conversation max_output_tokens tool_choice tools metadata input audio temperature: openai
ResponseProperties.voice: mastra
ResponseCreate: iw-ref ex-browser ex-twilio ex-android-client
ResponseCreate.response: iw-ref
ResponseCancel: iw-ref ex-browser ex-twilio ex-android-client
ResponseCancel.response_id: iw-ref
ServerEvent: iw-ref
ServerEvent.event_id: iw-ref
ErrorEvent: iw-ref ex-twilio ex-android-server
ErrorEvent.error: iw-ref ex-android-server
Ping: pipecat-events
Ping.timestamp: pipecat-events
SessionCreated: iw-ref ex-browser ex-twilio
SessionCreated.session: iw-ref ex-twilio
SessionUpdated: iw-ref ex-browser ex-twilio
SessionUpdated.session: iw-ref
ConversationCreated: pipecat-events openai
ConversationCreated.conversation: pipecat-events
ConversationItemAdded: iw-ref pipecat-events
ConversationItemAdded.previous_item_id item: pipecat-events
ConversationItemDone: iw-ref
ConversationItemDone.previous_item_id item: openai
ConversationItemRetrieved: openai
ConversationItemRetrieved.item: openai
ConversationItemTruncated: openai
ConversationItemTruncated.item_id content_index audio_end_ms: openai
ConversationItemDeleted: openai
ConversationItemDeleted.item_id: openai
InputAudioTranscriptionDelta: iw-ref ex-browser ex-android-server
InputAudioTranscriptionDelta.item_id content_index delta: iw-ref
InputAudioTranscriptionDelta.transcript_so_far: ours
InputAudioTranscriptionCompleted: iw-ref ex-browser ex-twilio ex-android-server
InputAudioTranscriptionCompleted.item_id content_index transcript: iw-ref
InputAudioTranscriptionCompleted.usage: openai
InputAudioTranscriptionCompleted.provider_data: mastra
TranscriptionProviderData: mastra
TranscriptionProviderData.voice_profile: mastra
InputAudioTranscriptionFailed: openai
InputAudioTranscriptionFailed.item_id content_index error: openai
InputAudioBufferCommitted: pipecat-events
InputAudioBufferCommitted.previous_item_id item_id: pipecat-events
InputAudioBufferCleared: pipecat-events
InputAudioBufferSpeechStarted: ex-browser ex-twilio ex-android-server pipecat-events
InputAudioBufferSpeechStarted.item_id: pipecat-events
InputAudioBufferSpeechStarted.audio_start_ms: openai
InputAudioBufferSpeechStopped: pipecat-events
InputAudioBufferSpeechStopped.item_id: pipecat-events
InputAudioBufferSpeechStopped.audio_end_ms: openai
InputAudioBufferTimeoutTriggered: mastra ex-feature-tester openai
InputAudioBufferTimeoutTriggered.audio_start_ms audio_end_ms item_id: mastra openai
InputAudioBufferTurnSuggestion: mastra ex-feature-tester arche
InputAudioBufferTurnSuggestion.item_id utterance_index probability: mastra
InputAudioBufferTurnSuggestion.trailing_silence_ms audio_duration_ms inference_ms: mastra
InputAudioBufferTurnSuggestionRevoked: mastra ex-feature-tester arche
InputAudioBufferTurnSuggestionRevoked.item_id utterance_index: mastra
OutputAudioBufferStarted: mastra openai
OutputAudioBufferStarted.response_id: openai
OutputAudioBufferStopped: mastra openai
OutputAudioBufferStopped.response_id: openai
OutputAudioBufferCleared: mastra openai
OutputAudioBufferCleared.response_id: openai
ResponseCreated: iw-ref pipecat-events
ResponseCreated.response: iw-ref pipecat-events
ResponseDone: iw-ref ex-browser ex-android-server
ResponseDone.response: pipecat-events ex-android-tests
ResponseDone.usage: pipecat-llm
ResponseOutputItemAdded: iw-ref ex-browser ex-android-server
ResponseOutputItemAdded.response_id output_index item: pipecat-events
ResponseOutputItemDone: iw-ref
ResponseOutputItemDone.response_id output_index item: openai
ResponseContentPartAdded: iw-ref pipecat-events
ResponseContentPartAdded.response_id item_id output_index content_index part: pipecat-events
ResponseContentPartDone: iw-ref ex-browser ex-android-server
ResponseContentPartDone.response_id item_id output_index content_index: pipecat-events
ResponseContentPartDone.part: ex-browser ex-android-tests
ResponseOutputTextDelta: iw-ref ex-browser ex-android-server
ResponseOutputTextDelta.delta: ex-browser ex-android-tests
ResponseOutputTextDelta.response_id item_id output_index content_index: openai
ResponseOutputTextDone: iw-ref
ResponseOutputTextDone.response_id item_id output_index content_index text: openai
ResponseOutputAudioDelta: ex-browser ex-twilio pipecat-events
ResponseOutputAudioDelta.delta: ex-browser ex-twilio
ResponseOutputAudioDelta.response_id item_id output_index content_index: pipecat-events
ResponseOutputAudioDelta.pcm: ours
ResponseOutputAudioDone: ex-twilio pipecat-events
ResponseOutputAudioDone.response_id item_id output_index content_index: pipecat-events
ResponseOutputAudioTranscriptDelta: ex-browser ex-android-server pipecat-events
ResponseOutputAudioTranscriptDelta.delta: ex-browser
ResponseOutputAudioTranscriptDelta.response_id item_id output_index content_index: pipecat-events
ResponseOutputAudioTranscriptDone: ex-browser ex-android-server
ResponseOutputAudioTranscriptDone.transcript: ex-browser ex-android-tests
ResponseOutputAudioTranscriptDone.response_id item_id output_index content_index: pipecat-events
ResponseFunctionCallArgumentsDelta: pipecat-events
ResponseFunctionCallArgumentsDelta.response_id item_id call_id delta previous_item_id: pipecat-events
ResponseFunctionCallArgumentsDelta.output_index: openai
ResponseFunctionCallArgumentsDone: pipecat-events
ResponseFunctionCallArgumentsDone.call_id name arguments: pipecat-events
ResponseFunctionCallArgumentsDone.response_id item_id output_index: openai
RateLimitsUpdated: openai
RateLimitsUpdated.rate_limits: openai
ResponseBackchannelAudioDelta: iw-backchannel ex-android-server ex-ios-server
ResponseBackchannelAudioDelta.delta: ex-android-server ex-android-tests ex-android-bc
ResponseBackchannelAudioDelta.backchannel_id: ex-android-tests ex-ios-tests
ResponseBackchannelAudioDelta.pcm: ours
ResponseBackchannelAudioDone: iw-backchannel ex-android-server ex-ios-server
ResponseBackchannelAudioDone.backchannel_id: ex-android-tests ex-ios-tests
ResponseBackchannelAudioDone.phrase: ex-android-server ex-ios-server ex-android-tests ex-ios-tests
ResponseBackchannelSkipped: ex-android-server ex-ios-server
ResponseBackchannelSkipped.backchannel_id: ex-android-tests ex-ios-tests
ResponseBackchannelSkipped.reason: ex-android-server ex-ios-server ex-android-tests ex-ios-tests
ResponseMemoryExtracted: ex-feature-tester
ResponseMemoryExtracted.state: mastra ours
ResponseMemoryExtracted.response_id: ours
UnknownServerEvent: ours
UntypedServerMessage: ex-browser
UntypedServerMessage.error_type: ex-browser
UntypedServerMessage.message: ours
PCMAudioFormat: pipecat-events
PCMAudioFormat.rate: pipecat-events
PCMUAudioFormat: pipecat-events ex-twilio
PCMAAudioFormat: pipecat-events
Float32AudioFormat: mastra arche
Float32AudioFormat.rate: mastra
OtherAudioFormat: ours
VoiceProfileLabel: mastra
VoiceProfileLabel.label confidence: mastra
VoiceProfile: mastra
VoiceProfile.age gender emotion vocal_style accent: mastra
SttSettings: mastra iw-provider-data
SttSettings.prompt voice_profile language_hints end_of_turn_confidence_threshold: mastra
SttSettings.vad_threshold min_end_of_turn_silence max_turn_silence: mastra
TtsSettings: iw-naturalness iw-provider-data mastra
TtsSettings.segmenter_strategy steering_handling language delivery_mode conversational user_turn_mode: mastra
MemoryState: mastra
MemoryState.version facts summary context_text turns_since_gen total_turns items_trimmed: mastra
MemorySettings: mastra ex-feature-tester
MemorySettings.enabled turn_interval max_facts: mastra ex-feature-tester
MemorySettings.max_memory_length max_transcript_items trim_after_summarize state: mastra
ProviderData: iw-provider-data mastra
ProviderData.stt tts memory user_id: mastra iw-provider-data
ProviderData.backchannel: iw-backchannel
ProviderData.responsiveness: iw-responsiveness
ProviderData.auto_tool_response metadata: pipecat-llm
TurnDetection: iw-ref ex-browser ex-android-client
TurnDetection.eagerness create_response interrupt_response: ex-browser ex-twilio ex-android-client iw-ref
TurnDetection.threshold prefix_padding_ms silence_duration_ms idle_timeout_ms: ex-ios-client
InputTranscription: iw-ref ex-twilio
InputTranscription.model: iw-ref ex-twilio ex-android-client
InputTranscription.language: ex-android-client ex-ios-client
InputTranscription.prompt: openai
AudioInput: iw-ref
AudioInput.format: ex-twilio pipecat-events
AudioInput.transcription turn_detection: iw-ref ex-twilio
AudioInput.noise_reduction: ex-android-client ex-ios-client
NoiseReduction: ex-android-client ex-ios-client
AudioOutput: iw-ref
AudioOutput.format: ex-twilio pipecat-events
AudioOutput.model voice: iw-ref ex-browser ex-twilio
AudioOutput.speed: iw-ref ex-android-client
AudioConfiguration: iw-ref
AudioConfiguration.input output: iw-ref ex-browser
FunctionTool: pipecat-events
FunctionTool.name description parameters: pipecat-events
SessionProperties: iw-ref ex-browser
SessionProperties.model instructions output_modalities audio: iw-ref ex-browser ex-twilio
SessionProperties.temperature max_output_tokens: ex-android-client ex-ios-client
SessionProperties.tools: ex-android-client pipecat-events
SessionProperties.provider_data: iw-provider-data ex-android-client ex-android-json
SessionProperties.id: ex-twilio
SessionProperties.expires_at: iw-ref
SessionProperties.object tool_choice: openai
ItemContent: iw-ref ex-browser
ItemContent.text: ex-browser ex-android-client
ItemContent.audio transcript: pipecat-events iw-conversations
ConversationItem: iw-ref ex-browser ex-android-client
ConversationItem.role content: ex-browser ex-android-client
ConversationItem.id object status call_id name arguments output: pipecat-events
Usage: pipecat-events
Usage.total_tokens input_tokens output_tokens: pipecat-events
Response: pipecat-events
Response.status: pipecat-events ex-android-tests
Response.id object status_details output usage: pipecat-events
RealtimeError: iw-ref
RealtimeError.code message param event_id: iw-ref
ContentPart: pipecat-events
ContentPart.transcript: pipecat-events ex-browser
ContentPart.text audio: openai
RateLimit: openai
RateLimit.name limit remaining reset_seconds: openai
"""

MODEL_MODULES = tuple(f"inworld_realtime.protocol.{name}" for name in ("events", "session", "items"))
EMULATOR = Path(__file__).resolve().parent.parent / "emulator"


def field_table() -> dict[str, tuple[str, ...]]:
    """``Class`` and ``Class.field`` -> source ids, from ``FIELDS``."""
    out: dict[str, tuple[str, ...]] = {}
    for line in FIELDS.strip().splitlines():
        head, _, srcs = line.partition(":")
        cls, dot, names = head.partition(".")
        keys = [f"{cls}.{n}" for n in names.split()] if dot else [cls]
        for key in keys:
            if key in out:
                raise ValueError(f"{key} listed twice")
            out[key] = tuple(srcs.split())
    return out


def model_fields() -> dict[str, list[str]]:
    """Every pydantic model of the core and its fields, introspected (so new fields show up at once)."""
    import importlib

    from pydantic import BaseModel

    out: dict[str, list[str]] = {}
    for name in MODEL_MODULES:
        module = importlib.import_module(name)
        for cls_name, cls in vars(module).items():
            if inspect.isclass(cls) and issubclass(cls, BaseModel) and cls.__module__ == module.__name__:
                out[cls_name] = list(cls.model_fields)
    return out


def field_sources(cls: str, name: str, table: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """The sources of one field: its own row, or the class row for ``type`` and an inherited ``event_id``."""
    if f"{cls}.{name}" in table:
        return table[f"{cls}.{name}"]
    if name in ("type", "event_id"):
        return table.get(cls)
    return None


def emulator_behaviour_keys() -> set[str]:
    """What the emulator does, read from its code: handlers, events it sends, options and faults."""
    from inworld_realtime.emulator.faults import Faults
    from inworld_realtime.emulator.options import EmulatorOptions
    from inworld_realtime.emulator.session import RealtimeSession
    from inworld_realtime.protocol import events as ev

    client_types = _client_types()
    keys = {f"handler:{client_types.get(name[3:], name[3:])}"
            for name, _ in inspect.getmembers(RealtimeSession, inspect.isfunction) if name.startswith("on_")}
    keys |= {f"option:{f.name}" for f in fields(EmulatorOptions)}
    keys |= {f"fault:{f.name}" for f in fields(Faults)}
    for path in sorted(EMULATOR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "ev":
                cls: Any = getattr(ev, node.func.attr, None)
                if inspect.isclass(cls) and issubclass(cls, ev.ServerEvent):
                    keys.add(f"emits:{cls.model_fields['type'].default}")
            elif isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "type" and isinstance(v, ast.Constant) \
                            and isinstance(v.value, str) and v.value.startswith("response."):
                        keys.add(f"emits:{v.value}")
    return keys


def _client_types() -> dict[str, str]:
    from inworld_realtime.protocol import events as ev

    out: dict[str, str] = {}
    for cls in vars(ev).values():
        if inspect.isclass(cls) and issubclass(cls, ev.ClientEvent) and cls is not ev.ClientEvent:
            kind = cls.model_fields["type"].default
            if isinstance(kind, str):
                out[kind.replace(".", "_")] = kind
    return out


#: Sources of the behaviours read from the code (handlers, events sent, options, faults).
CODE_BEHAVIOURS: dict[str, tuple[str, str]] = {
    "handler:session.update": ("iw-ref ex-browser ex-twilio ex-android-client", ""),
    "handler:input_audio_buffer.append": ("iw-ref ex-browser ex-twilio", ""),
    "handler:input_audio_buffer.commit": ("iw-ref pipecat-events", ""),
    "handler:input_audio_buffer.clear": ("iw-ref pipecat-events", ""),
    "handler:output_audio_buffer.clear": ("openai", "openai_extras"),
    "handler:conversation.item.create": ("iw-ref ex-browser ex-android-client", ""),
    "handler:conversation.item.truncate": ("iw-ref", ""),
    "handler:conversation.item.delete": ("iw-ref", ""),
    "handler:conversation.item.retrieve": ("iw-ref", ""),
    "handler:response.create": ("iw-ref ex-browser ex-twilio ex-android-client", ""),
    "handler:response.cancel": ("iw-ref ex-browser ex-android-session", "cancel_without_response_error"),
    "emits:error": ("iw-ref", ""),
    "emits:ping": ("pipecat-events", "ping_interval_s"),
    "emits:session.created": ("iw-ref ex-browser", ""),
    "emits:session.updated": ("iw-ref ex-browser", ""),
    "emits:conversation.item.added": ("iw-ref pipecat-events", ""),
    "emits:conversation.item.done": ("iw-ref", ""),
    "emits:conversation.item.retrieved": ("openai", ""),
    "emits:conversation.item.truncated": ("openai", ""),
    "emits:conversation.item.deleted": ("openai", ""),
    "emits:conversation.item.input_audio_transcription.delta": ("iw-ref ex-browser", ""),
    "emits:conversation.item.input_audio_transcription.completed": ("iw-ref ex-browser ex-twilio", ""),
    "emits:conversation.item.input_audio_transcription.failed": ("openai", ""),
    "emits:input_audio_buffer.committed": ("pipecat-events", ""),
    "emits:input_audio_buffer.cleared": ("pipecat-events", ""),
    "emits:input_audio_buffer.speech_started": ("ex-browser ex-twilio ex-android-server pipecat-events", ""),
    "emits:input_audio_buffer.speech_stopped": ("pipecat-events", ""),
    "emits:output_audio_buffer.cleared": ("openai", "openai_extras"),
    "emits:output_audio_buffer.started": ("mastra", "output_audio_buffer_events"),
    "emits:output_audio_buffer.stopped": ("mastra", "output_audio_buffer_events"),
    "emits:input_audio_buffer.turn_suggestion": ("mastra ex-feature-tester", "turn_suggestions"),
    "emits:input_audio_buffer.turn_suggestion_revoked": ("mastra ex-feature-tester", "turn_suggestions"),
    "emits:input_audio_buffer.timeout_triggered": ("mastra ex-feature-tester openai", ""),
    "emits:response.memory.extracted": ("ex-feature-tester mastra", ""),
    "emits:response.created": ("iw-ref pipecat-events", ""),
    "emits:response.done": ("iw-ref ex-browser ex-android-server", ""),
    "emits:response.output_item.added": ("iw-ref ex-browser ex-android-server", ""),
    "emits:response.output_item.done": ("iw-ref", ""),
    "emits:response.content_part.added": ("iw-ref pipecat-events", ""),
    "emits:response.content_part.done": ("iw-ref ex-browser ex-android-server", ""),
    "emits:response.output_text.delta": ("iw-ref ex-browser", ""),
    "emits:response.output_text.done": ("iw-ref", ""),
    "emits:response.output_audio.delta": ("ex-browser ex-twilio pipecat-events", ""),
    "emits:response.output_audio.done": ("ex-twilio pipecat-events", ""),
    "emits:response.output_audio_transcript.delta": ("ex-browser pipecat-events", ""),
    "emits:response.output_audio_transcript.done": ("ex-browser ex-android-server", ""),
    "emits:response.function_call_arguments.delta": ("pipecat-events", ""),
    "emits:response.function_call_arguments.done": ("pipecat-events", ""),
    "emits:response.backchannel.audio.delta": ("iw-backchannel ex-android-server ex-android-tests", ""),
    "emits:response.backchannel.audio.done": ("iw-backchannel ex-android-server ex-android-tests", ""),
    "option:host": ("ours", ""),
    "option:port": ("ours", ""),
    "option:api_key": ("iw-ref ex-proxy", ""),
    "option:brain": ("ours", ""),
    "option:faults": ("ours", ""),
    "option:voice_engine": ("ours", ""),
    "option:pace": ("ours", ""),
    "option:audio_chunk_ms": ("ours", ""),
    "option:response_delay_ms": ("ours", ""),
    "option:session_ttl_s": ("openai", ""),
    "option:ping_interval_s": ("pipecat-events ours", ""),
    "option:strict": ("openai", ""),
    "option:cancel_without_response_error": ("openai pipecat-llm", ""),
    "option:openai_extras": ("openai", ""),
    "option:omit_function_call_name": ("pipecat-llm", ""),
    "option:beta_event_names": ("ex-browser ex-android-server", ""),
    "option:keep_history": ("ours", ""),
    "option:path": ("iw-connect", ""),
    "option:handshake_timeout_s": ("ours", ""),
    "option:transcript_deltas": ("ex-android-vm mastra openai", ""),
    "option:partial_transcript_ms": ("mastra ours", ""),
    "option:turn_suggestions": ("mastra ex-feature-tester", ""),
    "option:output_audio_buffer_events": ("mastra", ""),
    "option:token_ttl_s": ("ours", ""),
    "fault:drop_after": ("ours", ""),
    "fault:close_after": ("ours", ""),
    "fault:close_code": ("ours", ""),
    "fault:close_reason": ("ours", ""),
    "fault:delay_ms": ("ours", ""),
    "fault:fragment": ("ours", ""),
    "fault:ws_ping_interval_s": ("pipecat-llm", ""),
    "fault:ping_event_interval_s": ("pipecat-events", ""),
    "fault:malformed_after": ("ours", ""),
    "fault:untyped_after": ("ex-browser", ""),
    "fault:untyped_error": ("ex-browser", ""),
    "fault:refuse_status": ("ours", ""),
    "fault:retry_after": ("ours", ""),
    "fault:silent": ("ours", ""),
    "fault:stop_reading_after": ("ours", ""),
    "fault:first_connections": ("ours", ""),
}


def all_behaviours() -> list[Behaviour]:
    """The behaviours written out above and those read from the code, in one list."""
    out = list(BEHAVIOURS)
    for key, (srcs, option) in CODE_BEHAVIOURS.items():
        kind, _, name = key.partition(":")
        what = {"handler": f"Handles `{name}`",
                "emits": f"Sends `{name}`", "option": f"`EmulatorOptions.{name}`",
                "fault": f"`Faults.{name}`"}[kind]
        out.append(Behaviour(key, what, tuple(srcs.split()), option))
    return out


def counts(rows: list[tuple[str, ...]]) -> dict[str, int]:
    """How many rows have each kind as their first (strongest) source."""
    out = dict.fromkeys(KINDS, 0)
    for srcs in rows:
        out[SOURCES[srcs[0]][0]] += 1
    return out


def render() -> str:
    """The Markdown table."""
    behaviours = all_behaviours()
    table = field_table()
    models = model_fields()
    field_rows: list[tuple[str, tuple[str, ...]]] = []
    for cls, names in models.items():
        for name in names:
            srcs = field_sources(cls, name, table)
            field_rows.append((f"{cls}.{name}", srcs or ("MISSING",)))
    lines = [
        "# Fidelity: where each behaviour and field comes from",
        "",
        "Generated by `python -m spec.fidelity` from `spec/fidelity.py`; `tests/test_fidelity.py` keeps it in "
        "step with the emulator and the models. Sources are listed strongest first; the first one decides the "
        "counts. Inworld's documentation and its published clients are the authority; pipecat's Inworld service "
        "comes next; OpenAI's GA reference is a fallback, and behaviour that only it documents is behind an "
        "emulator option where it could mislead.",
        "",
        "## Sources",
        "",
        "| id | kind | where |",
        "|---|---|---|",
        *(f"| `{sid}` | {kind} | {where} |" for sid, (kind, where) in SOURCES.items()),
        "",
        "## Counts (by first source)",
        "",
        "| kind | behaviours | model fields |",
        "|---|---|---|",
    ]
    bc = counts([b.sources for b in behaviours])
    fc = counts([s for _, s in field_rows if s[0] in SOURCES])
    lines += [f"| {kind} | {bc[kind]} | {fc[kind]} |" for kind in KINDS]
    lines += [f"| total | {sum(bc.values())} | {sum(fc.values())} |", "", "## Emulator behaviours", "",
              "| key | behaviour | sources | option |", "|---|---|---|---|"]
    for b in behaviours:
        option = f"`{b.option}`" if b.option else ""
        lines.append(f"| `{b.key}` | {b.what} | {', '.join(f'`{s}`' for s in b.sources)} | {option} |")
    lines += ["", "## Model fields", "", "| field | sources |", "|---|---|"]
    lines += [f"| `{key}` | {', '.join(f'`{s}`' for s in srcs)} |" for key, srcs in field_rows]
    return "\n".join(lines) + "\n"


def write(root: Path) -> None:
    (root / "FIDELITY.md").write_text(render())


if __name__ == "__main__":
    write(Path(__file__).resolve().parent)
