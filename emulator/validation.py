"""Checks the API makes on what clients send, answered with ``error`` events shaped like the API's."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from inworld_realtime.protocol import events as ev
from inworld_realtime.protocol.items import RealtimeError
from inworld_realtime.protocol.session import (
    SUPPORTED_SAMPLE_RATES,
    Float32AudioFormat,
    FunctionTool,
    PCMAudioFormat,
    SessionProperties,
)

from .formats import ga_format, resolve

MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
_FORMAT_TAGS = {"audio/pcm", "audio/pcmu", "audio/pcma", "audio/float32"}
_TOP_LEVEL = set(SessionProperties.model_fields) | {"providerData"}


class RequestError(Exception):
    """A client request the API would refuse; becomes an ``error`` event, never a crash."""

    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value",
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind

    def to_error(self, event_id: str | None) -> RealtimeError:
        """The ``error`` object of the event that reports this."""
        return RealtimeError(type=self.kind, code=self.code, message=self.message, param=self.param,
                             event_id=event_id)


def check_session_update(update: SessionProperties, strict: bool = False) -> None:
    """Refuse a session.update the API would refuse; the first problem found is raised.

    Inworld merges what it knows and keeps the rest, so unknown fields, any model id and non-function tools
    pass; ``strict`` refuses them the way OpenAI does (for tests that want the stricter server).
    """
    extra = sorted((update.model_extra or {}).keys() - _TOP_LEVEL)
    if extra and strict:
        raise RequestError(f"Unknown parameter: 'session.{extra[0]}'.", f"session.{extra[0]}", "unknown_parameter")
    if update.type != "realtime":
        raise RequestError(f"Invalid value: '{update.type}'. Supported values are: 'realtime'.", "session.type")
    if update.model is not None and (not update.model.strip() or (strict and not MODEL_ID.match(update.model))):
        raise RequestError(f"Invalid model '{update.model}': expected 'provider/model', e.g. 'openai/gpt-4.1-mini'.",
                           "session.model")
    if update.temperature is not None and not 0.0 <= update.temperature <= 2.0:
        raise RequestError(f"Invalid 'session.temperature': {update.temperature} is not between 0 and 2.",
                           "session.temperature", "decimal_out_of_range")
    mot = update.max_output_tokens
    if isinstance(mot, int) and not 1 <= mot <= 4096:
        raise RequestError(f"Invalid 'session.max_output_tokens': {mot} is not between 1 and 4096.",
                           "session.max_output_tokens", "integer_out_of_range")
    if update.output_modalities is not None and not update.output_modalities:
        raise RequestError("'session.output_modalities' must name at least one of 'text', 'audio'.",
                           "session.output_modalities")
    _check_audio(update, strict)
    _check_tools(update, strict)
    _check_tool_choice(update)
    pd = update.provider_data
    if pd is not None and "auto_tool_response" in pd and not isinstance(pd["auto_tool_response"], bool):
        raise RequestError("'session.providerData.auto_tool_response' must be a boolean.",
                           "session.providerData.auto_tool_response", "invalid_type")


def _check_audio(update: SessionProperties, strict: bool) -> None:
    audio = update.audio
    if audio is None:
        return
    for side, part in (("input", audio.input), ("output", audio.output)):
        fmt = getattr(part, "format", None)
        if strict and isinstance(fmt, str):  # the beta spelling; GA OpenAI wants the object
            raise RequestError(f"Invalid 'session.audio.{side}.format': {fmt!r} (use an object such as "
                               "{'type': 'audio/pcmu'}).", f"session.audio.{side}.format")
        if fmt is not None and not resolve(fmt).known:
            raise RequestError(f"Unsupported audio format {fmt!r}: use audio/pcm, audio/pcmu, audio/pcma or "
                               "audio/float32.", f"session.audio.{side}.format")
        if isinstance(fmt, PCMAudioFormat | Float32AudioFormat) and fmt.rate not in SUPPORTED_SAMPLE_RATES:
            raise RequestError(f"Invalid value: {fmt.rate}. Supported values are: "
                               f"{', '.join(map(str, SUPPORTED_SAMPLE_RATES))}.", f"session.audio.{side}.format.rate")
    inp = audio.input
    if inp is not None:
        tr = inp.transcription
        if tr is not None and tr.model is not None and not MODEL_ID.match(tr.model):
            raise RequestError(f"Invalid STT model '{tr.model}'.", "session.audio.input.transcription.model")
        td = inp.turn_detection
        if td is not None:
            extra = sorted((td.model_extra or {}).keys())
            if extra and strict:
                param = f"session.audio.input.turn_detection.{extra[0]}"
                raise RequestError(f"Unknown parameter: '{param}'.", param, "unknown_parameter")
            if td.type not in ("server_vad", "semantic_vad"):
                raise RequestError(f"Invalid value: '{td.type}'.", "session.audio.input.turn_detection.type")
            if td.eagerness not in (None, "low", "medium", "high", "auto"):
                raise RequestError(f"Invalid value: '{td.eagerness}'.", "session.audio.input.turn_detection.eagerness")
            if td.threshold is not None and not 0.0 <= td.threshold <= 1.0:
                raise RequestError(f"Invalid threshold {td.threshold}: must be between 0 and 1.",
                                   "session.audio.input.turn_detection.threshold", "decimal_out_of_range")
            for name in ("silence_duration_ms", "prefix_padding_ms", "idle_timeout_ms"):
                value = getattr(td, name)
                if value is not None and not 0 <= value <= 60_000:
                    raise RequestError(f"Invalid {name} {value}: must be between 0 and 60000.",
                                       f"session.audio.input.turn_detection.{name}", "integer_out_of_range")
    out = audio.output
    if out is not None:
        if out.speed is not None and not 0.25 <= out.speed <= 1.5:
            raise RequestError(f"Invalid speed {out.speed}: must be between 0.25 and 1.5.",
                               "session.audio.output.speed", "decimal_out_of_range")
        if out.voice is not None and not out.voice.strip():
            raise RequestError("'session.audio.output.voice' must not be empty.", "session.audio.output.voice")


def _check_tools(update: SessionProperties, strict: bool) -> None:
    if update.tools is None:
        return
    seen: set[str] = set()
    for i, tool in enumerate(update.tools):
        param = f"session.tools[{i}]"
        if isinstance(tool, dict):
            kind = tool.get("type", "function")
            if kind != "function":
                if strict or not isinstance(kind, str) or not kind:
                    raise RequestError(f"Unsupported tool type {kind!r}.", f"{param}.type")
                continue  # a hosted tool (web_search...): Inworld runs it, the client sends no schema
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise RequestError("Missing required parameter: 'name'.", f"{param}.name",
                                   "missing_required_parameter")
            params = tool.get("parameters", {})
        else:
            name, params = tool.name, tool.parameters
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise RequestError(f"Invalid tool name {name!r}: use letters, digits, _ and - (at most 64).",
                               f"{param}.name")
        if not isinstance(params, dict):
            raise RequestError("'parameters' must be a JSON schema object.", f"{param}.parameters", "invalid_type")
        if name in seen:
            raise RequestError(f"Duplicate tool name {name!r}.", f"{param}.name")
        seen.add(name)


def _check_tool_choice(update: SessionProperties) -> None:
    choice = update.tool_choice
    if choice is None or choice in ("auto", "none", "required"):
        return
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return
    raise RequestError("Invalid tool_choice: use 'auto', 'none', 'required' or {'type': 'function', 'name': ...}.",
                       "session.tool_choice")


def function_tools(session: SessionProperties) -> list[FunctionTool]:
    """The session's function tools as models, whatever form they were given in."""
    out: list[FunctionTool] = []
    for tool in session.tools or []:
        if isinstance(tool, FunctionTool):
            out.append(tool)
        elif isinstance(tool, dict) and tool.get("type", "function") == "function" \
                and isinstance(tool.get("name"), str):
            out.append(FunctionTool(name=tool["name"], description=str(tool.get("description", "")),
                                    parameters=tool.get("parameters") or {"type": "object", "properties": {}}))
    return out


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("format", "parameters"):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_session(base: SessionProperties, update: SessionProperties) -> SessionProperties:
    """The session after ``update``: fields it names replace, nested objects merge, ``null`` clears."""
    merged = _deep_merge(base.to_wire(), update.to_wire())
    for fixed in ("id", "object", "expires_at"):  # the server's, whatever the client says
        if fixed in base.model_fields_set:
            merged[fixed] = getattr(base, fixed)
    return SessionProperties.model_validate(merged)


