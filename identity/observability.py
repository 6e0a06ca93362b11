"""What the domain reports to operators: spans and metrics through the OpenTelemetry API.

Only the API is used here. It does nothing until the server installs SDK providers (see
server/telemetry.py), so the domain stays free of exporters and costs next to nothing when
telemetry is off. Attributes carry counts, identifier *types*, rules and backends — never an
identifier value, raw or hashed (a keyed hash is still personal data), and never a person id.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import metrics, trace

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


class DeferredHistogram:
    """A histogram whose measurements are handed to the SDK by a background thread. Recording
    one through the SDK costs tens of microseconds (attribute hashing, locks) — as much as a cached
    read — so on the request path a measurement is only appended to a queue."""

    def __init__(self, histogram: metrics.Histogram) -> None:
        self._histogram = histogram
        self._queue: deque[tuple[float, Mapping[str, Any]]] = deque()
        _deferred.append(self)

    def record(self, value: float, attributes: Mapping[str, Any]) -> None:
        self._queue.append((value, attributes))
        if len(self._queue) > 100_000:  # nobody is draining (a test without the thread): do it here
            self.drain()

    def drain(self, chunk: int | None = None) -> None:
        """Records the queued measurements; with `chunk`, lets other threads run between chunks."""
        queue, record = self._queue, self._histogram.record
        done = 0
        while queue:
            value, attributes = queue.popleft()
            record(value, attributes)
            done += 1
            if chunk and done % chunk == 0:
                time.sleep(0)  # give the GIL back: a long drain would stall requests behind it


_deferred: list[DeferredHistogram] = []


def flush_measurements() -> None:
    """Hands every queued measurement to the SDK."""
    for h in _deferred:
        h.drain()


def _drain_forever() -> None:
    """Drains often and in short chunks: a drain every half second took several milliseconds of
    GIL at a time, which showed in request tail latencies (bench/telemetry_overhead.py)."""
    while True:
        time.sleep(0.02)
        for h in _deferred:
            h.drain(chunk=16)


threading.Thread(target=_drain_forever, name="idstitch-metrics-drain", daemon=True).start()

person_size = DeferredHistogram(
    _meter.create_histogram(
        "idstitch.person.identifiers",
        unit="{identifier}",
        description="Identifiers per person, for each person a batch touched",
        explicit_bucket_boundaries_advisory=[1, 2, 3, 5, 8, 13, 21, 34, 55, 89],
    )
)
store_duration = DeferredHistogram(
    _meter.create_histogram(
        "idstitch.store.duration", unit="ms", description="Store calls by backend, operation and outcome"
    )
)
store_errors = _meter.create_counter(
    "idstitch.store.errors", unit="{error}", description="Failed store calls"
)

R = TypeVar("R")
READS = frozenset(
    {
        "resolve", "resolve_person", "live_person", "person_graph", "get", "get_many", "events_of", "ping",
        "suppressed", "has_suppressions", "key_by_hash", "erasure", "audit_log", "api_keys",
    }
)  # fmt: skip
"""Store operations that only read: timed on sampled requests only (see Instrumented)."""


@contextmanager
def span(
    name: str, *, kind: trace.SpanKind = trace.SpanKind.INTERNAL, **attributes: Any
) -> Iterator[trace.Span]:
    """A span that, on an exception, records its type only: exception messages (a driver's, say)
    may quote a value, so neither they nor tracebacks go into telemetry."""
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
            # Reads on the page-render path are timed when their request is sampled: an SDK
            # histogram measurement costs more than a cached read. Writes and errors always count.
            recording = trace.get_current_span().is_recording()
            start = time.perf_counter()
            try:
                if recording:
                    with span(span_name, kind=trace.SpanKind.CLIENT, **labels):
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
