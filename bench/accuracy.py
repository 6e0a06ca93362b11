"""Stitching accuracy on a labelled retail population of our own, in delivery (near time) order
and shuffled: the figures of ../shared/accuracy.md, printed, never asserted.

    python -m bench.accuracy [--persons 5000] [--seed 1] [--write DIR] [--frontier]

`--frontier` also runs the population under other stitching.weak_links settings and prints the
precision/recall frontier they make.

The population carries every trap the README names, in realistic proportions: cookies that churn
(each new browser browses anonymously before its owner logs in), phones with apps that report
their device id and web-view cookie together (mostly without a login), emails clicked on the
shopper's current browser — with or without history of its own — and ~2% forwarded to a friend
who clicks on their own browser (half of them one with history, half a browser new to it, which
the friend then browses on), guest checkouts on the web and in the app (the email typed, also by
shoppers with an account), POS receipts without a loyalty card (a phone or an email given at the
till), households sharing a tablet (members with phones of their own), store kiosks, zeroed
advertising ids, junk cookies, spouses sharing a payment card, email and phone spelling variants,
call-centre calls, 5% late and 1% duplicate deliveries. Every identifier's true owner is known;
shared identifiers are labelled by kind.

`--write DIR` also writes DIR/events.jsonl and DIR/truth.json for `idstitch simulate`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from identity.accuracy import Truth, agreement
from idstitch.v1 import event_pb2 as ev_pb
from server import simulate
from server.config import Settings, load_settings

ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"
T0 = 1_760_000_000
DAY = 86_400
SPAN_DAYS = 120


@dataclass
class Shopper:
    n: int
    customer: str | None
    email: str | None
    phone: str | None
    loyalty: str | None
    card: str | None
    device: str | None
    cookies: list[tuple[int, str]] = field(default_factory=list)
    """(first day in use, cookie): a browser replaced now and then."""
    tablet: str | None = None
    card_of_spouse: str | None = None

    def cookie_at(self, day: int) -> str:
        return [c for start, c in self.cookies if start <= day][-1]


@dataclass
class Population:
    events: list[ev_pb.Event]
    """In delivery order: time order with late and duplicate deliveries."""
    owners: dict[tuple[str, str], str]
    shared: dict[tuple[str, str], str]

    def truth_json(self) -> dict[str, object]:
        items: list[dict[str, str]] = [
            {"type": t, "value": v, "person": p} for (t, v), p in sorted(self.owners.items())
        ]
        items += [{"type": t, "value": v, "shared": k} for (t, v), k in sorted(self.shared.items())]
        return {"identifiers": items}


def _spell(rng: random.Random, value: str, kind: str) -> str:
    """A spelling variant that normalizes to the same identifier."""
    if kind == "email" and rng.random() < 0.2:
        return rng.choice([value.upper(), f" {value}", value.capitalize()])
    if kind == "phone" and rng.random() < 0.3:
        digits = value[2:]
        return rng.choice(
            [f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}"]
        )
    return value


def _shoppers(rng: random.Random, persons: int) -> list[Shopper]:
    out = []
    for n in range(persons):
        s = Shopper(
            n=n,
            customer=f"C{n:06d}" if rng.random() < 0.85 else None,
            email=f"shopper{n}@mail.example" if rng.random() < 0.85 else None,
            phone=f"+1415555{n:04d}" if rng.random() < 0.5 and n < 10_000 else None,
            loyalty=f"L{n:06d}" if rng.random() < 0.5 else None,
            card=f"tok-{n}" if rng.random() < 0.6 else None,
            device=(ZERO_AD_ID if rng.random() < 0.08 else f"dev-{n:06x}") if rng.random() < 0.5 else None,
        )
        day = 0
        i = 0
        while day < SPAN_DAYS:
            s.cookies.append((day, f"ck-{n}-{i}"))
            day += rng.randint(20, 90)
            i += 1
        out.append(s)
    # Households of two or three share a tablet; a spouse sometimes pays with the other's card.
    n = 0
    while n < persons:
        if rng.random() < 0.08 and n + 2 < persons:
            size = rng.choice([2, 2, 3])
            members = out[n : n + size]
            for m in members:
                m.tablet = f"tablet-{n}"
            if members[0].card and rng.random() < 0.3:
                members[1].card_of_spouse = members[0].card
            n += size
        else:
            n += 1
    return out


def population(persons: int, per_person: int, seed: int, forward_rate: float = 0.02) -> Population:
    rng = random.Random(seed)
    shoppers = _shoppers(rng, persons)
    owners: dict[tuple[str, str], str] = {}
    shared: dict[tuple[str, str], str] = {}
    timed: list[tuple[int, ev_pb.Event]] = []
    count = 0

    def add(at: int, channel: str, type_: str, ids: list[tuple[str, str]], device_type: str = "",
            **extra: object) -> None:  # fmt: skip
        nonlocal count
        e = ev_pb.Event(
            event_id=f"acc-{count}",
            occurred_at=Timestamp(seconds=at),
            channel=channel,
            type=type_,
            identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
            context=ev_pb.Context(device_type=device_type),
            **extra,  # type: ignore[arg-type]
        )
        count += 1
        timed.append((at, e))

    def own(p: Shopper, t: str, v: str) -> tuple[str, str]:
        if (t, v) not in shared:
            owners.setdefault((t, v), f"P{p.n}")
        return t, v

    def order(rng: random.Random) -> ev_pb.Order:
        amount = rng.randint(500, 30_000)
        return ev_pb.Order(order_id=f"o-{count}", total=ev_pb.Money(amount_minor=amount, currency="EUR"))

    for s in shoppers:
        if s.tablet:
            shared[("cookie", s.tablet)] = "household"
        if s.card_of_spouse:
            shared[("card_token", s.card_of_spouse)] = "shared_card"
    for s in shoppers:
        times = sorted(T0 + rng.randrange(SPAN_DAYS * DAY) for _ in range(per_person))
        for at in times:
            day = (at - T0) // DAY
            cookie = own(s, "cookie", s.cookie_at(day))
            roll = rng.random()
            if roll < 0.36:
                ids = [cookie] if rng.random() > 0.02 else [("cookie", "undefined")]
                product = ev_pb.Product(sku=f"SKU-{rng.randrange(500)}", category=f"cat-{rng.randrange(20)}")
                add(
                    at,
                    "web",
                    rng.choice(["product_view", "product_view", "add_to_cart"]),
                    ids,
                    product=product,
                )
            elif roll < 0.44 and s.customer:
                ids = [cookie, own(s, "customer_id", s.customer)]
                if s.email and rng.random() < 0.3:
                    ids.append(own(s, "email", _spell(rng, s.email, "email")))
                add(at, "web", "login", ids)
            elif roll < 0.47:
                if s.customer and (not s.email or rng.random() < 0.7):
                    add(at, "web", "purchase", [cookie, own(s, "customer_id", s.customer)], order=order(rng))
                elif s.email:  # a guest checkout: the email typed into a form
                    add(at, "web", "purchase", [cookie, own(s, "email", _spell(rng, s.email, "email"))],
                        order=order(rng))  # fmt: skip
            elif roll < 0.59 and s.device:
                dev = ("device_id", s.device) if s.device == ZERO_AD_ID else own(s, "device_id", s.device)
                # The app reports its device id and its web-view cookie; a login only now and then.
                ids = [dev, own(s, "cookie", f"wv-{s.n}")]
                if s.customer and rng.random() < 0.35:
                    ids.append(own(s, "customer_id", s.customer))
                if rng.random() < 0.08 and len(ids) == 2:
                    if s.email:  # an app checkout as a guest: the email typed
                        ids.append(own(s, "email", _spell(rng, s.email, "email")))
                    add(at, "app", "purchase", ids, order=order(rng))
                else:
                    add(at, "app", rng.choice(["product_view", "add_to_cart", "app_open"]), ids)
            elif roll < 0.69 and s.email:
                email = own(s, "email", _spell(rng, s.email, "email"))
                where = cookie
                if rng.random() < forward_rate:  # forwarded: a friend clicks on their own browser
                    friend = shoppers[rng.randrange(len(shoppers))]
                    if friend.n != s.n and rng.random() < 0.5:
                        where = own(friend, "cookie", friend.cookie_at(day))
                    elif friend.n != s.n:  # on a browser new to the friend, who browses on there
                        where = own(friend, "cookie", f"fwd-{count}")
                        for k in range(rng.randint(1, 3)):
                            add(at + 600 * (k + 1), "web", "product_view", [where])
                add(at, "email", "email_click", [email, where],
                    campaign=ev_pb.Campaign(campaign_id=f"camp-{day // 7}"))  # fmt: skip
            elif roll < 0.75 and (s.loyalty or s.card or s.card_of_spouse):
                ids = []
                if s.loyalty:
                    ids.append(own(s, "loyalty_number", s.loyalty))
                card = s.card_of_spouse if s.card_of_spouse and rng.random() < 0.5 else s.card
                if card:
                    ids.append(
                        ("card_token", card) if card == s.card_of_spouse else own(s, "card_token", card)
                    )
                if s.phone and rng.random() < 0.3:  # given at the till
                    ids.append(own(s, "phone", _spell(rng, s.phone, "phone")))
                elif s.email and not s.loyalty and rng.random() < 0.3:  # a receipt by email
                    ids.append(own(s, "email", _spell(rng, s.email, "email")))
                if ids:
                    add(at, "pos", "purchase", ids, order=order(rng))
            elif roll < 0.77 and s.phone and s.customer:
                add(at, "call_center", "call", [own(s, "phone", _spell(rng, s.phone, "phone")),
                                                own(s, "customer_id", s.customer)])  # fmt: skip
            elif roll < 0.85 and s.tablet:
                ids = [("cookie", s.tablet)]
                if s.customer and rng.random() < 0.4:
                    ids.append(own(s, "customer_id", s.customer))
                add(at, "web", "login" if len(ids) > 1 else "product_view", ids)
            elif roll < 0.86 and s.customer:
                add(at, "web", "login", [("device_id", f"kiosk-{rng.randrange(20)}"),
                                         own(s, "customer_id", s.customer)], device_type="kiosk")  # fmt: skip
            else:
                add(at, "web", "page_view", [cookie])
    for k in range(20):
        shared[("device_id", f"kiosk-{k}")] = "kiosk"
    # Delivery: near time order; 5% arrive 1-72 hours late, 1% twice.
    delivered: list[tuple[int, int, ev_pb.Event]] = []
    for i, (at, e) in enumerate(timed):
        late = rng.randint(3_600, 72 * 3_600) if rng.random() < 0.05 else 0
        delivered.append((at + late, i, e))
        if rng.random() < 0.01:
            delivered.append((at + rng.randint(60, 48 * 3_600), i, e))
    delivered.sort(key=lambda x: (x[0], x[1]))
    return Population([e for _, _, e in delivered], owners, shared)


def _truth(pop: Population, sim: simulate.Simulation) -> Truth:
    owner: dict[str, str] = {}
    shared: dict[str, str] = {}
    for (t, v), p in pop.owners.items():
        if (key := sim.key(t, v)) is not None:
            owner[key] = p
    for (t, v), kind in pop.shared.items():
        if (key := sim.key(t, v)) is not None:
            shared[key] = kind
            owner.pop(key, None)
    return Truth(owner, shared)


def measure(
    pop: Population, settings: Settings, seed: int, label: str, *, quiet: bool = False
) -> dict[str, float]:
    """Runs the population in time order and shuffled; prints the reports (unless quiet) and
    returns the headline figures of both runs."""
    shuffled = list(pop.events)
    random.Random(seed).shuffle(shuffled)
    partitions = []
    figures: dict[str, float] = {}
    for order, events in (("time order", pop.events), ("shuffled", shuffled)):
        sim = simulate.run(events, settings)
        try:
            report = sim.report(_truth(pop, sim))
            if not quiet:
                print(f"-- {label}, {order}")
                for line in sim.summary() + report.lines():
                    print("   " + line)
            tag = "t" if order == "time order" else "s"
            figures |= {
                f"precision_{tag}": report.pairwise_precision,
                f"recall_{tag}": report.recall_of_ceiling,
                f"exact_{tag}": report.profile_exactness,
                f"over_{tag}": report.over_merged_persons,
                f"rate_{tag}": len({e.event_id for e in sim.events}) / sim.seconds,
            }
            predicted, _ = sim.partition()
            partitions.append({k: p for k, p in predicted.items() if p is not None})
            if not quiet:
                for line in _by_class(pop, sim, predicted):
                    print("   " + line)
        finally:
            sim.close()
    figures["agreement"] = agreement(*partitions)
    if not quiet:
        print(
            "   order agreement (time order vs shuffled, Jaccard of linked pairs): "
            f"{figures['agreement']:.4f}"
        )
    sys.stdout.flush()
    return figures


def _by_class(pop: Population, sim: simulate.Simulation, predicted: dict[str, str | None]) -> list[str]:
    """Truthful events (every identifier of one true person, none shared or junk) by the class of
    evidence the resolver gave them: how many ended in one person, how many apart — and the
    shapes (channel, type, identifier types) left apart most often."""
    truth = _truth(pop, sim)
    joined: Counter[str] = Counter()
    apart: Counter[str] = Counter()
    shapes: Counter[tuple[str, str, str]] = Counter()
    seen: set[str] = set()
    for e in pop.events:
        if e.event_id in seen:
            continue
        seen.add(e.event_id)
        found = [sim.key(i.type, i.value) for i in e.identifiers]
        keys = [k for k in found if k is not None]
        if len(keys) < 2 or len(keys) < len(found) or any(k in truth.shared for k in keys):
            continue
        if len({truth.owner.get(k) for k in keys}) != 1:
            continue  # not truthful (a forwarded click, a spouse's card)
        kinds = {i.type for i in e.identifiers}
        verdict = sim.system.identity.link_evidence(e.channel, e.type, kinds)
        label = "none" if verdict is None else verdict[0].label
        if len({predicted.get(k) for k in keys}) == 1:
            joined[label] += 1
        else:
            apart[label] += 1
            shapes[(e.channel, e.type, "+".join(sorted(kinds)))] += 1
    lines = ["truthful events by evidence class: joined / left apart"]
    for label in sorted(joined.keys() | apart.keys()):
        lines.append(f"  {label:<16} {joined[label]:>8,} / {apart[label]:,}")
    for (channel, type_, shape), n in shapes.most_common(5):
        lines.append(f"  apart: {channel} {type_} {shape}: {n:,}")
    return lines


FRONTIER = [
    (2, 1.0, False, True, False),
    (2, 1.0, True, True, False),
    (2, 1.0, False, True, True),
    (1, 0.0, False, True, False),
    (2, 0.0, False, True, False),
    (3, 1.0, False, True, False),
    (2, 7.0, False, True, False),
    (2, 1.0, False, False, False),
]
"""(corroborating events, over at least days, attach_new, declared_at_once, clicks_like_declared)
of stitching.weak_links to try; the first is the default."""


def frontier(pop: Population, seed: int) -> None:
    print("-- precision/recall frontier of stitching.weak_links (time order / shuffled)")
    print(
        "   events days new decl click | precision       | recall of ceiling | profiles exact  "
        "| over-merged | agreement"
    )
    for events, days, attach_new, declared, clicks in FRONTIER:
        weak = {"corroborating_events": events, "corroborating_days": days, "attach_new": attach_new,
                "declared_at_once": declared, "clicks_like_declared": clicks}  # fmt: skip
        settings = load_settings(stitching={"weak_links": weak})
        f = measure(pop, settings, seed, "", quiet=True)
        print(
            f"   {events:>6} {days:>4g} {_yes(attach_new)} {_yes(declared):>4} {_yes(clicks):>5} | "
            f"{f['precision_t']:.4f} / {f['precision_s']:.4f} | "
            f"{f['recall_t']:.4f} / {f['recall_s']:.4f}   | {f['exact_t']:.4f} / {f['exact_s']:.4f} | "
            f"{f['over_t']:>4.0f} / {f['over_s']:<4.0f} | {f['agreement']:.4f}"
        )
        sys.stdout.flush()


def _yes(on: bool) -> str:
    return "yes" if on else " no"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--events-per-person", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--forward-rate", type=float, default=0.02)
    parser.add_argument("--write", type=Path, help="write events.jsonl and truth.json here")
    parser.add_argument("--frontier", action="store_true", help="also try other weak-link settings")
    args = parser.parse_args(argv)
    pop = population(args.persons, args.events_per_person, args.seed, args.forward_rate)
    print(
        f"population: {args.persons:,} persons, {len(pop.events):,} deliveries, {len(pop.owners):,} "
        f"owned identifiers, {len(pop.shared):,} shared, seed {args.seed}"
    )
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        with (args.write / "events.jsonl").open("w") as f:
            for e in pop.events:
                f.write(json_format.MessageToJson(e, indent=None) + "\n")
        (args.write / "truth.json").write_text(json.dumps(pop.truth_json()))
    measure(pop, load_settings(), args.seed, "default rules")
    if args.frontier:
        frontier(pop, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
