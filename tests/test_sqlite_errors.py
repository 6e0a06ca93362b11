"""An embedded store's SQLite errors become StoreUnavailable (gRPC UNAVAILABLE) at one point, on
its read paths too; errors that are a caller's mistake stay what they are."""

from __future__ import annotations

import sqlite3

import pytest

from common.errors import StoreUnavailable
from common.sqlite_db import translates_errors
from identity.stores.sqlite import SqliteIdentityGraph
from privacy.stores.sqlite import SqlitePrivacyRecords
from profiles.events import EventFacts
from profiles.fold import Folder
from profiles.ports import LoggedEvent
from profiles.rules import ProfileRules
from profiles.stores.sqlite import SqliteProfileStore


@translates_errors
class _Store:
    def read(self) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    def damaged(self) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    def duplicate(self) -> None:
        raise sqlite3.IntegrityError("UNIQUE constraint failed")


def test_a_failing_database_is_unavailable_and_a_callers_mistake_is_not():
    with pytest.raises(StoreUnavailable):
        _Store().read()
    with pytest.raises(StoreUnavailable):
        _Store().damaged()
    with pytest.raises(sqlite3.IntegrityError):
        _Store().duplicate()


@pytest.mark.parametrize("store", [SqliteIdentityGraph, SqliteProfileStore, SqlitePrivacyRecords])
def test_every_read_of_each_embedded_store_translates(store):
    reads = {
        "resolve",
        "person_graph",
        "get",
        "get_many",
        "events_of",
        "suppressed",
        "key_by_hash",
        "api_keys",
    }
    public = {name for name in vars(store) if not name.startswith("_") and callable(vars(store)[name])}
    assert public & reads
    assert all(hasattr(getattr(store, name), "__wrapped__") for name in public)


def test_a_closed_profile_store_refuses_even_a_read_back_it_could_answer_from_memory(tmp_path):
    store = SqliteProfileStore(tmp_path / "profiles.db")
    folder = Folder(ProfileRules())
    written = store.append(
        events=[LoggedEvent("p", (), EventFacts("e1", 1_700_000_000_000_000, "web", "page_view"))],
        merges={},
        folding=folder,
    ).written
    assert set(store.get_many(["p"], known=written)) == {"p"}
    store.close()
    with pytest.raises(StoreUnavailable):
        store.get_many(["p"], known=written)
