"""A bounded, seeded fuzz of every RPC over real gRPC: random bytes, truncated messages, and
hostile-but-well-formed messages made from each request type's descriptor (extreme numbers,
strings from empty to 5,000 characters, lists from empty to over their bounds).

Asserts, for every request: no INTERNAL, UNKNOWN or UNAVAILABLE status; after every refused
request, the stores (graph, profiles, privacy records with the audit log and keys) byte for byte
as before it; health SERVING throughout; the process's memory bounded. Prints the statuses seen.
"""

from __future__ import annotations

import hashlib
import random
import resource
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idstitch.v1 import admin_service_pb2, identity_service_pb2, privacy_service_pb2, profile_service_pb2
from server.app import RunningServer

pytestmark = pytest.mark.e2e
SEED = 20261201
REQUESTS = 2400
MAX_RSS_GROWTH_MB = 300
BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE}
WORDS = [
    "web", "app", "email", "pos", "call_center", "cookie", "device_id", "customer_id", "email",
    "phone", "loyalty_number", "card_token", "purchase", "product_view", "add_to_cart", "login",
    "USD", "EUR", "personalization", "marketing_email", "admin", "ingest", "history.orders",
    "affinities", "ann@example.com", "+14155552671", "undefined", "0", "p_000000000000000000000000",
]  # fmt: skip
PLAUSIBLE = ("event_id", "channel", "type", "identifiers")
INTS = [0, 1, -1, 2, 7, 1000, 1001, 2**31 - 1, -(2**31), 2**62, 10**12, 10**12 + 1]


