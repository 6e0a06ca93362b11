"""`idstitch simulate` runs the rules offline over an events file and scores them against a
truth file; `idstitch why` explains a link over gRPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc

EVENTS = [
    {"eventId": "e1", "occurredAt": "2026-01-01T10:00:00Z", "channel": "web", "type": "login",
     "identifiers": [{"type": "customer_id", "value": "A"}, {"type": "cookie", "value": "a1"}]},
    {"eventId": "e2", "occurredAt": "2026-01-01T11:00:00Z", "channel": "web", "type": "login",
     "identifiers": [{"type": "customer_id", "value": "B"}, {"type": "cookie", "value": "b1"}]},
    # A swipes B's card with A's own loyalty card at the till: the card joins A.
    {"eventId": "e3", "occurredAt": "2026-01-01T12:00:00Z", "channel": "pos", "type": "purchase",
     "identifiers": [{"type": "customer_id", "value": "A"}, {"type": "card_token", "value": "card-b"}],
     "order": {"total": {"amountMinor": "1000", "currency": "EUR"}}},
    {"eventId": "e4", "occurredAt": "2026-01-01T13:00:00Z", "channel": "pos", "type": "purchase",
     "identifiers": [{"type": "customer_id", "value": "B"}, {"type": "cookie", "value": "b1"}],
     "order": {"total": {"amountMinor": "500", "currency": "EUR"}}},
]  # fmt: skip
TRUTH = {
    "identifiers": [
        {"type": "customer_id", "value": "A", "person": "A"},
        {"type": "cookie", "value": "a1", "person": "A"},
        {"type": "customer_id", "value": "B", "person": "B"},
        {"type": "cookie", "value": "b1", "person": "B"},
        {"type": "card_token", "value": "card-b", "person": "B"},
    ]
}


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_simulate_with_a_truth_file_reports_the_known_precision(tmp_path: Path):
    events, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    truth.write_text(json.dumps(TRUTH))
    done = _cli("simulate", str(events), "--truth", str(truth))
    assert done.returncode == 0, done.stderr
    lines = {line.split("  ")[0]: line for line in done.stdout.splitlines()}
    # Predicted {A, a1, card-b} and {B, b1}: 4 pairs, 2 right; truly 1 + 3 pairs.
    assert "0.5000" in lines["pairwise precision"] and "0.5000" in lines["pairwise recall"], done.stdout
    assert "1 holding 2 true persons" in lines["over-merged persons"]
    assert "pos.customer_lookup 1" in lines["over-merged persons"]
    assert "authenticated" in lines["by evidence class"]  # merges, links held and withdrawn per class
    assert "(1 of 2:" in lines["profiles exact"]  # A's profile holds B's card purchase
    compare = tmp_path / "strict.yaml"
    compare.write_text("stitching:\n  weak_links:\n    corroborating_events: 3\n")
    done = _cli("simulate", str(events), "--compare", str(compare), "--shuffle", "1")
    assert done.returncode == 0 and "persons that would merge  0" in done.stdout, done.stdout + done.stderr
    bad = _cli("simulate", str(tmp_path / "missing.jsonl"))
    assert bad.returncode == 2 and "missing.jsonl" in bad.stderr


@pytest.mark.e2e
def test_why_explains_over_grpc(server, channel, settings):
    stub = pb_grpc.IdentityServiceStub(channel)

    def event(eid: str, *ids: tuple[str, str], channel_: str, type_: str, seconds: int) -> ev_pb.Event:
        e = ev_pb.Event(event_id=eid, channel=channel_, type=type_)
        e.occurred_at.seconds = seconds
        e.identifiers.extend(ev_pb.Identifier(type=t, value=v) for t, v in ids)
        return e

    ann = ("email", "ann@example.com")
    stub.Ingest(pb.IngestRequest(events=[
        event("w1", ("customer_id", "ANN"), ann, channel_="web", type_="login", seconds=10),
        event("w2", ("cookie", "friend"), channel_="web", type_="product_view", seconds=20),
        event("w3", ann, ("cookie", "friend"), channel_="email", type_="email_click", seconds=30),
    ]))  # fmt: skip
    env = {**os.environ, "IDSTITCH_KEY_FILE": str(settings.data_dir / "admin.key")}
    target = f"127.0.0.1:{server.port}"
    done = _cli("why", "email", "ann@example.com", "cookie", "friend", "--target", target, env=env)
    assert done.returncode == 0, done.stderr
    assert "not the same person" in done.stdout and "pending, email.click" in done.stdout
    assert "ann@example.com" not in done.stdout
    graph = _cli("graph", "customer_id", "ANN", "--target", target, env=env)
    assert "weak links to other persons, not applied (1)" in graph.stdout
