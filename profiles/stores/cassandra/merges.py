"""The merge protocol: single-partition transactions, each idempotent, whose intermediate states
any writer can finish — (1) the survivor records the loser in `pending`; (2) the loser is frozen
(`merged_into`); (3) the survivor merges the loser's final state into its own and moves it from
`pending` to `absorbed`. The package docstring says why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from common.errors import StoreUnavailable
from drivers.cassandra import column
from profiles.ports import Folding, LoggedEvent
from profiles.state import encode_state
from profiles.stores.cassandra.partitions import MAX_CHAIN, Head, Partitions

MAX_ROUNDS = 60
"""Attempts of one write under contention before the caller gets UNAVAILABLE (and retries)."""


def final(merges: Mapping[str, str]) -> dict[str, str]:
    """Where each loser of a batch's merges ends up, following chains (a → b, b → c: a → c)."""
    out = {}
    for loser in merges:
        p, hops = loser, 0
        while p in merges and hops <= len(merges):
            p, hops = merges[p], hops + 1
        out[loser] = p
    return out


def connected(merges: Mapping[str, str]) -> list[list[tuple[str, str]]]:
    """The merges grouped by the persons they touch (union-find), each group in the given order."""
    parent: dict[str, str] = {}

    def root(p: str) -> str:
        while parent.setdefault(p, p) != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for loser, survivor in merges.items():
        parent[root(loser)] = root(survivor)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pair in merges.items():
        groups[root(pair[0])].append(pair)
    return list(groups.values())


class Merges:
    def __init__(self, parts: Partitions) -> None:
        self._p = parts

    def merge_all(self, merges: Mapping[str, str], folding: Folding) -> None:
        """Runs a batch's merges: those that share no person side by side (each merge is several
        round trips), those that do one after the other, in the order given.

        A loser with no partition yet (most often a person the same batch created, then merged)
        has nothing to merge; it is frozen into an alias by one conditional write, `IF version =
        null`, all such losers at once, and the batch's own events go to the survivor (`final`).
        The condition is what makes it safe: another server may have stitched that person
        earlier and be about to write its first events; then one of the two writes fails — its
        fold then finds the alias and follows it, or the alias is not written and the loser goes
        through the whole protocol below."""
        if not merges:
            return
        p = self._p
        heads = p.heads(list(merges))
        fresh = [(loser, s) for loser, s in merges.items() if heads[loser] == Head(loser)]
        frozen = p.conn.run_all([(p.st.freeze, (s, *p.next(heads[loser]))) for loser, s in fresh])
        aliased = {loser for (loser, _), rs in zip(fresh, frozen, strict=True) if rs.was_applied}
        merges = {loser: s for loser, s in merges.items() if loser not in aliased}
        groups = connected(merges)
        if len(groups) <= 1:
            for loser, survivor in merges.items():
                self.merge(loser, survivor, folding)
            return

        def run(group: list[tuple[str, str]]) -> None:
            for loser, survivor in group:
                self.merge(loser, survivor, folding)

        for f in [self._p.conn.pool.submit(run, g) for g in groups]:
            f.result()

    def merge(self, loser: str, survivor: str, folding: Folding) -> None:
        p = self._p
        for _ in range(MAX_ROUNDS):
            lost, kept = p.live(loser, folding), p.live(survivor, folding)
            if lost.person_id == kept.person_id:
                return
            if lost.person_id in kept.pending or p.cas(p.st.add_pending, ({lost.person_id}, *p.next(kept))):
                self.complete(kept.person_id, lost.person_id, folding)
                return
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def complete(self, survivor: str, loser: str, folding: Folding, depth: int = 0) -> None:
        """Steps (2) and (3) of a merge the survivor has pending; safe to run by several writers."""
        if depth > MAX_CHAIN:
            raise StoreUnavailable("cassandra: merges pending in a cycle")
        p = self._p
        for _ in range(MAX_ROUNDS):
            lost = p.head(loser)
            if lost.merged_into is None:
                for inner in sorted(lost.pending):  # the loser's own pending merges land first
                    self.complete(loser, inner, folding, depth + 1)
                lost = p.head(loser)
                if lost.pending or lost.merged_into is not None:
                    continue
                if not p.cas(p.st.freeze, (survivor, *p.next(lost))):
                    continue
                lost = p.head(loser)
            kept = p.head(survivor)
            if loser not in kept.pending:
                return  # another writer finished it
            if lost.merged_into != survivor:  # the loser went elsewhere meanwhile: follow it
                if p.cas(p.st.drop_pending, ({loser}, *p.next(kept))):
                    self.merge(loser, survivor, folding)
                    return
                continue
            ours, theirs = kept.decoded(), lost.decoded()
            state = theirs if ours is None else ours if theirs is None else folding.merge(ours, theirs)
            blob = None if state is None else encode_state(state)
            absorbed = {loser} | set(lost.absorbed)
            if p.cas(p.st.absorb, (blob, {loser}, absorbed, *p.next(kept))):
                return
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def redirect(
        self, frozen: str, events: list[LoggedEvent], folding: Folding
    ) -> dict[str, list[LoggedEvent]]:
        """Claims held by a frozen partition for events it never folded move to its survivor."""
        p = self._p
        target = p.live(frozen, folding).person_id
        out: dict[str, list[LoggedEvent]] = defaultdict(list)
        results = p.conn.run_all([(p.st.reclaim, (target, p.ns, e.facts.event_id, frozen)) for e in events])
        for e, rs in zip(events, results, strict=True):
            holder = target if rs.was_applied else column(rs, rs.one(), "person_id")
            if holder is not None:
                out[holder].append(e)
        return out
