"""Who may call what, over real gRPC: every RPC for every role, keys that are missing, wrong or
revoked, health checking open, and TLS / mutual TLS."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idstitch.channels import with_key
from idstitch.v1 import admin_service_pb2 as admin_pb
from idstitch.v1 import admin_service_pb2_grpc as admin_grpc
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as id_pb
from idstitch.v1 import privacy_service_pb2 as priv_pb
from idstitch.v1 import profile_service_pb2 as prof_pb
from server.app import RunningServer, create_server
from server.auth import ALLOWED, ROLES
from server.config import Settings, load_settings

pytestmark = pytest.mark.e2e

MODULES = {
    "IdentityService": id_pb,
    "ProfileService": prof_pb,
    "PrivacyService": priv_pb,
    "AdminService": admin_pb,
}


def every_method() -> list[tuple[str, str]]:
    return [
        (service, method.name)
        for service, module in MODULES.items()
        for method in module.DESCRIPTOR.services_by_name[service].methods
    ]


def call(channel: grpc.Channel, service: str, method: str) -> grpc.StatusCode:
    """Calls the method with an empty request; the status code it ends with."""
    desc = MODULES[service].DESCRIPTOR.services_by_name[service].methods_by_name[method]
    path = f"/idstitch.v1.{service}/{method}"
    request_type = getattr(MODULES[service], desc.input_type.name)
    response_type = getattr(MODULES[service], desc.output_type.name)
    ser, de = request_type.SerializeToString, response_type.FromString
    try:
        if desc.client_streaming:
            channel.stream_unary(path, ser, de)(iter([request_type()]), timeout=10)
        elif desc.server_streaming:
            list(channel.unary_stream(path, ser, de)(request_type(), timeout=10))
        else:
            channel.unary_unary(path, ser, de)(request_type(), timeout=10)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = create_server(load_settings(data_dir=tmp_path_factory.mktemp("data"), port=0))
    yield running
    running.stop(0)


@pytest.fixture(scope="module")
def keys(server: RunningServer) -> dict[str, str]:
    from server.auth import create_key

    return {role: create_key(server.privacy.records, role, 0)[1] for role in ROLES}


@pytest.fixture(scope="module")
def raw(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_rpc_answers_each_role_as_the_role_allows(raw, keys, role):
    channel = with_key(raw, keys[role]) if role else raw
    for service, method in every_method():
        code = call(channel, service, method)
        allowed = role == "admin" or role in ALLOWED.get(f"/idstitch.v1.{service}/{method}", frozenset())
        if role is None:
            assert code == grpc.StatusCode.UNAUTHENTICATED, (service, method)
        elif not allowed:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (role, service, method)
        else:
            assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), (
                role, service, method, code,
            )  # fmt: skip


def test_a_denial_says_nothing_about_whether_the_subject_exists(raw, keys):
    ingest = with_key(raw, keys["admin"])
    event = ev_pb.Event(event_id="e1", channel="web", type="login",
                        identifiers=[ev_pb.Identifier(type="customer_id", value="C-1")])  # fmt: skip
    id_call = ingest.unary_unary(
        "/idstitch.v1.IdentityService/Ingest",
        id_pb.IngestRequest.SerializeToString,
        id_pb.IngestResponse.FromString,
    )
    id_call(id_pb.IngestRequest(events=[event]))
    reader = with_key(raw, keys["profile_reader"])
    erase = reader.unary_unary(
        "/idstitch.v1.PrivacyService/Erase",
        priv_pb.EraseRequest.SerializeToString,
        priv_pb.EraseResponse.FromString,
    )
    details = set()
    for value in ("C-1", "never-seen"):
        subject = prof_pb.ProfileKey(identifier=ev_pb.Identifier(type="customer_id", value=value))
        req = priv_pb.EraseRequest(subject=subject, request_id="r")
        with pytest.raises(grpc.RpcError) as err:
            erase(req)
        details.add((err.value.code(), err.value.details()))
    assert len(details) == 1 and next(iter(details))[0] == grpc.StatusCode.PERMISSION_DENIED


def test_wrong_and_revoked_keys_are_unauthenticated_and_health_stays_open(raw, keys, server):
    assert (
        call(with_key(raw, "idk_not-a-key"), "ProfileService", "GetProfile")
        == grpc.StatusCode.UNAUTHENTICATED
    )
    admin = admin_grpc.AdminServiceStub(with_key(raw, keys["admin"]))
    made = admin.CreateKey(admin_pb.CreateKeyRequest(role="profile_reader"))
    reader = with_key(raw, made.key)
    assert call(reader, "ProfileService", "GetProfile") == grpc.StatusCode.INVALID_ARGUMENT
    assert admin.RevokeKey(admin_pb.RevokeKeyRequest(key_id=made.key_id)).revoked
    assert call(reader, "ProfileService", "GetProfile") == grpc.StatusCode.UNAUTHENTICATED
    status = health_pb2_grpc.HealthStub(raw).Check(health_pb2.HealthCheckRequest()).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    ops = [r.operation for r in admin.ListAudit(admin_pb.ListAuditRequest()).records]
    assert ops[-2:] == ["create_key", "revoke_key"]
    assert all(k.key_id.startswith("k_") for k in admin.ListKeys(admin_pb.ListKeysRequest()).keys)


# -- TLS -----------------------------------------------------------------------------------


def _pki(tmp: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    Key = ec.EllipticCurvePrivateKey

    def cert(
        name: str, key: Key, issuer: x509.Name, signer: Key, *, ca: bool = False, san: bool = False
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idstitch test CA")])
    ca = cert("idstitch test CA", ca_key, ca_name, ca_key, ca=True)
    out: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        out[name] = tmp / name
        out[name].write_bytes(data)

    write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    for who in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        c = cert(f"idstitch {who}", key, ca_name, ca_key, san=who == "server")
        write(f"{who}.pem", c.public_bytes(serialization.Encoding.PEM))
        write(f"{who}.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))  # fmt: skip
    return out


def _health(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_tls_and_mutual_tls_are_configuration_away(tmp_path: Path, mutual: bool) -> None:
    pki = _pki(tmp_path)
    tls = {"cert_file": pki["server.pem"], "key_file": pki["server.key"]}
    if mutual:
        tls["client_ca_file"] = pki["ca.pem"]
    settings: Settings = load_settings(data_dir=tmp_path / "data", port=0, tls=tls)
    running = create_server(settings)
    target = f"127.0.0.1:{running.port}"
    try:
        ca = pki["ca.pem"].read_bytes()
        client = grpc.ssl_channel_credentials(
            ca, pki["client.key"].read_bytes(), pki["client.pem"].read_bytes()
        )
        with grpc.secure_channel(target, client) as ch:
            assert _health(ch) == health_pb2.HealthCheckResponse.SERVING
            key = (settings.data_dir / "admin.key").read_text().strip()
            assert call(with_key(ch, key), "ProfileService", "GetProfile") == grpc.StatusCode.INVALID_ARGUMENT
        with grpc.insecure_channel(target) as plain, pytest.raises(grpc.RpcError):
            _health(plain)
        no_client_cert = grpc.ssl_channel_credentials(ca)
        with grpc.secure_channel(target, no_client_cert) as ch:
            if mutual:
                with pytest.raises(grpc.RpcError):
                    _health(ch)
            else:
                assert _health(ch) == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop(0)


def test_revoke_refuses_what_is_not_a_key_id_and_never_records_an_unknown_one(raw, keys, server):
    admin = admin_grpc.AdminServiceStub(with_key(raw, keys["admin"]))
    with pytest.raises(grpc.RpcError) as refused:
        admin.RevokeKey(admin_pb.RevokeKeyRequest(key_id="ann@example.com"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "key_id" in refused.value.details()
    assert "ann@" not in refused.value.details()
    assert not admin.RevokeKey(admin_pb.RevokeKeyRequest(key_id="k_0123456789ab")).revoked
    audit = admin.ListAudit(admin_pb.ListAuditRequest()).records
    assert "ann@" not in str(audit) and "k_0123456789ab" not in str(audit)
    assert audit[-1].operation == "revoke_key" and audit[-1].detail["key_id"] == "unknown"
