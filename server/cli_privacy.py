"""The CLI's privacy and trait commands: erase, erasure, export, consent, traits. Answers are printed
as JSON with every field shown (defaults included) and timestamps in ISO-8601."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from idstitch.client import Client
from server.cli_json import message_json

COMMANDS = {
    "erase": "privacy: erase a person everywhere (GDPR Art. 17) and print the receipt",
    "erasure": "privacy: print an erasure's receipt",
    "export": "privacy: a person's data as one JSON document (GDPR Art. 15/20)",
    "consent": "privacy: record a consent decision for a purpose",
    "traits": "ingest: set traits of a person (NAME=VALUE ...)",
}


def add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name == "erasure":
        p.add_argument("erasure_id")
        return
    p.add_argument("type", nargs="?", help="identifier type (or --person)")
    p.add_argument("value", nargs="?")
    p.add_argument("--person", help="a person id instead of an identifier")
    if name in ("erase", "consent", "traits"):
        p.add_argument("--request-id", required=True, help="makes a retry a no-op")
    if name == "export":
        p.add_argument("--out", type=Path, help="write the document here (default: stdout)")
    if name == "consent":
        p.add_argument("purpose")
        p.add_argument("decision", choices=["granted", "denied"])
    if name in ("consent", "traits"):
        p.add_argument("--source", default="cli", help="who recorded it")
    if name == "traits":
        p.add_argument("traits", nargs="+", metavar="NAME=VALUE", help="true/false, integers, numbers, text")


def run(client: Client, args: argparse.Namespace) -> int:
    if args.command == "erasure":
        return _print(client.erasure(args.erasure_id))
    subject: dict[str, Any] = (
        {"person_id": args.person} if args.person else {"identifier": (args.type, args.value)}
    )
    if not args.person and not (args.type and args.value):
        print("error: give TYPE VALUE or --person ID", file=sys.stderr)
        return 2
    if args.command == "erase":
        return _print(client.erase(args.request_id, **subject))
    if args.command == "export":
        return _export(client.export(**subject), args.out)
    if args.command == "consent":
        granted = args.decision == "granted"
        return _print(
            client.set_consent(args.request_id, args.purpose, granted, source=args.source, **subject)
        )
    traits: dict[str, str | int | float | bool] = {}
    for item in args.traits:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            print(f"error: {item!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        traits[name] = _trait_value(raw)
    return _print(client.update_traits(args.request_id, traits, source=args.source, **subject))


def _trait_value(raw: str) -> str | int | float | bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def _print(message: Message) -> int:
    print(json.dumps(message_json(message), indent=2))
    return 0


def _export(data: bytes, out: Path | None) -> int:
    document = json.dumps(iso_times(json.loads(data)), indent=2, sort_keys=True)
    if out is None:
        print(document)
    else:
        out.write_text(document + "\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0


TIME_KEYS = ("occurred_at", "at")
"""Event facts' times (µs since the epoch) that carry no `_us` suffix."""


def iso_times(value: Any) -> Any:
    """Every time in µs since the epoch (a `*_us` field, an event's `occurred_at`, a trait's or a
    consent's `at`) as ISO-8601, under its name without `_us`."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if (k.endswith("_us") or k in TIME_KEYS) and isinstance(v, int) and not isinstance(v, bool):
                out[k.removesuffix("_us")] = (
                    datetime.fromtimestamp(v / 1e6, UTC).isoformat().replace("+00:00", "Z")
                )
            else:
                out[k] = iso_times(v)
        return out
    if isinstance(value, list):
        return [iso_times(v) for v in value]
    return value
