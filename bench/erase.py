"""Benchmark: `Erase` of a person with 50 identifiers and 5,000 events, among other persons'
events, on the embedded stores, through the API. Prints the wall time of each erasure.

Run: .venv/bin/python -m bench.erase [--others 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from google.protobuf.timestamp_pb2 import Timestamp

from bench.ingest_resolve import connect, start_server
from bench.population import events
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as priv
from idstitch.v1 import privacy_service_pb2_grpc as priv_grpc
from idstitch.v1 import profile_service_pb2 as ppb


def heavy(run: int, count: int = 5000) -> list[ev_pb.Event]:
    """One shopper: a login, an email, a phone, a loyalty card and 46 cookies — 50 identifiers."""
    rng = random.Random(run)
    cust = f"ERASE-{run}"
    extra = [
        ("email", f"erase{run}@example.com"),
        ("phone", f"+1415556{run:04d}"),
        ("loyalty_number", f"L-E{run}"),
    ]
    cookies = [("cookie", f"erase-{run}-ck-{i}") for i in range(46)]
    out = []
    for n in range(count):
        ids = [("customer_id", cust), extra[n % 3] if n < 3 else cookies[n % len(cookies)]]
        out.append(
            ev_pb.Event(
                event_id=f"erase-{run}-{n}",
                occurred_at=Timestamp(seconds=1_760_000_000 + n * 60),
                channel="web",
                type=rng.choice(["product_view", "add_to_cart", "page_view"]),
                identifiers=[ev_pb.Identifier(type=t, value=v) for t, v in ids],
                product=ev_pb.Product(sku=f"S{rng.randrange(500)}", category=f"c{rng.randrange(30)}"),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--others", type=int, default=4000, help="other persons (5 events each) in the stores")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="idstitch-bench-erase-") as data:
        proc, target = start_server(data, None)
        try:
            with connect(target) as ch:
                ingest, privacy = pb_grpc.IdentityServiceStub(ch), priv_grpc.PrivacyServiceStub(ch)
                background = list(events(args.others, 5))
                for i in range(0, len(background), 500):
                    ingest.Ingest(pb.IngestRequest(events=background[i : i + 500]))
                for run in range(args.runs):
                    person = heavy(run)
                    for i in range(0, len(person), 500):
                        ingest.Ingest(pb.IngestRequest(events=person[i : i + 500]))
                    key = ppb.ProfileKey(
                        identifier=ev_pb.Identifier(type="customer_id", value=f"ERASE-{run}")
                    )
                    t = time.perf_counter()
                    receipt = privacy.Erase(priv.EraseRequest(subject=key, request_id=f"bench-{run}")).receipt
                    secs = time.perf_counter() - t
                    c = receipt.counts
                    print(
                        f"erase: {c.identifiers} identifiers, {c.links} links, {c.events} events "
                        f"(among {len(background):,} other events): {secs * 1000:.0f} ms"
                    )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
