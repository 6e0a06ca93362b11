"""Lists that must agree with what they describe, pinned: a new port method is classified as a
read or a write (common.observability), a new profile field belongs to a section that fires
`profile_updated` (profiles.change_log.SECTIONS)."""

from __future__ import annotations

import pytest

from changes.log import SECTIONS
from changes.ports import ChangeFeed
from common.observability import READS, WRITES
from identity.ports import IdentityGraph
from privacy.records import PrivacyRecords
from profiles.ports import ProfileStore
from profiles.state import ProfileState


@pytest.mark.parametrize(
    "port", [IdentityGraph, ProfileStore, PrivacyRecords, ChangeFeed], ids=lambda p: p.__name__
)
def test_every_store_operation_is_classified_as_a_read_or_a_write(port: type) -> None:
    methods = {n for n, v in vars(port).items() if callable(v) and not n.startswith("_")}
    assert methods - (READS | WRITES) == set(), "classify it in common.observability"
    assert not READS & WRITES


def test_every_profile_field_is_in_exactly_one_section_of_the_change_feed() -> None:
    fields = [f for names in SECTIONS.values() for f in names]
    assert sorted(fields) == sorted(ProfileState.__struct_fields__)


def test_every_field_a_segment_rule_may_name_is_answered_by_the_profile_reading() -> None:
    """profiles.segments.FIELDS (what a rule may name) against the reading's `case` arms
    (profiles.view): a field added to one and not the other would make every rule on it false."""
    from profiles.events import EventFacts, Item, Money, Order
    from profiles.fold import Folder
    from profiles.rules import ProfileRules
    from profiles.segments import FIELDS
    from profiles.view import _Lookup, read

    now = 1_700_000_000_000_000
    grill = Item(sku="G1", category="grills", brand="acme", price=Money(19900, "EUR"))
    events = [
        EventFacts("e1", now - 10**9, "web", "product_view", city="Lyon", country="FR", product=grill),
        EventFacts("e2", now - 10**8, "pos", "purchase", ("loyalty_number",), store_id="s1",
                   order=Order(items=(grill,), total=Money(19900, "EUR"), discount=Money(100, "EUR"))),
        EventFacts("e3", now - 10**7, "email", "email_open"),
        EventFacts("e4", now - 10**6, "web", "add_to_cart", product=grill, device="cookie:k"),
    ]  # fmt: skip
    folder = Folder(ProfileRules())
    state = folder.fold(ProfileState(), events)
    lookup = _Lookup(state, read(state, folder=folder, segments={}, now=now))
    unanswered = sorted(field for field in FIELDS if lookup(field, None) is None)
    assert unanswered == []


def test_the_change_kinds_are_the_apis() -> None:
    from changes.model import KINDS
    from idstitch.v1 import change_service_pb2 as pb

    names = (v.name for v in pb.ChangeKind.DESCRIPTOR.values)
    api = {n.removeprefix("CHANGE_KIND_").lower() for n in names} - {"unspecified"}
    assert set(KINDS) == api
