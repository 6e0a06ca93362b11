"""What an erasure takes out of another person's event: an event whose identifiers ended in
different persons (a link held back) is stored once, with the person of its highest-priority
identifier, and carries the stored keys of all of them — and, in its facts, the node id of the
browser or device it came through. Both go when their person is erased; the event stays the
other person's."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import msgspec

from identity.identifiers import node_id
from profiles.events import EventFacts


def scrubbed(
    keys: Sequence[str], facts: EventFacts, gone: Collection[str]
) -> tuple[tuple[str, ...], EventFacts] | None:
    """The event's keys and facts without the erased keys `gone`; None when it names none."""
    kept = tuple(k for k in keys if k not in gone)
    device = "" if facts.device and facts.device in {node_id(k) for k in gone} else facts.device
    if len(kept) == len(keys) and device == facts.device:
        return None
    return kept, msgspec.structs.replace(facts, device=device)
