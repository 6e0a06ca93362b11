"""The profile store contract, run against every backend in conftest.PROFILE_BACKENDS: the event
log is recorded once per event id, every profile equals the fold of its person's recorded events,
and merges and re-attributions keep it so. A new backend passes this file unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.events import EventFacts, Item
from profiles.fold import Folder
from profiles.ports import LoggedEvent, Prefold, ProfileStore
from profiles.rules import ProfileRules
from profiles.state import ProfileState
from server.config import Settings, load_settings
from tests.profile_data import HOUR, T0, assert_same_profile, event_facts

folder = Folder(ProfileRules(recent_limit=3, cart_limit=2, sessions_limit=2))


@pytest.fixture
def make_store(
    tmp_path_factory: pytest.TempPathFactory, profile_backend: Callable[[Settings, int], ProfileStore]
) -> Iterator[Callable[[], ProfileStore]]:
    made: list[ProfileStore] = []

    def make() -> ProfileStore:
        s = load_settings(data_dir=tmp_path_factory.mktemp("profiles"))
        made.append(profile_backend(s, len(made)))
        return made[-1]

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], ProfileStore]) -> ProfileStore:
    return make_store()


def view(n: int, sku: str = "s1", category: str = "grills") -> EventFacts:
    return EventFacts(f"e{n}", T0 + n * HOUR, "web", "product_view", product=Item(sku=sku, category=category))


def logged(person: str | None, *events: EventFacts, keys: tuple[str, ...] = ()) -> list[LoggedEvent]:
    return [LoggedEvent(person, keys, e) for e in events]


def fold(*events: EventFacts) -> ProfileState:
    return folder.fold(ProfileState(), events)


def assert_profile_is_fold_of_its_events(store: ProfileStore, person: str) -> None:
    events = store.events_of(person)
    stored = store.get(person)
    if not events:
        assert stored is None
        return
    assert stored is not None
    assert_same_profile(stored, fold(*(e.facts for e in events)))


def test_append_records_and_folds_each_event_once(store: ProfileStore) -> None:
    assert store.append(events=logged("p1", view(1), view(2)), merges={}, folding=folder).new == {"e1", "e2"}
    again = store.append(events=logged("p1", view(2), view(3), view(3)), merges={}, folding=folder)
    assert again.new == {"e3"}
    assert [e.facts.event_id for e in store.events_of("p1")] == ["e1", "e2", "e3"]
    assert_same_profile(store.get("p1"), fold(view(1), view(2), view(3)))  # type: ignore[arg-type]


def test_unknown_person_has_no_profile_and_no_events(store: ProfileStore) -> None:
    assert store.get("nobody") is None
    assert store.events_of("nobody") == []
    assert store.get_many(["nobody"]) == {}


def test_a_merge_folds_the_losers_profile_into_the_survivors(store: ProfileStore) -> None:
    store.append(events=logged("a", view(1, "s1")) + logged("b", view(2, "s2")), merges={}, folding=folder)
    store.append(events=logged("a", view(3, "s3")), merges={"b": "a"}, folding=folder)
    assert_same_profile(store.get("a"), fold(view(1, "s1"), view(2, "s2"), view(3, "s3")))  # type: ignore[arg-type]
    assert_same_profile(store.get("b"), store.get("a"))  # type: ignore[arg-type]
    assert sorted(e.facts.event_id for e in store.events_of("a")) == ["e1", "e2", "e3"]
    assert store.get_many(["b", "a"]).keys() == {"a", "b"}


def test_an_event_arriving_for_a_merged_away_person_lands_on_the_survivor(store: ProfileStore) -> None:
    store.append(events=logged("b", view(1)), merges={}, folding=folder)
    store.append(events=[], merges={"b": "a"}, folding=folder)
    store.append(events=logged("b", view(2)), merges={}, folding=folder)  # a batch stitched before the merge
    assert {e.person_id for e in store.events_of("a")} == {"a"}
    assert_profile_is_fold_of_its_events(store, "a")
    assert store.get("a").events == 2  # type: ignore[union-attr]


def test_chained_merges_keep_aliases_pointing_at_the_live_person(store: ProfileStore) -> None:
    store.append(
        events=logged("a", view(1)) + logged("b", view(2)) + logged("c", view(3)), merges={}, folding=folder
    )
    store.append(events=[], merges={"a": "b"}, folding=folder)
    store.append(events=[], merges={"b": "c"}, folding=folder)
    for pid in ("a", "b", "c"):
        assert store.get(pid).events == 3  # type: ignore[union-attr]
    store.append(events=logged("a", view(4)), merges={}, folding=folder)
    assert store.get("c").events == 4  # type: ignore[union-attr]
    assert_profile_is_fold_of_its_events(store, "c")


def prefold(*events: EventFacts) -> Prefold:
    return Prefold(frozenset(e.event_id for e in events), fold(*events))


def test_prefolded_events_are_merged_into_the_stored_profile_once(store: ProfileStore) -> None:
    """How Ingest appends: the batch's events folded before the graph committed. A retry of the
    same batch (the graph now says duplicate: no prefold) and a caller that wrongly prefolds
    recorded events again change nothing."""
    store.append(events=logged("p1", view(1)), merges={}, folding=folder)
    batch = logged("p1", view(2), view(3))
    assert store.append(
        events=batch, merges={}, folding=folder, prefolded={"p1": prefold(view(2), view(3))}
    ).new == {"e2", "e3"}
    assert store.append(events=batch, merges={}, folding=folder).new == set()
    assert (
        store.append(events=batch, merges={}, folding=folder, prefolded={"p1": prefold(view(2), view(3))}).new
        == set()
    )
    assert_same_profile(store.get("p1"), fold(view(1), view(2), view(3)))  # type: ignore[arg-type]
    assert_profile_is_fold_of_its_events(store, "p1")


def test_a_prefold_goes_in_folded_or_merged_and_either_way_is_the_fold_of_all(store: ProfileStore) -> None:
    """Few events of a person are folded into the stored profile, many merged in as their
    prefold (Prefold.into): both must give the profile of all the person's events."""
    first = logged("few", view(1, "s1")) + logged("many", view(2, "s1"))
    store.append(events=first, merges={}, folding=folder)
    few = [view(3, "s2", "dolls")]
    many = [view(i, f"s{i}", "dolls" if i % 2 else "grills") for i in range(10, 17)]
    store.append(
        events=logged("few", *few) + logged("many", *many),
        merges={},
        folding=folder,
        prefolded={"few": prefold(*few), "many": prefold(*many)},
    )
    assert_same_profile(store.get("few"), fold(view(1, "s1"), *few))  # type: ignore[arg-type]
    assert_same_profile(store.get("many"), fold(view(2, "s1"), *many))  # type: ignore[arg-type]
    assert_profile_is_fold_of_its_events(store, "many")


