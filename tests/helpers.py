"""Small builders shared by the tests: events in the domain's shape, ingest through the
production use case, and a view of the graph as a partition of identifiers, read only through
the system's store readers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import count

from common.errors import NotFound
from identity.model import StitchResult
from identity.service import RawEvent
from profiles.events import EventFacts
from server.bootstrap import System

_ids = count()


def ev(
    channel: str,
    *identifiers: tuple[str, str],
    at: int | None = None,
    type: str = "page_view",
    event_id: str | None = None,
    device_type: str = "",
) -> RawEvent:
    n = next(_ids)
    return RawEvent(
        event_id=event_id or f"ev-{n}",
        occurred_at=at if at is not None else 1_700_000_000_000_000 + n * 1_000_000,
        channel=channel,
        type=type,
        identifiers=list(identifiers),
        device_type=device_type,
    )


def login(customer: str, *others: tuple[str, str], channel: str = "web", **kw: object) -> RawEvent:
    return ev(channel, ("customer_id", customer), *others, type="login", **kw)  # type: ignore[arg-type]


def stitch(system: System, events: Sequence[RawEvent | tuple[RawEvent, EventFacts]]) -> list[StitchResult]:
    """Ingests through the Ingest use case (usecases/ingest.py), as the servicer does; a bare
    event carries only the facts its own fields give."""
    batch = [e if isinstance(e, tuple) else (e, facts_of(e)) for e in events]
    return system.ingest(batch)


def facts_of(raw: RawEvent) -> EventFacts:
    return EventFacts(raw.event_id, raw.occurred_at, raw.channel, raw.type, device_type=raw.device_type)


def person_of(svc: System, type_name: str, value: str) -> str | None:
    """The person id an identifier resolves to; None when unknown or shared."""
    try:
        res = svc.reads.identity.resolve(type_name, value)
    except NotFound:
        return None
    return res.person.person_id if res.person else None


def is_shared(svc: System, type_name: str, value: str) -> bool:
    try:
        return svc.reads.identity.resolve(type_name, value).shared is not None
    except NotFound:
        return False


def partition(svc: System, universe: Iterable[tuple[str, str]]) -> set[frozenset[tuple[str, str]]]:
    """The identifiers of `universe` grouped by person (shared and unknown ones left out)."""
    groups: dict[str, set[tuple[str, str]]] = {}
    for ident in universe:
        pid = person_of(svc, *ident)
        if pid is not None:
            groups.setdefault(pid, set()).add(ident)
    return {frozenset(g) for g in groups.values()}


def state(svc: System, universe: Iterable[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """Every identifier of `universe` with its person id, 'shared' or None."""
    out: dict[tuple[str, str], object] = {}
    for ident in universe:
        out[ident] = "shared" if is_shared(svc, *ident) else person_of(svc, *ident)
    return out


def shop(
    channel: str,
    *identifiers: tuple[str, str],
    type: str = "page_view",
    at: int | None = None,
    event_id: str | None = None,
    device_type: str = "",
    **facts: object,
) -> tuple[RawEvent, EventFacts]:
    """An event with its profile facts (product=, order=, city=, session_id=, ...), as
    the Ingest unit of work (System.ingest) takes it."""
    raw = ev(channel, *identifiers, type=type, at=at, event_id=event_id, device_type=device_type)
    return raw, EventFacts(
        raw.event_id,
        raw.occurred_at,
        channel,
        type,
        device_type=device_type,
        **facts,  # type: ignore[arg-type]
    )
