"""The README's tour and Python example run as written against a real server process, so they
cannot rot; the docs' settings files are valid configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from yaml import safe_load

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e


def blocks(text: str, lang: str, after: str = "") -> list[str]:
    start = text.index(after) if after else 0
    return re.findall(rf"```{lang}\n(.*?)```", text[start:], flags=re.S)


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory laid out as a clone (examples/), with a server serving from ./idstitch-data."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    proc = subprocess.Popen(
        [str(BIN / "idstitch"), "serve", "--port", "0", "--data-dir", "idstitch-data"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "IDSTITCH_LOG_LEVEL": "WARNING"},
    )
    try:
        line = ""
        while "listening on " not in line:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "the server did not start"
        yield tmp_path, line.split("listening on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_five_minute_tour_runs_as_written(shop: tuple[Path, str]) -> None:
    cwd, target = shop
    readme = (ROOT / "README.md").read_text()
    [tour] = blocks(section(readme, "## A five-minute tour"), "sh")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "IDSTITCH_TARGET": target}
    for key in ("IDSTITCH_API_KEY", "IDSTITCH_KEY_FILE"):
        env.pop(key, None)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tour], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "unknown now (exit code 1)" in run.stdout  # the erased person resolves no more
    exported = (cwd / "ann.json").read_text()
    assert '"consent"' in exported  # one document
    assert re.search(r'"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d', exported)  # ISO-8601 times, not µs integers


def test_the_python_example_runs_as_written(shop: tuple[Path, str]) -> None:
    cwd, target = shop
    readme = (ROOT / "README.md").read_text()
    [example] = blocks(section(readme, "## A five-minute tour"), "python")
    code = example.replace("127.0.0.1:50051", target)
    run = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith("p_")


@pytest.mark.parametrize("page", ["docs/scale.md", "docs/configuration.md"])
def test_the_settings_files_in_the_docs_are_valid(page: str, tmp_path: Path) -> None:
    for n, yaml in enumerate(blocks((ROOT / page).read_text(), "yaml")):
        path = tmp_path / f"{n}.yaml"
        path.write_text(yaml)
        # The TLS files a page names, as the reader would have them beside the settings file.
        tls = (safe_load(yaml) or {}).get("tls") or {}
        for name in ("cert_file", "key_file", "client_ca_file"):
            if tls.get(name) and not Path(tls[name]).is_absolute():
                (tmp_path / tls[name]).write_text("placeholder\n")
        run = subprocess.run(
            [str(BIN / "idstitch"), "serve", "--check-config", str(path)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert run.returncode == 0, f"{page} block {n}: {run.stdout}{run.stderr}"


def test_the_change_feed_section_runs_after_the_tour(shop: tuple[Path, str]) -> None:
    """Read top to bottom: the tour (which erases one shopper), then the change feed's commands.
    The grpcurl stream runs until stopped; here it is stopped after a few seconds."""
    cwd, target = shop
    built = subprocess.run([str(ROOT / "scripts" / "grpcurl")], capture_output=True, text=True)
    if built.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"scripts/grpcurl: {built.stderr}")
        pytest.skip("grpcurl could not be built (no Go?)")
    readme = (ROOT / "README.md").read_text()
    [tour] = blocks(section(readme, "## A five-minute tour"), "sh")
    [feed] = blocks(section(readme, "## Change feed"), "sh")
    stream_for_a_while = (
        f'grpcurl() {{ local rc=0; timeout 5 {built.stdout.strip()} "$@" || rc=$?; '
        '[ "$rc" = 124 ] || return "$rc"; }\n'
    )
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "IDSTITCH_TARGET": target}
    script = stream_for_a_while + tour + feed.replace("127.0.0.1:50051", target)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    feed_out = run.stdout.split("unknown now", 1)[1]
    assert '"kind": "CHANGE_KIND_ORDER_PLACED"' in feed_out and '"storeId": "S-12"' in feed_out  # the CLI
    assert '"kind": "CHANGE_KIND_ORDER_PLACED"' in feed_out and '"store_id": "S-12"' in feed_out  # grpcurl
    assert '"history": {' in feed_out  # GetProfile's field mask
