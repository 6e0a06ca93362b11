"""The one composition root: builds stores, the domain service and its collaborators from the
settings. Nothing connects to a backend before this runs."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from changes.log import ChangeLog
from changes.ports import ChangeFeed
from common.errors import StoreMisconfigured
from common.observability import Instrumented
from identity.engine import StitchingEngine
from identity.identifiers import EvidenceClass
from identity.normalize import Normalizer
from identity.ports import IdentityGraph
from identity.reader import IdentityReader
from identity.service import IdentityService
from privacy.records import PrivacyRecords
from profiles.fold import Folder
from profiles.ports import ProfileStore
from profiles.reader import ProfileReader
from profiles.segments import clocks as segment_clocks
from profiles.segments import compile_segments
from readcache.cache import ReadCache
from readcache.cached_stores import CachedGraph, CachedProfiles
from readcache.tail import CacheTail, propagation_seconds
from resolvers.registry import build_resolvers
from server import telemetry
from server.agreement import check_agreement
from server.config import CassandraProfiles, Settings
from server.secrets import hmac_secret
from usecases.ingest import Ingest
from usecases.outbox_sweep import OutboxSweep
from usecases.person_requests import PersonRequests
from usecases.privacy_requests import PrivacyRequests
from usecases.split_gate import SplitGate
from usecases.splits import Splits

if TYPE_CHECKING:
    from drivers.cassandra import CassandraEndpoint

S = TypeVar("S")
log = logging.getLogger(__name__)


def _in_data_dir(settings: Settings, file: str) -> Path:
    path = Path(file)
    return path if path.is_absolute() else settings.data_dir / path


def _observed(store: S, backend: str, kind: str) -> S:
    """With telemetry on, every store call is a span and a latency measurement."""
    if not telemetry.active():
        return store
    return Instrumented(store, backend, kind)  # type: ignore[return-value]


def build_graph(settings: Settings) -> IdentityGraph:
    return _observed(_build_graph(settings), settings.graph.type, "graph")


def _build_graph(settings: Settings) -> IdentityGraph:
    backend = settings.graph
    if backend.type == "sqlite":
        from identity.stores.sqlite import SqliteIdentityGraph

        return SqliteIdentityGraph(_in_data_dir(settings, backend.file))
    if backend.type == "neo4j":
        from identity.stores.neo4j import Neo4jIdentityGraph

        return Neo4jIdentityGraph(
            uri=backend.uri,
            user=backend.user,
            password=backend.password.get_secret_value() if backend.password else "",
            database=backend.database,
            namespace=backend.namespace,
            connection_timeout=backend.connection_timeout_seconds,
            max_transaction_retry_time=backend.max_transaction_retry_seconds,
        )
    raise ValueError(f"unknown graph backend {backend.type!r}")


def _shared_cassandra(settings: Settings, where: str, setting: str) -> CassandraProfiles | None:
    """The profiles' Cassandra when a store set to `where` (auto, sqlite, cassandra) belongs
    there: asked for, or `auto` with Cassandra profiles."""
    profiles = settings.profiles
    if where == "cassandra" and not isinstance(profiles, CassandraProfiles):
        raise ValueError(f"{setting}: cassandra uses the profiles' Cassandra (profiles.type: cassandra)")
    if where in ("cassandra", "auto") and isinstance(profiles, CassandraProfiles):
        return profiles
    return None


def build_privacy_records(settings: Settings) -> PrivacyRecords:
    profiles = _shared_cassandra(settings, settings.privacy.records, "privacy.records")
    if profiles is not None:
        from privacy.stores.cassandra import CassandraPrivacyRecords

        shared = CassandraPrivacyRecords(
            _cassandra_endpoint(profiles),
            keyspace=profiles.keyspace,
            replication=profiles.replication,
            namespace=profiles.namespace,
        )
        return _observed(shared, "cassandra", "privacy")
    from privacy.stores.sqlite import SqlitePrivacyRecords

    records = SqlitePrivacyRecords(_in_data_dir(settings, settings.privacy.records_file))
    return _observed(records, "sqlite", "privacy")


def _cassandra_endpoint(backend: CassandraProfiles) -> CassandraEndpoint:
    from drivers.cassandra import CassandraEndpoint

    return CassandraEndpoint(
        contact_points=tuple(backend.contact_points),
        port=backend.port,
        local_datacenter=backend.local_datacenter,
        username=backend.username,
        password=backend.password.get_secret_value() if backend.password else None,
        consistency=backend.consistency,
        serial_consistency=backend.serial_consistency,
        connect_timeout=backend.connect_timeout_seconds,
        request_timeout=backend.request_timeout_seconds,
    )


def build_identity_service(
    settings: Settings, graph: IdentityGraph | None = None, privacy: PrivacyRecords | None = None
) -> IdentityService:
    """`privacy` (the suppression list) is optional for tools that only stitch."""
    secret = hmac_secret(settings)
    rules = settings.stitching
    types = rules.identifier_types
    return IdentityService(
        graph=graph or build_graph(settings),
        normalizer=Normalizer(
            types=types, secret=secret, default_region=rules.default_phone_region, blocklist=rules.blocklist
        ),
        engine=StitchingEngine(
            types=types,
            id_secret=hmac.new(secret, b"person-ids", hashlib.sha256).digest(),
            weak_links=rules.weak_links,
        ),
        resolvers=build_resolvers(
            priorities={name: t.priority for name, t in types.items()},
            shared_device_types=rules.shared_device_types,
            classes={
                channel: {t: EvidenceClass[name.upper()] for t, name in by_type.items()}
                for channel, by_type in rules.evidence.items()
            },
        ),
        privacy=privacy,
    )


def build_profile_store(settings: Settings) -> ProfileStore:
    backend = settings.profiles
    if backend.type == "sqlite":
        from profiles.stores.sqlite import SqliteProfileStore

        return _observed(SqliteProfileStore(_in_data_dir(settings, backend.file)), "sqlite", "profiles")
    if backend.type == "cassandra":
        from profiles.stores.cassandra import CassandraProfileStore

        store = CassandraProfileStore(
            _cassandra_endpoint(backend),
            keyspace=backend.keyspace,
            replication=backend.replication,
            namespace=backend.namespace,
            event_ttl_seconds=backend.event_ttl_seconds,
        )
        return _observed(store, "cassandra", "profiles")
    raise ValueError(f"unknown profiles backend {backend.type!r}")


@dataclass(frozen=True)
class Readers:
    """Identity and profile reads over one pair of ports. The system has two: `reads` go to the
    stores; `render` may be answered from the read cache. A caller picks by what it is: only the
    page-render calls (Resolve, GetProfile and their batch forms) take `render`."""

    identity: IdentityReader
    profiles: ProfileReader


@dataclass
class System:
    """Everything a server runs, built once from the settings and wired here: the use cases get
    their collaborators (the same graph, profile store, privacy records, fold and split gate)
    from this root rather than reaching through one another. `close()` closes every store."""

    identity: IdentityService
    reads: Readers
    render: Readers
    ingest: Ingest
    """Events to stitched persons and folded profiles (usecases/ingest.py)."""
    splits: Splits
    requests: PersonRequests
    privacy: PrivacyRequests
    graph: IdentityGraph
    store: ProfileStore
    records: PrivacyRecords
    folder: Folder
    changes: ChangeLog | None = None
    """The change feed, unless `changes.enabled` is off."""
    outbox: OutboxSweep | None = None
    """Finishes what graph commits whose server died left undone."""
    cache: ReadCache | None = None
    """Recent answers of the graph and the profile store (`render` reads through it)."""
    cache_tail: CacheTail | None = None
    """With shared stores: keeps the cache true to other servers' writes, once started."""

    def close(self) -> None:
        if self.cache_tail is not None:
            self.cache_tail.stop()
        stores: list[IdentityGraph | ProfileStore | PrivacyRecords | ChangeFeed] = [
            self.graph, self.store, self.records
        ]  # fmt: skip
        if self.changes is not None:
            stores.append(self.changes.feed)
        for store in stores:
            store.close()


