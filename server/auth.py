"""Caller keys and roles. Every RPC but health checking (and reflection, when enabled) needs a
key — `authorization: Bearer <key>` in the call's metadata — whose role allows the method.

Keys are random tokens shown once; only their SHA-256 is stored (privacy records), with an id
and a role. A server caches each lookup for KEY_CACHE_SECONDS: with records shared by a cluster
(Cassandra), a key created or revoked through any server works, or stops working, on every
server within that time; while the records' store is away, keys seen in the last moments still
work and others are UNAVAILABLE.

A missing or unknown key is UNAUTHENTICATED, a key whose role does not allow the method is
PERMISSION_DENIED: both are decided before the method runs, so neither says anything
about the subject of the request.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from common.errors import StoreUnavailable
from privacy.records import ApiKey, PrivacyRecords
from server import interception
from server.caller import reset_caller, set_caller

ROLES = ("ingest", "profile_reader", "privacy", "subscriber", "admin")
_IDENTITY = "/idstitch.v1.IdentityService/"
_PROFILE = "/idstitch.v1.ProfileService/"
_PRIVACY = "/idstitch.v1.PrivacyService/"
_CHANGE = "/idstitch.v1.ChangeService/"
ALLOWED: dict[str, frozenset[str]] = {
    _IDENTITY + "Ingest": frozenset({"ingest"}),
    _IDENTITY + "IngestStream": frozenset({"ingest"}),
    _IDENTITY + "Resolve": frozenset({"ingest", "profile_reader"}),
    _IDENTITY + "BatchResolve": frozenset({"ingest"}),
    _PROFILE + "GetProfile": frozenset({"profile_reader"}),
    _PROFILE + "BatchGetProfiles": frozenset({"profile_reader"}),
    _PROFILE + "UpdateTraits": frozenset({"ingest"}),
    _PRIVACY + "Erase": frozenset({"privacy"}),
    _PRIVACY + "GetErasure": frozenset({"privacy"}),
    _PRIVACY + "Export": frozenset({"privacy"}),
    _PRIVACY + "SetConsent": frozenset({"privacy"}),
    _CHANGE + "Watch": frozenset({"subscriber"}),
    _CHANGE + "ListChanges": frozenset({"subscriber"}),
    "/idstitch.v1.AdminService/WhoAmI": frozenset(ROLES),
}
"""Roles other than admin allowed each method. Any other method (GetIdentityGraph,
DetachIdentifier, the AdminService) is for admin keys only; admin may call everything."""
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def allowed_methods(role: str, methods: Iterable[str]) -> list[str]:
    """Which of `methods` (full gRPC method names) a key of `role` may call."""
    return sorted(m for m in methods if role == "admin" or role in ALLOWED.get(m, frozenset()))


REFLECTION_PREFIX = "/grpc.reflection."
KEY_CACHE_SECONDS = 5.0


def key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(records: PrivacyRecords, role: str, now_us: int) -> tuple[str, str]:
    """A new key of `role`: returns (key id, token). The token is not kept anywhere."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    token = "idk_" + secrets.token_urlsafe(32)
    key_id = "k_" + secrets.token_hex(6)
    records.add_key(key_id, key_hash(token), role, now_us)
    return key_id, token


def ensure_admin_key(records: PrivacyRecords, path: Path) -> Path | None:
    """Zero configuration: on the first start — or any start with no active admin key left — an
    admin key is created and written to `path`, readable by its owner only (whoever can read the
    data directory holds everything anyway). Returns the path when it wrote one."""
    if any(k.role == "admin" and k.revoked_at is None for k in records.api_keys()):
        return None
    _, token = create_key(records, "admin", time.time_ns() // 1000)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, records: PrivacyRecords, *, open_reflection: bool) -> None:
        self._records = records
        self._open = OPEN_PREFIXES + ((REFLECTION_PREFIX,) if open_reflection else ())
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def _key(self, metadata: tuple[tuple[str, str | bytes], ...]) -> ApiKey | None:
        header = next((v for k, v in metadata if k == "authorization"), None)
        if not isinstance(header, str) or not header.startswith("Bearer "):
            return None
        digest = key_hash(header[len("Bearer ") :].strip())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < KEY_CACHE_SECONDS:
            return hit[1]
        try:
            key = self._records.key_by_hash(digest)
        except StoreUnavailable:
            if hit is None:
                raise
            return hit[1]  # the records' store is away: what was known a moment ago still holds
        if key is not None and key.revoked_at is not None:
            key = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, key)
        return key

    def forget(self) -> None:
        """Drops cached lookups (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(self._open):
            return handler
        try:
            key = self._key(tuple(handler_call_details.invocation_metadata or ()))
        except StoreUnavailable:
            return interception.wrap(handler, _unavailable, deserializer=lambda _: _unread)
        if key is None or not (key.role == "admin" or key.role in ALLOWED.get(method, frozenset())):
            # Decided from the metadata alone: the body of a refused call is never parsed.
            needed = sorted(ALLOWED.get(method, frozenset()) | {"admin"})
            return interception.wrap(handler, _refused(key, needed), deserializer=lambda _: _unread)
        return interception.wrap(handler, _as_caller(key))


def _unread(data: bytes) -> object:
    return _UNREAD  # not None: grpcio takes None for a failed decode


_UNREAD = object()


def _refused(key: ApiKey | None, needed: list[str]) -> interception.Around:
    @contextmanager
    def refused(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if key is None:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "a valid API key is required (authorization: Bearer …)"
            )
        context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"this key's role ({key.role}) may not call this method; it needs the role {' or '.join(needed)}",
        )
        yield request  # never reached: abort raises

    return refused


@contextmanager
def _unavailable(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
    context.abort(grpc.StatusCode.UNAVAILABLE, "the key store is unavailable; retry")
    yield request  # never reached: abort raises


def _as_caller(key: ApiKey) -> interception.Around:
    @contextmanager
    def as_caller(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        token = set_caller(key.key_id)
        try:
            yield request
        finally:
            reset_caller(token)

    return as_caller
