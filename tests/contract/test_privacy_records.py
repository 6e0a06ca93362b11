"""The privacy records contract (privacy/records.py), run against every implementation: the
embedded SQLite file and the cluster's Cassandra."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy.records import ErasureRecord, PrivacyRecords
from tests.backends import RECORDS_BACKENDS
from tests.backends import MakeRecords as Make


@pytest.fixture(params=sorted(RECORDS_BACKENDS))
def make_records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """Opens the records of one fresh namespace (again, for a second look at the same records)."""
    opened: list[PrivacyRecords] = []
    factory = RECORDS_BACKENDS[request.param](tmp_path)

    def make() -> PrivacyRecords:
        opened.append(factory())
        return opened[-1]

    yield make
    for r in opened:
        with contextlib.suppress(Exception):  # one the test closed already
            r.close()


@pytest.fixture
def records(make_records: Make) -> PrivacyRecords:
    return make_records()


def test_suppressions_keep_the_latest_erasure_time_and_are_found_by_hash(records: PrivacyRecords):
    assert not records.has_suppressions()
    assert records.suppressed({"h1", "h2"}) == {}
    records.suppress({"h1", "h2"}, 100)
    records.suppress({"h2", "h3"}, 200)
    records.suppress({"h3"}, 150)  # an older erasure does not move a later one back
    assert records.has_suppressions()
    assert records.suppressed({"h1", "h2", "h3", "h4"}) == {"h1": 100, "h2": 200, "h3": 200}


def test_many_hashes_are_looked_up_at_once(records: PrivacyRecords):
    hashes = {f"h{i}" for i in range(350)}
    records.suppress(hashes, 7)
    assert records.suppressed(hashes | {"other"}) == dict.fromkeys(hashes, 7)


def test_an_erasure_is_recorded_once_per_request_id_and_its_receipt_forgets_the_person(records):
    first = records.begin_erasure(ErasureRecord("e1", "req-1", 10, None, "p_1"))
    assert first.erasure_id == "e1" and first.person_id == "p_1"
    again = records.begin_erasure(ErasureRecord("e2", "req-1", 20, None, "p_1"))
    assert again.erasure_id == "e1" and again.started_at == 10  # the retry finds the first
    records.record_progress("e1", {"identifiers": 3})
    assert records.erasure("e1").counts == {"identifiers": 3}  # type: ignore[union-attr]
    done = records.complete_erasure("e1", {"identifiers": 3, "events": 5}, 30)
    assert (done.completed_at, done.person_id, done.counts) == (30, None, {"identifiers": 3, "events": 5})
    records.record_progress("e1", {"identifiers": 0})  # a late progress note does not change a receipt
    assert records.erasure("e1") == done
    assert records.erasure("e2") is None and records.erasure("unknown") is None


def test_the_audit_log_is_in_time_order_and_read_from_a_cursor(records: PrivacyRecords):
    for n, at in enumerate([1_000, 2_000, 3_000, 4_000_000_000_000_000]):  # the last one years later
        records.audit(at, f"k_{n}", "erase", {"n": n, "erasure_id": f"e{n}"})
    log = records.audit_log()
    assert [(e.caller, e.operation, e.detail["n"]) for e in log] == [
        ("k_0", "erase", 0), ("k_1", "erase", 1), ("k_2", "erase", 2), ("k_3", "erase", 3)
    ]  # fmt: skip
    assert [e.at for e in log] == [1_000, 2_000, 3_000, 4_000_000_000_000_000]
    assert [e.caller for e in records.audit_log(after_seq=log[1].seq)] == ["k_2", "k_3"]
    assert [e.caller for e in records.audit_log(limit=2)] == ["k_0", "k_1"]


def test_keys_are_found_by_hash_listed_and_revoked_once(records: PrivacyRecords):
    records.add_key("k_a", "hash-a", "admin", 10)
    records.add_key("k_b", "hash-b", "ingest", 20)
    found = records.key_by_hash("hash-b")
    assert found is not None and (found.key_id, found.role, found.revoked_at) == ("k_b", "ingest", None)
    assert records.key_by_hash("hash-x") is None
    assert [k.key_id for k in records.api_keys()] == ["k_a", "k_b"]
    assert records.revoke_key("k_b", 30) is True
    assert records.revoke_key("k_b", 40) is False and records.revoke_key("k_x", 40) is False
    assert records.key_by_hash("hash-b").revoked_at == 30  # type: ignore[union-attr]


def test_records_written_through_one_handle_are_read_through_another(make_records: Make):
    """What two servers on the same backend see (for the embedded file: one server restarted)."""
    a = make_records()
    a.suppress({"h1"}, 5)
    a.add_key("k_a", "hash-a", "admin", 1)
    a.audit(1, "k_a", "create_key", {"key_id": "k_b"})
    a.begin_erasure(ErasureRecord("e1", "req-1", 10, None, "p_1"))
    if isinstance(a, _sqlite_type()):
        a.close()  # one process holds the embedded file at a time
    b = make_records()
    assert b.has_suppressions() and b.suppressed({"h1"}) == {"h1": 5}
    assert b.key_by_hash("hash-a") is not None
    assert [e.operation for e in b.audit_log()] == ["create_key"]
    assert b.begin_erasure(ErasureRecord("e9", "req-1", 99, None, "p_1")).erasure_id == "e1"


def _sqlite_type() -> type:
    from privacy.stores.sqlite import SqlitePrivacyRecords

    return SqlitePrivacyRecords


def test_the_first_fingerprint_of_a_setting_is_the_one_every_later_reader_gets(records: PrivacyRecords):
    assert records.agreed("hmac_secret", "f-1") == "f-1"
    assert records.agreed("hmac_secret", "f-2") == "f-1"
    assert records.agreed("other", "g-2") == "g-2"
    assert records.agreed("hmac_secret", "f-1") == "f-1"
