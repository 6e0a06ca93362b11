"""Privacy records: what idstitch keeps about data-subject requests and callers, with no personal
data in any of it.

- *Suppressions*: a keyed hash of each erased identifier and the erasure time. An event that
  occurred before the erasure and names a suppressed identifier is dropped (late deliveries,
  replays, back-fills cannot resurrect the person); activity after the erasure starts afresh.
- *Erasures*: one receipt per request id (counts and times); while an erasure is under way its
  record also holds the person id, so a retry can finish it, and forgets it when done.
- *Audit*: every privacy operation and admin change — caller key id, operation, counts, time.
- *API keys*: a hash of each key, its id and its role.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    erasure_id: str
    request_id: str
    started_at: int
    completed_at: int | None
    person_id: str | None
    """Held only while the erasure is incomplete."""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    caller: str
    operation: str
    detail: dict[str, int | str]


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    role: str
    created_at: int
    revoked_at: int | None


class PrivacyRecords(Protocol):
    def suppress(self, hashes: Collection[str], erased_at: int) -> None: ...

    def has_suppressions(self) -> bool: ...

    def suppressed(self, hashes: Collection[str]) -> Mapping[str, int]:
        """Of these hashes, the suppressed ones with their erasure time."""
        ...

    def begin_erasure(self, record: ErasureRecord) -> ErasureRecord:
        """Records an erasure as started; returns the existing record when the request id has one."""
        ...

    def record_progress(self, erasure_id: str, counts: Mapping[str, int]) -> None:
        """Keeps the counts of the steps done so far with an incomplete erasure, so that the receipt
        of an erasure finished by a retry still counts what the first attempt removed."""
        ...

    def complete_erasure(
        self, erasure_id: str, counts: Mapping[str, int], completed_at: int
    ) -> ErasureRecord: ...

    def erasure(self, erasure_id: str) -> ErasureRecord | None: ...

    def audit(self, at: int, caller: str, operation: str, detail: Mapping[str, int | str]) -> None: ...

    def audit_log(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]: ...

    def add_key(self, key_id: str, key_hash: str, role: str, created_at: int) -> None: ...

    def key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def api_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: str, at: int) -> bool: ...

    def agreed(self, setting: str, fingerprint: str) -> str:
        """Records `fingerprint` as what every server sharing these records must have for
        `setting`, unless one is recorded already; returns the recorded one. The first server to
        start decides; a concurrent first start by two servers records one of them."""
        ...

    def close(self) -> None: ...
