"""App: an authenticated app session ties its device id to the customer id strongly; other
identifiers the app reports without a login are weak."""

from __future__ import annotations

from identity.identifiers import Strength
from identity.model import ChannelEvent
from resolvers.base import Resolver


class AppResolver(Resolver):
    channel = "app"

    def judge(self, event: ChannelEvent | None, types: set[str]) -> tuple[Strength, str] | None:
        if "customer_id" in types:
            return Strength.STRONG, "app.login"
        return Strength.WEAK, "app.identify"
