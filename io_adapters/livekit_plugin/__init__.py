"""Inworld Realtime as a LiveKit Agents ``RealtimeModel``, on this package's asyncio client.

Needs the ``livekit`` extra (``pip install "inworld-realtime[livekit]"``)::

    from livekit.agents import AgentSession
    from inworld_realtime.io_adapters.livekit_plugin import RealtimeModel

    session = AgentSession(llm=RealtimeModel(voice="Clive"))
"""

from .model import RealtimeModel
from .options import DEFAULT_LLM_MODEL, DEFAULT_STT_MODEL, DEFAULT_TTS_MODEL, DEFAULT_VOICE
from .session import RealtimeSession

__all__ = ["DEFAULT_LLM_MODEL", "DEFAULT_STT_MODEL", "DEFAULT_TTS_MODEL", "DEFAULT_VOICE", "RealtimeModel",
           "RealtimeSession"]
