"""The change feed in Cassandra, shared by every idstitch server of a cluster: one watcher, on any
server, sees every server's changes.

Tables (`ns` a namespace, as for the profile store):
- `changes` (ns, minute) clustered by (at, id): one partition per minute of changes (bounded:
  a minute of a cluster's changes), in time order. `at` is the writer's clock in µs when it
  recorded the change, `id` makes it unique (the writer's random prefix and a counter). A cursor
  is `at:id`. Every row expires after the retention window (TTL): a cursor older than that is
  expired, with no trimming to run.
- `changes_by_person` (ns, person_id) → (minute, at, id): where a person's changes are, so an
  erasure removes them without scanning the feed.
- `told` (ns, person_id): what the feed last told about a person.
- `due` (ns, slot) → person_id: the persons whose told state time alone can change within a slot
  of 10 s (`Watched.due`). Rows are only added — a person whose due moment moves leaves a stale
  row, which the sweeper skips by the told state — and a slot is deleted once swept and passed;
  `due_mark` (ns) is the last slot swept. `due_of` (ns, person_id) → slot: a person's rows, so an
  erasure deletes them; each expires an hour after its slot, so it does not grow with the
  person's history.

Order across servers. A reader reads only up to `settle` (default 0.3 s) before now: a change
stamped earlier than that is assumed written. A writer's clock running ahead of another's by
more than that, or a write that takes longer, can deliver a change late to a watcher that has
passed its time — keep server clocks in sync (NTP keeps them within milliseconds). Two servers
that observe the same person at the same moment can both tell a change (at least once).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Collection, Mapping, Sequence

from changes.model import BadCursor, Change, CursorExpired, Watched, decode_told, encode_told
from drivers.cassandra import CassandraConnection, CassandraEndpoint, translates_driver_errors

TABLES = (
    "CREATE TABLE IF NOT EXISTS {ks}.changes (ns text, minute bigint, at bigint, id text, person_id text, "
    "kind text, store_id text, detail text, PRIMARY KEY ((ns, minute), at, id))",
    "CREATE TABLE IF NOT EXISTS {ks}.changes_by_person (ns text, person_id text, minute bigint, at bigint, "
    "id text, PRIMARY KEY ((ns, person_id), minute, at, id))",
    "CREATE TABLE IF NOT EXISTS {ks}.told (ns text, person_id text, state text, "
    "PRIMARY KEY ((ns, person_id)))",
    "CREATE TABLE IF NOT EXISTS {ks}.due (ns text, slot bigint, person_id text, "
    "PRIMARY KEY ((ns, slot), person_id))",
    "CREATE TABLE IF NOT EXISTS {ks}.due_of (ns text, person_id text, slot bigint, "
    "PRIMARY KEY ((ns, person_id), slot))",
    "CREATE TABLE IF NOT EXISTS {ks}.due_mark (ns text, slot bigint, PRIMARY KEY ((ns)))",
)
MINUTE_US = 60_000_000
ROWS_PER_REQUEST = 20
"""Change rows per unlogged batch: one minute's partition, about 3 KB (Cassandra warns at 5 KB)."""
SLOT_US = 10_000_000
SLOTS_PER_CALL = 360
"""Slots `due` reads in one call at most (an hour): after a long pause the sweeper catches up
over several calls, each of bounded work."""
PER_READ = 100


def _minute(at: int) -> int:
    return at // MINUTE_US


def _slot(at: int) -> int:
    return at // SLOT_US


def _parse(cursor: str) -> tuple[int, str]:
    at, sep, cid = cursor.partition(":")
    if not sep or not at.isdigit() or len(at) > 19 or len(cid) > 40:
        raise BadCursor(cursor)
    return int(at), cid


