"""Traits: explicit attributes channels know about a person, declared in configuration so that a
typo or a wrong type is refused at the door instead of polluting every profile."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from common.errors import InvalidArgument

TraitType = Literal["text", "integer", "number", "flag"]
MAX_TEXT = 256


class TraitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: TraitType = "text"
    values: list[str] | None = None
    """For text: the only values allowed (none: any text up to 256 characters)."""
    min: float | None = None
    max: float | None = None
    """For integer and number: inclusive bounds."""

    @model_validator(mode="after")
    def _check(self) -> TraitSpec:
        if self.values is not None and self.type != "text":
            raise ValueError("values applies to text traits only")
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "number"):
            raise ValueError("min and max apply to integer and number traits only")
        return self


DEFAULT_TRAITS: dict[str, TraitSpec] = {
    "loyalty_tier": TraitSpec(values=["bronze", "silver", "gold", "platinum"]),
    "preferred_store": TraitSpec(),
    "crm_segment": TraitSpec(),
    "household_size": TraitSpec(type="integer", min=1, max=20),
}


def check_trait(
    specs: dict[str, TraitSpec], name: str, kind: str | None, value: object, field: str
) -> str | int | float | bool:
    """The value, if `name` is a configured trait and `value` (of proto kind `kind`) fits it."""
    spec = specs.get(name)
    if spec is None:
        known = ", ".join(sorted(specs)) or "none configured"
        raise InvalidArgument(f"{field}.name", f"not a configured trait (known: {known})")
    if kind == "integer" and spec.type == "number":
        kind, value = "number", float(value)  # type: ignore[arg-type]
    if kind != spec.type:
        raise InvalidArgument(f"{field}.value", f"trait {name!r} takes {spec.type}, got {kind or 'nothing'}")
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise InvalidArgument(f"{field}.value", f"longer than {MAX_TEXT} characters")
        if spec.values is not None and value not in spec.values:
            raise InvalidArgument(f"{field}.value", f"trait {name!r} takes one of {', '.join(spec.values)}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidArgument(f"{field}.value", "not a finite number")
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            raise InvalidArgument(f"{field}.value", f"trait {name!r} takes {spec.min} to {spec.max}")
    return value  # type: ignore[return-value]
