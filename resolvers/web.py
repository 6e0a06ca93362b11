"""Web: a logged-in session (a customer id beside the cookie) is strong evidence; a cookie seen
with an email typed into a form is weak, since anyone can type any address."""

from __future__ import annotations

from identity.identifiers import Strength
from identity.model import ChannelEvent
from resolvers.base import Resolver


class WebResolver(Resolver):
    channel = "web"

    def judge(self, event: ChannelEvent | None, types: set[str]) -> tuple[Strength, str] | None:
        if "customer_id" in types:
            return Strength.STRONG, "web.login"
        return Strength.WEAK, "web.form"
