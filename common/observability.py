"""What the domain reports to operators: spans and metrics through the OpenTelemetry API.

Only the API is used here. It does nothing until the server installs SDK providers (see
server/telemetry.py), so the domain stays free of exporters and costs next to nothing when
telemetry is off. Attributes carry counts, identifier *types*, rules and backends — never an
identifier value, raw or hashed (a keyed hash is still personal data), and never a person id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.util.types import AttributeValue

tracer = trace.get_tracer("idstitch")
_meter = metrics.get_meter("idstitch")

events_ingested = _meter.create_counter(
    "idstitch.events.ingested", unit="{event}", description="Events by channel and outcome"
)
persons_merged = _meter.create_counter(
    "idstitch.persons.merged", unit="{person}", description="Persons merged away"
)
links_refused = _meter.create_counter(
    "idstitch.links.refused", unit="{link}", description="Links the stitching rules refused, by rule"
)
identifiers_shared = _meter.create_counter(
    "idstitch.identifiers.marked_shared", unit="{identifier}", description="Identifiers newly marked shared"
)

erasures = _meter.create_counter("idstitch.erasures", unit="{erasure}", description="Completed erasures")
events_suppressed = _meter.create_counter(
    "idstitch.events.suppressed", unit="{event}", description="Events dropped: they predate an erasure"
)
read_cache_lookups = _meter.create_counter(
    "idstitch.read_cache.lookups", unit="{lookup}", description="Read cache lookups, by outcome (hit, miss)"
)


person_size = _meter.create_histogram(
    "idstitch.person.identifiers",
    unit="{identifier}",
    description="Identifiers per person, for each person a batch touched",
    explicit_bucket_boundaries_advisory=[1, 2, 3, 5, 8, 13, 21, 34, 55, 89],
)
store_duration = _meter.create_histogram(
    "idstitch.store.duration", unit="ms", description="Store calls by backend, operation and outcome"
)
store_errors = _meter.create_counter(
    "idstitch.store.errors", unit="{error}", description="Failed store calls"
)

R = TypeVar("R")
READS = frozenset(
    {
        "resolve", "resolve_person", "live_person", "person_graph", "get", "get_many", "events_of", "ping",
        "suppressed", "has_suppressions", "key_by_hash", "erasure", "audit_log", "api_keys",
        "resolve_many", "resolve_people", "live_persons", "persons_linked_to", "outbox", "told", "read",
        "due", "of_persons",
    }
)  # fmt: skip
"""Store operations that only read: timed on sampled requests only (see Instrumented)."""
WRITES = frozenset(
    {
        "stitch", "outbox_done", "detach", "erase_person", "append", "reattribute", "erase", "scrub_keys",
        "suppress", "begin_erasure", "record_progress", "complete_erasure", "audit", "add_key",
        "revoke_key", "agreed", "record", "forget", "trim", "close",
    }
)  # fmt: skip
"""The other store operations: always timed. Every port method is in one of the two
(tests/test_port_lists.py), so a new one is classified when it is added."""


@contextmanager
def span(
    name: str,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[trace.Span]:
    """A span that, on an exception, records its type only: exception messages (a driver's, say)
    may quote a value, so neither they nor tracebacks go into telemetry. Inside a trace that was
    not sampled no span is started (the SDK would make a non-recording one, at a cost measured in
    tens of microseconds on the ingest path): the current one stands in."""
    current = trace.get_current_span()
    if current.get_span_context().is_valid and not current.is_recording():
        yield current
        return
    with tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as s:
        try:
            yield s
        except BaseException as e:
            s.set_attribute("error.type", type(e).__name__)
            s.set_status(trace.Status(trace.StatusCode.ERROR, type(e).__name__))
            raise


class Instrumented:
    """Wraps a store so that every public call is a span and a latency measurement, labelled with
    the backend and the operation (the method name) — never with arguments."""

    def __init__(self, store: object, backend: str, kind: str) -> None:
        self._store = store
        self._backend = backend
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name.startswith("_") or not callable(target):
            return target
        wrapped = self._wrap(name, target)
        setattr(self, name, wrapped)  # built once: later calls find it without __getattr__
        return wrapped

    def _wrap(self, name: str, fn: Callable[..., R]) -> Callable[..., R]:
        labels = {"db.system": self._backend, "idstitch.store": self._kind, "db.operation": name}
        ok = {**labels, "outcome": "ok"}
        span_name = f"{self._kind}.{name}"
        read = name in READS

        def call(*args: Any, **kwargs: Any) -> R:
            # Reads on the page-render path are timed when their request is sampled: that sample
            # describes their latency, and timing every one would double the measurements a lookup
            # hands to the exporter. Writes and errors always count.
            recording = trace.get_current_span().is_recording()
            start = time.perf_counter()
            try:
                if recording:
                    with span(span_name, kind=trace.SpanKind.CLIENT, attributes=labels):
                        result = fn(*args, **kwargs)
                else:
                    result = fn(*args, **kwargs)
            except Exception as e:
                outcome = type(e).__name__
                store_errors.add(1, {**labels, "error.type": outcome})
                store_duration.record((time.perf_counter() - start) * 1000, {**labels, "outcome": outcome})
                raise
            if recording or not read:
                store_duration.record((time.perf_counter() - start) * 1000, ok)
            return result

        return call
