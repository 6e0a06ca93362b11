"""`buf breaking`, which scripts/test runs against the previous commit, refuses a change that would
break callers of the API (here a field renumbered) and lets an additive one through."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]


def breaking(tmp_path: Path, edit: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    changed = tmp_path / "changed"
    shutil.copytree(ROOT / "proto", changed / "proto")
    shutil.copy(ROOT / "buf.yaml", changed / "buf.yaml")
    proto = changed / "proto" / "idstitch" / "v1" / "event.proto"
    text = proto.read_text()
    assert edit[0] in text
    proto.write_text(text.replace(edit[0], edit[1], 1))
    return subprocess.run(
        [str(ROOT / "scripts" / "buf"), "breaking", str(changed), "--against", str(ROOT)],
        capture_output=True,
        text=True,
    )


def test_a_renumbered_field_is_refused(tmp_path: Path) -> None:
    run = breaking(tmp_path, ("string event_id = 1;", "string event_id = 11;"))
    assert run.returncode != 0 and "event_id" in run.stdout + run.stderr


def test_an_added_field_passes(tmp_path: Path) -> None:
    run = breaking(tmp_path, ("string event_id = 1;", "string event_id = 1;\n  string note = 99;"))
    assert run.returncode == 0, run.stdout + run.stderr
