"""The example of every event type, as data; ``python -m spec.examples`` writes spec/events/**.json from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AUDIO_B64 = "AAABAAIAAwAEAAUA"  # six 16-bit samples, enough to show the shape
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "openai/gpt-4.1-mini",
    "instructions": "You are a friendly concierge. Keep answers short.",
    "temperature": 0.8,
    "max_output_tokens": 400,
    "output_modalities": ["audio", "text"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "inworld/inworld-stt-1", "language": "en", "prompt": "hotel vocabulary"},
            "turn_detection": {"type": "semantic_vad", "eagerness": "medium", "create_response": True,
                               "interrupt_response": True},
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "model": "inworld-tts-1.5-max",
                   "voice": "Clive", "speed": 1.0},
    },
    "tools": [{"type": "function", "name": "get_weather", "description": "Current weather for a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
    "tool_choice": "auto",
    "providerData": {"metadata": {"sdk": "inworld-realtime"}, "auto_tool_response": False},
}
SERVER_SESSION = {**SESSION, "id": "sess_8f2c", "object": "realtime.session", "expires_at": 1795000000}
USER_ITEM = {"id": "item_user_1", "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
             "content": [{"type": "input_audio", "transcript": None}]}
ANSWER_ITEM = {"id": "item_asst_1", "object": "realtime.item", "type": "message", "status": "completed",
               "role": "assistant", "content": [{"type": "output_audio", "transcript": "It is sunny in Paris."}]}
CALL_ITEM = {"id": "item_call_1", "object": "realtime.item", "type": "function_call", "status": "completed",
             "call_id": "call_42", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}
RESPONSE = {"id": "resp_1", "object": "realtime.response", "status": "completed", "status_details": None,
            "output": [ANSWER_ITEM], "usage": {"total_tokens": 153, "input_tokens": 120, "output_tokens": 33}}
IDS = {"response_id": "resp_1", "item_id": "item_asst_1", "output_index": 0, "content_index": 0}

CLIENT: dict[str, dict[str, Any]] = {
    "session.update": {"session": SESSION},
    "input_audio_buffer.append": {"audio": AUDIO_B64},
    "input_audio_buffer.commit": {},
    "input_audio_buffer.clear": {},
    "output_audio_buffer.clear": {},
    "conversation.item.create": {"previous_item_id": None, "item": {
        "id": "item_text_1", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Book me a table for two."}]}},
    "conversation.item.truncate": {"item_id": "item_asst_1", "content_index": 0, "audio_end_ms": 1480},
    "conversation.item.delete": {"item_id": "item_text_1"},
    "conversation.item.retrieve": {"item_id": "item_user_1"},
    "response.create": {"response": {"output_modalities": ["audio", "text"],
                                     "instructions": "Answer in one sentence."}},
    "response.cancel": {"response_id": "resp_1"},
}

SERVER: dict[str, dict[str, Any]] = {
    "error": {"error": {"type": "invalid_request_error", "code": "invalid_value",
                        "message": "Unknown STT model", "param": "session.audio.input.transcription.model",
                        "event_id": "evt_7"}},
    "ping": {"timestamp": 1795000012345},
    "session.created": {"session": SERVER_SESSION},
    "session.updated": {"session": SERVER_SESSION},
    "conversation.created": {"conversation": {"id": "conv_1", "object": "realtime.conversation"}},
    "conversation.item.added": {"previous_item_id": None, "item": USER_ITEM},
    "conversation.item.done": {"previous_item_id": None, "item": USER_ITEM},
    "conversation.item.retrieved": {"item": USER_ITEM},
    "conversation.item.truncated": {"item_id": "item_asst_1", "content_index": 0, "audio_end_ms": 1480},
    "conversation.item.deleted": {"item_id": "item_text_1"},
    "conversation.item.input_audio_transcription.delta": {"item_id": "item_user_1", "content_index": 0,
                                                          "delta": "What's the weather"},
    "conversation.item.input_audio_transcription.completed": {"item_id": "item_user_1", "content_index": 0,
                                                              "transcript": "What's the weather in Paris?"},
    "conversation.item.input_audio_transcription.failed": {
        "item_id": "item_user_1", "content_index": 0,
        "error": {"type": "transcription_error", "code": "audio_unintelligible", "message": "No speech found"}},
    "input_audio_buffer.committed": {"previous_item_id": None, "item_id": "item_user_1"},
    "input_audio_buffer.cleared": {},
    "input_audio_buffer.speech_started": {"audio_start_ms": 1200, "item_id": "item_user_1"},
    "input_audio_buffer.speech_stopped": {"audio_end_ms": 3400, "item_id": "item_user_1"},
    "input_audio_buffer.timeout_triggered": {"audio_start_ms": 3400, "audio_end_ms": 9400, "item_id": "item_user_2"},
    # Server VAD's smart-turn detector, with the fields Mastra's types name.
    "input_audio_buffer.turn_suggestion": {"item_id": "item_user_1", "utterance_index": 0, "probability": 0.82,
                                           "trailing_silence_ms": 240, "audio_duration_ms": 2200,
                                           "inference_ms": 12},
    "input_audio_buffer.turn_suggestion_revoked": {"item_id": "item_user_1", "utterance_index": 0},
    # Mastra's client: "None carry a response_id on the wire" (OpenAI's do; the model reads it when present).
    "output_audio_buffer.started": {},
    "output_audio_buffer.stopped": {},
    "output_audio_buffer.cleared": {"response_id": "resp_1"},
    "response.created": {"response": {**RESPONSE, "status": "in_progress", "output": [], "usage": None}},
    "response.done": {"response": RESPONSE, "usage": RESPONSE["usage"]},
    "response.output_item.added": {"response_id": "resp_1", "output_index": 0,
                                   "item": {**ANSWER_ITEM, "status": "in_progress", "content": []}},
    "response.output_item.done": {"response_id": "resp_1", "output_index": 0, "item": ANSWER_ITEM},
    "response.content_part.added": {**IDS, "part": {"type": "audio", "transcript": ""}},
    "response.content_part.done": {**IDS, "part": {"type": "audio", "transcript": "It is sunny in Paris."}},
    "response.output_text.delta": {**IDS, "delta": "It is sunny"},
    "response.output_text.done": {**IDS, "text": "It is sunny in Paris."},
    "response.output_audio.delta": {**IDS, "delta": AUDIO_B64},
    "response.output_audio.done": IDS,
    "response.output_audio_transcript.delta": {**IDS, "delta": "It is "},
    "response.output_audio_transcript.done": {**IDS, "transcript": "It is sunny in Paris."},
    "response.function_call_arguments.delta": {"response_id": "resp_1", "item_id": "item_call_1", "output_index": 0,
                                               "call_id": "call_42", "delta": "{\"city\": \"Pa"},
    "response.function_call_arguments.done": {"response_id": "resp_1", "item_id": "item_call_1", "output_index": 0,
                                              "call_id": "call_42", "arguments": "{\"city\": \"Paris\"}"},
    "rate_limits.updated": {"rate_limits": [{"name": "tokens", "limit": 40000, "remaining": 39000,
                                             "reset_seconds": 12.5}]},
    # Back-channel fields as Inworld's mobile apps read them (backchannel_id, delta, phrase, reason).
    "response.backchannel.audio.delta": {"backchannel_id": "bc_1", "delta": AUDIO_B64},
    "response.backchannel.audio.done": {"backchannel_id": "bc_1", "phrase": "I see"},
    "response.backchannel.skipped": {"backchannel_id": "bc_2", "reason": "deadline_missed"},
    # Automatic memory (providerData.memory): the state as Mastra reads it from session.updated.
    "response.memory.extracted": {"state": {"version": 2, "facts": ["The guest is called Ana.",
                                                                   "She is staying two nights."],
                                            "summary": "Ana asked about the pool.", "turns_since_gen": 0,
                                            "total_turns": 10, "items_trimmed": 0}},
    # Beta names Inworld still sends; the core maps them onto the GA events above.
    "response.audio.delta": {**IDS, "delta": AUDIO_B64},
    "response.audio.done": IDS,
    "response.audio_transcript.delta": {**IDS, "delta": "It is "},
    "response.audio_transcript.done": {**IDS, "transcript": "It is sunny in Paris."},
    "response.text.delta": {**IDS, "delta": "It is sunny"},
    "response.text.done": {**IDS, "text": "It is sunny in Paris."},
    "conversation.item.created": {"previous_item_id": None, "item": USER_ITEM},
}

UNTYPED = {"errorType": "SESSION_RESOURCES_EXHAUSTED"}

# What Inworld's own clients send (inworld-ai/inworld-api-examples), shape for shape, in our own values: no
# ``event_id``, no item ``id``, the greeting as a user text item, a bare ``response.create``, and a bare
# ``response.cancel`` on every ``speech_started``. Each flow is one client's opening, in order.
GREETING = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
    {"type": "input_text", "text": "Greet the caller and offer help, in a few words."}]}}
BARE_CREATE = {"type": "response.create"}
BARE_CANCEL = {"type": "response.cancel"}
SEMANTIC = {"type": "semantic_vad", "eagerness": "high", "create_response": True, "interrupt_response": True}
INWORLD_CLIENTS: dict[str, list[dict[str, Any]]] = {
    # realtime/{python,js}/websockets/*/index.html: PCM at 24 kHz by default, nothing about formats.
    "browser": [{"type": "session.update", "session": {
        "type": "realtime", "model": "openai/gpt-4o-mini", "instructions": "You are a warm museum guide.",
        "output_modalities": ["audio", "text"],
        "audio": {"input": {"turn_detection": SEMANTIC}, "output": {"model": "inworld-tts-2", "voice": "Clive"}}}},
        GREETING, BARE_CREATE, BARE_CANCEL],
    # integrations/{twilio,telnyx}/src/voice/inworld-realtime.ts: G.711 u-law as a beta string, both ways.
    "phone": [{"type": "session.update", "session": {
        "type": "realtime", "model": "openai/gpt-4.1-mini", "instructions": "You answer the bakery's phone.",
        "output_modalities": ["audio", "text"],
        "audio": {
            "input": {"format": "g711_ulaw", "transcription": {"model": "assemblyai/universal-streaming-multilingual"},
                      "turn_detection": {**SEMANTIC, "eagerness": "auto"}},
            "output": {"format": "g711_ulaw", "model": "inworld-tts-2", "voice": "Sarah"}}}},
        {**GREETING, "item": {**GREETING["item"], "content": [{"type": "input_text", "text": "Hello!"}]}},
        BARE_CREATE, BARE_CANCEL],
    # realtime/android/.../ClientEvents.kt and realtime/ios/.../ClientEvents.swift: every option switched on.
    "mobile": [{"type": "session.update", "session": {
        "type": "realtime", "model": "inworld/models/gemma-4-26b-a4b-it", "instructions": "Be a patient tutor.",
        "temperature": 0.6, "max_output_tokens": 512, "output_modalities": ["audio", "text"],
        "audio": {
            "input": {"transcription": {"model": "inworld/inworld-stt-1", "language": "en"},
                      "noise_reduction": {"type": "far_field"}, "turn_detection": {**SEMANTIC, "eagerness": "low"}},
            "output": {"model": "inworld-tts-2", "voice": "Clive", "speed": 1.1}},
        "tools": [{"type": "web_search", "providerData": {"engine": "google", "max_results": 2, "max_steps": 1}}],
        "providerData": {
            "backchannel": {"enabled": True, "max_per_turn": 2, "min_gap_ms": 3000, "min_speech_ms": 600,
                            "volume_gain": 0.5, "decider_kind": "rule", "rule_fire_probability": 0.4},
            "responsiveness": {"enabled": True, "initial_wait_timeout_ms": 900, "max_initial_per_turn": 1,
                               "min_filler_gap_ms": 7000, "max_tokens": 10,
                               "enable_filler_on_first_assistant_reply": False}}}},
        GREETING, BARE_CREATE, BARE_CANCEL],
    # realtime/ios/.../ClientEvents.swift, server VAD branch.
    "mobile_server_vad": [{"type": "session.update", "session": {
        "type": "realtime", "model": "openai/gpt-4o-mini", "instructions": "Keep it short.",
        "output_modalities": ["audio", "text"],
        "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.55, "prefix_padding_ms": 250,
                                               "silence_duration_ms": 600, "idle_timeout_ms": 6000,
                                               "create_response": True, "interrupt_response": True}},
                  "output": {"model": "inworld-tts-2", "voice": "Sarah"}}}},
        GREETING, BARE_CREATE],
    # Mastra's @mastra/voice-inworld 0.3.x (third party, typed against Inworld's schema): float32 audio, the
    # stt/tts/memory providerData branches, transcription off, and a per-response voice as a flat field.
    "mastra": [{"type": "session.update", "session": {
        "type": "realtime", "model": "openai/gpt-4.1-mini", "instructions": "Help with the booking.",
        "audio": {"input": {"format": {"type": "audio/float32", "rate": 24000}, "transcription": None,
                            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                               "silence_duration_ms": 500, "idle_timeout_ms": 8000}},
                  "output": {"format": "float32", "voice": "Dennis"}},
        "providerData": {
            "stt": {"voice_profile": True, "language_hints": ["en", "es"], "end_of_turn_confidence_threshold": 0.7},
            "tts": {"segmenter_strategy": "sentence", "delivery_mode": "BALANCED", "user_turn_mode": "both"},
            "memory": {"enabled": True, "turn_interval": 5, "max_facts": 50},
            "user_id": "guest-17"}}},
        {"type": "response.create", "response": {"voice": "Hades", "instructions": "Say hello."}}],
    # The other spellings a deployment may use for formats: beta PCM and A-law strings, MIME names.
    "format_spellings": [
        {"type": "session.update", "session": {"audio": {"input": {"format": "pcm16"},
                                                         "output": {"format": "g711_alaw"}}}},
        {"type": "session.update", "session": {"audio": {"input": {"format": "audio/pcmu"},
                                                         "output": {"format": {"type": "audio/pcma"}}}}},
        {"type": "session.update", "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}},
                                                         "output": {"format": "audio/pcm"}}}},
    ],
}

# What Inworld's clients read that our one-per-type examples do not show: back-channel fields and a flat error.
INWORLD_SERVER: dict[str, dict[str, Any]] = {
    "backchannel_delta": {"type": "response.backchannel.audio.delta", "backchannel_id": "bc_7", "delta": AUDIO_B64},
    "backchannel_done": {"type": "response.backchannel.audio.done", "backchannel_id": "bc_7", "phrase": "mm-hm"},
    "backchannel_skipped": {"type": "response.backchannel.skipped", "backchannel_id": "bc_8",
                            "reason": "deadline_missed"},
    "error_nested_message_only": {"type": "error", "error": {"message": "Session is not configured yet"}},
    "error_flat": {"type": "error", "message": "Upstream model unavailable"},
    # The minimal shapes the apps' decoding tests feed their readers: every other field may be missing.
    "speech_started_bare": {"type": "input_audio_buffer.speech_started"},
    "output_item_added_empty": {"type": "response.output_item.added", "item": {}},
    "response_done_status_only": {"type": "response.done", "response": {"status": "cancelled"}},
    "transcription_completed_bare": {"type": "conversation.item.input_audio_transcription.completed",
                                     "transcript": "Is the pool open late?"},
    # With providerData.stt.voice_profile on (Mastra reads ev.providerData.voiceProfile on the completed event).
    "transcription_completed_voice_profile": {
        "type": "conversation.item.input_audio_transcription.completed", "item_id": "item_user_1",
        "content_index": 0, "transcript": "Is the pool open late?",
        "providerData": {"voiceProfile": {"age": [{"label": "adult", "confidence": 0.81}],
                                          "gender": [{"label": "female", "confidence": 0.66}],
                                          "emotion": [{"label": "neutral", "confidence": 0.7}]}}},
    # Memory state echoed on the session (Mastra: ev.session.providerData.memory.state).
    "session_updated_memory_state": {"type": "session.updated", "session": {
        "type": "realtime", "providerData": {"memory": {"enabled": True, "turn_interval": 5, "max_facts": 50,
                                                        "state": {"version": 2, "facts": ["The guest is Ana."],
                                                                  "summary": "Ana asked about the pool."}}}}},
    # Output playback signals as OpenAI writes them, with the response they belong to.
    "output_audio_buffer_started_response_id": {"type": "output_audio_buffer.started", "response_id": "resp_1"},
    "content_part_done_empty": {"type": "response.content_part.done", "part": {}},
    "audio_transcript_done_bare": {"type": "response.output_audio_transcript.done", "transcript": "Until ten."},
    "output_text_delta_bare": {"type": "response.output_text.delta", "delta": "Unt"},
    # Names the browser example also accepts for the user's transcript deltas.
    "alias_input_audio_transcription_delta": {"type": "input_audio_transcription.delta", "delta": "Is the"},
    "alias_input_audio_buffer_transcription_delta": {"type": "input_audio_buffer.transcription.delta",
                                                     "delta": "Is the"},
}


def client_example(kind: str) -> dict[str, Any]:
    return {"type": kind, "event_id": f"evt_{kind.replace('.', '_')}", **CLIENT[kind]}


def server_example(kind: str) -> dict[str, Any]:
    return {"type": kind, "event_id": f"event_{sorted(SERVER).index(kind):04d}", **SERVER[kind]}


def write(root: Path) -> None:
    for kind in CLIENT:
        (root / "events" / "client" / f"{kind}.json").write_text(json.dumps(client_example(kind), indent=2) + "\n")
    for kind in SERVER:
        example = server_example(kind)
        (root / "events" / "server" / f"{kind}.json").write_text(json.dumps(example, indent=2) + "\n")
    (root / "events" / "server" / "untyped.errorType.json").write_text(json.dumps(UNTYPED, indent=2) + "\n")
    clients = root / "events" / "client" / "inworld"
    clients.mkdir(exist_ok=True)
    for name, flow in INWORLD_CLIENTS.items():
        (clients / f"{name}.json").write_text(json.dumps(flow, indent=2) + "\n")
    servers = root / "events" / "server" / "inworld"
    servers.mkdir(exist_ok=True)
    for name, event in INWORLD_SERVER.items():
        (servers / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    write(Path(__file__).resolve().parent)
