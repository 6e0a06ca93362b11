"""`idstitch simulate`: the stitching rules run offline over a file of events, in a temporary
embedded store (no server), so a retailer can see what a day of its own traffic would become
before switching a rule on — the persons made, the merges by rule, the shared identifiers, and,
with a truth file, precision and recall (identity.accuracy).

Events go through the same conversion and the same Ingest use case (usecases.ingest.Ingest) as the
gRPC API.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format

from common.errors import InvalidArgument
from identity.accuracy import Profile, Report, TrueEvent, Truth, agreement, score
from identity.identifiers import NormalizedIdentifier
from identity.model import SharedResolution
from idstitch.v1 import event_pb2 as ev_pb
from profiles.fold import order_revenue
from server.bootstrap import System, build_system
from server.config import Settings, load_settings
from server.profile_convert import ingest_batch

BATCH = 500


@dataclass
class Simulation:
    """The stores one run left behind, and what it saw. `close()` removes them."""

    system: System
    directory: Path
    events: list[TrueEvent] = field(default_factory=list)
    merges_by_rule: Counter[str] = field(default_factory=Counter)
    applied_by_class: Counter[str] = field(default_factory=Counter)
    """Events of two or more identifiers whose links were all applied, by evidence class."""
    held_by_class: Counter[str] = field(default_factory=Counter)
    """Events with a link held back (pending or kept apart) when they were seen, by evidence class."""
    withdrawn: Counter[str] = field(default_factory=Counter)
    """Links withdrawn when later evidence contradicted them, by evidence class."""
    seconds: float = 0.0
    _keys: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def key(self, type_name: str, value: str) -> str | None:
        """The stored key of a raw identifier (None: junk, invalid or of an unknown type)."""
        found = self._keys.get((type_name, value), "")
        if found == "":
            try:
                ident = self.system.identity.key_of(type_name, value)
            except InvalidArgument:  # a type the rules do not know, or a value over its bound
                ident = "invalid"
            found = self._keys[(type_name, value)] = (
                ident.key if isinstance(ident, NormalizedIdentifier) else None
            )
        return found

    def partition(self) -> tuple[dict[str, str | None], set[str]]:
        """Every key seen with its person (None: shared), and the keys reported shared."""
        out: dict[str, str | None] = {}
        shared: set[str] = set()
        graph = self.system.graph
        for k in {k for e in self.events for k in e.keys}:
            found = graph.resolve(k)
            if isinstance(found, SharedResolution):
                shared.add(k)
                out[k] = None
            else:
                out[k] = found
        return out, shared

    def person_edges(self, person_id: str) -> list[tuple[str, str, str]]:
        graph = self.system.graph.person_graph(person_id)
        return [] if graph is None else [(e.a, e.b, e.rule) for e in graph.edges]

    def profile_of(self, person_id: str) -> Profile | None:
        state = self.system.store.get(person_id)
        return None if state is None else Profile(state.orders, dict(state.revenue))

    def report(self, truth: Truth) -> Report:
        predicted, shared = self.partition()
        return score(
            truth,
            self.events,
            predicted,
            reported_shared=shared,
            person_edges=self.person_edges,
            profile_of=self.profile_of,
        )

    def summary(self) -> list[str]:
        predicted, shared = self.partition()
        sizes = Counter(Counter(p for p in predicted.values() if p is not None).values())
        histogram = ", ".join(f"{n}: {count:,}" for n, count in sorted(sizes.items())[:12])
        if len(sizes) > 12:
            histogram += f", … up to {max(sizes)}"
        merges = ", ".join(f"{r} {n:,}" for r, n in sorted(self.merges_by_rule.items())) or "none"
        by_class = ", ".join(
            f"{c} {self.applied_by_class[c]:,} / {self.held_by_class[c]:,} / {self.withdrawn[c]:,}"
            for c in sorted(self.applied_by_class.keys() | self.held_by_class.keys())
        )
        distinct = {e.event_id for e in self.events}
        return [
            f"events                    {len(distinct):,} ({len(distinct) / self.seconds:,.0f} events/s)",
            f"persons                   {sum(sizes.values()):,}",
            f"identifiers per person    {histogram}",
            f"merges by rule            {merges}",
            f"by evidence class         {by_class or 'none'} (events applied / held / links withdrawn by)",
            f"shared identifiers        {len(shared):,}",
        ]

    def close(self) -> None:
        self.system.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def run(events: Iterable[ev_pb.Event], settings: Settings | None = None, *, batch: int = BATCH) -> Simulation:
    """Ingests the events, in the order given, into a fresh temporary embedded store."""
    directory = Path(tempfile.mkdtemp(prefix="idstitch-simulate-"))
    base = settings or load_settings()
    # Only the rules come from the settings: the stores are always a fresh embedded pair.
    s = load_settings(
        data_dir=directory,
        hmac_secret=base.hmac_secret.get_secret_value() if base.hmac_secret else "simulate",
        stitching=base.stitching,
        profile_rules=base.profile_rules,
    )
    system = build_system(s)
    sim = Simulation(system, directory)
    started = time.perf_counter()
    for chunk in _chunks(events, batch):
        converted = ingest_batch(chunk, "events", time.time_ns() // 1000)
        results = system.ingest(converted)
        for (raw, facts), result in zip(converted, results, strict=True):
            keys = tuple(k for t, v in raw.identifiers if (k := sim.key(t, v)) is not None)
            revenue = None
            if facts.order is not None and raw.type in s.profile_rules.event_types.purchase:
                revenue = {
                    m.currency: m.amount_minor for m in order_revenue(facts.order.total, facts.order.items)
                }
            sim.events.append(TrueEvent(raw.event_id, keys, revenue))
            if result.merged_person_ids:
                types = {t for (t, _), k in zip(raw.identifiers, keys, strict=False) if k}
                verdict = system.identity.link_evidence(raw.channel, raw.type, types)
                sim.merges_by_rule[verdict[1] if verdict else "unknown"] += len(result.merged_person_ids)
            if len(keys) > 1 and result.outcome != "duplicate":
                kinds = {t for t, _ in raw.identifiers}
                verdict = system.identity.link_evidence(raw.channel, raw.type, kinds)
                label = verdict[0].label if verdict else "none"
                held = any(r.action in ("pending", "kept_apart") for r in result.refused)
                (sim.held_by_class if held else sim.applied_by_class)[label] += 1
                sim.withdrawn[label] += sum(r.action == "withdrawn" for r in result.refused)
    sim.seconds = time.perf_counter() - started
    return sim


def _chunks(events: Iterable[ev_pb.Event], size: int) -> Iterator[list[ev_pb.Event]]:
    chunk: list[ev_pb.Event] = []
    for e in events:
        chunk.append(e)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_events(path: Path) -> list[ev_pb.Event]:
    out = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json_format.Parse(line, ev_pb.Event()))
                except json_format.ParseError as e:
                    raise ValueError(f"{path}:{n}: not an idstitch.v1.Event: {e}") from e
    return out


def read_truth(path: Path, sim: Simulation) -> Truth:
    """A truth file: {"identifiers": [{"type", "value", and "person" or "shared": kind}, ...]}."""
    owner: dict[str, str] = {}
    shared: dict[str, str] = {}
    for item in json.loads(path.read_text())["identifiers"]:
        key = sim.key(item["type"], item["value"])
        if key is None:
            continue
        if "shared" in item:
            shared[key] = item["shared"]
        elif owner.setdefault(key, item["person"]) != item["person"]:
            shared[key] = "collision"  # two persons' spellings normalize alike
    for key in shared:
        owner.pop(key, None)
    return Truth(owner, shared)


def compare(a: Simulation, b: Simulation) -> list[str]:
    """What the second rule set would change: persons it merges and splits, and the agreement."""
    pa, _ = a.partition()
    pb, _ = b.partition()
    keys = [k for k in pa if pa[k] is not None and pb.get(k) is not None]
    spans_b: dict[str, set[str]] = {}
    spans_a: dict[str, set[str]] = {}
    for k in keys:
        spans_b.setdefault(pb[k], set()).add(pa[k])  # type: ignore[arg-type]
        spans_a.setdefault(pa[k], set()).add(pb[k])  # type: ignore[arg-type]
    merged = sum(1 for s in spans_b.values() if len(s) > 1)
    split = sum(1 for s in spans_a.values() if len(s) > 1)
    together = agreement({k: pa[k] for k in keys}, {k: pb[k] for k in keys})  # type: ignore[misc]
    return [
        f"persons that would merge  {merged:,} (of the first rules' persons, joined in the second's)",
        f"persons that would split  {split:,}",
        f"pair agreement            {together:.4f} (Jaccard of linked pairs)",
    ]


def main(events_file: Path, truth_file: Path | None, config: Path | None, other: Path | None,
         shuffle: int | None) -> int:  # fmt: skip
    events = read_events(events_file)
    if shuffle is not None:
        random.Random(shuffle).shuffle(events)
    runs: Sequence[Path | None] = [config] if other is None else [config, other]
    sims = [run(events, load_settings(path) if path else None) for path in runs]
    try:
        for path, sim in zip(runs, sims, strict=True):
            print(f"== rules: {path or 'defaults'}")
            for line in sim.summary():
                print(line)
            if truth_file is not None:
                for line in sim.report(read_truth(truth_file, sim)).lines():
                    print(line)
        if len(sims) == 2:
            print("== what would change")
            for line in compare(*sims):
                print(line)
    finally:
        for sim in sims:
            sim.close()
    return 0
