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
