"""Personal identifiers are stored only as keyed hashes: the raw bytes of every file in the data
directory are searched for the raw and normalized spellings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from identity.stores.sqlite import SqliteIdentityGraph
from server.bootstrap import build_system
from server.config import load_settings
from tests.helpers import ev, login, stitch


def test_no_raw_email_or_phone_reaches_any_file_of_the_data_directory(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "data")
    svc = build_system(settings)
    raw = [
        "Zelda.Quux@Example.org",
        "zelda.quux@example.org",
        "+1 415 555 2671",
        "+14155552671",
        "4155552671",
    ]
    stitch(
        svc,
        [
            login("C-9", ("email", raw[0]), ("phone", raw[2])),
            ev("email", ("email", raw[1]), ("cookie", "k"), type="email_click"),
            ev("call_center", ("phone", "(415) 555-2671"), ("customer_id", "C-9")),
        ],
    )
    assert isinstance(svc.graph.inner, SqliteIdentityGraph)  # type: ignore[attr-defined]  # under the read cache
    svc.close()
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.name == "graph.db" for p in files)
    blob = b"".join(p.read_bytes() for p in files)
    for value in raw:
        assert value.encode() not in blob
        assert value.lower().encode() not in blob
    assert b"C-9" in blob  # the scan does see stored values


def test_an_erased_person_leaves_no_byte_of_their_identifiers_in_any_file(tmp_path: Path):
    """Raw values and stored keys (with the keyed hashes of personal ones) of every identifier of
    the erased person are searched for in every file, the -wal and -shm files included, while the
    server still runs (no checkpoint on close helps)."""
    from profiles.events import Item
    from profiles.reader import ProfileKey
    from server.bootstrap import build_system
    from tests.helpers import shop

    settings = load_settings(data_dir=tmp_path / "data")
    system = build_system(settings)
    reads, privacy = system.reads, system.privacy
    grill = Item(sku="SKU-GRILL-77", category="grills-category-qq")
    keep = [
        shop(
            "web",
            ("customer_id", "STAYS-1"),
            ("cookie", "kc-1"),
            ("email", "stays@example.org"),
            type="login",
        )
    ]
    erase = [
        shop("web", ("customer_id", "ERASE-CUSTOMER-9"), ("cookie", "erase-cookie-9"),
             ("email", "erase.me@example.org"), type="login"),
        shop("app", ("customer_id", "ERASE-CUSTOMER-9"), ("device_id", "erase-device-9"),
             ("phone", "+1 415 555 2671"), ("loyalty_number", "ERASE-LOYAL-9"), type="product_view",
             product=grill),
    ]  # fmt: skip
    for _ in range(3):  # enough pages and log frames to spread the person around
        system.ingest(keep + erase)
        keep = [shop("web", ("cookie", f"keep-{i}"), type="page_view") for i in range(300)]
    # An event split by a held-back link: the other person's email clicked on the erased person's
    # browser. Both hold a login, so the link is kept apart — and the event, the other person's,
    # names the erased person's cookie.
    click = shop("email", ("email", "stays@example.org"), ("cookie", "erase-cookie-9"), type="email_click")
    [held] = system.ingest([click])
    assert [(x.rule, x.action) for x in held.refused] == [("weak_link", "kept_apart")]
    graph = reads.identity.person(
        reads.profiles.person_of(ProfileKey(identifier=("customer_id", "ERASE-CUSTOMER-9")))
    )
    stored_keys = [n.key for n in graph.nodes]
    person_ids = [graph.person_id, *graph.aliases]
    assert any("#" in k for k in stored_keys)  # email and phone are stored as keyed hashes

    receipt = privacy.erase(
        ProfileKey(identifier=("customer_id", "ERASE-CUSTOMER-9")), "req-1", caller="test"
    )
    assert receipt.counts["other_persons_events_scrubbed"] == 1 and receipt.counts["held_back_links"] == 1
    stays = reads.profiles.person_of(ProfileKey(identifier=("customer_id", "STAYS-1")))
    [kept] = [e for e in system.store.events_of(stays) if e.facts.event_id == click[0].event_id]
    assert len(kept.keys) == 1  # the click stays the other person's, without the erased cookie

    needles = [
        "ERASE-CUSTOMER-9", "erase-cookie-9", "erase-device-9", "ERASE-LOYAL-9", "erase.me@example.org",
        "+14155552671", *stored_keys, *(k.split("#", 1)[1] for k in stored_keys if "#" in k),
    ]  # fmt: skip
    _assert_gone(tmp_path / "data", needles, person_ids, stored_keys)
    system.close()
    _assert_gone(tmp_path / "data", needles, person_ids, stored_keys)  # after a clean stop too


def _assert_gone(data: Path, needles: list[str], person_ids: list[str], stored_keys: list[str]) -> None:
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {"graph.db", "profiles.db", "privacy.db"} <= {p.name for p in files}
    blob = b"".join(p.read_bytes() for p in files)
    for needle in needles:
        assert needle.encode() not in blob, f"{needle[:12]}… still in the data directory"
    # Fragments too: any 8 characters of an erased person id, or of the value part of a key (the
    # type names before it are in every file), in free pages or anywhere else. The one exception
    # by design: the change feed's `person_erased` change names the person id, so that every
    # consumer can delete its copy, until it leaves the feed's retention window.
    by_file = {p.name: p.read_bytes() for p in files}
    feed = {name for name in by_file if name.startswith("changes.db")}
    keys = [k.split(":" if ":" in k else "#", 1)[1] for k in stored_keys]
    for part, where in [(k, set(by_file)) for k in keys] + [
        (p.removeprefix("p_"), set(by_file) - feed) for p in person_ids
    ]:
        for i in range(len(part) - 7):
            fragment = part[i : i + 8].encode()
            holders = [name for name in where if fragment in by_file[name]]
            assert not holders, f"a fragment of {part[:4]}… (at {i}) is still in {holders}"
    marks = ",".join("?" * len(person_ids))
    with sqlite3.connect(f"file:{data / 'changes.db'}?mode=ro", uri=True) as db:
        left = db.execute(f"SELECT person_id, kind FROM changes WHERE person_id IN ({marks})", person_ids)
        told = db.execute(f"SELECT count(*) FROM told WHERE person_id IN ({marks})", person_ids).fetchone()
        left = left.fetchall()
    assert told == (0,)
    assert left == [(person_ids[0], "person_erased")]  # the feed says it, and nothing else of them
    assert b"STAYS-1" in blob  # the scan does see stored values
