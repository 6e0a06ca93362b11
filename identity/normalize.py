"""Normalization and junk detection, applied before anything else looks at an identifier.

Junk values (empty, `undefined`, `null`, `0`, the zeroed advertising id, configured blocklists)
never link: a tracker that reports `undefined` for every visitor would otherwise fuse them all
into one person. Personal values are hashed here, so nothing after this point holds them raw.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from identity.bounded_cache import BoundedCache
from identity.identifiers import IdentifierType, NormalizedIdentifier

MAX_VALUE_BYTES = 1024
CACHE_BYTES = 32 * 1024 * 1024
"""Memory the normalizer's cache may hold: ~150,000 typical identifiers, ~25,000 of 1 KiB."""
Learned = dict[tuple[str, str], "NormalizedIdentifier | str"]
"""A request's normalized values, by (type, raw value): remembered once the request is accepted."""

DEFAULT_JUNK_VALUES = frozenset(
    {
        "undefined",
        "null",
        "none",
        "nil",
        "nan",
        "0",
        "-1",
        "unknown",
        "n/a",
        "na",
        "(null)",
        "[object object]",
        "false",
        "true",
        "anonymous",
        "guest",
    }
)
# Zeroed advertising ids (limited ad tracking) and other all-zero ids: "0", "0000", "00000000-0000-...".
ZERO_ID = re.compile(r"^[0\-]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Blocklist(BaseModel):
    """Values that must never link, beyond the built-in junk. Matched after normalization,
    case-insensitively."""

    model_config = ConfigDict(extra="forbid")

    values: list[str] = Field(default_factory=list)
    """Exact values, e.g. a QA account's email or a test card token."""
    patterns: list[str] = Field(default_factory=list)
    """Regular expressions matched against the whole normalized value."""

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"blocklist pattern {p!r} does not compile: {e}") from e
        return patterns


class Normalizer:
    """Turns raw `(type, value)` pairs into keys, or says why a value is ignored."""

    def __init__(
        self,
        *,
        types: dict[str, IdentifierType],
        secret: bytes,
        default_region: str = "US",
        blocklist: Blocklist | None = None,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.types = types
        self._secret = secret
        self._region = default_region
        bl = blocklist or Blocklist()
        self._blocked_values = frozenset(v.strip().lower() for v in bl.values)
        self._blocked_patterns = [re.compile(p, re.IGNORECASE) for p in bl.patterns]
        # The same devices, logins and emails recur across a stream: skip re-hashing them. Only
        # what accepted batches carried is kept (`remember`): values from rejected requests and
        # from reads never fill it.
        self._cache: BoundedCache[tuple[str, str], NormalizedIdentifier | str] = BoundedCache(cache_bytes)

    def normalize(
        self, type_name: str, raw: str, learned: Learned | None = None
    ) -> NormalizedIdentifier | str:
        """The normalized identifier, or the reason it is ignored. The type must be known. A
        value not in the cache goes into `learned` (the request's own memo), for `remember` once
        its request is accepted."""
        pair = (type_name, raw)
        hit = self._cache.get(pair)
        if hit is not None:
            return hit
        if learned is None:
            return self._normalize(type_name, raw)
        out = learned.get(pair)
        if out is None:
            out = learned[pair] = self._normalize(type_name, raw)
        return out

    def remember(self, learned: Learned) -> None:
        self._cache.put_many(
            (
                pair,
                out,
                len(pair[0]) + len(pair[1]) + (len(out.key) if isinstance(out, NormalizedIdentifier) else 0),
            )
            for pair, out in learned.items()
        )

    @property
    def cache(self) -> BoundedCache[tuple[str, str], NormalizedIdentifier | str]:
        return self._cache

    def _normalize(self, type_name: str, raw: str) -> NormalizedIdentifier | str:
        spec = self.types[type_name]
        value = raw.strip()
        if value.lower() in DEFAULT_JUNK_VALUES or ZERO_ID.match(value) or not value:
            return "junk_value"
        if spec.normalizer == "lower":
            value = value.lower()
        elif spec.normalizer == "email":
            value = value.lower()
            if not EMAIL.match(value):
                return "invalid_email"
        elif spec.normalizer == "phone":
            e164 = self._phone_e164(value)
            if e164 is None:
                return "invalid_phone"
            value = e164
        if self._is_blocked(value):
            return "blocklisted"
        if spec.personal:
            digest = self.keyed_hash(type_name, value)
            return NormalizedIdentifier(type_name, f"{type_name}#{digest}")
        return NormalizedIdentifier(type_name, f"{type_name}:{value}")

    def keyed_hash(self, type_name: str, value: str) -> str:
        """HMAC-SHA256 under the server secret: stable for lookups, useless without the secret."""
        msg = f"{type_name}\x00{value}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def _is_blocked(self, value: str) -> bool:
        low = value.lower()
        return low in self._blocked_values or any(p.fullmatch(value) for p in self._blocked_patterns)

    def _phone_e164(self, value: str) -> str | None:
        try:
            number = phonenumbers.parse(value, self._region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def junk_examples() -> Iterable[str]:
    """The built-in junk spellings, for tests and docs."""
    return sorted(DEFAULT_JUNK_VALUES)
