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


def test_tls_files_that_are_not_there_fail_the_check_and_the_start_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    from server.cli import main

    data = tmp_path / "data"
    config = tmp_path / "idstitch.yaml"
    config.write_text(
        f"data_dir: {data}\ntls: {{cert_file: {tmp_path / 'no.pem'}, key_file: {tmp_path / 'no.key'}}}\n"
    )
    assert main(["serve", "--check-config", str(config)]) != 0
    assert "tls.cert_file" in capsys.readouterr().err
    assert main(["serve", "--config", str(config), "--port", "0"]) == 2
    assert "tls.cert_file" in capsys.readouterr().err
    assert not data.exists()  # no admin key, no store was written before the refusal
