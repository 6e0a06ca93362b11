"""Stitching configuration: identifier types with their priorities and caps, and the classes of
device that are shared from the start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from identity.identifiers import BUILTIN_TYPES, IdentifierType
from identity.normalize import Blocklist

MAX_NAME_BYTES = 64
"""Identifier type names (and channel names) are at most this long: requests carry them, and the
API bounds them by accepting only configured ones."""


class WeakLinks(BaseModel):
    """When weak evidence (an email click, a form, a receipt) joins two identifiers: it is
    *pending* until corroborated by this many events showing the same link, spread over at least
    this many days (or by a strong link). Measured by bench.accuracy: waiting even for new
    identifiers gave precision 1.0000 against 0.9934 when they attach at once (README)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    corroborating_events: int = Field(2, ge=1)
    """1 applies every weak link at once (the behaviour before pending links)."""
    corroborating_days: float = Field(1.0, ge=0)
    attach_new: bool = False
    """True: a weak link onto an identifier first seen in the event (a new browser clicking an
    email) applies at once and is withdrawn if contradicted; more recall, less precision."""


class StitchingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier_types: dict[str, IdentifierType] = Field(default_factory=lambda: dict(BUILTIN_TYPES))
    """Built-in types, overridden or extended by name. A type given here replaces the built-in."""
    shared_device_types: list[str] = Field(default_factory=lambda: ["kiosk", "pos_terminal"])
    """`context.device_type` values whose cookies and device ids are shared from first sight."""
    blocklist: Blocklist = Field(default_factory=Blocklist)
    default_phone_region: str = "US"
    """Region assumed for phone numbers written without a country code."""
    weak_links: WeakLinks = Field(default_factory=WeakLinks)

    @model_validator(mode="after")
    def _short_names(self) -> StitchingRules:
        # Requests carry these names; the API bounds them by being only ever one of these.
        if any(len(name.encode()) > MAX_NAME_BYTES for name in self.identifier_types):
            raise ValueError(f"identifier type names are at most {MAX_NAME_BYTES} bytes")
        return self

    @model_validator(mode="before")
    @classmethod
    def _merge_builtin_types(cls, data: object) -> object:
        if isinstance(data, dict) and "identifier_types" in data:
            merged: dict[str, object] = dict(BUILTIN_TYPES)
            merged.update(data["identifier_types"] or {})
            data = {**data, "identifier_types": merged}
        return data
