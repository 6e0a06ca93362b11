"""Point of sale: a loyalty-card swipe or a customer looked up at the till proves who is paying,
so it links the card token strongly; a card paid without either proves nothing about a person."""

from __future__ import annotations

from identity.identifiers import Strength
from identity.model import ChannelEvent
from resolvers.base import Resolver


class PosResolver(Resolver):
    channel = "pos"

    def judge(self, event: ChannelEvent | None, types: set[str]) -> tuple[Strength, str] | None:
        if "loyalty_number" in types:
            return Strength.STRONG, "pos.loyalty_swipe"
        if "customer_id" in types:
            return Strength.STRONG, "pos.customer_lookup"
        return Strength.WEAK, "pos.receipt"