def _methods() -> list[tuple[str, Descriptor, bool, bool]]:
    out = []
    for module in (identity_service_pb2, profile_service_pb2, privacy_service_pb2, admin_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                out.append(
                    (f"/{service.full_name}/{m.name}", m.input_type, m.client_streaming, m.server_streaming)
                )
    return out


class Maker:
    """Well-formed messages of any type, hostile in their values."""

    def __init__(self, rng: random.Random, classes: dict[str, type[Message]]) -> None:
        self.rng = rng
        self.classes = classes

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(WORDS)
        if r < 0.6:
            return ""
        if r < 0.8:
            return "".join(self.rng.choice("abcXYZ019-_.@ é√😀\x00") for _ in range(self.rng.randint(1, 40)))
        return self.rng.choice("xé😀") * self.rng.choice([65, 257, 1025, 2049, 5000])

    def message(self, desc: Descriptor, depth: int = 0) -> Message:
        msg = self.classes[desc.full_name]()
        if desc.full_name == "google.protobuf.Timestamp":
            msg.seconds = self.rng.choice([0, 1_700_000_000, -1, 253402300800, -62135596801, 2**40])
            msg.nanos = self.rng.choice([0, 999_999_999, 1_000_000_000, -1])
            return msg
        plausible = desc.full_name == "idstitch.v1.Event" and self.rng.random() < 0.6
        if plausible:  # so that the hostile parts get past the first checks
            self._plausible_event(msg)
        oneofs_done: set[str] = set()
        for fd in desc.fields:
            if self.rng.random() >= 0.7 or (plausible and fd.name in PLAUSIBLE):
                continue
            if fd.containing_oneof is not None:
                if fd.containing_oneof.name in oneofs_done:
                    continue
                oneofs_done.add(fd.containing_oneof.name)
            self._set(msg, fd, depth)
        return msg

    def _plausible_event(self, msg: Message) -> None:
        msg.event_id = f"fz-{self.rng.getrandbits(40)}"  # type: ignore[attr-defined]
        msg.channel = self.rng.choice(["web", "app", "email", "pos", "call_center"])  # type: ignore[attr-defined]
        msg.type = self.rng.choice(["purchase", "product_view", "add_to_cart", "login"])  # type: ignore[attr-defined]
        for _ in range(self.rng.randint(1, 3)):
            t = self.rng.choice(["cookie", "device_id", "customer_id", "email", "loyalty_number"])
            msg.identifiers.add(type=t, value=f"{t}-{self.rng.randint(0, 30)}")  # type: ignore[attr-defined]

    def _set(self, msg: Message, fd: FieldDescriptor, depth: int) -> None:
        if fd.is_repeated:
            n = self.rng.choice([0, 1, 2, 3, 5, 21, 65, 101]) if depth < 2 else self.rng.choice([0, 1, 2])
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                target = getattr(msg, fd.name)
                for _ in range(min(n, 40)):
                    target[self.text()[:200]] = self.text()
                return
            for _ in range(n):
                self._add(msg, fd, depth)
            return
        if fd.message_type is not None:
            if depth < 4:
                getattr(msg, fd.name).CopyFrom(self.message(fd.message_type, depth + 1))
            return
        setattr(msg, fd.name, self._scalar(fd))

    def _add(self, msg: Message, fd: FieldDescriptor, depth: int) -> None:
        target = getattr(msg, fd.name)
        if fd.message_type is not None:
            target.add().CopyFrom(self.message(fd.message_type, depth + 1))
        else:
            target.append(self._scalar(fd))

    def _scalar(self, fd: FieldDescriptor) -> object:
        t = fd.type
        if t == FieldDescriptor.TYPE_STRING:
            return self.text()
        if t == FieldDescriptor.TYPE_BYTES:
            return self.rng.randbytes(self.rng.randint(0, 64))
        if t == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice([0.0, -1.0, 1e308, float("nan"), float("inf"), 3.5])
        if t == FieldDescriptor.TYPE_ENUM:
            return self.rng.choice([v.number for v in fd.enum_type.values])
        if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
            return self.rng.choice([i for i in INTS if -(2**31) <= i < 2**31])
        return self.rng.choice([*INTS, 2**63 - 1, -(2**63)])


def _classes() -> dict[str, type[Message]]:
    from google.protobuf import message_factory

    out: dict[str, type[Message]] = {}
    for module in (identity_service_pb2, profile_service_pb2, privacy_service_pb2, admin_service_pb2):
        for desc in _all_types(module.DESCRIPTOR.message_types_by_name.values()):
            out[desc.full_name] = message_factory.GetMessageClass(desc)
    return out


def _all_types(descs: object) -> list[Descriptor]:
    seen: dict[str, Descriptor] = {}
    todo = list(descs)  # type: ignore[call-overload]
    while todo:
        d = todo.pop()
        if d.full_name in seen:
            continue
        seen[d.full_name] = d
        todo.extend(f.message_type for f in d.fields if f.message_type is not None)
        todo.extend(d.nested_types)
    return list(seen.values())


def _fingerprint(data_dir: Path) -> str:
    """Every row of every table of the embedded stores (graph, profiles, privacy: audit and keys)."""
    h = hashlib.sha256()
    for name in ("graph.db", "profiles.db", "privacy.db"):
        with sqlite3.connect(f"file:{data_dir / name}?mode=ro", uri=True) as db:
            tables = [
                t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            ]
            for t in tables:
                for row in sorted(map(repr, db.execute(f"SELECT * FROM {t}"))):
                    h.update(row.encode())
        db.close()
    return h.hexdigest()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def test_fuzz_every_rpc(server: RunningServer, settings, capsys) -> None:
    rng = random.Random(SEED)
    maker = Maker(rng, _classes())
    key = (settings.data_dir / "admin.key").read_text().strip()
    admin = [("authorization", f"Bearer {key}")]
    methods = _methods()
    assert len(methods) == 19
    statuses: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    start_rss = _rss_mb()
    with grpc.insecure_channel(
        f"127.0.0.1:{server.port}", options=[("grpc.max_send_message_length", 64 * 2**20)]
    ) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        raw: dict[str, Callable[..., object]] = {}
        for name, _, client_streaming, server_streaming in methods:
            ident = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
            if client_streaming:
                raw[name] = ch.stream_unary(name, **ident)
            elif server_streaming:
                raw[name] = ch.unary_stream(name, **ident)
            else:
                raw[name] = ch.unary_unary(name, **ident)
        before = _fingerprint(settings.data_dir)
        for n in range(REQUESTS):
            name, desc, client_streaming, server_streaming = rng.choice(methods)
            kind = rng.choices(["bytes", "truncated", "message", "anonymous"], weights=[2, 2, 6, 1])[0]
            if kind == "bytes":
                body = rng.randbytes(rng.choice([1, 7, 64, 1000, 70_000]))
            else:
                body = maker.message(desc).SerializeToString()
                if kind == "truncated" and body:
                    body = body[: rng.randint(0, len(body) - 1)]
            metadata = [] if kind == "anonymous" else admin
            try:
                call = raw[name]
                if client_streaming:
                    call(iter([body] * rng.randint(1, 3)), metadata=metadata, timeout=30)
                elif server_streaming:
                    list(call(body, metadata=metadata, timeout=30))
                else:
                    call(body, metadata=metadata, timeout=30)
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
                assert code not in BAD, f"request {n} ({kind}) to {name}: {code.name} {e.details()}"
            statuses[code.name] += 1
            by_kind[kind] += 1
            after = _fingerprint(settings.data_dir)
            if code != grpc.StatusCode.OK:
                assert after == before, (
                    f"refused request {n} ({kind}, {code.name}) to {name} changed the stores"
                )
            before = after
            if n % 200 == 0:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                assert status == health_pb2.HealthCheckResponse.SERVING
    growth = _rss_mb() - start_rss
    with capsys.disabled():
        print(f"\nfuzz: {REQUESTS} requests {dict(by_kind)}; statuses {dict(statuses)}; RSS +{growth:.0f} MB")
    assert growth < MAX_RSS_GROWTH_MB
    assert statuses["OK"] > 0 and statuses["INVALID_ARGUMENT"] > 0
