"""Client side of caller keys and TLS, for the typed client, the CLI, tests and benchmarks: a
channel that sends `authorization: Bearer <key>` on every call, where to find the key, and TLS."""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

DEFAULT_KEY_FILE = Path("idstitch-data") / "admin.key"


class _Details(
    namedtuple("_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


class BearerKey(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, key: str) -> None:
        self._header = ("authorization", f"Bearer {key}")

    def _with_key(self, d: grpc.ClientCallDetails) -> _Details:
        metadata = [*(d.metadata or ()), self._header]
        return _Details(d.method, d.timeout, metadata, d.credentials, d.wait_for_ready, d.compression)

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], d: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._with_key(d), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], d: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._with_key(d), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], d: grpc.ClientCallDetails, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._with_key(d), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], d: grpc.ClientCallDetails, requests: Iterator[Any]
    ) -> Any:
        return continuation(self._with_key(d), requests)


def with_key(channel: grpc.Channel, key: str | None) -> grpc.Channel:
    return grpc.intercept_channel(channel, BearerKey(key)) if key else channel


class KeyNotFound(ValueError):
    """An explicit key source that cannot be read: never a reason to fall back to another key."""


@dataclass(frozen=True)
class FoundKey:
    key: str | None
    source: str
    """Where it came from, or where it was looked for: for messages, never the key itself."""


KEY_SOURCES = (
    "--key-file (or --api-key-file), then IDSTITCH_API_KEY, then IDSTITCH_KEY_FILE, "
    f"then ./{DEFAULT_KEY_FILE} (written by a server's first start)"
)


def locate_key(key_file: Path | None = None, *, flag: str = "--key-file") -> FoundKey:
    """The caller key, explicit before environment before default: `key_file` (named `flag` in
    messages), IDSTITCH_API_KEY, IDSTITCH_KEY_FILE, ./idstitch-data/admin.key. A source that is
    given but cannot be read raises KeyNotFound naming it: falling back to the default file would
    act as admin for a caller who asked for a lesser key."""
    if key_file is not None:
        return FoundKey(_read_key(key_file, flag), flag)
    if os.environ.get("IDSTITCH_API_KEY", "").strip():
        return FoundKey(os.environ["IDSTITCH_API_KEY"].strip(), "IDSTITCH_API_KEY")
    env_file = os.environ.get("IDSTITCH_KEY_FILE")
    if env_file:
        return FoundKey(_read_key(Path(env_file), "IDSTITCH_KEY_FILE"), "IDSTITCH_KEY_FILE")
    if DEFAULT_KEY_FILE.is_file():
        return FoundKey(_read_key(DEFAULT_KEY_FILE, f"./{DEFAULT_KEY_FILE}"), f"./{DEFAULT_KEY_FILE}")
    return FoundKey(None, f"nowhere: no key in {KEY_SOURCES}")


def _read_key(path: Path, source: str) -> str:
    try:
        key = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise KeyNotFound(f"{source}: the key file cannot be read ({e.__class__.__name__})") from None
    if not key:
        raise KeyNotFound(f"{source}: the key file is empty")
    return key


def find_key(key_file: Path | None = None) -> str | None:
    """The caller key (locate_key), or None when no source holds one."""
    return locate_key(key_file).key


def open_channel(
    target: str, *, ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> grpc.Channel:
    """A channel to `target`: plain, or TLS when a CA is given (mutual TLS with a client certificate
    and key). Each also comes from IDSTITCH_TLS_CA, IDSTITCH_TLS_CERT, IDSTITCH_TLS_KEY."""
    ca = ca or _env_path("IDSTITCH_TLS_CA")
    cert = cert or _env_path("IDSTITCH_TLS_CERT")
    key = key or _env_path("IDSTITCH_TLS_KEY")
    if ca is None and cert is None:
        return grpc.insecure_channel(target)
    if (cert is None) != (key is None):
        raise ValueError("mutual TLS needs both a client certificate and its key")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes() if ca else None,
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(target, credentials)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None
