"""App: a logged-in session proves who holds the device; the app's own device id and web-view
cookie are one device whoever uses it; an address typed into the app (checkout, sign-up) is
declared by the shopper."""

from __future__ import annotations

from identity.identifiers import EvidenceClass
from resolvers.base import Resolver


class AppResolver(Resolver):
    channel = "app"
    same_device_rule = "app.same_device"

    def judge(self, event_type: str, types: set[str]) -> tuple[EvidenceClass, str] | None:
        if "customer_id" in types:
            return EvidenceClass.AUTHENTICATED, "app.login"
        if types <= {"cookie", "device_id"}:
            return EvidenceClass.SAME_DEVICE, "app.same_device"
        return EvidenceClass.DECLARED, "app.form"
