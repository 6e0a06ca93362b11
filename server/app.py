"""Builds and runs the gRPC server. `create_server` is separate from `serve` so tests can bind
port 0 and stop the server themselves."""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from common.errors import StoreUnavailable
from identity.service import IdentityService
from idstitch.v1 import admin_service_pb2 as admin_pb
from idstitch.v1 import admin_service_pb2_grpc as admin_pb_grpc
from idstitch.v1 import change_service_pb2 as change_pb
from idstitch.v1 import change_service_pb2_grpc as change_pb_grpc
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import privacy_service_pb2 as privacy_pb
from idstitch.v1 import privacy_service_pb2_grpc as privacy_pb_grpc
from idstitch.v1 import profile_service_pb2 as profile_pb
from idstitch.v1 import profile_service_pb2_grpc as profile_pb_grpc
from server import telemetry
from server.admin_servicer import AdminServicer
from server.auth import AuthInterceptor, ensure_admin_key
from server.bootstrap import System, build_system
from server.change_servicer import ChangeServicer
from server.config import ChangeSettings, Settings
from server.errors import ErrorInterceptor
from server.heap import settle_heap
from server.identity_servicer import IdentityServicer
from server.in_flight import InFlight
from server.privacy_servicer import PrivacyServicer
from server.profile_servicer import ProfileServicer
from server.telemetry import TracingInterceptor
from usecases.privacy_requests import PrivacyRequests

log = logging.getLogger("idstitch.server")

IDENTITY_SERVICE = pb.DESCRIPTOR.services_by_name["IdentityService"].full_name
PROFILE_SERVICE = profile_pb.DESCRIPTOR.services_by_name["ProfileService"].full_name
PRIVACY_SERVICE = privacy_pb.DESCRIPTOR.services_by_name["PrivacyService"].full_name
ADMIN_SERVICE = admin_pb.DESCRIPTOR.services_by_name["AdminService"].full_name
CHANGE_SERVICE = change_pb.DESCRIPTOR.services_by_name["ChangeService"].full_name
DRAIN_SECONDS = 30.0
"""How long a stop waits for calls and background work still using the stores; a store refuses
whatever touches it after it closed (common.sqlite_db), so an overrun is an error, not a crash."""
SERVICES = (IDENTITY_SERVICE, PROFILE_SERVICE, PRIVACY_SERVICE, ADMIN_SERVICE, CHANGE_SERVICE)
METHODS = tuple(
    f"/{service.full_name}/{method.name}"
    for module in (pb, profile_pb, privacy_pb, admin_pb, change_pb)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
)
"""Every method the server serves, by full gRPC name (WhoAmI lists a key's share of them)."""


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    system: System
    _stop_watch: threading.Event
    _watchers: ChangeServicer | None = None
    _sweeper: threading.Thread | None = None
    _in_flight: InFlight | None = None
    _health_watch: threading.Thread | None = None

    @property
    def service(self) -> IdentityService:
        return self.system.identity

    @property
    def privacy(self) -> PrivacyRequests:
        return self.system.privacy

    def stop(self, grace: float | None = None) -> None:
        """Stops taking calls, lets calls in flight finish within `grace`, then closes stores —
        once no call and no background thread uses them any more (server.in_flight): a handler
        whose grace or deadline ran out still runs in its thread."""
        self._stop_watch.set()
        if self._watchers is not None:  # open Watch streams end, so that they do not hold the stop
            self._watchers.stopping.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self._in_flight is not None and not self._in_flight.close(timeout=DRAIN_SECONDS):
            log.warning("stop: %d calls still running after %.0f s", self._in_flight.running, DRAIN_SECONDS)
        for thread in (self._sweeper, self._health_watch):  # a sweep ends at its next page
            if thread is not None:
                thread.join(timeout=DRAIN_SECONDS)
        self.system.close()


