"""Personal identifiers are stored only as keyed hashes: the raw bytes of every file in the data
directory are searched for the raw and normalized spellings."""

from __future__ import annotations

from pathlib import Path

from identity.stores.sqlite import SqliteIdentityGraph
from server.bootstrap import build_identity_service
from server.config import load_settings
from tests.helpers import ev, login


def test_no_raw_email_or_phone_reaches_any_file_of_the_data_directory(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "data")
    svc = build_identity_service(settings)
    raw = [
        "Zelda.Quux@Example.org",
        "zelda.quux@example.org",
        "+1 415 555 2671",
        "+14155552671",
        "4155552671",
    ]
    svc.ingest(
        [
            login("C-9", ("email", raw[0]), ("phone", raw[2])),
            ev("email", ("email", raw[1]), ("cookie", "k"), type="email_click"),
            ev("call_center", ("phone", "(415) 555-2671"), ("customer_id", "C-9")),
        ]
    )
    assert isinstance(svc.graph, SqliteIdentityGraph)
    svc.graph.close()
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.name == "graph.db" for p in files)
    blob = b"".join(p.read_bytes() for p in files)
    for value in raw:
        assert value.encode() not in blob
        assert value.lower().encode() not in blob
    assert b"C-9" in blob  # the scan does see stored values
