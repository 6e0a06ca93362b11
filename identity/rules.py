"""Stitching configuration: identifier types with their priorities and caps, and the classes of
device that are shared from the start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from identity.identifiers import BUILTIN_TYPES, IdentifierType
from identity.normalize import Blocklist


class StitchingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    identifier_types: dict[str, IdentifierType] = Field(default_factory=lambda: dict(BUILTIN_TYPES))
    """Built-in types, overridden or extended by name. A type given here replaces the built-in."""
    shared_device_types: list[str] = Field(default_factory=lambda: ["kiosk", "pos_terminal"])
    """`context.device_type` values whose cookies and device ids are shared from first sight."""
    blocklist: Blocklist = Field(default_factory=Blocklist)
    default_phone_region: str = "US"
    """Region assumed for phone numbers written without a country code."""

    @model_validator(mode="before")
    @classmethod
    def _merge_builtin_types(cls, data: object) -> object:
        if isinstance(data, dict) and "identifier_types" in data:
            merged: dict[str, object] = dict(BUILTIN_TYPES)
            merged.update(data["identifier_types"] or {})
            data = {**data, "identifier_types": merged}
        return data
