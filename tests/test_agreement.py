"""Servers that share stores refuse to disagree: a server whose HMAC secret (or the way it turns
values into keys) differs from the one the stores were written with refuses to start, naming the
setting and never its value."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import StoreMisconfigured
from server.app import create_server
from server.config import load_settings
from tests.servers import CLUSTER_SECRET, start_cluster


def test_an_embedded_store_written_with_one_secret_refuses_a_server_with_another(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_server(load_settings(data_dir=data, port=0, hmac_secret="secret-one-0123456789")).stop(0)
    with pytest.raises(StoreMisconfigured) as refused:
        create_server(load_settings(data_dir=data, port=0, hmac_secret="secret-two-0123456789"))
    assert "hmac_secret differs" in str(refused.value) and "secret-" not in str(refused.value)
    # The stores were closed: the right secret starts.
    create_server(load_settings(data_dir=data, port=0, hmac_secret="secret-one-0123456789")).stop(0)


def test_a_different_phone_region_is_a_different_key_for_the_same_phone_and_is_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    create_server(load_settings(data_dir=data, port=0, hmac_secret="s" * 20)).stop(0)
    with pytest.raises(StoreMisconfigured, match="default_phone_region"):
        create_server(
            load_settings(
                data_dir=data, port=0, hmac_secret="s" * 20, stitching={"default_phone_region": "GB"}
            )
        )


@pytest.mark.e2e
def test_a_second_cluster_server_with_its_own_secret_refuses_to_start(tmp_path: Path) -> None:
    """As docs/scale.md once showed it: no shared secret, so the second server would generate its
    own — and undo the first's erasures."""
    with pytest.raises(RuntimeError) as refused:
        start_cluster(tmp_path, "agreement", env={1: {"IDSTITCH_HMAC_SECRET": CLUSTER_SECRET[::-1]}})
    message = str(refused.value)
    assert "cannot start" in message and "hmac_secret differs" in message
    assert CLUSTER_SECRET[::-1] not in message
