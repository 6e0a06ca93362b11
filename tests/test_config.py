from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.config import load_settings


def test_zero_configuration_defaults():
    s = load_settings()
    assert (s.host, s.port, s.data_dir, s.graph.type) == ("127.0.0.1", 50051, Path("idstitch-data"), "sqlite")
    assert s.stitching.identifier_types["customer_id"].cap == 1


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text(
        "port: 6000\n"
        "stitching:\n"
        "  default_phone_region: GB\n"
        "  identifier_types:\n"
        "    crm_id: {priority: 65, cap: 1, anchor: true}\n"
    )
    monkeypatch.setenv("IDSTITCH_PORT", "7000")
    s = load_settings(cfg)
    assert s.port == 7000
    assert s.stitching.default_phone_region == "GB"
    assert {"crm_id", "email", "cookie"} <= set(s.stitching.identifier_types)


def test_unknown_settings_are_refused(tmp_path: Path):
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text("graph: {type: sqlite, flie: x.db}\n")
    with pytest.raises(ValidationError, match="flie"):
        load_settings(cfg)


def test_a_missing_config_file_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "nope.yaml")