def normalise(data: Any) -> Any:
    """A client event in the spellings the core models: string audio formats become GA objects, and the
    beta ``input_audio_format``/``output_audio_format`` keys fill ``audio.input/output.format``."""
    if not isinstance(data, dict) or not isinstance(data.get("session"), dict):
        return data
    session = dict(data["session"])
    audio = session.get("audio")
    audio = dict(audio) if isinstance(audio, dict) else ({} if audio is None else audio)
    if isinstance(audio, dict):
        for side, beta in (("input", "input_audio_format"), ("output", "output_audio_format")):
            part = audio.get(side)
            part = dict(part) if isinstance(part, dict) else ({} if part is None else part)
            if not isinstance(part, dict):
                continue
            if "format" not in part and isinstance(session.get(beta), str):
                part["format"] = session[beta]
            if "format" in part:
                part["format"] = ga_format(part["format"])
            if part:
                audio[side] = part
        if audio:
            session["audio"] = audio
    return {**data, "session": session}


def parse_liberally(raw: str) -> ev.ClientEvent | None:
    """A message the core refused, read the way Inworld does (see ``normalise``); None if still invalid."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return None
    try:
        event: ev.ClientEvent = ev.client_event_adapter.validate_python(normalise(data))
    except ValidationError:
        return None
    return event


def error_for_message(raw: str) -> RealtimeError:
    """The error the API gives for a message that is not a valid client event."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        return RequestError(f"We could not parse the JSON body of your request ({exc}).", None,
                            "invalid_json").to_error(None)
    event_id = data.get("event_id") if isinstance(data, dict) else None
    event_id = event_id if isinstance(event_id, str) else None
    if not isinstance(data, dict):
        return RequestError("The message must be a JSON object.", None, "invalid_type").to_error(None)
    kind = data.get("type")
    if not isinstance(kind, str):
        return RequestError("Missing required parameter: 'type'.", "type",
                            "missing_required_parameter").to_error(event_id)
    known = sorted(_client_types())
    if kind not in known:
        supported = ", ".join(f"'{k}'" for k in known)
        return RequestError(f"Invalid value: '{kind}'. Supported values are: {supported}.", "type",
                            "invalid_value").to_error(event_id)
    try:
        ev.client_event_adapter.validate_python(data)
    except ValidationError as exc:
        return _from_validation(exc, event_id)
    return RequestError("Invalid event.", None).to_error(event_id)  # pragma: no cover - parsed elsewhere


