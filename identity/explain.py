"""ExplainLink: why two identifiers are one person — the path of links between them — or why not:
the weak links between their persons that are held back, pending or kept apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from identity.identifiers import IdentifierType
from identity.model import EdgeState, PersonGraph, SharedResolution, UnappliedLink


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why two identifiers are one person (`path`), or why not (`held`: the weak links between
    their persons that are not applied, each with what holds it)."""

    same_person: bool
    person_a: str | None
    person_b: str | None
    path: tuple[EdgeState, ...] = ()
    held: tuple[tuple[UnappliedLink, str], ...] = ()
    explanation: str = ""


def _pid(found: object) -> str | None:
    return found.person_id if isinstance(found, PersonGraph) else None


def _path(g: PersonGraph, a: str, b: str) -> list[EdgeState]:
    """The shortest path of links from a to b through the person's own identifiers."""
    own = {n.key for n in g.nodes if not n.shared}
    around: dict[str, list[tuple[str, EdgeState]]] = {}
    for e in g.edges:
        if e.a in own and e.b in own:
            around.setdefault(e.a, []).append((e.b, e))
            around.setdefault(e.b, []).append((e.a, e))
    came: dict[str, tuple[str, EdgeState] | None] = {a: None}
    todo = [a]
    for at in todo:
        if at == b:
            break
        for nxt, e in sorted(around.get(at, []), key=lambda x: x[0]):
            if nxt not in came:
                came[nxt] = (at, e)
                todo.append(nxt)
    path: list[EdgeState] = []
    at = b
    while came.get(at) is not None:
        prev, e = came[at]  # type: ignore[misc]
        path.append(e)
        at = prev
    return path[::-1]


def between(
    found: Sequence[PersonGraph | SharedResolution | None],
    keys: Sequence[str],
    *,
    types: Mapping[str, IdentifierType],
    corroborating: int,
) -> Explanation:
    """`found`: what each of the two keys resolves to (both known)."""
    shared = [f for f in found if isinstance(f, SharedResolution)]
    if shared:
        n = len(shared[0].shared_by)
        words = f"shared identifier (used by {n} persons): it links nobody"
        return Explanation(False, _pid(found[0]), _pid(found[1]), explanation=words)
    ga, gb = found
    assert isinstance(ga, PersonGraph) and isinstance(gb, PersonGraph)
    if ga.person_id == gb.person_id:
        path = _path(ga, keys[0], keys[1])
        rules = ", ".join(f"{e.rule} ({e.proves.label})" for e in path) or "the same identifier"
        return Explanation(True, ga.person_id, gb.person_id, tuple(path), explanation=f"linked by {rules}")
    both_anchored = _anchored(ga, types) and _anchored(gb, types)
    needed = corroborating
    held = tuple(
        (u, "kept_apart" if both_anchored else "pending")
        for u in ga.unapplied
        if u.other_person_id == gb.person_id
    )
    if not held:
        words = "no evidence links their persons"
    elif both_anchored:
        words = "weak links only, between two persons that each hold a login: kept apart"
    else:
        best = max(u.edge.event_count for u, _ in held)
        words = f"pending: weak links seen in {best} of the {needed} corroborating events needed"
    return Explanation(False, ga.person_id, gb.person_id, held=held, explanation=words)


def _anchored(g: PersonGraph, types: Mapping[str, IdentifierType]) -> bool:
    return any(not n.shared and types[n.type].anchor for n in g.nodes if n.type in types)
