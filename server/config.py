"""Settings: defaults that run with zero configuration, a YAML file (`--config` or
IDSTITCH_CONFIG), and IDSTITCH_* environment variables, which win over the file
(nested fields with `__`, e.g. IDSTITCH_STITCHING__DEFAULT_PHONE_REGION=GB)."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from identity.rules import StitchingRules
from profiles.rules import ProfileRules

_config_file: ContextVar[Path | None] = ContextVar("idstitch_config_file", default=None)


class SqliteGraph(BaseModel):
    """The embedded identity graph: a SQLite file under the data directory."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sqlite"] = "sqlite"
    file: str = "graph.db"
    """File name inside `data_dir` (or an absolute path)."""


class Neo4jGraph(BaseModel):
    """The identity graph in a Neo4j 5 database (Community or Enterprise), shared by any number of
    idstitch servers."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["neo4j"] = "neo4j"
    uri: str = "bolt://127.0.0.1:7687"
    """bolt:// or neo4j:// (routing) URI; +s / +ssc variants for TLS."""
    user: str = "neo4j"
    password: SecretStr | None = None
    """None connects without authentication."""
    database: str = "neo4j"
    namespace: str = ""
    """Prefix of every label, so several graphs can share one database (letters, digits, _)."""
    connection_timeout_seconds: float = 5.0
    max_transaction_retry_seconds: float = 15.0
    """How long a write retries transient errors (deadlocks, leader switches) before UNAVAILABLE."""


GraphBackend = Annotated[SqliteGraph | Neo4jGraph, Field(discriminator="type")]


class SqliteProfiles(BaseModel):
    """The embedded profile store (event log and profiles): a SQLite file under the data directory."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sqlite"] = "sqlite"
    file: str = "profiles.db"
    """File name inside `data_dir` (or an absolute path)."""


SINGLE_NODE_REPLICATION: dict[str, str | int] = {"class": "SimpleStrategy", "replication_factor": 1}


class CassandraProfiles(BaseModel):
    """Profiles and their event logs in Apache Cassandra (5.0, or 4.x with protocol v5), shared
    by any number of idstitch servers."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["cassandra"] = "cassandra"
    contact_points: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    port: int = 9042
    local_datacenter: str | None = None
    """The datacenter whose replicas serve this server (LOCAL_* consistency levels count in it).
    None: the datacenter of the first contact point."""
    keyspace: str = "idstitch"
    replication: dict[str, str | int] = Field(default_factory=lambda: dict(SINGLE_NODE_REPLICATION))
    """Used only when idstitch creates the keyspace; for production create it yourself, e.g.
    {class: NetworkTopologyStrategy, dc1: 3}."""
    namespace: str = "main"
    """Part of every partition key, so several deployments (or tests) can share one keyspace."""
    username: str | None = None
    password: SecretStr | None = None
    consistency: Literal["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL"] = "LOCAL_QUORUM"
    serial_consistency: Literal["SERIAL", "LOCAL_SERIAL"] = "LOCAL_SERIAL"
    """For the lightweight transactions every profile write is."""
    event_ttl_seconds: int | None = Field(default=None, gt=0)
    """Expire raw events (and their claims) after this long; the folded profiles stay."""
    connect_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 5.0
    split_settle_seconds: float = Field(default=30.0, ge=0)
    """After a split or an erasure, sweep again this much later, for batches another server
    stitched before it and stored after it (usecases/splits.py, after_settling). 0: no sweep."""


ProfilesBackend = Annotated[SqliteProfiles | CassandraProfiles, Field(discriminator="type")]


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purposes: list[str] = Field(default_factory=lambda: ["personalization", "marketing_email", "analytics"])
    """Consent purposes SetConsent accepts. A person who denied `personalization` gets a restricted
    profile (no behavioral data) on GetProfile."""
    records: Literal["auto", "sqlite", "cassandra"] = "auto"
    """Where suppressions, erasure receipts, the audit log and API key hashes live. `auto`: in
    Cassandra when the profiles are (the same cluster, keyspace and namespace), so every server of
    a cluster shares them; else in `records_file`."""
    records_file: str = "privacy.db"
    """The embedded records (inside `data_dir`)."""


