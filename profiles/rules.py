"""Profile configuration: how events count towards behavior, history and affinities, how long
things are remembered, and the named segments evaluated on read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from profiles.segments import SegmentError, compile_segment
from profiles.traits import DEFAULT_TRAITS, TraitSpec


class AffinityWeights(BaseModel):
    """How much one product event adds to its category and brand scores (and price-tier counts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: float = Field(1.0, ge=0)
    cart: float = Field(3.0, ge=0)
    purchase: float = Field(5.0, ge=0)


class EventTypes(BaseModel):
    """Which event types mean what. Any other type still counts as activity (context, sessions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: frozenset[str] = frozenset({"product_view", "page_view", "category_view"})
    add_to_cart: frozenset[str] = frozenset({"add_to_cart"})
    remove_from_cart: frozenset[str] = frozenset({"remove_from_cart"})
    purchase: frozenset[str] = frozenset({"purchase", "order"})
    email_open: frozenset[str] = frozenset({"email_open"})
    email_click: frozenset[str] = frozenset({"email_click"})


class ProfileRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    half_life_days: PositiveFloat = 30.0
    """Category and brand scores halve over this many days without new activity."""
    weights: AffinityWeights = Field(default_factory=AffinityWeights)
    abandoned_cart_minutes: PositiveFloat = 30.0
    """A cart with no cart activity for this long, and no checkout since, is abandoned."""
    event_types: EventTypes = Field(default_factory=EventTypes)
    online_channels: frozenset[str] = frozenset({"web", "app"})
    """A purchase on these channels checks out the whole cart and counts as online."""
    recent_limit: PositiveInt = 50
    """Recently viewed products and categories, and products bought, newest first."""
    sessions_limit: PositiveInt = 20
    cart_limit: PositiveInt = 100
    counter_limit: PositiveInt = 50
    """Referrers and cities kept (the most frequent)."""
    devices_limit: PositiveInt = 50
    """Devices and cookies kept (the most recently used)."""
    consent_subjects_limit: PositiveInt = 64
    """Per purpose, the identifiers a decision is kept for (denials first, then the newest)."""
    affinity_limit: PositiveInt = 200
    """Categories and brands kept (the highest scores). Merges are exact while under the limits."""
    price_tiers: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {c: (2000, 10000) for c in ("USD", "EUR", "GBP", "CAD", "AUD", "CHF")}
    )
    """Per currency, unit prices (minor units) below the first bound are *budget*, from the second
    bound on *premium*, mid-range between. Prices in other currencies tell nothing about the tier."""
    traits: dict[str, TraitSpec] = Field(default_factory=lambda: dict(DEFAULT_TRAITS))
    """Traits UpdateTraits accepts, by name (replaces the defaults when given)."""
    segments: dict[str, str] = Field(default_factory=dict)
    """Named rules over profile fields, e.g. `affinity.category.grills > 0.5 and history.orders >= 1`."""

    @model_validator(mode="after")
    def _check(self) -> ProfileRules:
        for currency, (low, high) in self.price_tiers.items():
            if not 0 <= low <= high:
                raise ValueError(f"price_tiers.{currency}: bounds must satisfy 0 <= budget <= premium")
        for name, rule in self.segments.items():
            try:
                compile_segment(rule)
            except SegmentError as e:
                raise ValueError(f"segments.{name}: {e}") from None
        return self
