"""`idstitch`: serve, and talk to a running server (ingest, resolve, graph, profile, detach, why,
erase, erasure, export, consent, traits, keys, audit, watch). The caller key comes from, in this
order: --key-file (alias --api-key-file), IDSTITCH_API_KEY, IDSTITCH_KEY_FILE, then the admin key
the server's first start wrote to ./idstitch-data/admin.key; a key file that is named but cannot be
read is an error, never a fall back to another key. Options go before or after the command.
TLS: --tls-ca (and, for mutual TLS, --tls-cert and --tls-key), or IDSTITCH_TLS_CA / _CERT / _KEY.

Exit codes: 0 done; 1 the server said no (an error status); 2 a usage or input error; 3 the server
could not be reached (UNAVAILABLE or a deadline)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
from pathlib import Path

import grpc

from common.errors import StoreMisconfigured, StoreUnavailable
from idstitch.channels import KEY_SOURCES, locate_key
from idstitch.client import Client
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from server import cli_admin, cli_console, cli_ingest, cli_privacy, cli_watch
from server.cli_admin import day as _day
from server.cli_json import message_json, selected

DEFAULT_TARGET = "127.0.0.1:50051"
CALL_DEADLINE_SECONDS = 300.0
"""Each call's deadline: an erasure or export of a large person takes a while, a hung one not forever."""


