"""Metrics for Prometheus to scrape: off unless OTEL_METRICS_EXPORTER=prometheus, then served at
OTEL_EXPORTER_PROMETHEUS_HOST:PORT/metrics by the OpenTelemetry Prometheus exporter — with the
same names and labels as the OTLP export, and no identifier in them."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from idstitch.channels import with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from tests.servers import IdstitchProcess

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scrape_endpoint_when_asked_for_and_none_by_default(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "idstitch.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    server = IdstitchProcess(
        config, env={"OTEL_METRICS_EXPORTER": "prometheus", "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)}
    )
    try:
        assert server.key is not None
        with grpc.insecure_channel(server.target) as ch:
            stub = pb_grpc.IdentityServiceStub(with_key(ch, server.key))
            ident = ev_pb.Identifier(type="email", value="ann@example.com")
            with pytest.raises(grpc.RpcError):
                stub.Resolve(pb.ResolveRequest(identifier=ident))  # NOT_FOUND: still measured
        deadline = time.monotonic() + 10
        while True:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            if "Resolve" in text or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "rpc_server_duration" in text and 'rpc_method="Resolve"' in text
        assert "ann@" not in text and "example.com" not in text
    finally:
        server.stop()
    # Default: no endpoint.
    plain = IdstitchProcess(config)
    try:
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    finally:
        plain.stop()