def build_system(
    settings: Settings,
    *,
    graph: IdentityGraph | None = None,
    store: ProfileStore | None = None,
    records: PrivacyRecords | None = None,
    clock: Callable[[], int] | None = None,
) -> System:
    """Stores not given are built from the settings. `clock` (µs since the epoch) fixes the
    reading time, for tests."""
    graph = graph or build_graph(settings)
    store = store or build_profile_store(settings)
    records = records or build_privacy_records(settings)
    try:
        check_agreement(settings, hmac_secret(settings), records)
    except StoreMisconfigured:
        for built in (graph, store, records):
            built.close()
        raise
    feed = build_change_feed(settings) if settings.changes.enabled else None
    cache, tail, propagation = _read_cache(settings, feed)
    uncached = store  # the feed compares with what is stored, never with a cached copy
    render_graph, render_store = graph, store
    if cache is not None:  # every write drops what it changes; only `render` reads answer from memory
        render_graph, render_store = (
            CachedGraph(graph, cache, answering=True),
            CachedProfiles(store, cache, answering=True),
        )
        graph, store = CachedGraph(graph, cache), CachedProfiles(store, cache)
    identity = build_identity_service(settings, graph, records)
    folder = Folder(settings.profile_rules)
    segments = compile_segments(settings.profile_rules.segments)
    gate = SplitGate()
    timed = {"clock": clock} if clock is not None else {}
    changes = None
    if feed is not None:
        changes = ChangeLog(
            feed=feed,
            store=uncached,
            folder=folder,
            segments=segments,
            clocks=segment_clocks(settings.profile_rules.segments),
            **timed,
        )

    def readers(graph: IdentityGraph, store: ProfileStore) -> Readers:
        ids = IdentityReader(
            graph=graph, normalizer=identity.normalizer, corroborating=identity.corroborating
        )
        profiles = ProfileReader(
            identity=ids, graph=graph, store=store, folder=folder, segments=segments, **timed
        )
        return Readers(ids, profiles)

    reads = readers(graph, store)
    splits = Splits(
        identity=identity,
        graph=graph,
        store=store,
        folder=folder,
        gate=gate,
        records=records,
        changes=changes,
        settle_seconds=settings.profiles.split_settle_seconds
        if isinstance(settings.profiles, CassandraProfiles)
        else 0.0,
        propagation_seconds=propagation,
        **timed,
    )
    requests = PersonRequests(
        identity=reads.identity,
        profiles=reads.profiles,
        store=store,
        folder=folder,
        rules=settings.profile_rules,
        changes=changes,
        **timed,
    )
    privacy = PrivacyRequests(
        identity=identity,
        profiles=reads.profiles,
        requests=requests,
        splits=splits,
        graph=graph,
        store=store,
        records=records,
        changes=changes,
        purposes=settings.privacy.purposes,
        **timed,
    )
    ingest = Ingest(
        identity=identity,
        graph=graph,
        store=store,
        folder=folder,
        gate=gate,
        splits=splits,
        shared_device_types=settings.stitching.shared_device_types,
        changes=changes,
    )
    outbox = OutboxSweep(
        graph=graph, splits=splits, changes=changes, grace_seconds=settings.changes.outbox_grace_seconds
    )
    return System(
        identity=identity,
        reads=reads,
        render=readers(render_graph, render_store),
        ingest=ingest,
        splits=splits,
        requests=requests,
        privacy=privacy,
        graph=graph,
        store=store,
        records=records,
        folder=folder,
        changes=changes,
        outbox=outbox,
        cache=cache,
        cache_tail=tail,
    )