def _connection_options(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options every client command takes. On the top-level parser they carry the defaults;
    on each command they are SUPPRESSed unless given, so they may stand before or after it."""

    def d(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    p.add_argument("--target", default=d(os.environ.get("IDSTITCH_TARGET", DEFAULT_TARGET)), help="host:port")
    p.add_argument(
        "--key-file",
        "--api-key-file",
        dest="key_file",
        type=Path,
        default=d(None),
        help="file holding the API key (before IDSTITCH_API_KEY, IDSTITCH_KEY_FILE, the default file)",
    )
    # The TLS options are named for TLS; --ca, --cert and --key still work, unlisted: --key was
    # taken for the API key too often.
    for name, old, help_ in (
        ("--tls-ca", "--ca", "TLS: the CA that signed the server's certificate"),
        ("--tls-cert", "--cert", "mutual TLS: this client's certificate"),
        ("--tls-key", "--key", "mutual TLS: this client's TLS private key (not the API key)"),
    ):
        p.add_argument(name, dest=name.removeprefix("--tls-"), type=Path, default=d(None), help=help_)
        p.add_argument(old, dest=name.removeprefix("--tls-"), type=Path, default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """`_main`, and quiet when its reader goes away (`idstitch audit | head`): no traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader closed the pipe; the interpreter's own flush at exit must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="idstitch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"idstitch {_version()}")
    _connection_options(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the gRPC service (embedded store by default)")
    p.add_argument(
        "--config", type=Path, default=os.environ.get("IDSTITCH_CONFIG"), help="YAML settings file"
    )
    p.add_argument("--port", type=int, help="override the port")
    p.add_argument("--data-dir", type=Path, help="override the data directory")
    p.add_argument(
        "--check-config", type=Path, metavar="FILE", help="validate a settings file; start nothing"
    )

    p = sub.add_parser("simulate", help="run the stitching rules offline over an events file, and score them")
    p.add_argument("events", type=Path, help="one idstitch.v1.Event per line, in JSON")
    p.add_argument(
        "--truth", type=Path, help='labelled identifiers: {"identifiers": [{"type", "value", "person"}]}'
    )
    p.add_argument("--config", type=Path, help="YAML settings whose stitching and profile rules to use")
    p.add_argument("--compare", type=Path, help="a second settings file: what its rules would change")
    p.add_argument("--shuffle", type=int, metavar="SEED", help="deliver the events in a random order")

    for name, help_ in (
        ("ingest", "load events from a JSON-lines file into a running server (resumable; see --help)"),
        ("resolve", "resolve an identifier to its person"),
        ("graph", "print a person's identity graph"),
        ("profile", "print a person's unified profile (JSON)"),
        ("detach", "admin: take an identifier away from its person (a wrong stitch)"),
        ("why", "admin: why two identifiers are (or are not) the same person"),
        ("keys", "admin: create, list or revoke caller keys"),
        ("audit", "admin: print the audit log of privacy operations and admin changes"),
    ):
        p = sub.add_parser(name, help=help_)
        _connection_options(p, defaults=False)
        if name == "keys":
            p.add_argument("action", choices=["create", "list", "revoke"])
            p.add_argument("--role", choices=["ingest", "profile_reader", "privacy", "subscriber", "admin"])
            p.add_argument("key_id", nargs="?", help="for revoke")
            continue
        if name == "audit":
            p.add_argument("--after", type=int, default=0, help="entries after this sequence number")
            continue
        if name == "ingest":
            cli_ingest.add_arguments(p)
        elif name in ("graph", "profile"):
            p.add_argument("type", nargs="?")
            p.add_argument("value", nargs="?")
            p.add_argument("--person", help="a person id instead of an identifier")
            if name == "graph":
                p.add_argument(
                    "--format", choices=["text", "dot", "svg"], default="text", help="svg needs Graphviz"
                )
            if name == "profile":
                p.add_argument(
                    "--fields", help="comma-separated Profile paths, e.g. affinities,behavior.cart"
                )
        elif name == "why":
            for side in ("a", "b"):
                p.add_argument(f"type_{side}", metavar=f"TYPE_{side.upper()}")
                p.add_argument(f"value_{side}", metavar=f"VALUE_{side.upper()}")
        else:
            if name == "detach":
                p.add_argument("--shared", action="store_true", help="mark it shared instead of a new person")
            p.add_argument("type")
            p.add_argument("value")

    for name, help_ in cli_privacy.COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        _connection_options(p, defaults=False)
        cli_privacy.add_arguments(name, p)
    p = sub.add_parser("watch", help=cli_watch.HELP)
    _connection_options(p, defaults=False)
    cli_watch.add_arguments(p)
    p = sub.add_parser("console", help=cli_console.HELP)
    _connection_options(p, defaults=False)
    cli_console.add_arguments(p)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "console":
        return cli_console.run(args)
    if args.command == "simulate":
        from server import simulate

        try:
            return simulate.main(args.events, args.truth, args.config, args.compare, args.shuffle)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        found = locate_key(args.key_file)
        # The typed client: its deadline on every call, its retries where a repeat is safe.
        client = Client(
            args.target, key=found.key or "", ca=args.ca, cert=args.cert, client_key=args.key,
            timeout=CALL_DEADLINE_SECONDS, retries=2,
        )  # fmt: skip
    except (OSError, ValueError) as e:  # KeyNotFound is one: a named key source that cannot be read
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with client:
            if args.command in cli_privacy.COMMANDS:
                return cli_privacy.run(client, args)
            if args.command == "watch":  # a stream the command drives itself
                return cli_watch.run(client.channel, args)
            if args.command == "ingest":  # one Ingest per batch, each mapped back to its lines
                return cli_ingest.run(pb_grpc.IdentityServiceStub(client.channel), args)
            if args.command in ("keys", "audit"):
                return (
                    cli_admin.keys(client, args) if args.command == "keys" else cli_admin.audit(client, args)
                )
            handler = {
                "profile": _profile,
                "resolve": _resolve,
                "graph": _graph,
                "detach": _detach,
                "why": _why,
            }[args.command]
            return handler(client, args)
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        if e.code() == grpc.StatusCode.UNAUTHENTICATED:
            hint = (
                f"sent the key from {found.source}" if found.key else f"no key found; looked in {KEY_SOURCES}"
            )
            print(f"  ({hint})", file=sys.stderr)
        return 3 if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 1


def _version() -> str:
    try:
        return importlib.metadata.version("idstitch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _serve(args: argparse.Namespace) -> int:
    from server.app import serve
    from server.config import load_settings
    from server.telemetry import configure_logging

    if args.check_config is not None:
        return _check_config(args.check_config)
    overrides: dict[str, object] = {}
    if args.port is not None:
        overrides["port"] = args.port
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    try:
        settings = load_settings(args.config, **overrides)
    except ValueError as e:  # pydantic's ValidationError is one: a config that cannot be served
        print(f"idstitch: cannot start: the settings are not valid:\n{e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        serve(settings)
    except (StoreUnavailable, StoreMisconfigured, OSError) as e:  # a backend down or refusing: no traceback
        print(f"idstitch: cannot start: {e}", file=sys.stderr)
        return 1
    return 0


def _check_config(path: Path) -> int:
    import yaml
    from pydantic import ValidationError

    from server.config import load_settings

    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    try:
        settings = load_settings(path)
    except ValidationError as e:
        for err in e.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(file)"
            print(f"{path}: {where}: {err['msg']}", file=sys.stderr)
        return 2
    except (ValueError, yaml.YAMLError) as e:  # YAML that does not parse, or a settings check of ours
        print(f"{path}: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(f"{path}: valid (graph {settings.graph.type}, profiles {settings.profiles.type})")
    return 0


def _resolve(client: Client, args: argparse.Namespace) -> int:
    res = client.resolve(args.type, args.value)
    if res.shared:
        print(f"{args.type} is shared by {len(res.shared_by)} persons: {', '.join(res.shared_by)}")
        return 0
    person = res.person
    print(f"person {person.person_id}")
    for ident in person.identifiers:
        print(f"  {ident.type:<15} {ident.display_value}{'  (shared)' if ident.shared else ''}")
    return 0


def _graph(client: Client, args: argparse.Namespace) -> int:
    if args.person:
        g = client.graph(person_id=args.person)
    elif args.type and args.value:
        g = client.graph(identifier=(args.type, args.value))
    else:
        print("error: give TYPE VALUE or --person ID", file=sys.stderr)
        return 2
    if args.format != "text":
        from server import graph_picture

        picture = graph_picture.dot(g)
        try:
            print(graph_picture.svg(picture) if args.format == "svg" else picture, end="")
        except OSError as problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        return 0
    print(f"person {g.person_id}")
    if g.aliases:
        print(f"  aliases: {', '.join(g.aliases)}")
    print(f"  identifiers ({len(g.nodes)}):")
    for n in g.nodes:
        seen = f"{_day(n.first_seen)} .. {_day(n.last_seen)}"
        print(f"    {n.node_id:<40} {seen}{'  shared' if n.shared else ''}")
    print(f"  links ({len(g.edges)}):")
    for e in g.edges:
        print(_edge_line(e))
    if g.unapplied_links:
        print(f"  weak links to other persons, not applied ({len(g.unapplied_links)}):")
        for u in g.unapplied_links:
            print(_unapplied_line(u))
    return 0


def _profile(client: Client, args: argparse.Namespace) -> int:
    fields = [p.strip() for p in (args.fields or "").split(",") if p.strip()]
    if args.person:
        profile = client.get_profile(person_id=args.person, fields=fields)
    elif args.type and args.value:
        profile = client.get_profile(identifier=(args.type, args.value), fields=fields)
    else:
        print("error: give TYPE VALUE or --person ID", file=sys.stderr)
        return 2
    shown = message_json(profile)
    if fields:  # only what was asked: the other fields of a message are not zeros
        shown = selected(shown, ["person_id", "computed_at", "restricted", "consent", *fields])
    print(json.dumps(shown, indent=2))
    return 0


def _why(client: Client, args: argparse.Namespace) -> int:
    res = client.explain((args.type_a, args.value_a), (args.type_b, args.value_b))
    print(("same person " + res.person_a) if res.same_person else "not the same person")
    print(f"  {res.explanation}")
    for e in res.path:
        print(_edge_line(e))
    for h in res.held:
        print(_unapplied_line(h.link, h.held_by))
    return 0


def _edge_line(e: pb.GraphEdge) -> str:
    strength = pb.Strength.Name(e.strength).removeprefix("STRENGTH_").lower()
    proves = pb.EvidenceClass.Name(e.evidence_class).removeprefix("EVIDENCE_CLASS_").lower()
    return (
        f"    {e.from_node_id} -- {e.to_node_id}  [{strength}, {proves}, {e.rule}, {e.channel}, "
        f"{e.event_count} events, {_day(e.first_seen)} .. {_day(e.last_seen)}]"
    )


def _unapplied_line(u: pb.UnappliedLink, held_by: str = "") -> str:
    return (
        f"    {u.from_node_id} -- person {u.other_person_id}  [{held_by + ', ' if held_by else ''}{u.rule}, "
        f"{u.channel}, {u.event_count} events, {_day(u.first_seen)} .. {_day(u.last_seen)}]"
    )


def _detach(client: Client, args: argparse.Namespace) -> int:
    res = client.detach((args.type, args.value), shared=args.shared)
    print(f"left person {res.person_id} ({res.person_events} events)")
    if res.new_person_id:
        print(f"new person  {res.new_person_id} ({res.new_person_events} events)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
