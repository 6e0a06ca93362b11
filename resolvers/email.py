"""Email: a click lands on whatever browser opened the mail, which may belong to someone the
mail was forwarded to: click-through evidence, the weakest class."""

from __future__ import annotations

from identity.identifiers import EvidenceClass
from resolvers.base import Resolver


class EmailResolver(Resolver):
    channel = "email"

    def judge(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        return EvidenceClass.CLICK_THROUGH, "email.click"
