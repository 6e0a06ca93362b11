"""The server secret behind the keyed hashes. It lives outside the database so that a copy of the
database alone cannot confirm whose email is in it."""

from __future__ import annotations

import os
import secrets

from server.config import Settings


def hmac_secret(settings: Settings) -> bytes:
    if settings.hmac_secret is not None:
        return settings.hmac_secret.get_secret_value().encode()
    path = settings.data_dir / "hmac.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
