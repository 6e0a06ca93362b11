"""`idstitch serve` as a real process with zero configuration, driven by the other CLI commands."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

EVENTS = [
    {
        "eventId": "a1",
        "occurredAt": "2026-11-01T10:00:00Z",
        "channel": "web",
        "type": "login",
        "identifiers": [{"type": "cookie", "value": "ck1"}, {"type": "customer_id", "value": "C-1"}],
    },
    {
        "eventId": "a2",
        "occurredAt": "2026-11-01T10:05:00Z",
        "channel": "email",
        "type": "email_click",
        "identifiers": [{"type": "email", "value": "Ann@Example.com"}, {"type": "cookie", "value": "ck2"}],
    },
    {
        "eventId": "a3",
        "occurredAt": "2026-11-01T10:06:00Z",
        "channel": "web",
        "type": "product_view",
        "identifiers": [{"type": "cookie", "value": "ck2"}, {"type": "customer_id", "value": "C-1"}],
        "product": {"sku": "G-1", "category": "grills", "price": {"amountMinor": 19900, "currency": "EUR"}},
    },
]


def idstitch() -> list[str]:
    exe = shutil.which("idstitch", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "server.cli"]


def test_serve_ingest_resolve_graph_profile_and_graceful_stop(tmp_path: Path):
    proc = subprocess.Popen(
        [*idstitch(), "serve", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # The scenario attaches a new browser on one email click (stitching.weak_links.attach_new).
        env={
            **os.environ,
            "IDSTITCH_LOG_LEVEL": "WARNING",
            "IDSTITCH_STITCHING__WEAK_LINKS__ATTACH_NEW": "true",
        },
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "an admin key was written to" in first and "admin.key" in first, first
        assert oct((tmp_path / "idstitch-data" / "admin.key").stat().st_mode & 0o777) == "0o600"
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        target = line.split("listening on ", 1)[1].split()[0]
        assert (tmp_path / "idstitch-data" / "graph.db").exists()

        events = tmp_path / "events.jsonl"
        events.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")

        key_env = {**os.environ, "IDSTITCH_KEY_FILE": str(tmp_path / "idstitch-data" / "admin.key")}

        def run(*args: str) -> str:
            out = subprocess.run(
                [*idstitch(), *args, "--target", target], capture_output=True, text=True, env=key_env
            )
            assert out.returncode == 0, out.stderr
            return out.stdout

        summary = json.loads(run("ingest", str(events)))
        assert (summary["eventsReceived"], summary["personsMerged"]) == (3, 1)  # numbers, not strings
        resolved = run("resolve", "email", "ann@example.com")
        assert "customer_id     C-1" in resolved and "ann@" not in resolved
        graph = run("graph", "cookie", "ck1")
        assert (
            "aliases:" in graph
            and "cookie:ck2 -- email#" in graph
            and "weak, click_through, email.click" in graph
        )
        profile = json.loads(
            run("profile", "email", "ANN@example.com", "--fields", "affinities,history.email")
        )
        assert profile["affinities"]["categories"][0]["name"] == "grills"
        assert profile["history"]["email"]["clicks"] == 1 and "context" not in profile
        narrow = json.loads(run("profile", "email", "ann@example.com", "--fields", "history.email.clicks"))
        assert narrow["history"] == {"email": {"clicks": 1}}  # a sub-field selects; nothing else as zeros
        assert "ann@" not in json.dumps(profile).lower()
        missing = subprocess.run(
            [*idstitch(), "resolve", "cookie", "nope", "--target", target],
            capture_output=True,
            text=True,
            env=key_env,
        )
        assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
        made = run("keys", "create", "--role", "profile_reader")
        reader_key = made.strip().splitlines()[-1]
        as_reader = subprocess.run(
            [*idstitch(), "resolve", "cookie", "ck1", "--target", target],
            capture_output=True, text=True, env={**os.environ, "IDSTITCH_API_KEY": reader_key},
        )  # fmt: skip
        assert as_reader.returncode == 0, as_reader.stderr
        denied = subprocess.run(
            [*idstitch(), "graph", "cookie", "ck1", "--target", target],
            capture_output=True, text=True, env={**os.environ, "IDSTITCH_API_KEY": reader_key},
        )  # fmt: skip
        assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr
        assert "create_key" in run("audit")
        assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "idstitch stopped" in out


def test_serve_with_a_backend_that_is_down_says_so_and_exits(tmp_path: Path):
    from tests.faults import free_port

    config = tmp_path / "idstitch.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"profiles: {{type: cassandra, port: {free_port()}, connect_timeout_seconds: 1}}\n"
    )
    out = subprocess.run(
        [*idstitch(), "serve", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "idstitch: cannot start: cassandra unavailable" in out.stderr
    assert "Traceback" not in out.stderr


def test_privacy_and_trait_commands_options_on_either_side_and_exit_codes(server, settings, tmp_path: Path):
    target = f"127.0.0.1:{server.port}"
    env = {**os.environ, "IDSTITCH_KEY_FILE": str(settings.data_dir / "admin.key")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*idstitch(), *args], capture_output=True, text=True, env=env, timeout=60)

    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    assert cli("--target", target, "ingest", str(events)).returncode == 0  # options before the command
    traits = cli(
        "traits",
        "customer_id",
        "C-1",
        "loyalty_tier=gold",
        "household_size=3",
        "--request-id",
        "t1",
        "--target",
        target,
    )
    assert traits.returncode == 0, traits.stderr
    assert json.loads(traits.stdout)["applied"] is True
    consent = cli("--target", target, "consent", "customer_id", "C-1", "marketing_email", "denied",
                  "--request-id", "c1")  # fmt: skip
    assert consent.returncode == 0 and json.loads(consent.stdout)["applied"] is True

    out = tmp_path / "export.json"
    assert cli("export", "customer_id", "C-1", "--out", str(out), "--target", target).returncode == 0
    document = json.loads(out.read_text())
    text = json.dumps(document)
    assert "_us" not in text and document["format"] == "idstitch.export.v1"
    assert document["identifiers"][0]["first_seen"].endswith("Z")
    assert all(e["occurred_at"].startswith("20") for e in document["events"])

    erased = cli("erase", "customer_id", "C-1", "--request-id", "dsr-1", "--target", target)
    assert erased.returncode == 0, erased.stderr
    receipt = json.loads(erased.stdout)
    assert len(receipt["counts"]) == 10  # every field shown, zeros included
    again = cli("erasure", receipt["erasureId"], "--target", target)
    assert json.loads(again.stdout) == receipt

    assert cli("erase", "--target", target).returncode == 2  # usage: no --request-id
    assert cli("resolve", "cookie", "ck1", "--target", target).returncode == 1  # NOT_FOUND: erased
    assert cli("--target", "127.0.0.1:1", "resolve", "cookie", "ck1").returncode == 3  # unreachable
    bad_tls = cli("--ca", str(tmp_path / "no-such-ca.pem"), "--target", target, "resolve", "cookie", "ck1")
    assert bad_tls.returncode == 2 and "no-such-ca.pem" in bad_tls.stderr


def test_check_config_validates_a_file_and_names_what_is_wrong(tmp_path: Path):
    examples = Path(__file__).resolve().parent.parent / "examples"
    ok = subprocess.run([*idstitch(), "serve", "--check-config", str(examples / "idstitch.yaml")],
                        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0 and "valid (graph sqlite, profiles sqlite)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: not-a-number\nstitching: {weak_links: {corroborating_event: 2}}\n")
    checked = subprocess.run(
        [*idstitch(), "serve", "--check-config", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 2
    assert "port:" in checked.stderr and "stitching.weak_links.corroborating_event" in checked.stderr
    assert "Traceback" not in checked.stderr


def _drawn(server, settings, tmp_path: Path, fmt: str) -> str:
    """The EVENTS ingested, then `idstitch graph customer_id C-1 --format FMT`'s output."""
    target = f"127.0.0.1:{server.port}"
    env = {**os.environ, "IDSTITCH_KEY_FILE": str(settings.data_dir / "admin.key")}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    subprocess.run(
        [*idstitch(), "ingest", str(events), "--target", target], env=env, check=True, capture_output=True
    )
    drawn = subprocess.run(
        [*idstitch(), "graph", "customer_id", "C-1", "--format", fmt, "--target", target],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr
    return drawn.stdout


def test_a_person_as_a_graphviz_picture(server, settings, tmp_path: Path):
    picture = _drawn(server, settings, tmp_path, "dot")
    assert picture.startswith('graph "p_') and picture.rstrip().endswith("}")
    assert '"customer_id:C-1"' in picture and "web.login (authenticated, 1)" in picture
    assert "shape=box" in picture  # identifiers are drawn by type
    assert 'label="customer_id\\nC-1"' in picture  # type over value: DOT's line break, not a backslash
    assert "ann@example.com" not in picture.lower()  # only display-safe values


def test_a_person_rendered_as_svg(server, settings, tmp_path: Path):
    """`--format svg` through Graphviz's `dot` (.ci/run installs it; elsewhere the test says why
    it cannot run)."""
    if shutil.which("dot") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Graphviz's dot is not installed (.ci/run installs it)")
        pytest.skip("Graphviz's dot is not installed")
    svg = _drawn(server, settings, tmp_path, "svg")
    assert "<svg" in svg and "</svg>" in svg.rstrip()[-10:]
    assert "web.login (authenticated, 1)" in svg and "ann@example.com" not in svg.lower()
