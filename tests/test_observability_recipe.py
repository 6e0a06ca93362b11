"""docs/observability.md's local recipe works as written: with the console exporters a server
prints the span of an RPC it served, with no collector anywhere."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from idstitch.client import Client

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e


def recipe_env() -> dict[str, str]:
    """The variables the recipe sets, read from the page itself."""
    doc = (ROOT / "docs" / "observability.md").read_text()
    block = doc.split("**Try it on one machine, no collector.**", 1)[1].split("```sh\n", 1)[1]
    words = block.split("./scripts/serve", 1)[0].replace("\\\n", " ").split()
    return dict(w.split("=", 1) for w in words)


def test_the_console_recipe_prints_the_resolve_span(tmp_path: Path) -> None:
    env = {**os.environ, **recipe_env(), "OTEL_BSP_SCHEDULE_DELAY": "200"}
    assert env["OTEL_TRACES_EXPORTER"] == "console"
    proc = subprocess.Popen(
        [str(BIN / "idstitch"), "serve", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        line = ""
        while "listening on " not in line:
            line = lines.get(timeout=60)
        target = line.split("listening on ", 1)[1].split()[0]
        with Client(target, key=(tmp_path / "admin.key").read_text().strip()) as c:
            c.batch_resolve([("email", "ann@example.com")])
        printed, deadline = "", time.monotonic() + 20
        span = '"name": "idstitch.v1.IdentityService/BatchResolve"'
        while span not in printed or '"service.name"' not in printed.split(span, 1)[1]:
            printed += lines.get(timeout=max(deadline - time.monotonic(), 0.1))
        assert '"service.name": "idstitch-local"' in printed.split(span, 1)[1]
        assert "ann@example.com" not in printed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
