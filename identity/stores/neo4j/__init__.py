"""The identity graph in Neo4j, for when several idstitch servers stitch into one graph.

Data model. (:Identifier {key, type, person_id, shared, first_seen, last_seen, weak_since,
weak_via}) nodes joined by
[:LINK {first_seen, last_seen, channel, rule, strength, event_count}] relationships, stored once
from the smaller key to the larger. Membership is the identifier's `person_id` property (one
indexed lookup on the resolve path) with (:Person {id, first_seen}) nodes; merged-away ids are
(:Alias {alias, person_id}); persons that used a shared identifier are (:SharedUse); accepted
events are (:Event {event_id, person_id, occurred_at, committed_at, batch_seq}), their person as
attributed at ingest (a read follows the alias). An optional namespace prefixes every label, so several
graphs (tenants, tests) can share one database.

Serializable stitching without split brains. A batch is one managed write transaction that
first *locks* everything its decision reads, in a fixed order — the persons its identifiers
belong to, sorted (a write to each Person), then its event ids (MERGE on a unique constraint),
then its identifier keys, sorted (a write to each key's (:IdentifierLock {key}) node, MERGEd) —
and only then reads them.
Only a transaction holding a person's lock changes that person's members, aliases or events, and
a merge needs both persons' locks: a second server merging the same person waits until the first
commits, then reads the merged state, so two merges can never each see half of the other. Where
the fixed order cannot be kept (a person merged by another server between the first read and the
locks) a deadlock is possible; Neo4j detects it and the driver retries the transaction from the
start with a fresh snapshot (the plan is a pure function of the snapshot). So every committed
batch saw the state left by the batches committed before it: the result equals some sequential
run, and the commit stamps on the events record which one.

Why a key is locked through a node of its own rather than its Identifier. In Neo4j 5, while a
transaction waits for a node's lock, the holder cannot create a relationship to that node: Neo4j
reports a deadlock (reproduced with two transactions, for sparse and dense nodes alike). Batches
that waited for a kiosk's Identifier killed the batch ahead of them whenever it linked to the
kiosk — 20 to 59 deadlocks in 80 batches with two ingest clients. Lock nodes never carry
relationships, so waiting on them is harmless (none in the same runs). They hold the key, so
erasure deletes them with the identifiers.
"""

from identity.stores.neo4j.graph import Neo4jIdentityGraph

__all__ = ["Neo4jIdentityGraph"]
