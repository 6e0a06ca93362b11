"""What every channel resolver shares: links drawn as a star around the event's most telling
identifier, each graded by what the event proves (identity.identifiers.EvidenceClass); the
identifiers of one device reported together linked as one device; device classes that are shared
from first sight."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from identity.identifiers import EvidenceClass
from identity.model import ChannelEvent, Evidence, LinkEvidence

SHARED_CAPABLE = frozenset({"cookie", "device_id"})
"""Identifier types that belong to a device, so a shared device class makes them shared."""
ANY_TYPE = "*"


class Resolver:
    """Base for channel resolvers. A subclass decides the class and rule name of an event's links
    from what the event proves (a login, a card swipe, a typed address, a click)."""

    channel = ""
    same_device_rule: str | None = None
    """Set by channels whose events report identifiers of the device they run on (an app's device
    id and its web-view cookie): those are linked to each other as one device, login or not."""

    def __init__(
        self,
        *,
        priorities: dict[str, int],
        shared_device_types: Iterable[str],
        classes: Mapping[str, EvidenceClass] | None = None,
    ) -> None:
        self._priority = priorities
        self._shared_devices = frozenset(d.lower() for d in shared_device_types)
        self._classes = dict(classes or {})

    def judge(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        """The class and rule of the links of an event of this type with these identifier
        types, or None when it proves no link."""
        raise NotImplementedError

    def graded(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        """`judge`, with the configured class for this channel's event type (`stitching.evidence`)
        in place of the resolver's own — a login stays a login."""
        verdict = self.judge(event_type, types)
        if verdict is None or verdict[0] is EvidenceClass.AUTHENTICATED:
            return verdict
        configured = self._classes.get(event_type, self._classes.get(ANY_TYPE))
        return verdict if configured is None else (configured, verdict[1])

    def evidence(self, event: ChannelEvent) -> Evidence:
        shared = self._declared_shared(event)
        idents = event.identifiers
        if len(idents) < 2:
            return Evidence((), shared)
        verdict = self.graded(event.type, {i.type for i in idents})
        if verdict is None:
            return Evidence((), shared)
        proves, rule = verdict
        hub = self._most_telling(range(len(idents)), event)
        links = {
            frozenset((hub, i)): LinkEvidence(hub, i, proves, rule) for i in range(len(idents)) if i != hub
        }
        device = [i for i, ident in enumerate(idents) if ident.type in SHARED_CAPABLE and i not in shared]
        if self.same_device_rule is not None and len(device) > 1:
            first = self._most_telling(device, event)
            for i in device:
                pair = frozenset((first, i))
                if i != first and (
                    pair not in links or links[pair].proves.rank < EvidenceClass.SAME_DEVICE.rank
                ):
                    links[pair] = LinkEvidence(first, i, EvidenceClass.SAME_DEVICE, self.same_device_rule)
        return Evidence(tuple(links.values()), shared)

    def _most_telling(self, indexes: Iterable[int], event: ChannelEvent) -> int:
        idents = event.identifiers
        return max(indexes, key=lambda i: (self._priority.get(idents[i].type, 0), idents[i].key))

    def _declared_shared(self, event: ChannelEvent) -> frozenset[int]:
        if event.device_type.lower() not in self._shared_devices:
            return frozenset()
        return frozenset(i for i, ident in enumerate(event.identifiers) if ident.type in SHARED_CAPABLE)