def test_persons_created_and_merged_away_in_one_batch_leave_aliases_of_the_survivor(
    store: ProfileStore,
) -> None:
    """Most merges: a batch creates a person for a cookie, then merges it (and another) into the
    customer's person. Their events land on the survivor, their ids answer as it, and a later
    event for a merged-away id lands there too."""
    batch = logged("c", view(1, "s1")) + logged("b", view(2, "s2")) + logged("a", view(3, "s3"))
    merges = {"c": "b", "b": "a"}
    pre = {"a": prefold(view(1, "s1"), view(2, "s2"), view(3, "s3"))}
    assert store.append(events=batch, merges=merges, folding=folder, prefolded=pre).new == {"e1", "e2", "e3"}
    assert_same_profile(store.get("a"), fold(view(1, "s1"), view(2, "s2"), view(3, "s3")))  # type: ignore[arg-type]
    for alias in ("b", "c"):
        assert_same_profile(store.get(alias), store.get("a"))  # type: ignore[arg-type]
    assert store.get_many(["c"]).keys() == {"c"}
    store.append(events=logged("c", view(4, "s4")), merges={}, folding=folder)
    assert store.get("a").events == 4  # type: ignore[union-attr]
    assert {e.person_id for e in store.events_of("a")} == {"a"}
    assert_profile_is_fold_of_its_events(store, "a")


def test_a_retry_after_a_partial_append_folds_the_rest(store: ProfileStore) -> None:
    """The first attempt recorded only some persons' events (a server died between partitions):
    the retry, without prefolds, folds exactly what is missing."""
    store.append(
        events=logged("a", view(1, "s1")), merges={}, folding=folder, prefolded={"a": prefold(view(1, "s1"))}
    )
    retry = logged("a", view(1, "s1")) + logged("b", view(2, "s2"))
    assert store.append(events=retry, merges={}, folding=folder).new == {"e2"}
    assert store.get("a").events == 1  # type: ignore[union-attr]
    assert store.get("b").events == 1  # type: ignore[union-attr]


def test_events_without_a_person_are_recorded_but_fold_into_no_profile(store: ProfileStore) -> None:
    assert store.append(events=logged(None, view(1)), merges={}, folding=folder).new == {"e1"}
    assert store.append(events=logged(None, view(1)), merges={}, folding=folder).new == set()
    assert store.get_many(["p"]) == {}


def test_a_profile_read_back_as_written_is_that_state_until_another_write(store: ProfileStore) -> None:
    """The change feed reads back every person a batch touched, handing over what the append
    wrote: while the store holds exactly those bytes it answers with that state (no decoding),
    and once another write changed the person, with the new profile — never the stale one."""
    first = store.append(events=logged("p", view(1)), merges={}, folding=folder)
    assert set(first.written) == {"p"}
    assert_same_profile(first.written["p"].state, fold(view(1)))
    assert store.get_many(["p"], known=first.written)["p"] is first.written["p"].state
    store.append(events=logged("p", view(2)), merges={}, folding=folder)
    again = store.get_many(["p"], known=first.written)["p"]
    assert again is not first.written["p"].state
    assert_same_profile(again, fold(view(1), view(2)))
    merged = store.append(events=logged("q", view(3)), merges={"p": "q"}, folding=folder)
    both = store.get_many(["p", "q"], known=merged.written)
    assert both["p"] is both["q"] is merged.written["q"].state  # an alias answers as its person
    assert_same_profile(both["q"], fold(view(1), view(2), view(3)))


