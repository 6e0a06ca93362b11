"""Point of sale: a loyalty-card swipe or a customer looked up at the till proves who is paying;
a phone or email given at the till for the receipt is declared by the shopper."""

from __future__ import annotations

from identity.identifiers import EvidenceClass
from resolvers.base import Resolver


class PosResolver(Resolver):
    channel = "pos"

    def judge(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        if "loyalty_number" in types:
            return EvidenceClass.AUTHENTICATED, "pos.loyalty_swipe"
        if "customer_id" in types:
            return EvidenceClass.AUTHENTICATED, "pos.customer_lookup"
        return EvidenceClass.DECLARED, "pos.receipt"
