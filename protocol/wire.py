"""The base model for everything on the wire: unset fields are omitted, explicit None is null."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A JSON object of the API.

    Serialisation drops fields the caller never set but keeps fields set to None
    (``turn_detection: null`` is how manual turn mode is asked for). Fields this library does not
    know are kept and sent back as given.
    """

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict the API expects (aliases, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_json(self) -> str:
        """The JSON text the API expects."""
        return self.model_dump_json(by_alias=True, exclude_unset=True)


class SentModel(WireModel):
    """A model the client builds: fields in ``_always_sent`` (discriminators, ids) count as set."""

    _always_sent: ClassVar[tuple[str, ...]] = ()

    def model_post_init(self, context: Any, /) -> None:
        self.__pydantic_fields_set__.update(self._always_sent)