def _client_types() -> set[str]:
    return {
        cls.model_fields["type"].default
        for cls in (ev.SessionUpdate, ev.InputAudioBufferAppend, ev.InputAudioBufferCommit,
                    ev.InputAudioBufferClear, ev.OutputAudioBufferClear, ev.ConversationItemCreate,
                    ev.ConversationItemTruncate, ev.ConversationItemDelete, ev.ConversationItemRetrieve,
                    ev.ResponseCreate, ev.ResponseCancel)
    }


def _from_validation(exc: ValidationError, event_id: str | None) -> RealtimeError:
    first = exc.errors(include_url=False)[0]
    path: list[str] = []
    for part in first["loc"][1:]:  # the first element is the event's own type tag
        if isinstance(part, int):
            path[-1:] = [f"{path[-1]}[{part}]"] if path else [f"[{part}]"]
        elif part in _FORMAT_TAGS or "[" in str(part) or part in ("function-after", "FunctionTool", "dict[str,any]"):
            continue
        else:
            path.append(str(part))
    param = ".".join(path) or None
    if first["type"] == "missing":
        return RequestError(f"Missing required parameter: '{param}'.", param,
                            "missing_required_parameter").to_error(event_id)
    given = first.get("input")
    shown = json.dumps(given)[:80] if not isinstance(given, dict) else "an object"
    return RequestError(f"Invalid value for '{param}': {shown} ({first['msg']}).", param,
                        "invalid_value").to_error(event_id)
