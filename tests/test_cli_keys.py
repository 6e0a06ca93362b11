"""The CLI never acts with more power than asked: an explicit key source that cannot be read is an
error naming it (never a fall back to ./idstitch-data/admin.key, which is admin); explicit beats
environment beats default; a refusal says where the key came from or which role the call needs.
And the small things of a command-line tool: --version, a closed pipe, numbers printed as numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from idstitch.channels import with_key
from idstitch.v1 import admin_service_pb2 as admin_pb
from idstitch.v1 import admin_service_pb2_grpc as admin_grpc
from server.app import RunningServer
from server.config import Settings

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.e2e


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IDSTITCH_")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=60,
    )


@pytest.fixture
def shop_dir(tmp_path: Path, settings: Settings) -> Path:
    """A working directory whose ./idstitch-data/admin.key is the server's admin key, as after
    the tour's ./scripts/serve."""
    (tmp_path / "shop" / "idstitch-data").mkdir(parents=True)
    admin = (settings.data_dir / "admin.key").read_text()
    (tmp_path / "shop" / "idstitch-data" / "admin.key").write_text(admin)
    return tmp_path / "shop"


def reader_key(server: RunningServer, settings: Settings, path: Path) -> Path:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        admin = admin_grpc.AdminServiceStub(
            with_key(ch, (settings.data_dir / "admin.key").read_text().strip())
        )
        path.write_text(admin.CreateKey(admin_pb.CreateKeyRequest(role="profile_reader")).key + "\n")
    return path


def test_a_key_file_that_cannot_be_read_is_an_error_not_the_admin_key(server, shop_dir: Path) -> None:
    target = f"127.0.0.1:{server.port}"
    out = cli(shop_dir, "keys", "list", "--target", target, "--key-file", "/nonexistent/reader.key")
    assert out.returncode == 2 and "--key-file" in out.stderr and "cannot be read" in out.stderr
    assert out.stdout == ""  # nothing was listed as admin
    out = cli(
        shop_dir, "keys", "list", "--target", target, env={"IDSTITCH_KEY_FILE": "/nonexistent/reader.key"}
    )
    assert out.returncode == 2 and "IDSTITCH_KEY_FILE" in out.stderr and out.stdout == ""
    (shop_dir / "empty.key").write_text("\n")
    out = cli(shop_dir, "keys", "list", "--target", target, "--api-key-file", "empty.key")
    assert out.returncode == 2 and "empty" in out.stderr


def test_an_explicit_key_file_beats_the_environment_and_a_refusal_names_the_role(
    server, settings: Settings, shop_dir: Path
) -> None:
    reader = reader_key(server, settings, shop_dir / "reader.key")
    admin = (settings.data_dir / "admin.key").read_text().strip()
    target = f"127.0.0.1:{server.port}"
    out = cli(
        shop_dir,
        "keys",
        "list",
        "--target",
        target,
        "--key-file",
        str(reader),
        env={"IDSTITCH_API_KEY": admin},
    )
    assert out.returncode == 1 and "PERMISSION_DENIED" in out.stderr
    assert "profile_reader" in out.stderr and "needs the role admin" in out.stderr
    assert admin not in out.stderr
    # The environment beats the default file.
    out = cli(shop_dir, "keys", "list", "--target", target, env={"IDSTITCH_KEY_FILE": str(reader)})
    assert out.returncode == 1 and "PERMISSION_DENIED" in out.stderr


def test_without_a_key_the_refusal_says_where_it_was_looked_for(server, tmp_path: Path) -> None:
    out = cli(tmp_path, "keys", "list", "--target", f"127.0.0.1:{server.port}")
    assert out.returncode == 1 and "UNAUTHENTICATED" in out.stderr
    assert "IDSTITCH_API_KEY" in out.stderr and "--key-file" in out.stderr


def test_the_tls_options_are_named_for_tls_and_the_old_names_still_work(tmp_path: Path) -> None:
    help_text = cli(tmp_path, "--help").stdout
    assert "--tls-key" in help_text and "--tls-ca" in help_text and "[--ca" not in help_text
    assert "not the API key" in " ".join(cli(tmp_path, "resolve", "--help").stdout.split())
    missing = tmp_path / "no-such-ca.pem"
    for flag in ("--tls-ca", "--ca"):
        out = cli(tmp_path, "resolve", "email", "a@example.com", flag, str(missing))
        assert out.returncode == 2 and "no-such-ca.pem" in out.stderr


def test_version_and_a_closed_pipe(tmp_path: Path) -> None:
    out = cli(tmp_path, "--version")
    assert out.returncode == 0 and out.stdout.startswith("idstitch ")
    # `idstitch simulate … | head -1`: the reader goes away; no traceback.
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "simulate", str(ROOT / "examples" / "events.jsonl")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err
