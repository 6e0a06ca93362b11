"""Web: a logged-in session (a customer id beside the cookie) proves who is browsing; an address
typed into a form (checkout, sign-up) is declared — anyone can type any address, so the engine
applies it only onto an anonymous side and withdraws it when contradicted."""

from __future__ import annotations

from identity.identifiers import EvidenceClass
from resolvers.base import Resolver


class WebResolver(Resolver):
    channel = "web"

    def judge(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        if "customer_id" in types:
            return EvidenceClass.AUTHENTICATED, "web.login"
        return EvidenceClass.DECLARED, "web.form"
