"""Real database servers for the tests, started once per test session by the project's own
scripts. Where one cannot start (no Java or Maven here) its tests are skipped with the reason —
except under CI=true, where a missing server fails the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
_neo4j: dict[str, str] = {}


def neo4j_uri() -> str:
    """The bolt URI of the session's Neo4j, started on first use."""
    if "uri" in _neo4j:
        return _neo4j["uri"]
    if "error" in _neo4j:
        _unavailable(_neo4j["error"])
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        _neo4j["error"] = (
            f"Neo4j tests need {' and '.join(missing)} (Java 17+ and Maven) to run scripts/neo4j/neo4j"
        )
        _unavailable(_neo4j["error"])
    home = tempfile.mkdtemp(prefix="idstitch-neo4j-")
    out = subprocess.run([str(ROOT / "scripts/neo4j/neo4j"), "start", home], capture_output=True, text=True)
    if out.returncode != 0:
        _neo4j["error"] = f"scripts/neo4j/neo4j start failed: {out.stderr[-2000:]}"
        _unavailable(_neo4j["error"])
    _neo4j.update(uri=out.stdout.strip().splitlines()[-1], home=home)
    return _neo4j["uri"]


def stop_neo4j() -> None:
    if "home" in _neo4j:
        subprocess.run([str(ROOT / "scripts/neo4j/neo4j"), "stop", _neo4j["home"]], check=False)
        shutil.rmtree(_neo4j["home"], ignore_errors=True)
        _neo4j.clear()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class IdstitchProcess:
    """`idstitch serve` as its own process, configured by a YAML file, on a free port."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "IDSTITCH_LOG_LEVEL": "WARNING"},
        )
        assert self.proc.stdout is not None
        self.key: str | None = None
        line = self.proc.stdout.readline()
        if "an admin key was written to " in line:  # first start of this data directory
            path = line.split("an admin key was written to ", 1)[1].rsplit(" (", 1)[0]
            self.key = Path(path).read_text().strip()
            line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"idstitch did not start: {line}{self.proc.stdout.read()}")
        self.target = line.split("listening on ", 1)[1].split()[0]

    def stop(self) -> str:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        return out