class ChangeSettings(BaseModel):
    """The change feed (ChangeService.Watch)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    store: Literal["auto", "sqlite", "cassandra"] = "auto"
    """Where the feed lives. `auto`: in Cassandra when the profiles are (the same cluster,
    keyspace and namespace), so one watcher sees every server's changes; else in `file`."""
    file: str = "changes.db"
    """The embedded feed (inside `data_dir`)."""
    settle_seconds: float = Field(default=0.3, gt=0, le=30)
    """Shared feed: how far behind now a watcher reads, so that changes other servers stamped
    just before are written by then (more than the servers' clock skew and a write's time)."""
    retention_hours: float = Field(default=168.0, gt=0)
    """How long changes are kept: a watcher can resume from any cursor this recent."""
    sweep_seconds: float = Field(default=15.0, gt=0, le=3600)
    """How often the sweeper looks for what time alone changed (abandoned carts, decayed
    segments): such a change is told within about this long after it becomes true."""
    sweep_budget: int = Field(default=50_000, ge=1)
    """Persons the sweeper observes per round at most."""
    outbox_grace_seconds: float = Field(default=60.0, ge=0, le=3600)
    """What a graph commit left undone this long after it (its server died before the refold of a
    split or the change feed's write) is done by the sweeper: within about this plus
    `sweep_seconds`. The sweeper runs with the feed off too."""
    max_watchers: int = Field(default=32, ge=1, le=1024)
    """Concurrent Watch streams per server (each holds one of `max_workers` threads); more are
    refused with RESOURCE_EXHAUSTED."""


class ReadCacheSettings(BaseModel):
    """The server's memory of recent Resolve and GetProfile answers (readcache/cache.py)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """With stores other servers share (Neo4j, Cassandra), the cache hears of their writes through
    the shared change feed: without one (`changes.enabled` off, or the feed in a local file) it
    stays off, and the server says so when it starts."""
    max_persons: int = Field(default=50_000, ge=1, le=10_000_000)
    """Persons held (their graph, profile, and up to 4 identifiers or aliases each on average);
    the least recently filled go first."""
    ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    """How long an answer is kept at most: bounds what no change names (the details of a shared
    identifier or of another person's unapplied link shown in a person's graph)."""
    max_lag_seconds: float = Field(default=1.0, gt=0, le=60)
    """With a shared feed: the cache answers only if it read the feed in full this recently. A
    detach or an erasure waits about this plus `changes.settle_seconds` before it returns, so
    that no server answers for the old person afterwards."""


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Every RPC but health checking needs a key with a role that allows it. Turn off only behind
    something else that authenticates callers."""
    admin_key_file: str = "admin.key"
    """Where the first start writes an admin key (owner-only), inside `data_dir`; the CLI reads it."""


class TlsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert_file: Path | None = None
    """PEM certificate chain of the server; with key_file, the server speaks TLS only."""
    key_file: Path | None = None
    client_ca_file: Path | None = None
    """PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS)."""

    @model_validator(mode="after")
    def _pairs(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("tls.client_ca_file needs tls.cert_file and tls.key_file")
        # Checked here, so that `serve --check-config` finds them and a start writes nothing (no
        # admin key, no store) before failing on a file that is not there.
        for name in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, name)
            if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
                raise ValueError(f"tls.{name}: no readable file there")
        return self


class ConsoleSettings(BaseModel):
    """`idstitch console`: the operator web page, a client of this server's gRPC API."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Where the page is served: this machine only, unless set otherwise."""
    port: int = Field(default=8080, ge=0, le=65535)
    target: str = ""
    """The idstitch server it calls (host:port). Empty: this settings file's host and port."""
    idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    """A signed-in session ends after this long without a request."""
    proxy_key_header: str = ""
    """Behind a reverse proxy that authenticates operators: the request header in which the
    proxy passes the API key it chose for them (no sign-in page; never set it without such a
    proxy, which must strip the header from what clients send). Empty: sign in with a key."""
    cert_file: Path | None = None
    """PEM certificate chain: with key_file, the page is served over HTTPS only (and its session
    cookie is marked Secure)."""
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> ConsoleSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("console.cert_file and console.key_file go together")
        for name in ("cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
                raise ValueError(f"console.{name}: no readable file there")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDSTITCH_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Path("./idstitch-data")
    """Where the embedded stores and the generated secret live."""
    host: str = "127.0.0.1"
    port: int = 50051
    """0 picks a free port (tests)."""
    hmac_secret: SecretStr | None = None
    """Secret for the keyed hashes of personal identifiers. Default: a random secret created on
    first start in `<data_dir>/hmac.key` (owner-only). Keep it outside the database's backups."""
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024)
    """Largest request or response message. A batch of 1,000 ordinary events is well under 1 MiB;
    a larger message is refused (RESOURCE_EXHAUSTED) before it is read whole."""
    max_workers: int = 16
    """gRPC worker threads."""
    reflection: bool = True
    """Register gRPC server reflection, so grpcurl works without the proto files."""
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    graph: GraphBackend = Field(default_factory=SqliteGraph)
    stitching: StitchingRules = Field(default_factory=StitchingRules)
    profiles: ProfilesBackend = Field(default_factory=SqliteProfiles)
    profile_rules: ProfileRules = Field(default_factory=ProfileRules)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    changes: ChangeSettings = Field(default_factory=ChangeSettings)
    read_cache: ReadCacheSettings = Field(default_factory=ReadCacheSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from defaults, the YAML file, the environment, then explicit overrides."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file {config_file} does not exist")
    token = _config_file.set(config_file)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    finally:
        _config_file.reset(token)
