"""Stopping a server under load never crashes it: a call whose deadline expired still runs in its
worker thread after `grpc.Server.stop` returns, and closing a store under it once killed the
process with a segmentation fault (exit 139). Each test floods a real server process with Ingest,
Resolve and GetProfile calls — most of them with deadlines that expire mid-call — stops it with
SIGTERM and expects a clean exit."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from pathlib import Path

import grpc
import pytest

from idstitch.v1 import event_pb2 as common
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import profile_service_pb2 as profile_pb
from idstitch.v1 import profile_service_pb2_grpc as profile_pb_grpc
from tests.servers import IdstitchProcess, start_cluster

pytestmark = pytest.mark.e2e

CALLERS = 12


def _flood(target: str, key: str, stop: threading.Event, sent: list[int]) -> None:
    """Calls until `stop`, each with a deadline between 1 µs and 50 ms; every status is fine."""
    rng = random.Random(threading.get_ident())
    metadata = (("authorization", f"Bearer {key}"),)
    with grpc.insecure_channel(target) as channel:
        identity, profiles = pb_grpc.IdentityServiceStub(channel), profile_pb_grpc.ProfileServiceStub(channel)
        n = 0
        while not stop.is_set():
            n += 1
            cookie = common.Identifier(type="cookie", value=f"ck-{rng.randrange(200)}")
            timeout = rng.choice((1e-6, 1e-4, 1e-3, 0.01, 0.05))
            kind = rng.randrange(3)
            with contextlib.suppress(grpc.RpcError):  # deadline exceeded; unavailable once stopping
                if kind == 0:
                    events = [
                        common.Event(
                            event_id=f"e-{threading.get_ident()}-{n}-{i}",
                            channel="web",
                            type="page_view",
                            identifiers=[cookie, common.Identifier(type="customer_id", value=f"C-{i}")],
                        )
                        for i in range(rng.randrange(1, 60))
                    ]
                    identity.Ingest(pb.IngestRequest(events=events), timeout=timeout, metadata=metadata)
                elif kind == 1:
                    identity.Resolve(pb.ResolveRequest(identifier=cookie), timeout=timeout, metadata=metadata)
                else:
                    key_ = profile_pb.ProfileKey(identifier=cookie)
                    request = profile_pb.GetProfileRequest(key=key_)
                    profiles.GetProfile(request, timeout=timeout, metadata=metadata)
            sent[0] += 1


def _stop_under_flood(server: IdstitchProcess, key: str) -> str:
    stop = threading.Event()
    sent = [0]
    callers = [
        threading.Thread(target=_flood, args=(server.target, key, stop, sent), daemon=True)
        for _ in range(CALLERS)
    ]
    for c in callers:
        c.start()
    time.sleep(1.5)
    assert sent[0] > 0
    out = server.stop()  # SIGTERM while the callers go on calling
    stop.set()
    for c in callers:
        c.join(timeout=30)
    return out


def _assert_clean_exit(server: IdstitchProcess, out: str) -> None:
    assert server.proc.returncode == 0, f"exit {server.proc.returncode}: {out[-2000:]}"
    assert "idstitch stopped" in out
    assert "Traceback" not in out and "Segmentation" not in out


@pytest.mark.parametrize("grace", [0, 0.2])
def test_an_embedded_server_stopped_under_a_flood_of_expiring_calls_exits_cleanly(
    tmp_path: Path, grace: float
) -> None:
    for round_ in range(4):  # the crash needed a call caught in a store at the moment of close
        config = tmp_path / f"server{round_}.yaml"
        config.write_text(f"data_dir: {tmp_path / f'data{round_}'}\nshutdown_grace_seconds: {grace}\n")
        server = IdstitchProcess(config)
        assert server.key is not None
        _assert_clean_exit(server, _stop_under_flood(server, server.key))


@pytest.mark.parametrize("grace", [0, 0.2])
def test_a_neo4j_cassandra_server_stopped_under_a_flood_of_expiring_calls_exits_cleanly(
    tmp_path: Path, grace: float
) -> None:
    (server,) = start_cluster(
        tmp_path,
        f"stopping{int(grace * 10)}",
        count=1,
        env={0: {"IDSTITCH_SHUTDOWN_GRACE_SECONDS": str(grace)}},
    )
    assert server.key is not None
    _assert_clean_exit(server, _stop_under_flood(server, server.key))