@translates_driver_errors
class CassandraChangeFeed:
    def __init__(
        self,
        endpoint: CassandraEndpoint,
        *,
        keyspace: str = "idstitch",
        replication: Mapping[str, str | int] | None = None,
        namespace: str = "main",
        retention_seconds: int = 7 * 86_400,
        settle_seconds: float = 0.3,
    ) -> None:
        self._conn = CassandraConnection.for_store(
            endpoint, keyspace=keyspace, replication=replication, namespace=namespace, tables=TABLES
        )
        self._ns = namespace
        self._closed = False
        self._ttl = int(retention_seconds)
        self._settle = int(settle_seconds * 1_000_000)
        self._prefix = secrets.token_hex(4)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._last_at = 0
        q, ks = self._conn.prepare, keyspace
        self._insert = q(
            f"INSERT INTO {ks}.changes (ns, minute, at, id, person_id, kind, store_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
        )
        self._index = q(
            f"INSERT INTO {ks}.changes_by_person (ns, person_id, minute, at, id) "
            "VALUES (?, ?, ?, ?, ?) USING TTL ?"
        )
        self._read = q(
            f"SELECT at, id, person_id, kind, store_id, detail FROM {ks}.changes "
            "WHERE ns = ? AND minute = ? AND (at, id) > (?, ?) AND at <= ? LIMIT ?"
        )
        self._of_person = q(
            f"SELECT minute, at, id FROM {ks}.changes_by_person WHERE ns = ? AND person_id = ?"
        )
        self._latest_of = q(
            f"SELECT minute, at, id FROM {ks}.changes_by_person WHERE ns = ? AND person_id = ? "
            "ORDER BY minute DESC, at DESC, id DESC LIMIT ?"
        )
        self._one = q(
            f"SELECT at, id, person_id, kind, store_id, detail FROM {ks}.changes "
            "WHERE ns = ? AND minute = ? AND at = ? AND id = ?"
        )
        self._delete = q(f"DELETE FROM {ks}.changes WHERE ns = ? AND minute = ? AND at = ? AND id = ?")
        self._delete_index = q(f"DELETE FROM {ks}.changes_by_person WHERE ns = ? AND person_id = ?")
        self._set_told = q(f"INSERT INTO {ks}.told (ns, person_id, state) VALUES (?, ?, ?)")
        self._drop_told = q(f"DELETE FROM {ks}.told WHERE ns = ? AND person_id = ?")
        self._get_told = q(f"SELECT person_id, state FROM {ks}.told WHERE ns = ? AND person_id IN ?")
        self._set_due = q(f"INSERT INTO {ks}.due (ns, slot, person_id) VALUES (?, ?, ?)")
        self._set_due_of = q(f"INSERT INTO {ks}.due_of (ns, person_id, slot) VALUES (?, ?, ?) USING TTL ?")
        self._list_due = q(
            f"SELECT person_id FROM {ks}.due WHERE ns = ? AND slot = ? AND person_id > ? LIMIT ?"
        )
        self._drop_slot = q(f"DELETE FROM {ks}.due WHERE ns = ? AND slot = ?")
        self._due_of = q(f"SELECT slot FROM {ks}.due_of WHERE ns = ? AND person_id = ?")
        self._drop_due = q(f"DELETE FROM {ks}.due WHERE ns = ? AND slot = ? AND person_id = ?")
        self._drop_due_of = q(f"DELETE FROM {ks}.due_of WHERE ns = ? AND person_id = ?")
        self._get_mark = q(f"SELECT slot FROM {ks}.due_mark WHERE ns = ?")
        self._set_mark = q(f"INSERT INTO {ks}.due_mark (ns, slot) VALUES (?, ?)")
        # The first server of a namespace starts the sweep here; nothing is due before it.
        start = q(f"INSERT INTO {ks}.due_mark (ns, slot) VALUES (?, ?) IF NOT EXISTS")
        self._conn.session.execute(start, (self._ns, _slot(time.time_ns() // 1000) - 1))

    def _stamp(self) -> int:
        """This writer's time in µs, never going back (one change after another gets a later `at`)."""
        with self._lock:
            self._last_at = max(time.time_ns() // 1000, self._last_at + 1)
            return self._last_at

    def record(self, changes: Sequence[Change], told: Mapping[str, Watched | None]) -> list[Change]:
        out: list[Change] = []
        rows: list[tuple[object, tuple[object, ...]]] = []  # mostly one minute's partition
        statements: list[tuple[object, tuple[object, ...]]] = []  # a partition each
        now = time.time_ns() // 1000
        for c in changes:
            at = self._stamp()
            cid = f"{self._prefix}{next(self._counter):x}"
            m = _minute(at)
            detail = json.dumps(c.detail, separators=(",", ":"))
            row = (self._ns, m, at, cid, c.person_id, c.kind, c.store_id, detail, self._ttl)
            rows.append((self._insert, row))
            statements.append((self._index, (self._ns, c.person_id, m, at, cid, self._ttl)))
            out.append(Change(c.person_id, c.kind, at, c.detail, c.store_id, f"{at}:{cid}"))
        for pid, w in told.items():
            if w is None:  # its due rows, if any, are skipped by the sweeper: no told state
                statements.append((self._drop_told, (self._ns, pid)))
                continue
            statements.append((self._set_told, (self._ns, pid, encode_told(w).decode())))
            if w.due:
                # A person's due_of row outlives its slot by an hour: once the slot is swept and
                # deleted there is nothing of the person there for an erasure to find.
                keep = max(60, (w.due - now) // 1_000_000 + 3600)
                statements.append((self._set_due, (self._ns, _slot(w.due), pid)))
                statements.append((self._set_due_of, (self._ns, pid, _slot(w.due), keep)))
        self._conn.run_unlogged(rows, per_request=ROWS_PER_REQUEST)
        self._conn.run_unlogged(statements)
        return out

    def told(self, person_ids: Collection[str]) -> dict[str, Watched]:
        ids = list(dict.fromkeys(person_ids))
        reads = [(self._get_told, (self._ns, ids[i : i + PER_READ])) for i in range(0, len(ids), PER_READ)]
        out = {}
        for rs in self._conn.run_all(reads):
            for pid, state in rs:
                out[pid] = decode_told(state)
        return out

    def read(self, after: str | None, limit: int) -> tuple[list[Change], str]:
        """Reads minute partitions from the cursor's up to the settled horizon. `~` sorts after
        every id, so `T:~` means "everything stamped up to T"."""
        now = time.time_ns() // 1000
        horizon = now - self._settle
        if after is None:
            return [], f"{horizon}:~"
        at, cid = _parse(after)
        if at < now - self._ttl * 1_000_000:
            # What is left; with some slack, so that the cursor given is still valid when used.
            oldest = now - self._ttl * 1_000_000 + min(60_000_000, self._ttl * 500_000)
            raise CursorExpired(f"{oldest}:~")
        if limit <= 0:  # a check of the cursor: nothing read, nothing passed
            return [], after
        out: list[Change] = []
        minute = _minute(at)
        while minute <= _minute(horizon) and len(out) < limit:
            want = limit - len(out)
            rows = list(self._conn.session.execute(self._read, (self._ns, minute, at, cid, horizon, want)))
            out += [Change(p, k, a, json.loads(d), s, f"{a}:{i}") for a, i, p, k, s, d in rows]
            if len(rows) == want:
                return out, out[-1].cursor
            minute += 1
            at, cid = minute * MINUTE_US - 1, "~"
        return out, f"{horizon}:~" if horizon > _parse(after)[0] else after

    def of_persons(self, person_ids: Collection[str], limit: int) -> list[Change]:
        """Each person's index partition, newest first, then those changes themselves."""
        ids = list(dict.fromkeys(person_ids))
        located = self._conn.run_all([(self._latest_of, (self._ns, pid, limit)) for pid in ids])
        keys = sorted(((r[1], r[2], r[0]) for rs in located for r in rs), reverse=True)[:limit]
        rows = self._conn.run_all([(self._one, (self._ns, minute, at, cid)) for at, cid, minute in keys])
        return [Change(p, k, a, json.loads(d), st, f"{a}:{i}") for rs in rows for a, i, p, k, st, d in rs]

    def forget(self, person_ids: Collection[str]) -> int:
        ids = list(dict.fromkeys(person_ids))
        located = self._conn.run_all([(self._of_person, (self._ns, pid)) for pid in ids])
        deletes: list[tuple[object, tuple[object, ...]]] = [
            (self._delete, (self._ns, m, at, cid)) for rs in located for m, at, cid in rs
        ]
        slots = self._conn.run_all([(self._due_of, (self._ns, pid)) for pid in ids])
        due: list[tuple[object, tuple[object, ...]]] = [
            (self._drop_due, (self._ns, s, pid)) for pid, rs in zip(ids, slots, strict=True) for (s,) in rs
        ]
        due += [(self._drop_due_of, (self._ns, pid)) for pid in ids]
        deletes += [(self._delete_index, (self._ns, pid)) for pid in ids]
        deletes += [(self._drop_told, (self._ns, pid)) for pid in ids]
        self._conn.run_all(deletes + due)
        return len(deletes) - 2 * len(ids)

    def due(self, before: int, limit: int, after: str = "") -> tuple[list[str], str]:
        """Slot by slot, of the slots wholly past `before` less the settle time (another server's
        row for that slot is written by then); the token is "slot/last person id". A call with a
        token deletes the slots before its slot, which earlier calls listed, and moves the mark."""
        mark_row = self._conn.session.execute(self._get_mark, (self._ns,)).one()
        mark = mark_row[0] if mark_row is not None else _slot(before) - 1
        slot, _, last = after.partition("/")
        s = int(slot) if slot.isdigit() else mark + 1
        if s > mark + 1:
            self._conn.run_all([(self._drop_slot, (self._ns, x)) for x in range(mark + 1, s)])
            self._conn.session.execute(self._set_mark, (self._ns, s - 1))
        if s < mark + 1:  # another server swept past it meanwhile
            s, last = mark + 1, ""
        end = min(_slot(before - self._settle) - 1, s + SLOTS_PER_CALL - 1)
        out: list[str] = []
        while s <= end:
            want = limit - len(out)
            rows = [p for (p,) in self._conn.session.execute(self._list_due, (self._ns, s, last, want))]
            out += rows
            if len(rows) == want:
                return out, f"{s}/{rows[-1]}"
            s, last = s + 1, ""
        return out, f"{s}/" if s > mark + 1 or out else after

    def trim(self, before: int) -> int:
        return 0  # rows expire by their TTL

    def close(self) -> None:
        if not self._closed:  # once: the connection is shared and counted
            self._closed = True
            self._conn.release()
