"""Call centre: an agent who verified the caller's account proves what the caller gives; an
unverified caller's details are only declared."""

from __future__ import annotations

from identity.identifiers import EvidenceClass
from resolvers.base import Resolver


class CallCenterResolver(Resolver):
    channel = "call_center"

    def judge(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        if "customer_id" in types or "loyalty_number" in types:
            return EvidenceClass.AUTHENTICATED, "call_center.verified"
        return EvidenceClass.DECLARED, "call_center.unverified"
