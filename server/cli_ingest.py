"""`idstitch ingest FILE`: a bulk load that behaves as an operator expects.

Each batch is one `Ingest` call, all of it committed or none of it (the server validates a whole
batch before it stitches any event), so the CLI always knows which lines are in: a refusal is
reported as `FILE:LINE: field: reason`, the summary counts what was committed, what the server
had already (duplicates), what was refused and what was never sent, and names the line to resume
from. Resending a file from any line is safe: an event id seen before is a no-op. With
`--skip-invalid` a refused line is set aside (verbatim, into `--rejects FILE`) and the load goes
on. Progress (a tqdm bar, quiet when stderr is not a terminal) counts committed events only, and
Ctrl-C ends with the summary.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import json_format

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc

MAX_BATCH = 1000
TOTALS = (
    "personsCreated", "personsMerged", "linksRefused", "identifiersIgnored", "eventsUnattributed",
    "eventsSuppressed",
)  # fmt: skip
BATCH_DEADLINE_SECONDS = 120.0
_FIELD = re.compile(r"^events\[(\d+)\](\S*): (.*)$", re.DOTALL)


@dataclass
class Line:
    number: int
    text: str
    event: ev_pb.Event | None
    problem: str | None = None


@dataclass
class Load:
    """What a bulk load did, for the summary."""

    path: str
    committed: int = 0
    duplicate: int = 0
    refused: int = 0
    not_sent: int | None = 0
    """Lines from the resume line on that were neither committed nor refused (None: from stdin)."""
    resume_from: int | None = None
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOTALS, 0))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "eventsReceived": self.committed + self.duplicate,
            "eventsCommitted": self.committed,
            "eventsDuplicate": self.duplicate,
            "linesRefused": self.refused,
            "linesNotSent": self.not_sent,
            **self.totals,
        }
        if self.resume_from is not None:
            out["resumeFromLine"] = self.resume_from
            out["resume"] = f"idstitch ingest {self.path} --from-line {self.resume_from}"
        return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="one idstitch.v1.Event per line, in JSON ('-' for stdin)")
    p.add_argument("--batch", type=int, default=500, help=f"events per Ingest call (max {MAX_BATCH})")
    p.add_argument("--from-line", type=int, default=1, help="skip the lines before this one (to resume)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="set refused lines aside and go on (see --rejects)"
    )
    p.add_argument("--rejects", type=Path, help="with --skip-invalid: write the refused lines here, verbatim")


def run(stub: pb_grpc.IdentityServiceStub, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    stdin = str(args.file) == "-"
    if not stdin and not args.file.is_file():
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return 2
    if args.rejects is not None and not args.skip_invalid:
        print("error: --rejects goes with --skip-invalid", file=sys.stderr)
        return 2
    load = Load(str(args.file))
    total = None if stdin else _count_lines(args.file, args.from_line)
    rejects = args.rejects.open("w") if args.rejects is not None else None
    code = 0
    bar = tqdm(total=total, unit="ev", desc="committed", file=sys.stderr, disable=not sys.stderr.isatty())
    pending: list[Line] = []
    sent_through = args.from_line - 1  # the last line of the batches in: a stop between them resumes after it
    try:
        with sys.stdin if stdin else args.file.open() as f:
            for batch in _batches(f, args.from_line, min(max(args.batch, 1), MAX_BATCH)):
                pending = batch
                code = _send(stub, batch, load, args, rejects, bar)
                if code:
                    break
                pending, sent_through = [], batch[-1].number
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        code = 3 if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 1
    except (OSError, UnicodeDecodeError) as e:
        print(f"error: {args.file}: {type(e).__name__}", file=sys.stderr)
        code = 2
    finally:
        bar.close()
        if rejects is not None:
            rejects.close()
    if code and load.resume_from is None:
        load.resume_from = pending[0].number if pending else sent_through + 1
    if load.resume_from is not None:
        # The refused line that stopped the load is counted as refused, not as unsent.
        stopped_on_refusal = code == 2 and load.refused > 0
        load.not_sent = None if stdin else _count_lines(args.file, load.resume_from) - stopped_on_refusal
    print(json.dumps(load.summary(), indent=2))
    if load.resume_from is not None:
        print(f"resume with: {load.summary()['resume']}", file=sys.stderr)
    return code


def _send(
    stub: pb_grpc.IdentityServiceStub,
    batch: list[Line],
    load: Load,
    args: argparse.Namespace,
    rejects: IO[str] | None,
    bar: Any,
) -> int:
    """Sends one batch until it is in, setting refused lines aside with --skip-invalid; returns
    an exit code (0: go on)."""
    lines = list(batch)
    while lines:
        bad = next((ln for ln in lines if ln.problem is not None), None)
        if bad is None:
            try:
                response = stub.Ingest(
                    pb.IngestRequest(events=[ln.event for ln in lines if ln.event is not None]),
                    timeout=BATCH_DEADLINE_SECONDS,
                )
            except grpc.RpcError as e:
                found = (
                    _FIELD.match(e.details() or "") if e.code() == grpc.StatusCode.INVALID_ARGUMENT else None
                )
                if found is None or int(found.group(1)) >= len(lines):
                    load.resume_from = lines[0].number
                    raise
                bad = lines[int(found.group(1))]
                bad.problem = f"events{found.group(2) or ''}: {found.group(3)}".replace("events.", "", 1)
            else:
                _count(response, load)
                bar.update(len(lines))
                return 0
        print(f"{args.file}:{bad.number}: {bad.problem}", file=sys.stderr)
        load.refused += 1
        if not args.skip_invalid:
            load.resume_from = lines[0].number
            return 2
        if rejects is not None:
            rejects.write(bad.text if bad.text.endswith("\n") else bad.text + "\n")
        lines.remove(bad)
    return 0


def _count(response: pb.IngestResponse, load: Load) -> None:
    for r in response.results:
        if r.outcome == pb.OUTCOME_DUPLICATE:
            load.duplicate += 1
        else:
            load.committed += 1
        load.totals["personsCreated"] += r.outcome == pb.OUTCOME_CREATED
        load.totals["personsMerged"] += len(r.merged_person_ids)
        load.totals["linksRefused"] += len(r.refused_links)
        load.totals["identifiersIgnored"] += len(r.ignored_identifiers)
        load.totals["eventsUnattributed"] += r.outcome == pb.OUTCOME_UNATTRIBUTED
        load.totals["eventsSuppressed"] += r.outcome == pb.OUTCOME_SUPPRESSED


def _batches(f: IO[str], from_line: int, size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for number, text in enumerate(f, 1):
        if number < from_line or not text.strip():
            continue
        event = ev_pb.Event()
        try:
            json_format.Parse(text, event)
            batch.append(Line(number, text, event))
        except json_format.ParseError as e:
            batch.append(Line(number, text, None, f"not an idstitch.v1.Event ({_first_line(e)})"))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _count_lines(path: Path, from_line: int) -> int:
    with path.open("rb") as f:
        return sum(1 for n, line in enumerate(f, 1) if n >= from_line and line.strip())


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
