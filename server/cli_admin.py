"""The CLI's admin commands: caller keys and the audit log."""

from __future__ import annotations

import argparse
import sys

from idstitch.client import Client


def keys(client: Client, args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.role:
            print("error: keys create needs --role", file=sys.stderr)
            return 2
        made = client.create_key(args.role)
        print(f"key id {made.key_id} ({args.role}); the key, shown once:\n{made.key}")
    elif args.action == "list":
        for k in client.list_keys():
            revoked = f"  revoked {day(k.revoked_at)}" if k.HasField("revoked_at") else ""
            print(f"{k.key_id:<16} {k.role:<15} created {day(k.created_at)}{revoked}")
    else:
        if not args.key_id:
            print("error: keys revoke needs a key id", file=sys.stderr)
            return 2
        print("revoked" if client.revoke_key(args.key_id) else "no such active key")
    return 0


def audit(client: Client, args: argparse.Namespace) -> int:
    after = args.after
    while True:
        records = client.audit(after_seq=after)
        for r in records:
            detail = " ".join(f"{k}={v}" for k, v in sorted(r.detail.items()))
            print(f"{r.seq:>6} {day(r.at)} {r.caller:<16} {r.operation:<12} {detail}")
        if not records:
            return 0
        after = records[-1].seq


def day(ts: object) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]
