"""A synthetic retail population for benchmarks: customers with browsers, phones and emails,
households sharing a tablet, store kiosks, zeroed advertising ids and POS swipes; product views,
cart adds, orders and email clicks over a catalog of 5,000 products in 40 categories."""

from __future__ import annotations

import random
from collections.abc import Iterator

from google.protobuf.timestamp_pb2 import Timestamp

from idstitch.v1 import event_pb2 as ev_pb

ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"


CATEGORIES = [f"cat-{i:02d}" for i in range(40)]
BRANDS = [f"brand-{i:02d}" for i in range(60)]
CITIES = ["Lyon", "Paris", "Lille", "Nantes", "Nice"]
REFERRERS = ["https://search.example/q", "https://social.example/p", "", ""]


def _product(rng: random.Random) -> ev_pb.Product:
    sku = rng.randrange(5000)
    return ev_pb.Product(
        sku=f"SKU-{sku}",
        name=f"Product {sku}",
        category=CATEGORIES[sku % len(CATEGORIES)],
        brand=BRANDS[sku % len(BRANDS)],
        price=ev_pb.Money(amount_minor=500 + (sku * 37) % 30000, currency="EUR"),
    )


def _ev(
    rng: random.Random,
    n: int,
    at: int,
    channel: str,
    type_: str,
    ids: list[tuple[str, str]],
    device: str = "",
) -> ev_pb.Event:
    e = ev_pb.Event(
        event_id=f"bench-{n}",
        occurred_at=Timestamp(seconds=at),
        channel=channel,
        type=type_,
        identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
        context=ev_pb.Context(
            device_type=device,
            city=rng.choice(CITIES),
            referrer=rng.choice(REFERRERS),
            session_id=f"s-{at // 1800}-{ids[0][1]}",
        ),
    )
    if type_ in ("product_view", "add_to_cart"):
        e.product.CopyFrom(_product(rng))
    elif type_ == "purchase":
        items = [_product(rng) for _ in range(rng.randint(1, 3))]
        e.order.order_id = f"o-{n}"
        for p in items:
            e.order.items.add(
                sku=p.sku, name=p.name, category=p.category, brand=p.brand, quantity=1, unit_price=p.price
            )
        e.order.total.CopyFrom(
            ev_pb.Money(amount_minor=sum(p.price.amount_minor for p in items), currency="EUR")
        )
        if rng.random() < 0.3:
            e.order.coupon_code = "SAVE10"
    elif type_ == "email_click":
        e.campaign.campaign_id = f"camp-{n % 12}"
    return e


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
                yield _ev(rng, n, at, "web", "add_to_cart" if roll < 0.08 else "product_view", ids)
            elif roll < 0.70:
                yield _ev(rng, n, at, "app", "product_view", [("device_id", device), ("customer_id", cust)])
            elif roll < 0.80:
                yield _ev(
                    rng, n, at, "email", "email_click", [("email", email), ("cookie", rng.choice(cookies))]
                )
            elif roll < 0.88:
                yield _ev(
                    rng,
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
                yield _ev(rng, n, at, "web", "login", [("cookie", tablet), ("customer_id", cust)])
            elif roll < 0.97:
                yield _ev(
                    rng,
                    n,
                    at,
                    "web",
                    "login",
                    [("device_id", f"kiosk-{p % 20}"), ("customer_id", cust)],
                    "kiosk",
                )
            else:
                yield _ev(
                    rng,
                    n,
                    at,
                    "web",
                    "login",
                    [("cookie", cookies[0]), ("customer_id", cust), ("email", email)],
                )
            n += 1


def heavy_person(count: int, seed: int = 11) -> Iterator[ev_pb.Event]:
    """`count` events of one shopper over a year: the profile-size check."""
    rng = random.Random(seed)
    t0 = 1_730_000_000
    kinds = ["product_view"] * 6 + ["add_to_cart", "purchase", "email_click", "page_view"]
    for n in range(count):
        ids = [("customer_id", "C-HEAVY"), ("cookie", f"heavy-ck-{n % 7}")]
        yield _ev(rng, 10**9 + n, t0 + n * 3100, rng.choice(["web", "app"]), rng.choice(kinds), ids)