def create_server(settings: Settings) -> RunningServer:
    system = build_system(settings)
    records = system.records
    auth: AuthInterceptor | None = None
    interceptors: list[grpc.ServerInterceptor] = [ErrorInterceptor()]
    if settings.auth.enabled:
        auth = AuthInterceptor(records, open_reflection=settings.reflection)
        interceptors.insert(0, auth)
        written = ensure_admin_key(records, settings.data_dir / settings.auth.admin_key_file)
        if written is not None:
            print(f"idstitch: first start: an admin key was written to {written} (owner-only)", flush=True)
    interceptors.insert(0, TracingInterceptor())  # denials are traced and measured too
    in_flight = InFlight()
    interceptors.insert(0, in_flight)  # outermost: no interceptor's work outlives the stores
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix="idstitch-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            # A second server on the same port is an error, not a silent half of the traffic.
            ("grpc.so_reuseport", 0),
        ],
    )
    identity = IdentityServicer(
        reads=system.reads.identity, render=system.render.identity, ingest=system.ingest, splits=system.splits
    )
    pb_grpc.add_IdentityServiceServicer_to_server(identity, server)
    profiles = ProfileServicer(render=system.render.profiles, requests=system.requests)
    profile_pb_grpc.add_ProfileServiceServicer_to_server(profiles, server)
    privacy_pb_grpc.add_PrivacyServiceServicer_to_server(PrivacyServicer(system.privacy), server)
    admin_pb_grpc.add_AdminServiceServicer_to_server(AdminServicer(records, auth, METHODS), server)
    watchers = None
    if system.changes is not None:
        watchers = ChangeServicer(
            system.changes,
            system.reads.profiles,
            system.reads.identity,
            max_watchers=settings.changes.max_watchers,
        )
        change_pb_grpc.add_ChangeServiceServicer_to_server(watchers, server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection:
        reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{settings.host}:{settings.port}"
    tls = settings.tls
    try:
        if tls.cert_file is not None and tls.key_file is not None:
            credentials = grpc.ssl_server_credentials(
                [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
                root_certificates=tls.client_ca_file.read_bytes() if tls.client_ca_file else None,
                require_client_auth=tls.client_ca_file is not None,
            )
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio's word for a port it could not bind
        port = 0
    if port == 0:
        system.close()
        raise OSError(f"cannot bind {settings.host}:{settings.port} (is another server listening there?)")
    stop_watch = threading.Event()
    stores: list[Pingable] = [system.graph, system.store]
    _check_health(stores, health_servicer)
    server.start()
    health_watch = threading.Thread(
        target=_watch_health, args=(stores, health_servicer, stop_watch), name="idstitch-health", daemon=True
    )
    health_watch.start()
    sweeper = threading.Thread(
        target=_sweep, args=(system, settings.changes, stop_watch), name="idstitch-sweeper", daemon=True
    )
    sweeper.start()
    if system.cache_tail is not None:
        system.cache_tail.start()
    return RunningServer(
        server, port, health_servicer, system, stop_watch, watchers, sweeper, in_flight, health_watch
    )


def _sweep(system: System, settings: ChangeSettings, stop: threading.Event) -> None:
    """Every `sweep_seconds`: finishes what graph commits whose server died left undone (the
    outbox); with the change feed, tells what time alone changed (abandoned carts, segments
    turned by days passing) and drops changes older than the retention window."""
    changes, outbox = system.changes, system.outbox
    while not stop.wait(settings.sweep_seconds):
        try:
            if outbox is not None:
                outbox()
            if changes is not None:
                changes.sweep(settings.sweep_budget, stop=stop)
                changes.feed.trim(time.time_ns() // 1000 - int(settings.retention_hours * 3600e6))
        except StoreUnavailable:
            log.warning("sweep: a store is unavailable; retrying next round")
        except Exception as e:  # a round that failed must not end the sweeps of this server
            log.error("sweep: round failed (%s); retrying next round", e.__class__.__name__)


class Pingable(Protocol):
    def ping(self) -> None: ...


def _watch_health(stores: list[Pingable], servicer: health.HealthServicer, stop: threading.Event) -> None:
    """Reports NOT_SERVING while a store cannot serve, SERVING again when it recovers."""
    while not stop.wait(2.0):
        _check_health(stores, servicer)


def _check_health(stores: list[Pingable], servicer: health.HealthServicer) -> None:
    try:
        for store in stores:
            store.ping()
        status = health_pb2.HealthCheckResponse.SERVING
    except StoreUnavailable:
        status = health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", *SERVICES):
        servicer.set(name, status)


def serve(settings: Settings) -> None:
    exporting = telemetry.configure_from_env()
    running = create_server(settings)
    settle_heap()
    if exporting:
        log.info("telemetry export on (OTEL_* settings)")
    print(f"idstitch listening on {settings.host}:{running.port} (data in {settings.data_dir})", flush=True)
    done = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    running.stop(settings.shutdown_grace_seconds)
    telemetry.shutdown()
    print("idstitch stopped", flush=True)
