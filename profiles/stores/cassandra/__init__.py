"""The profile store in Apache Cassandra, written by any number of idstitch servers at once.

Design note
-----------
Data model (two tables; `ns` is a namespace, so several stores can share a keyspace):

* `person_log`, partition `(ns, person_id)`: one clustering row per event of the person
  (`event_id` → occurred_at, identifier keys, facts) and, as static columns of the same partition,
  the materialized profile (`state`), a `version`, and the merge bookkeeping (`merged_into`,
  `pending`, `absorbed`). GetProfile reads the static columns only: one single-partition read.
* `event_claims`, partition `(ns, event_id)`: which partition is responsible for each event, so a
  redelivered event is recognized wherever it landed (the person it belongs to may have merged since).

No lost updates. Cassandra has no multi-partition transactions, and a plain read-modify-write of a
profile loses one of two concurrent folds. So every change to a person partition is a lightweight
transaction on that partition: a conditional batch that inserts the event rows and sets the new
state `IF version = <the version read>`. A batch applies atomically and in isolation within one
partition, so the profile and the events it was folded from never disagree; a writer that lost the
race re-reads and folds again. The batch inserts each event row `IF NOT EXISTS` too, so an event
already in the partition fails the batch rather than being folded twice.

Which partition holds an event is recorded in `event_claims`, so that a redelivered event is
recognized wherever it landed. An event the graph saw for the first time in this batch (the
`prefolded` ones: the graph commits before the profile store, and serializes each identifier key,
so no earlier append recorded it) gets its claim by a plain write — a lightweight transaction per
event would be Paxos work the graph has already done. Any other event (a retry's, a redelivery's)
is claimed `INSERT … IF NOT EXISTS`, which gives the event id to exactly one partition across all
servers; an event whose claim already exists is folded only if its row is missing from the claiming
partition (the first attempt died between the claim and the fold), and that check, too, is guarded
by the version.

Merges span two partitions, so they are a small protocol of single-partition transactions, each
idempotent, whose intermediate states any writer can finish: (1) the survivor records the loser in
`pending`; (2) the loser is frozen (`merged_into`), after which nothing folds into it; (3) the
survivor merges the loser's final state into its own, moves it from `pending` to `absorbed` — one
transaction. A server that dies between steps leaves a `pending` entry that the next write to the
survivor (or through the frozen loser, or the batch's retry) completes; until then the merge is not
yet visible — each side reads as before it, except that a read through a frozen loser's id shows
the survivor without the loser's part. Nothing folded into either side is lost
(tests/test_cassandra_store.py stops a merge after each step). The loser's event rows stay where
they are: a person's events are its partition plus the `absorbed` ones (one multi-partition read
when a split or an export needs them). A frozen partition's unfolded claims are moved to the
survivor with a conditional update.

Splits (`reattribute`) move rows to their new owners, then set each touched person's refolded state
`IF version = <read>`; if any person changed meanwhile the whole split is recomputed from where the
rows now are, which converges because every step is idempotent. Until a split finishes, readers
may see a part without the moved events; a split interrupted by a failure is finished by retrying
it (DetachIdentifier and Erase are idempotent).

Partition size: an event row is a few hundred bytes, so a person with 10,000 events is a few MB,
well below Cassandra's guidance for partitions; merges spread a person over several partitions.
For unbounded histories set `event_ttl_seconds`: rows (and claims) expire, the folded profile keeps
what they contributed, and a split can then refold only the events still held.

Erasure deletes every partition of the person (its own and the absorbed ones) and their claims.
Cassandra deletes by writing tombstones: the data stops being readable at once, but its bytes leave
the disk only when compaction drops them, after the table's `gc_grace_seconds` (10 days by default,
so that a replica that was down learns of the deletion). Operators who must bound that time lower
`gc_grace_seconds` on both tables and run repairs within it.
"""

from profiles.stores.cassandra.store import CassandraProfileStore

__all__ = ["CassandraProfileStore"]
