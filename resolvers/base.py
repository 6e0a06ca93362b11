"""What every channel resolver shares: links drawn as a star around the event's most telling
identifier, and device classes that are shared from first sight."""

from __future__ import annotations

from collections.abc import Iterable

from identity.identifiers import Strength
from identity.model import ChannelEvent, Evidence, LinkEvidence

SHARED_CAPABLE = frozenset({"cookie", "device_id"})
"""Identifier types that belong to a device, so a shared device class makes them shared."""


class Resolver:
    """Base for channel resolvers. A subclass decides the strength and rule name of an event's
    links from what the event proves (a login, a card swipe, a click)."""

    channel = ""

    def __init__(self, *, priorities: dict[str, int], shared_device_types: Iterable[str]) -> None:
        self._priority = priorities
        self._shared_devices = frozenset(d.lower() for d in shared_device_types)

    def judge(self, event: ChannelEvent | None, types: set[str]) -> tuple[Strength, str] | None:
        """The strength and rule of this event's links, or None when it proves no link (`event`
        is None when asked about identifier types alone)."""
        raise NotImplementedError

    def evidence(self, event: ChannelEvent) -> Evidence:
        shared = self._declared_shared(event)
        idents = event.identifiers
        if len(idents) < 2:
            return Evidence((), shared)
        verdict = self.judge(event, {i.type for i in idents})
        if verdict is None:
            return Evidence((), shared)
        strength, rule = verdict
        hub = max(range(len(idents)), key=lambda i: (self._priority.get(idents[i].type, 0), idents[i].key))
        links = tuple(LinkEvidence(hub, i, strength, rule) for i in range(len(idents)) if i != hub)
        return Evidence(links, shared)

    def _declared_shared(self, event: ChannelEvent) -> frozenset[int]:
        if event.device_type.lower() not in self._shared_devices:
            return frozenset()
        return frozenset(i for i, ident in enumerate(event.identifiers) if ident.type in SHARED_CAPABLE)
