"""A drop-in ``InworldRealtimeLLMService`` for pipecat-ai 1.14, running on our asyncio client.

Change ``from pipecat.services.inworld.realtime.llm import InworldRealtimeLLMService`` to
``from io_adapters.pipecat_shim import InworldRealtimeLLMService``; ``io_adapters.pipecat_shim.events``
has the same names as ``pipecat.services.inworld.realtime.events``.
"""

from . import events
from .llm import CurrentAudioResponse, InworldRealtimeLLMService, InworldRealtimeLLMSettings

__all__ = ["CurrentAudioResponse", "InworldRealtimeLLMService", "InworldRealtimeLLMSettings", "events"]
