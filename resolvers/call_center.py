"""Call centre: an agent who verified the caller's account links what the caller gives strongly;
an unverified caller's details are weak."""

from __future__ import annotations

from identity.identifiers import Strength
from identity.model import ChannelEvent
from resolvers.base import Resolver


class CallCenterResolver(Resolver):
    channel = "call_center"

    def judge(self, event: ChannelEvent | None, types: set[str]) -> tuple[Strength, str] | None:
        if "customer_id" in types or "loyalty_number" in types:
            return Strength.STRONG, "call_center.verified"
        return Strength.WEAK, "call_center.unverified"
