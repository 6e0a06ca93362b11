"""Which resolver serves which channel."""

from __future__ import annotations

from collections.abc import Iterable

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


def build_resolvers(*, priorities: dict[str, int], shared_device_types: Iterable[str]) -> dict[str, Resolver]:
    shared = list(shared_device_types)
    return {cls.channel: cls(priorities=priorities, shared_device_types=shared) for cls in BUILTIN}
