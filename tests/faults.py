"""What the fault tests share: a client that retries a batch the way a real one does, a wait
for the health status a server reports, and the outage drill itself."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idstitch.channels import with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from tests.servers import IdstitchProcess


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


def outage_during_ingest(
    server: IdstitchProcess, batches: Sequence[Sequence[ev_pb.Event]], script: str, home: str, port: int
) -> tuple[list[grpc.StatusCode], list[int]]:
    """Ingests the batches through `server` while the backend run by `script` in `home` is stopped
    (after a few batches) and started again on the same port. Returns the error codes callers saw
    and the health statuses seen after the stop and after the restart."""
    failures: list[grpc.StatusCode] = []
    health_seen: list[int] = []
    started = threading.Event()
    with grpc.insecure_channel(server.target) as raw:
        ch = with_key(raw, server.key)
        status = health_status(ch)
        sender = threading.Thread(target=send_retrying, args=(ch, batches, failures, started))
        sender.start()
        started.wait(60)
        subprocess.run([script, "stop", home], check=True)
        health_seen.append(wait_for_status(status, health_pb2.HealthCheckResponse.NOT_SERVING, 20))
        time.sleep(2)
        subprocess.run([script, "start", home, str(port)], check=True, capture_output=True)
        health_seen.append(wait_for_status(status, health_pb2.HealthCheckResponse.SERVING, 30))
        sender.join(120)
        assert not sender.is_alive()
    return failures, health_seen