def test_a_read_back_after_an_erasure_or_a_refold_is_not_what_the_append_wrote(
    store: ProfileStore,
) -> None:
    """Any write between an append and the read-back of what it wrote — not only another append
    to the same person — means the store answers from what it holds now."""
    first = store.append(events=logged("p", view(1)), merges={}, folding=folder)
    store.erase("p")
    assert store.get_many(["p"], known=first.written) == {}
    second = store.append(events=logged("q", view(2), view(3)), merges={}, folding=folder)
    store.reattribute(
        person_ids=["q"], owner=lambda e: "q" if e.facts.event_id == "e2" else None, folding=folder
    )
    again = store.get_many(["q"], known=second.written)["q"]
    assert again is not second.written["q"].state
    assert_same_profile(again, fold(view(2)))


def test_reattribute_moves_events_and_refolds_both_parts_exactly(store: ProfileStore) -> None:
    mine = [view(1, "s1", "grills"), view(2, "s2", "grills")]
    theirs = [view(3, "s3", "dolls"), view(4, "s4", "dolls")]
    store.append(
        events=logged("p", *mine, keys=("cookie:mine",)) + logged("p", *theirs, keys=("cookie:theirs",)),
        merges={},
        folding=folder,
    )
    counts = store.reattribute(
        person_ids=["p"], owner=lambda e: "q" if "cookie:theirs" in e.keys else "p", folding=folder
    )
    assert counts == {"p": 2, "q": 2}
    assert_same_profile(store.get("p"), fold(*mine))  # type: ignore[arg-type]
    assert_same_profile(store.get("q"), fold(*theirs))  # type: ignore[arg-type]
    assert "dolls" not in store.get("p").categories  # type: ignore[union-attr]


def test_reattribute_to_no_one_empties_the_profile(store: ProfileStore) -> None:
    store.append(events=logged("p", view(1)), merges={}, folding=folder)
    assert store.reattribute(person_ids=["p"], owner=lambda e: None, folding=folder) == {"p": 0}
    assert store.get("p") is None


PERSONS = ["a", "b", "c", "d"]


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[list[LoggedEvent], dict[str, str]]]:
    """Batches of events for a few persons, some repeated, with merges between them."""
    n = draw(st.integers(1, 40))
    pool = [draw(event_facts(f"e{i:03d}")) for i in range(n)]
    batches = []
    for _ in range(draw(st.integers(1, 6))):
        chosen = draw(st.lists(st.sampled_from(pool), max_size=10))
        events = [LoggedEvent(draw(st.sampled_from(PERSONS)), (), e) for e in chosen]
        merges = {}
        if draw(st.booleans()):
            loser, survivor = draw(st.permutations(PERSONS))[:2]
            merges[loser] = survivor
        batches.append((events, merges))
    return batches


@given(history=histories())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_profile_is_the_fold_of_its_events_after_any_history(
    make_store: Callable[[], ProfileStore], history: list[tuple[list[LoggedEvent], dict[str, str]]]
) -> None:
    store = make_store()
    recorded: set[str] = set()
    for events, merges in history:
        store.append(events=events, merges=merges, folding=folder)
        recorded |= {e.facts.event_id for e in events}
    for pid in PERSONS:
        assert_profile_is_fold_of_its_events(store, pid)
    # Each event is in exactly one person's log (an alias answers with its survivor's log).
    logs = {frozenset(e.facts.event_id for e in store.events_of(pid)) for pid in PERSONS}
    assert sum(len(log) for log in logs) == len(recorded)


def test_scrubbing_an_erased_persons_keys_rewrites_only_the_events_that_name_them(
    store: ProfileStore,
) -> None:
    import msgspec

    named = msgspec.structs.replace(view(1), device="cookie:gone-1")
    other_device = msgspec.structs.replace(view(2), device="cookie:mine")
    store.append(events=[LoggedEvent("p1", ("email#aa", "cookie:gone-1"), named),
                         LoggedEvent("p1", ("email#aa", "cookie:mine"), other_device)],
                 merges={}, folding=folder)  # fmt: skip
    store.append(events=[], merges={"p1": "p2"}, folding=folder)  # p1 is an alias of p2 now
    assert store.scrub_keys(["p1"], ["cookie:gone-1", "device_id:gone-2"]) == {"p2": 1}  # the live person
    assert store.scrub_keys(["p1"], ["cookie:gone-1"]) == {}  # once
    by_id = {e.facts.event_id: e for e in store.events_of("p2")}
    assert by_id["e1"].keys == ("email#aa",) and by_id["e1"].facts.device == ""
    assert by_id["e2"].keys == ("email#aa", "cookie:mine") and by_id["e2"].facts.device == "cookie:mine"
    assert store.scrub_keys(["nobody"], ["cookie:gone-1"]) == {}
