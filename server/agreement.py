"""Settings that every server sharing stores must have alike, checked against the shared stores
at start.

Two servers with different HMAC secrets compute different keys and suppression hashes for the
same email: an erasure through one is undone by a late event through the other. Two servers that
turn values into keys differently (another normalizer, another default phone region, a type hashed
by one and not the other) split one shopper into two. Neither shows until the damage is done, so
the first server to start records a fingerprint of each such setting in the privacy records, and
a server whose fingerprint differs refuses to start, naming the setting — never its value. The
fingerprint of the secret is keyed by the secret itself: it confirms nothing to a reader of the
stores who lacks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from common.errors import StoreMisconfigured
from privacy.records import PrivacyRecords
from server.config import Settings

HOW_TO_SHARE = "docs/scale.md: every server of a cluster is given the same value"


def fingerprints(settings: Settings, secret: bytes) -> dict[str, str]:
    """setting name → a fingerprint that reveals nothing of the setting."""
    rules = settings.stitching
    keys = {
        "default_phone_region": rules.default_phone_region,
        "types": {name: [t.normalizer, t.personal] for name, t in sorted(rules.identifier_types.items())},
    }
    made_keys = json.dumps(keys, sort_keys=True).encode()
    return {
        "hmac_secret": hmac.new(secret, b"idstitch agreement: hmac_secret", hashlib.sha256).hexdigest()[:32],
        "stitching.identifier_types (normalizer, personal) and stitching.default_phone_region": (
            hashlib.sha256(made_keys).hexdigest()[:32]
        ),
    }


def check_agreement(settings: Settings, secret: bytes, records: PrivacyRecords) -> None:
    """Raises StoreMisconfigured when a setting differs from the one the stores were written with."""
    for setting, mine in fingerprints(settings, secret).items():
        if records.agreed(setting, mine) != mine:
            raise StoreMisconfigured(
                f"this server's {setting} differs from the one the shared stores were written with "
                f"(another server, or an earlier start of this one); {HOW_TO_SHARE}"
            )
