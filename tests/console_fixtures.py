"""A running idstitch server with the tour's example events, keys of each role, and the console
application in front of it: what the console's handler and browser tests share."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict

from console.app import ConsoleSettings, create_app
from idstitch.client import Client
from idstitch.v1 import event_pb2
from server.app import RunningServer

EXAMPLES = Path(__file__).parents[1] / "examples" / "events.jsonl"
HTML_COOKIE = "<script>alert('x')</script>"
"""A cookie value an attacker could send in an event; the console must show it as text."""


@dataclass
class Shop:
    target: str
    keys: dict[str, str]
    """Caller keys by role: admin, profile_reader, privacy."""


def tour_events() -> list[event_pb2.Event]:
    events = [ParseDict(json.loads(line), event_pb2.Event()) for line in EXAMPLES.read_text().splitlines()]
    hostile = event_pb2.Event(event_id="ex-html", channel="web", type="page_view")
    hostile.occurred_at.FromJsonString("2026-11-02T09:00:00Z")
    hostile.identifiers.add(type="cookie", value=HTML_COOKIE)
    return [*events, hostile]


@pytest.fixture
def shop(server: RunningServer, settings) -> Iterator[Shop]:  # type: ignore[no-untyped-def]
    target = f"127.0.0.1:{server.port}"
    admin = (settings.data_dir / "admin.key").read_text().strip()
    with Client(target, key=admin) as c:
        c.ingest(tour_events())
        keys = {"admin": admin} | {role: c.create_key(role).key for role in ("profile_reader", "privacy")}
    yield Shop(target, keys)


def console_app(target: str):  # type: ignore[no-untyped-def]
    app = create_app(ConsoleSettings(target=target, timeout_seconds=5.0))
    app.config["TESTING"] = True
    return app


def token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
