"""One embedded SQLite database (WAL) as every embedded store uses it.

Writers are serialized by a lock and `BEGIN IMMEDIATE`, so a write transaction sees and changes
the database alone; a killed process leaves either the whole transaction or none of it (WAL with
synchronous=NORMAL loses nothing a committed transaction wrote when the process dies). Readers use
their own connection per thread and never wait for a writer.

Every use of a connection is counted, and `close` waits for the uses to end: closing a connection
while another thread is inside it crashes the process (a segmentation fault, not an exception),
and a gRPC handler whose deadline expired still runs in its thread after the server stopped. A use
that begins after `close` is refused as StoreUnavailable.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from common.errors import StoreUnavailable

log = logging.getLogger("idstitch.sqlite")

CHUNK = 500  # well under SQLite's bound-parameter limit
CHECKPOINT_SECONDS = 2.0
"""How often the checkpointer copies the log into the database. A round copies each page once,
however many transactions wrote it since the last, so rounds further apart copy less: at 0.5 s
the checkpointer spent 21 to 56 µs of CPU per ingested event (two runs), at 2 s 15 to 27 (docs/benchmarks.md,
"Ingest as the data grows, third look")."""
CLOSE_WAIT_SECONDS = 30.0
"""How long `close` waits for uses still running; past it the connections are left for the
process's exit to release, never closed under a user."""
RESTART_FRAMES = 16384
"""WAL frames (4 KiB pages: 64 MiB) past which the checkpointer rewinds the log (_checkpoint_loop);
a rewound log is cut back to this size (`journal_size_limit`), so a burst does not leave its
high-water mark on disk."""


class SqliteDatabase:
    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = path
        self._lock_file = _lock(path)
        # Owner-only from the first byte: SQLite gives the -wal and -shm files the database
        # file's permissions.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._write_lock = threading.Lock()
        self.version = 0
        """Counts the write transactions begun. A transaction that reads it inside itself, and finds
        it unchanged later, knows that no write has begun since: what it committed is still the
        database's content (one process owns the file: `_lock`)."""
        self._use = threading.Condition()
        self._users = 0
        self._closed = False
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._writer = self._connect()
        self._writer.executescript(schema)
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name=f"checkpoint-{path.name}", daemon=True
        )
        self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # SQLite's default page cache is 2 MB; the graph's indexes outgrow it within 10^5 events.
            conn.execute("PRAGMA cache_size=-65536")
            # Checkpoints run in a thread of their own (below), off the write path; a writer
            # checkpoints itself only if the WAL ever reaches 256 MB.
            conn.execute("PRAGMA wal_autocheckpoint=65536")
            conn.execute(f"PRAGMA journal_size_limit={RESTART_FRAMES * 4096}")
            conn.execute("PRAGMA foreign_keys=OFF")
            # Deleted content is overwritten with zeros, so an erased person leaves no bytes in
            # free pages (see purge_wal for the write-ahead log).
            conn.execute("PRAGMA secure_delete=ON")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite store at {self.path.name} cannot open: {e}") from e
        return conn

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        with self._use:
            if self._closed:
                raise StoreUnavailable(f"sqlite store at {self.path.name} is closed")
            self._users += 1
        try:
            yield
        finally:
            with self._use:
                self._users -= 1
                if self._closed and not self._users:  # only `close` ever waits
                    self._use.notify_all()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._write_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """This thread's read connection, outside a transaction: one statement's snapshot."""
        with self._in_use():
            yield self._reader()

    def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """The rows of one read statement."""
        with self.connection() as db:
            return db.execute(sql, params).fetchall()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serializable write transaction: committed when the block ends, rolled back if it raises."""
        with self._in_use(), self._write_lock:
            db = self._writer
            self.version += 1
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as e:
                raise StoreUnavailable(f"sqlite store: {e.__class__.__name__}") from e

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Several reads from one consistent snapshot."""
        with self._in_use():
            db = self._reader()
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")

    def purge_wal(self) -> None:
        """Copies the log into the database and empties it: after an erasure, the page images
        that still held the erased rows leave the -wal file too. Waits for readers to finish."""
        with self._in_use(), self._write_lock:
            try:
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.OperationalError as e:
                raise StoreUnavailable(f"sqlite store: {e.__class__.__name__}") from e

    def ping(self) -> None:
        try:
            self.fetch("SELECT 1")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite store: {e.__class__.__name__}") from e

    def _checkpoint_loop(self) -> None:
        """Copies committed pages from the WAL back into the database every CHECKPOINT_SECONDS, while
        writers go on (PASSIVE never blocks them). SQLite's own checkpoint would run inside a
        writer's commit and stall that batch for tens of milliseconds.

        Under a steady stream of writes a PASSIVE checkpoint never finds the log fully copied
        when a writer begins, so the log is never rewound: it grew to 270 MB over 10^5 events
        (bench.ingest_resolve), disk that only a restart gave back. Once the log passes
        RESTART_FRAMES, the next round takes the write lock between two transactions, copies the
        little the PASSIVE rounds left and rewinds the log."""
        conn = self._connect()
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames >= RESTART_FRAMES:
                        with self._write_lock:
                            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                except sqlite3.Error:
                    continue  # busy or the disk hiccupped: the next round tries again
        finally:
            conn.close()

    def close(self) -> None:
        """Refuses new uses, waits for the running ones, then closes every connection."""
        deadline = time.monotonic() + CLOSE_WAIT_SECONDS
        with self._use:
            if self._closed:
                return
            self._closed = True
            while self._users and (left := deadline - time.monotonic()) > 0:
                self._use.wait(left)
            busy = self._users
        self._closing.set()
        self._checkpointer.join()
        if busy:  # a use outlived the wait: leave its connection open rather than crash under it
            log.warning("sqlite store at %s: %d uses still running at close", self.path.name, busy)
            self._lock_file.close()
            return
        with self._write_lock:
            for conn in self._readers:
                conn.close()
            self._writer.close()
        self._lock_file.close()


