"""Which resolver serves which channel."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from identity.identifiers import EvidenceClass
from resolvers.app import AppResolver
from resolvers.base import Resolver
from resolvers.call_center import CallCenterResolver
from resolvers.email import EmailResolver
from resolvers.pos import PosResolver
from resolvers.web import WebResolver

BUILTIN: tuple[type[Resolver], ...] = (
    WebResolver,
    AppResolver,
    EmailResolver,
    PosResolver,
    CallCenterResolver,
)


def build_resolvers(
    *,
    priorities: dict[str, int],
    shared_device_types: Iterable[str],
    classes: Mapping[str, Mapping[str, EvidenceClass]] | None = None,
) -> dict[str, Resolver]:
    """`classes`: per channel, per event type (or "*"), the evidence class that replaces the
    resolver's own for events without a login (`stitching.evidence`)."""
    shared = list(shared_device_types)
    return {
        cls.channel: cls(
            priorities=priorities, shared_device_types=shared, classes=(classes or {}).get(cls.channel)
        )
        for cls in BUILTIN
    }
