"""A synthetic retail population for benchmarks: customers with browsers, phones and emails,
households sharing a tablet, store kiosks, zeroed advertising ids and POS swipes."""

from __future__ import annotations

import random
from collections.abc import Iterator

from google.protobuf.timestamp_pb2 import Timestamp

from idstitch.v1 import event_pb2 as ev_pb

ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"


def _ev(
    n: int, at: int, channel: str, type_: str, ids: list[tuple[str, str]], device: str = ""
) -> ev_pb.Event:
    return ev_pb.Event(
        event_id=f"bench-{n}",
        occurred_at=Timestamp(seconds=at),
        channel=channel,
        type=type_,
        identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
        context=ev_pb.Context(device_type=device, city="Lyon", referrer="https://search.example/"),
        product=ev_pb.Product(
            sku=f"SKU-{n % 997}",
            category="grills",
            brand="Acme",
            price=ev_pb.Money(amount_minor=19900, currency="EUR"),
        ),
    )


def events(persons: int, per_person: int, seed: int = 7) -> Iterator[ev_pb.Event]:
    """About `persons * per_person` events, shuffled in time order per person."""
    rng = random.Random(seed)
    n = 0
    t0 = 1_760_000_000
    for p in range(persons):
        cust = f"C{p:07d}"
        email = f"shopper{p}@example.com"
        cookies = [f"ck-{p}-{i}" for i in range(rng.randint(1, 3))]
        device = ZERO_AD_ID if rng.random() < 0.1 else f"dev-{p:07x}"
        tablet = f"tablet-{p // 2}" if rng.random() < 0.05 else None  # households of two
        for k in range(per_person):
            at = t0 + p * 10 + k
            roll = rng.random()
            if roll < 0.45:
                ids = [("cookie", rng.choice(cookies))] + ([("customer_id", cust)] if roll < 0.15 else [])
                yield _ev(n, at, "web", "product_view", ids)
            elif roll < 0.70:
                yield _ev(n, at, "app", "product_view", [("device_id", device), ("customer_id", cust)])
            elif roll < 0.80:
                yield _ev(n, at, "email", "email_click", [("email", email), ("cookie", rng.choice(cookies))])
            elif roll < 0.88:
                yield _ev(
                    n,
                    at,
                    "pos",
                    "purchase",
                    [
                        ("loyalty_number", f"L{p:07d}"),
                        ("card_token", f"tok-{p}"),
                        ("phone", f"+1415555{p % 10000:04d}"),
                    ],
                )
            elif roll < 0.94 and tablet:
                yield _ev(n, at, "web", "login", [("cookie", tablet), ("customer_id", cust)])
            elif roll < 0.97:
                yield _ev(
                    n, at, "web", "login", [("device_id", f"kiosk-{p % 20}"), ("customer_id", cust)], "kiosk"
                )
            else:
                yield _ev(
                    n, at, "web", "login", [("cookie", cookies[0]), ("customer_id", cust), ("email", email)]
                )
            n += 1