def _lock(path: Path) -> IO[str]:
    """An exclusive lock on `<file>.lock` for as long as the store is open: two processes writing
    one embedded store would each believe they serialize its batches. The holder writes its
    process id into the file, so the refusal can name it."""
    f = open(os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600), "r+")  # noqa: SIM115
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = f.read().strip() or "unknown"
        f.close()
        raise StoreUnavailable(
            f"{path.name} is in use by another idstitch process (pid {holder}); "
            "stop it, or give this server a data directory of its own"
        ) from None
    f.truncate(0)
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def chunked(
    db: sqlite3.Connection, sql: str, values: Iterable[str | int], before: tuple[Any, ...] = ()
) -> Iterator[list[tuple]]:
    """Runs `sql` with its `IN ({})` list filled by `values`, CHUNK at a time; `before`: the
    parameters ahead of the list (numbered ?1, ?2...)."""
    items = list(dict.fromkeys(values))
    for start in range(0, len(items), CHUNK):
        part = items[start : start + CHUNK]
        yield db.execute(sql.format(",".join("?" * len(part))), (*before, *part)).fetchall()


C = TypeVar("C", bound=type)
R = TypeVar("R")
_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)
"""SQLite errors that are mistakes of the caller, not of the store: they stay what they are."""


def translates_errors(cls: C) -> C:
    """The one point where an embedded store's SQLite errors become StoreUnavailable (gRPC
    UNAVAILABLE): every public method of the class, its reads included — a locked, full, failing or
    damaged database file is the store being unavailable, not an internal error."""
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not callable(fn):
            continue
        setattr(cls, name, _translated(fn))
    return cls


def _translated(fn: Callable[..., R]) -> Callable[..., R]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as e:
            if isinstance(e, _BUGS):
                raise
            raise StoreUnavailable(f"sqlite store: {e.__class__.__name__}") from e

    return call
