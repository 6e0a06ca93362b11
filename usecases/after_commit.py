"""What a graph commit leaves for the other stores to do: persons to refold after a split (a
detach, or a weak link a batch withdrew) and what the change feed must be told. Written in the
commit's own graph transaction as an outbox entry (identity.model.OutboxEntry) and deleted once
done, so a server that dies between the graph's commit and the rest leaves it to the outbox
sweep (usecases/outbox_sweep.py) — which a retry could not do: a retried detach finds nothing left to
detach, and a retried batch finds its merges and withdrawals already made."""

from __future__ import annotations

import time
import uuid

import msgspec

from changes.model import Pending
from identity.model import OutboxEntry


class AfterCommit(msgspec.Struct, frozen=True, omit_defaults=True):
    refold: list[str] = []
    """Persons whose events go to their owners, then are refolded (usecases/splits.py)."""
    tell: Pending | None = None


_encode = msgspec.msgpack.Encoder().encode
decode_after_commit = msgspec.msgpack.Decoder(AfterCommit).decode


def outbox_entry(work: AfterCommit, entry_id: str | None = None) -> OutboxEntry:
    return OutboxEntry(entry_id or uuid.uuid4().hex, time.time_ns() // 1000, _encode(work))