def _read_cache(
    settings: Settings, feed: ChangeFeed | None
) -> tuple[ReadCache | None, CacheTail | None, float]:
    """The read cache, the feed tail that keeps it true to other servers' writes (when stores are
    shared) and how long a write takes to show in every server's reads. Off when stores are
    shared but the feed is not: nothing would tell this server of the others' writes."""
    wanted = settings.read_cache
    if not wanted.enabled:
        return None, None, 0.0
    shared = settings.graph.type != "sqlite" or isinstance(settings.profiles, CassandraProfiles)
    if not shared:  # every store is this server's own: its own writes are all there are
        return ReadCache(max_persons=wanted.max_persons, ttl_seconds=wanted.ttl_seconds), None, 0.0
    if feed is None or _shared_cassandra(settings, settings.changes.store, "changes.store") is None:
        log.info(
            "read cache off: the stores are shared, and without the change feed in Cassandra "
            "(changes.enabled, changes.store) this server would not hear of other servers' writes"
        )
        return None, None, 0.0
    cache = ReadCache(
        max_persons=wanted.max_persons, ttl_seconds=wanted.ttl_seconds, max_lag_seconds=wanted.max_lag_seconds
    )
    bound = propagation_seconds(
        settle_seconds=settings.changes.settle_seconds, max_lag_seconds=wanted.max_lag_seconds
    )
    return cache, CacheTail(feed, cache), bound


def build_change_feed(settings: Settings) -> ChangeFeed:
    profiles = _shared_cassandra(settings, settings.changes.store, "changes.store")
    if profiles is not None:
        from changes.stores.cassandra import CassandraChangeFeed

        shared = CassandraChangeFeed(
            _cassandra_endpoint(profiles),
            keyspace=profiles.keyspace,
            replication=profiles.replication,
            namespace=profiles.namespace,
            retention_seconds=int(settings.changes.retention_hours * 3600),
            settle_seconds=settings.changes.settle_seconds,
        )
        return _observed(shared, "cassandra", "changes")
    from changes.stores.sqlite import SqliteChangeFeed

    return _observed(SqliteChangeFeed(_in_data_dir(settings, settings.changes.file)), "sqlite", "changes")
