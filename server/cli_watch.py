"""`idstitch watch`: the change feed as JSON lines on stdout, one change per line (every field,
defaults included, times in ISO-8601), for scripts and for a look at what the feed says. Ends
after --limit changes or on Ctrl-C, and says on stderr which cursor to resume from."""

from __future__ import annotations

import argparse
import json
import sys

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from idstitch.v1 import change_service_pb2 as pb
from idstitch.v1 import change_service_pb2_grpc as pb_grpc
from server.cli_json import message_json

HELP = "subscriber: print the change feed as JSON lines, from a cursor or from now"
KIND_OF: dict[str, pb.ChangeKind] = {
    name.removeprefix("CHANGE_KIND_").lower(): getattr(pb, name)
    for name in pb.ChangeKind.keys()  # noqa: SIM118 (an enum wrapper, not a dict)
    if name != "CHANGE_KIND_UNSPECIFIED"
}
KINDS = list(KIND_OF)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="cursor", default="", help="resume after this cursor (default: now)")
    p.add_argument("--kinds", help=f"comma-separated, of: {', '.join(KINDS)}")
    p.add_argument("--segment", action="append", default=[], help="segment changes of this segment only")
    p.add_argument("--store", action="append", default=[], help="changes of this store's persons only")
    p.add_argument("--fields", help="with profile updates, these Profile paths' values")
    p.add_argument("--limit", type=int, default=0, help="stop after this many changes (0: never)")


def run(channel: grpc.Channel, args: argparse.Namespace) -> int:
    kinds = [k.strip() for k in (args.kinds or "").split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        print(f"error: --kinds: not a change kind: {unknown[0]} (kinds: {', '.join(KINDS)})", file=sys.stderr)
        return 2
    request = pb.WatchRequest(
        cursor=args.cursor,
        kinds=[KIND_OF[k] for k in kinds],
        segments=args.segment,
        store_ids=args.store,
        profile_mask=FieldMask(paths=[f for f in (args.fields or "").split(",") if f]),
    )
    stream = pb_grpc.ChangeServiceStub(channel).Watch(request)
    cursor, seen = args.cursor, 0
    try:
        for response in stream:
            for change in response.changes:
                out = message_json(change)
                print(json.dumps(out, sort_keys=True), flush=True)
                cursor, seen = change.cursor, seen + 1
                if args.limit and seen >= args.limit:
                    break
            if args.limit and seen >= args.limit:
                stream.cancel()
                break
    except KeyboardInterrupt:
        stream.cancel()
    print(f"resume with: idstitch watch --from {cursor}" if cursor else "no change seen", file=sys.stderr)
    return 0
