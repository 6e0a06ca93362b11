"""What the fault tests share: a client that retries a batch the way a real one does, and a
wait for the health status a server reports."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc


def send_retrying(
    channel: grpc.Channel,
    batches: Sequence[Sequence[ev_pb.Event]],
    failures: list[grpc.StatusCode],
    started: threading.Event,
    *,
    signal_after: int = 3,
) -> None:
    """Ingests the batches in order; a batch that fails UNAVAILABLE is sent again (same event ids)
    until it lands. Sets `started` once `signal_after` batches have landed."""
    stub = pb_grpc.IdentityServiceStub(channel)
    for n, batch in enumerate(batches):
        while True:
            try:
                stub.Ingest(pb.IngestRequest(events=batch), timeout=30)
                break
            except grpc.RpcError as e:
                failures.append(e.code())
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.5)
        if n == signal_after:
            started.set()
        time.sleep(0.05)


def health_status(channel: grpc.Channel) -> Callable[[], int]:
    stub = health_pb2_grpc.HealthStub(channel)
    return lambda: stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def wait_for_status(status: Callable[[], int], wanted: int, seconds: float) -> int:
    """Polls until the server reports `wanted` or time runs out; returns the last status seen."""
    deadline = time.time() + seconds
    seen = status()
    while seen != wanted and time.time() < deadline:
        time.sleep(0.3)
        seen = status()
    return seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
