"""Stitching configuration: identifier types with their priorities and caps, and the classes of
device that are shared from the start."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from identity.identifiers import BUILTIN_TYPES, IdentifierType
from identity.normalize import Blocklist

EvidenceClassName = Literal["authenticated", "same_device", "declared", "click_through"]
MAX_NAME_BYTES = 64
"""Identifier type names (and channel names) are at most this long: requests carry them, and the
API bounds them by accepting only configured ones."""


class WeakLinks(BaseModel):
    """When evidence that is not proof joins two identifiers (identity.identifiers.EvidenceClass:
    declared addresses and click-throughs). A link the policy below does not apply at once is
    *pending* until corroborated by this many events showing the same link, spread over at least
    this many days (or by a strong link). Measured by bench.accuracy (docs/stitching.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    corroborating_events: int = Field(2, ge=1)
    """1 applies every weak link at once (the behaviour before pending links)."""
    corroborating_days: float = Field(1.0, ge=0)
    attach_new: bool = False
    """True: a click-through onto an identifier first seen in the event (a new browser clicking
    an email) applies at once, and is withdrawn if contradicted. Off by default: which of an
    email's clicks came first can then decide its person (docs/stitching.md, the frontier)."""
    declared_at_once: bool = True
    """A declared link (an address typed at checkout or sign-up, a phone given at the till) applies
    at once when one side is anonymous (holds no customer id or loyalty number), and is withdrawn
    if contradicted. False: declared links wait like click-throughs."""
    clicks_like_declared: bool = False
    """True: a click-through is applied as a declared link is (at once onto an anonymous side,
    withdrawn if contradicted). More recall; a click forwarded to a friend who never logs in on
    that browser then joins the friend's browser to the sender (the frontier in docs/stitching.md)."""


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
    evidence: dict[str, dict[str, EvidenceClassName]] = Field(default_factory=dict)
    """Per channel, per event type (or "*" for every type), the evidence class of its links when
    the event carries no login, replacing the resolver's own — e.g. `{web: {newsletter_click:
    click_through}}` for clicks a channel reports as web events."""

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
