"""Latency at N concurrent clients measured by ghz (scripts/ghz), a compiled gRPC load generator.

Python client processes spend more CPU per call than the server they measure, and on this 2-core
machine that CPU is taken from the server; ghz's share is a fraction of it. The requests are the
same as the Python clients send: each worker picks them round-robin from one shared list.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
from functools import cache

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2

from idstitch.v1 import identity_service_pb2, profile_service_pb2

_METHODS = {
    "health": "grpc.health.v1.Health.Check",
    "resolve": "idstitch.v1.IdentityService.Resolve",
    "profile": "idstitch.v1.ProfileService.GetProfile",
}


@cache
def ghz() -> str:
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "ghz")
    return subprocess.run([script], check=True, capture_output=True, text=True).stdout.strip()


def _protoset(path: str) -> None:
    """ghz reads the services from the descriptors this process already has (no .proto paths)."""
    out = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(fd: FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            add(dep)
        fd.CopyToProto(out.file.add())

    for module in (health_pb2, identity_service_pb2, profile_service_pb2):
        add(module.DESCRIPTOR)
    with open(path, "wb") as f:
        f.write(out.SerializeToString())


def _request(kind: str, pair: tuple[str, str]) -> dict:
    ident = {"type": pair[0], "value": pair[1]}
    if kind == "profile":
        return {"key": {"identifier": ident}}
    return {"identifier": ident}


def measure_ghz(
    target: str,
    kind: str,
    clients: int,
    calls: int,
    known: list[tuple[str, str]] | None = None,
    key: str = "",
    rps: int = 0,
    once: bool = False,
) -> tuple[float, float]:
    """p50 and p99 in ms of `clients` workers (one connection each) making `calls` calls each,
    after 50 warm-up calls per worker that are not counted; with `rps`, at that many calls per
    second in all, else as fast as the server answers; `once`: each key of `known` asked at most
    once (while there are enough of them)."""
    rng = random.Random(0)
    pool = known or [("", "")]
    if once:  # each key at most once (until the pool is used up and ghz starts over)
        data = [_request(kind, pair) for pair in rng.sample(pool, min(len(pool), 4096))]
    else:
        data = [{} if kind == "health" else _request(kind, rng.choice(pool)) for _ in range(4096)]
    with tempfile.TemporaryDirectory(prefix="idstitch-ghz-") as tmp:
        protoset, data_file = os.path.join(tmp, "api.protoset"), os.path.join(tmp, "data.json")
        _protoset(protoset)
        with open(data_file, "w") as f:
            json.dump(data, f)
        cmd = [
            ghz(),
            "--insecure",
            "--protoset", protoset,
            "--call", _METHODS[kind],
            "--concurrency", str(clients),
            "--connections", str(clients),
            "--total", str(clients * (calls + 50)),
            "--skipFirst", str(clients * 50),
            "--data-file", data_file,
            "--format", "json",
        ]  # fmt: skip
        if rps:
            cmd += ["--rps", str(rps)]
        if key:
            cmd += ["--metadata", json.dumps({"authorization": f"Bearer {key}"})]
        run = subprocess.run([*cmd, target], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"ghz failed: {run.stderr.strip() or run.stdout[:500]}")
        report = json.loads(run.stdout)
    codes = report.get("statusCodeDistribution", {})
    if set(codes) - {"OK"}:
        raise RuntimeError(f"{kind}: calls failed: {codes} {report.get('errorDistribution')}")
    at = {int(d["percentage"]): d["latency"] / 1e6 for d in report["latencyDistribution"]}
    return at[50], at[99]
