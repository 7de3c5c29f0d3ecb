"""A drop-in ``InworldRealtimeLLMService`` for pipecat-ai 1.14, running on our asyncio client.

Change ``from pipecat.services.inworld.realtime.llm import InworldRealtimeLLMService`` to
``from inworld_realtime.io_adapters.pipecat_shim import InworldRealtimeLLMService``;
``inworld_realtime.io_adapters.pipecat_shim.events`` has the same names as ``pipecat.services.inworld.realtime.events``.
"""

try:
    import pipecat  # noqa: F401  (the shim subclasses pipecat's own service)
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        "inworld_realtime.io_adapters.pipecat_shim needs pipecat-ai 1.14, which is an optional extra: "
        "pip install 'inworld-realtime[pipecat]' (in a checkout: pip install -e \".[pipecat]\")",
        name=exc.name) from exc

from . import events
from .llm import CurrentAudioResponse, InworldRealtimeLLMService, InworldRealtimeLLMSettings

__all__ = ["CurrentAudioResponse", "InworldRealtimeLLMService", "InworldRealtimeLLMSettings", "events"]
