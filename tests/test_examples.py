"""The examples in examples/ work: the settings file loads as it is, and the events file stitches
into the persons it describes (one shopper across laptop, phone and store; a kiosk shared)."""

from __future__ import annotations

from pathlib import Path

from server import simulate
from server.config import load_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_the_example_settings_load_as_they_are():
    settings = load_settings(EXAMPLES / "idstitch.yaml")
    assert settings.port == 50051 and settings.graph.type == "sqlite"
    assert settings.stitching.weak_links.corroborating_events == 2


def test_the_example_events_stitch_into_one_shopper_and_a_shared_kiosk():
    sim = simulate.run(
        simulate.read_events(EXAMPLES / "events.jsonl"), load_settings(EXAMPLES / "idstitch.yaml")
    )
    try:
        predicted, shared = sim.partition()
        ann = {predicted[sim.key(t, v)] for t, v in [("cookie", "ck-laptop"), ("customer_id", "C-1001"),
               ("device_id", "dev-ann-phone"), ("loyalty_number", "L-77")]}  # fmt: skip
        assert len(ann) == 1 and None not in ann
        assert sim.key("device_id", "kiosk-3") in shared
    finally:
        sim.close()
