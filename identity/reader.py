"""Identity reads: what an identifier resolves to, a person's graph, why two identifiers are (or
are not) one person. Built over a graph port; the composition root builds one over the stores and
one whose graph may answer from the read cache (the page-render reads), and each caller picks."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from common.errors import InvalidArgument, NotFound
from identity import explain
from identity.identifiers import IdentifierType, NormalizedIdentifier
from identity.model import PersonGraph, SharedResolution
from identity.normalize import MAX_VALUE_BYTES, Learned, Normalizer
from identity.ports import IdentityGraph


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an identifier resolves to: a person's graph, or the persons sharing it."""

    person: PersonGraph | None
    shared: SharedResolution | None


class IdentityReader:
    def __init__(self, *, graph: IdentityGraph, normalizer: Normalizer, corroborating: int) -> None:
        """`corroborating`: how many events corroborate a held-back link (explanations say it)."""
        self.graph = graph
        self._normalizer = normalizer
        self._corroborating = corroborating

    @property
    def types(self) -> Mapping[str, IdentifierType]:
        return self._normalizer.types

    def key_of(
        self, type_name: str, value: str, *, field: str = "identifier", learned: Learned | None = None
    ) -> NormalizedIdentifier | str:
        """The stored key of an identifier, or why it can never resolve (junk, invalid).
        INVALID_ARGUMENT naming `field` for an unknown type or an oversized value."""
        if type_name not in self._normalizer.types:
            known = ", ".join(sorted(self._normalizer.types))
            raise InvalidArgument(f"{field}.type", f"not a configured identifier type (known: {known})")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidArgument(f"{field}.value", f"longer than {MAX_VALUE_BYTES} bytes")
        return self._normalizer.normalize(type_name, value, learned)

    def stored_key(self, type_name: str, value: str, *, field: str = "identifier") -> str:
        """`key_of`, with a value that never resolves refused (INVALID_ARGUMENT)."""
        ident = self.key_of(type_name, value, field=field)
        if isinstance(ident, str):
            raise InvalidArgument(f"{field}.value", f"{ident}: such a value never resolves")
        return ident.key

    def resolve(self, type_name: str, value: str, *, field: str = "identifier") -> Resolution:
        return self.resolve_key(self.stored_key(type_name, value, field=field))

    def resolve_key(self, key: str) -> Resolution:
        found = self.graph.resolve_person(key)
        if found is None:
            raise NotFound("identifier not known")
        if isinstance(found, SharedResolution):
            return Resolution(None, found)
        return Resolution(found, None)

    def resolve_keys(self, keys: Collection[str]) -> dict[str, Resolution]:
        """`resolve_key` of many keys in a bounded number of graph round trips; unknown keys are
        left out."""
        return {
            k: Resolution(None, found) if isinstance(found, SharedResolution) else Resolution(found, None)
            for k, found in self.graph.resolve_people(keys).items()
        }

    def person(self, person_id: str) -> PersonGraph:
        graph = self.graph.person_graph(person_id)
        if graph is None:
            raise NotFound("person not known")
        return graph

    def explain(self, a: tuple[str, str], b: tuple[str, str]) -> explain.Explanation:
        keys = [self.stored_key(*a, field="a"), self.stored_key(*b, field="b")]
        found = [self.graph.resolve_person(k) for k in keys]
        if any(f is None for f in found):
            raise NotFound("identifier not known")
        return explain.between(found, keys, types=self.types, corroborating=self._corroborating)
