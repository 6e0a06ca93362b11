"""Email: a click lands on whatever browser opened the mail, which may belong to someone the
mail was forwarded to, so a click links the address to the device only weakly."""

from __future__ import annotations

from identity.identifiers import Strength
from identity.model import ChannelEvent
from resolvers.base import Resolver


class EmailResolver(Resolver):
    channel = "email"

    def judge(self, event: ChannelEvent | None, types: set[str]) -> tuple[Strength, str] | None:
        return Strength.WEAK, "email.click"
