"""The Cypher the Neo4j graph reads with, and its schema. `{Label}` placeholders are filled with the
namespaced labels (Neo4jSession.q); `{{`/`}}` are literal braces."""

from __future__ import annotations

from identity.identifiers import WEAK_CLASSES

IDENTIFIER = (
    # A sighted identifier and, when it is shared, the persons who used it.
    "MATCH (i:{Identifier} {{key: $k}}) WHERE i.type IS NOT NULL "
    "OPTIONAL MATCH (s:{SharedUse} {{key: $k}}) WHERE i.shared "
    "WITH i, collect(s.person_id) AS users "
)
RESOLVE = IDENTIFIER + "RETURN i.person_id AS pid, i.shared AS sh, users"
IDENTIFIERS = (
    # IDENTIFIER for each of the keys $ks, in one statement (the batch reads' path).
    "UNWIND $ks AS k MATCH (i:{Identifier} {{key: k}}) WHERE i.type IS NOT NULL "
    "OPTIONAL MATCH (s:{SharedUse} {{key: k}}) WHERE i.shared "
    "WITH k, i, collect(s.person_id) AS users "
)
RESOLVE_MANY = IDENTIFIERS + "RETURN k, i.person_id AS pid, i.shared AS sh, users"
PERSON = (
    # The live person an id names: itself, or the survivor of its merge.
    "OPTIONAL MATCH (p:{Person} {{id: $id}}) OPTIONAL MATCH (al:{Alias} {{alias: $id}}) "
    "WITH coalesce(p.id, al.person_id) AS pid "
)
LIVE_PERSON = PERSON + "RETURN pid"
LIVE_PERSONS = (
    "UNWIND $ids AS id OPTIONAL MATCH (p:{Person} {{id: id}}) OPTIONAL MATCH (al:{Alias} {{alias: id}}) "
    "WITH id, coalesce(p.id, al.person_id) AS pid WHERE pid IS NOT NULL RETURN id, pid"
)
PERSON_GRAPH = (
    # The graph of the person `pid`, in one statement. Links are walked from the person's own
    # identifiers (whose degree the caps bound), never from a shared one, which may be linked to
    # thousands. With `pid` null every part is empty.
    "CALL (pid) {{ MATCH (i:{Identifier} {{person_id: pid}}) "
    "  RETURN collect(i {{.key, .shared, .first_seen, .last_seen}}) AS members }} "
    "CALL (pid) {{ MATCH (s:{SharedUse} {{person_id: pid}}) "
    "  MATCH (i:{Identifier} {{key: s.key}}) "
    "  RETURN collect(i {{.key, .shared, .first_seen, .last_seen}}) AS shared }} "
    "CALL (pid) {{ MATCH (a:{Alias} {{person_id: pid}}) RETURN collect(a.alias) AS aliases }} "
    "CALL (members, shared) {{ "
    "  WITH [m IN members | m.key] AS own, "
    "    [m IN members | m.key] + [x IN shared | x.key] AS keys "
    "  UNWIND own AS k MATCH (a:{Identifier} {{key: k}})-[l:LINK]-(b:{Identifier}) "
    "  WHERE b.key IN keys AND (a.key < b.key OR b.shared) "
    "  RETURN collect(l {{a: startNode(l).key, b: endNode(l).key, .first_seen, .last_seen, "
    "    .channel, .rule, .strength, .event_count}}) AS links }} "
    # Weak links to another person's identifiers: pending, or kept apart.
    "CALL (pid, members) {{ "
    "  UNWIND [m IN members | m.key] AS k MATCH (a:{Identifier} {{key: k}})-[l:LINK]-(b:{Identifier}) "
    f"  WHERE l.strength IN {list(WEAK_CLASSES)} AND "
    "b.person_id IS NOT NULL AND b.person_id <> pid "
    "  RETURN collect(l {{mine: k, other: b.person_id, a: startNode(l).key, b: endNode(l).key, "
    "    .first_seen, .last_seen, .channel, .rule, .strength, .event_count}}) AS unapplied }} "
    "RETURN pid, members, shared, aliases, links, unapplied"
)
OUTBOX = (
    "MATCH (o:{Outbox}) WHERE o.at < $before "
    "RETURN o.id AS id, o.at AS at, o.body AS body ORDER BY o.at, o.id LIMIT $limit"
)
OUTBOX_DONE = "UNWIND $ids AS id MATCH (o:{Outbox} {{id: id}}) DELETE o"
SCHEMA = (
    "CREATE CONSTRAINT {Identifier}_key IF NOT EXISTS FOR (n:{Identifier}) REQUIRE n.key IS UNIQUE",
    "CREATE CONSTRAINT {IdentifierLock}_key IF NOT EXISTS FOR (n:{IdentifierLock}) REQUIRE n.key IS UNIQUE",
    "CREATE CONSTRAINT {Person}_id IF NOT EXISTS FOR (n:{Person}) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT {Alias}_alias IF NOT EXISTS FOR (n:{Alias}) REQUIRE n.alias IS UNIQUE",
    "CREATE CONSTRAINT {SharedUse}_uid IF NOT EXISTS FOR (n:{SharedUse}) REQUIRE n.uid IS UNIQUE",
    "CREATE CONSTRAINT {Event}_id IF NOT EXISTS FOR (n:{Event}) REQUIRE n.event_id IS UNIQUE",
    "CREATE CONSTRAINT {Outbox}_id IF NOT EXISTS FOR (n:{Outbox}) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX {Outbox}_at IF NOT EXISTS FOR (n:{Outbox}) ON (n.at)",
    "CREATE INDEX {Identifier}_person IF NOT EXISTS FOR (n:{Identifier}) ON (n.person_id)",
    "CREATE INDEX {Identifier}_weak_via IF NOT EXISTS FOR (n:{Identifier}) ON (n.weak_via)",
    "CREATE INDEX {Alias}_person IF NOT EXISTS FOR (n:{Alias}) ON (n.person_id)",
    "CREATE INDEX {SharedUse}_key IF NOT EXISTS FOR (n:{SharedUse}) ON (n.key)",
    "CREATE INDEX {SharedUse}_person IF NOT EXISTS FOR (n:{SharedUse}) ON (n.person_id)",
    # Events are no longer looked up by person (merges do not touch them).
    "DROP INDEX {Event}_person IF EXISTS",
)
"""Constraints and indexes, created (idempotently) when a server connects."""
