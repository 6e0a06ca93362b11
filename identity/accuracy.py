"""How right the stitching is, against labelled data: the figures of ../shared/accuracy.md.

Pure functions over plain data — which person each identifier truly belongs to, which person the
service put it in — so the same report serves `idstitch simulate`, the accuracy benchmark and the
tests. Identifiers are stored keys (after normalization); truly shared ones (a household tablet,
a kiosk, a shared card) and junk are left out of the pairs and judged on their own.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Truth:
    owner: Mapping[str, str]
    """Key → the one true person it belongs to."""
    shared: Mapping[str, str]
    """Key → the kind of a truly shared identifier (household, kiosk, shared_card, ...)."""


@dataclass(frozen=True, slots=True)
class TrueEvent:
    """An event as the truth sees it: its stored keys, and what it bought (orders and revenue)."""

    event_id: str
    keys: tuple[str, ...]
    revenue: Mapping[str, int] | None = None
    """Per currency, for a purchase; None for any other event."""


@dataclass(frozen=True, slots=True)
class Profile:
    orders: int
    revenue: Mapping[str, int]


@dataclass(slots=True)
class Report:
    identifiers: int = 0
    pairwise_precision: float = 1.0
    pairwise_recall: float = 1.0
    pairwise_f1: float = 1.0
    bcubed_precision: float = 1.0
    bcubed_recall: float = 1.0
    ceiling_recall: float = 1.0
    """The pairwise recall reachable from truthful evidence alone."""
    recall_of_ceiling: float = 1.0
    predicted_persons: int = 0
    over_merged_persons: int = 0
    true_persons_in_over_merged: int = 0
    over_merged_by_rule: dict[str, int] = field(default_factory=dict)
    """Predicted persons bridged, by the rule of a link joining identifiers of two true persons."""
    persons_with_two_logins: int = 0
    shared_identifiers: int = 0
    shared_reported: int = 0
    shared_bridging: dict[str, int] = field(default_factory=dict)
    """Truly shared identifiers held by a predicted person that holds two true persons, by kind."""
    profiles_checked: int = 0
    profiles_exact: int = 0

    @property
    def profile_exactness(self) -> float:
        return self.profiles_exact / self.profiles_checked if self.profiles_checked else 1.0

    def lines(self) -> list[str]:
        rules = ", ".join(f"{r} {n}" for r, n in sorted(self.over_merged_by_rule.items())) or "none"
        bridging = ", ".join(f"{k} {n}" for k, n in sorted(self.shared_bridging.items())) or "none"
        return [
            f"identifiers scored        {self.identifiers:,} in {self.predicted_persons:,} predicted persons",
            f"pairwise precision        {self.pairwise_precision:.4f}",
            f"pairwise recall           {self.pairwise_recall:.4f}  (ceiling {self.ceiling_recall:.4f}; "
            f"{self.recall_of_ceiling:.4f} of it)",
            f"pairwise F1               {self.pairwise_f1:.4f}",
            f"B-cubed precision/recall  {self.bcubed_precision:.4f} / {self.bcubed_recall:.4f}",
            f"over-merged persons       {self.over_merged_persons:,} holding "
            f"{self.true_persons_in_over_merged:,} true persons; bridged by: {rules}",
            f"persons with two logins   {self.persons_with_two_logins:,}",
            f"shared identifiers        {self.shared_identifiers:,}, reported shared "
            f"{self.shared_reported:,}; inside over-merged persons: {bridging}",
            f"profiles exact            {self.profile_exactness:.4f} ({self.profiles_exact:,} of "
            f"{self.profiles_checked:,}: orders and revenue against the truth within reach)",
        ]


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pair_counts(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[int, int, int]:
    """(pairs together in both, pairs together in a, pairs together in b) over the keys of both."""
    keys = a.keys() & b.keys()
    cells: Counter[tuple[str, str]] = Counter((a[k], b[k]) for k in keys)
    in_a: Counter[str] = Counter(a[k] for k in keys)
    in_b: Counter[str] = Counter(b[k] for k in keys)
    return (
        sum(_pairs(n) for n in cells.values()),
        sum(_pairs(n) for n in in_a.values()),
        sum(_pairs(n) for n in in_b.values()),
    )


def agreement(a: Mapping[str, str], b: Mapping[str, str]) -> float:
    """Jaccard of linked pairs: pairs together in both partitions ÷ pairs together in either."""
    both, in_a, in_b = pair_counts(a, b)
    either = in_a + in_b - both
    return both / either if either else 1.0


def ceiling(truth: Truth, events: Iterable[TrueEvent]) -> dict[str, str]:
    """The partition truthful evidence can reach: the identifiers of every event whose identifiers
    all truly belong to one person, unioned (shared and junk identifiers dropped)."""
    parent: dict[str, str] = {}

    def find(k: str) -> str:
        root = k
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(k, k) != root:
            parent[k], k = root, parent[k]
        return root

    for e in events:
        own = [k for k in e.keys if k in truth.owner]
        if not own or len({truth.owner[k] for k in own}) > 1:
            continue
        first = find(own[0])
        parent.setdefault(first, first)
        for k in own[1:]:
            root = find(k)
            if root != first:
                parent[root] = first
    return {k: find(k) for k in parent}


def score(
    truth: Truth,
    events: list[TrueEvent],
    predicted: Mapping[str, str | None],
    *,
    reported_shared: Collection[str],
    person_edges: Callable[[str], Iterable[tuple[str, str, str]]],
    profile_of: Callable[[str], Profile | None],
    login_type: str = "customer_id",
) -> Report:
    """The report for one run. `predicted` maps each stored key seen to its person (None: shared or
    unknown), `reported_shared` the keys the service reports shared; `person_edges(person)` gives a
    predicted person's links as (key, key, rule), `profile_of(person)` its orders and revenue."""
    r = Report()
    seen = {k for e in events for k in e.keys}
    owned = {k: truth.owner[k] for k in seen if k in truth.owner}
    pred = {k: p for k in owned if (p := predicted.get(k)) is not None}
    # Identifiers the service did not put in any person are singletons of their own.
    pred_all = {k: pred.get(k, f"\x00{k}") for k in owned}
    r.identifiers = len(owned)
    r.predicted_persons = len(set(pred.values()))
    tp, pred_pairs, true_pairs = pair_counts(pred_all, owned)
    r.pairwise_precision = tp / pred_pairs if pred_pairs else 1.0
    r.pairwise_recall = tp / true_pairs if true_pairs else 1.0
    prec, rec = r.pairwise_precision, r.pairwise_recall
    r.pairwise_f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    r.bcubed_precision, r.bcubed_recall = _bcubed(pred_all, owned)
    reach = ceiling(truth, events)
    reach_all = {k: reach.get(k, f"\x00{k}") for k in owned}
    ctp, _, _ = pair_counts(reach_all, owned)
    r.ceiling_recall = ctp / true_pairs if true_pairs else 1.0
    r.recall_of_ceiling = r.pairwise_recall / r.ceiling_recall if r.ceiling_recall else 1.0

    members: dict[str, list[str]] = defaultdict(list)
    for k, person in pred.items():
        members[person].append(k)
    shared_in: dict[str, list[str]] = defaultdict(list)
    for k, kind in truth.shared.items():
        if k in seen:
            r.shared_identifiers += 1
            if k in reported_shared:
                r.shared_reported += 1
            elif (holder := predicted.get(k)) is not None:
                shared_in[holder].append(kind)
    rules: Counter[str] = Counter()
    bridging: Counter[str] = Counter()
    for person, keys in members.items():
        owners = {owned[k] for k in keys}
        logins = {owned[k] for k in keys if k.startswith(f"{login_type}:") or k.startswith(f"{login_type}#")}
        r.persons_with_two_logins += len(logins) > 1
        if len(owners) < 2:
            continue
        r.over_merged_persons += 1
        r.true_persons_in_over_merged += len(owners)
        bridges = {
            rule for a, b, rule in person_edges(person) if a in owned and b in owned and owned[a] != owned[b]
        }
        if not bridges:  # joined through an identifier truly shared (a tablet before it was known)
            around: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for a, b, rule in person_edges(person):
                for x, y in ((a, b), (b, a)):
                    if x in truth.shared and y in owned:
                        around[x].append((owned[y], rule))
            bridges = {
                f"{rule} via {truth.shared[x]}"
                for x, ends in around.items()
                if len({o for o, _ in ends}) > 1
                for _, rule in ends
            } or {"unknown"}
        for rule in bridges:
            rules[rule] += 1
        for kind in shared_in.get(person, []):
            bridging[kind] += 1
    r.over_merged_by_rule = dict(rules)
    r.shared_bridging = dict(bridging)
    _exactness(r, truth, events, owned, reach, pred, profile_of)
    return r


