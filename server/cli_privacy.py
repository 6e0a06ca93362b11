"""The CLI's privacy and trait commands: erase, erasure, export, consent, traits. Answers are printed
as JSON with every field shown (defaults included) and timestamps in ISO-8601."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import privacy_service_pb2 as priv_pb
from idstitch.v1 import privacy_service_pb2_grpc as priv_grpc
from idstitch.v1 import profile_service_pb2 as profile_pb
from idstitch.v1 import profile_service_pb2_grpc as profile_grpc
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


def run(channel: grpc.Channel, args: argparse.Namespace) -> int:
    if args.command == "erasure":
        receipt = priv_grpc.PrivacyServiceStub(channel).GetErasure(
            priv_pb.GetErasureRequest(erasure_id=args.erasure_id)
        )
        return _print(receipt.receipt)
    key = _key(args)
    if key is None:
        print("error: give TYPE VALUE or --person ID", file=sys.stderr)
        return 2
    privacy = priv_grpc.PrivacyServiceStub(channel)
    if args.command == "erase":
        return _print(privacy.Erase(priv_pb.EraseRequest(subject=key, request_id=args.request_id)).receipt)
    if args.command == "export":
        return _export(privacy, key, args.out)
    if args.command == "consent":
        decision = (
            priv_pb.CONSENT_DECISION_GRANTED
            if args.decision == "granted"
            else priv_pb.CONSENT_DECISION_DENIED
        )
        done = privacy.SetConsent(
            priv_pb.SetConsentRequest(
                subject=key,
                request_id=args.request_id,
                purpose=args.purpose,
                decision=decision,
                source=args.source,
            )
        )
        return _print(done)
    updates = []
    for item in args.traits:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            print(f"error: {item!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        updates.append(profile_pb.TraitUpdate(name=name, value=_trait_value(raw), source=args.source))
    done = profile_grpc.ProfileServiceStub(channel).UpdateTraits(
        profile_pb.UpdateTraitsRequest(key=key, request_id=args.request_id, traits=updates)
    )
    return _print(done)


def _key(args: argparse.Namespace) -> profile_pb.ProfileKey | None:
    if args.person:
        return profile_pb.ProfileKey(person_id=args.person)
    if args.type and args.value:
        return profile_pb.ProfileKey(identifier=ev_pb.Identifier(type=args.type, value=args.value))
    return None


def _trait_value(raw: str) -> profile_pb.TraitValue:
    if raw.lower() in ("true", "false"):
        return profile_pb.TraitValue(flag=raw.lower() == "true")
    try:
        return profile_pb.TraitValue(integer=int(raw))
    except ValueError:
        pass
    try:
        return profile_pb.TraitValue(number=float(raw))
    except ValueError:
        return profile_pb.TraitValue(text=raw)


def _print(message: Message) -> int:
    print(json.dumps(message_json(message), indent=2))
    return 0


def _export(stub: priv_grpc.PrivacyServiceStub, key: profile_pb.ProfileKey, out: Path | None) -> int:
    data = b"".join(chunk.data for chunk in stub.Export(priv_pb.ExportRequest(subject=key)))
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