def _bcubed(pred: Mapping[str, str], true: Mapping[str, str]) -> tuple[float, float]:
    if not pred:
        return 1.0, 1.0
    cells: Counter[tuple[str, str]] = Counter((pred[k], true[k]) for k in pred)
    in_pred: Counter[str] = Counter(pred.values())
    in_true: Counter[str] = Counter(true[k] for k in pred)
    precision = sum(n * n / in_pred[p] for (p, _), n in cells.items()) / len(pred)
    recall = sum(n * n / in_true[t] for (_, t), n in cells.items()) / len(pred)
    return precision, recall


def _exactness(
    r: Report,
    truth: Truth,
    events: list[TrueEvent],
    owned: Mapping[str, str],
    reach: Mapping[str, str],
    pred: Mapping[str, str],
    profile_of: Callable[[str], Profile | None],
) -> None:
    """Per true person, its largest reachable cluster; the purchases that name one of that
    cluster's identifiers are what its profile should show, each event once."""
    clusters: dict[str, Counter[str]] = defaultdict(Counter)
    for k, owner in owned.items():
        if k in reach:
            clusters[owner][reach[k]] += 1
    main = {owner: c.most_common(1)[0][0] for owner, c in clusters.items()}
    expected: dict[str, tuple[int, Counter[str]]] = {o: (0, Counter()) for o in main}
    done: set[str] = set()
    for e in events:
        if e.revenue is None or e.event_id in done:
            continue
        done.add(e.event_id)
        owners = {owned[k] for k in e.keys if k in owned}
        if len(owners) != 1:
            continue
        (owner,) = owners
        if owner in main and any(reach.get(k) == main[owner] for k in e.keys):
            orders, revenue = expected[owner]
            revenue.update(e.revenue)
            expected[owner] = (orders + 1, revenue)
    for owner, cluster in main.items():
        keys = [k for k, c in reach.items() if c == cluster]
        persons = Counter(pred[k] for k in keys if k in pred)
        r.profiles_checked += 1
        if not persons:
            continue
        got = profile_of(persons.most_common(1)[0][0])
        orders, revenue = expected[owner]
        if got is None:
            r.profiles_exact += orders == 0
            continue
        r.profiles_exact += got.orders == orders and {c: v for c, v in got.revenue.items() if v} == {
            c: v for c, v in revenue.items() if v
        }
