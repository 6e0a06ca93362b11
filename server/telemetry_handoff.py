"""The server's side of telemetry export: finished spans and metric measurements are handed, as
plain tuples, to a separate exporter process (server/telemetry_exporter.py) that aggregates them
and speaks OTLP.

Why a process: in one interpreter, encoding a batch of spans for OTLP held the GIL for ~3 ms and
every request in flight waited behind it, and each histogram measurement handed to the SDK cost
~7.5 us of attribute cleaning and hashing — work that showed in Resolve's tail latency
(bench/telemetry_overhead.py). Here a finished span is one tuple (server/telemetry_spans.py makes
them) and a measurement one deque append; a background thread ships them in `marshal`ed batches
(C code, well under a millisecond) every SHIP_INTERVAL seconds.
"""

from __future__ import annotations

import logging
import marshal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO, Any

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.util.types import Attributes

log = logging.getLogger(__name__)

SHIP_INTERVAL = 0.05
BACKLOG_LIMIT = 200_000
"""Items kept while the exporter process is behind or restarting; beyond it they are dropped (and
counted): telemetry must never grow the server's memory without bound."""
RESTART_AFTER = 10.0
"""Seconds between attempts to start a new exporter process after one exited."""

SPAN, MEASURE, INSTRUMENT = 0, 1, 2
"""Item kinds. SPAN: (SPAN, name, trace_id, span_id, flags, trace_state, parent_span_id,
parent_is_remote, kind, start, end, attributes, status_code, status_description, scope_name,
scope_version, events). MEASURE: (MEASURE, instrument number, amount, attributes). INSTRUMENT:
(INSTRUMENT, number, meter name, meter version, kind, name, unit, description, bucket boundaries)."""


class Handoff:
    """A queue of telemetry items and the thread that ships them to the exporter process."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._queue: deque[tuple[Any, ...]] = deque()
        self._instruments: list[tuple[Any, ...]] = []
        """Every instrument's definition, re-sent to a restarted exporter process."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._last_start = 0.0
        self.dropped = 0
        self._start_exporter()
        self._thread = threading.Thread(target=self._run, name="idstitch-telemetry-handoff", daemon=True)
        self._thread.start()

    def put(self, item: tuple[Any, ...]) -> None:
        if len(self._queue) < BACKLOG_LIMIT:
            self._queue.append(item)
        else:
            self.dropped += 1

    def define(self, definition: tuple[Any, ...]) -> int:
        with self._lock:
            number = len(self._instruments)
            self._instruments.append((INSTRUMENT, number, *definition))
            self._queue.append(self._instruments[-1])
            return number

    def ship(self) -> None:
        """Sends what is queued; starts a new exporter process if the last one exited."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                if proc is not None:
                    log.warning("telemetry exporter process exited with code %s", proc.returncode)
                    self._proc = proc = None
                if time.monotonic() - self._last_start < RESTART_AFTER or not self._start_exporter():
                    return
                proc = self._proc
            assert proc is not None and proc.stdin is not None
            while self._queue:
                items = [self._queue.popleft() for _ in range(min(len(self._queue), 4096))]
                if not write_frame(proc.stdin, items):
                    self.dropped += len(items)
                    return

    def close(self, timeout: float = 15.0) -> None:
        """Ships the rest and lets the exporter process flush what it holds, then exit."""
        self._stop.set()
        self._thread.join(timeout)
        self.ship()
        with self._lock:
            proc, self._proc = self._proc, None
            self.dropped += len(self._queue)  # left only when no exporter process could take it
            self._queue.clear()
        if proc is not None:
            self._end(proc, timeout)
        if self.dropped:
            log.warning("telemetry: %d spans or measurements were dropped", self.dropped)

    @staticmethod
    def _end(proc: subprocess.Popen[bytes], timeout: float) -> None:
        try:
            assert proc.stdin is not None
            proc.stdin.close()  # end of input: the exporter flushes and exits
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()

    def _run(self) -> None:
        while not self._stop.wait(SHIP_INTERVAL):
            try:
                self.ship()
            except Exception:  # the server goes on without telemetry rather than stop
                log.exception("telemetry handoff failed")

    def _start_exporter(self) -> bool:
        self._last_start = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "server.telemetry_exporter"],
                stdin=subprocess.PIPE,
                env=self._env,
                start_new_session=True,  # a Ctrl-C meant for the server must not kill it before it flushes
            )
        except OSError:
            log.exception("telemetry exporter process did not start")
            return False
        self._queue.extendleft(reversed(self._instruments))  # a new process learns them first
        return True


def write_frame(stream: IO[bytes], items: list[tuple[Any, ...]]) -> bool:
    """One frame: 4 bytes of length (little-endian), then the marshalled list. False if the
    exporter process is gone."""
    try:
        data = marshal.dumps(items)
    except ValueError:  # an attribute value of a type marshal does not know: that item alone goes
        data = marshal.dumps([i for i in items if _marshallable(i)])
    try:
        stream.write(len(data).to_bytes(4, "little") + data)
        stream.flush()
        return True
    except (BrokenPipeError, ValueError, OSError):
        return False


def _marshallable(item: tuple[Any, ...]) -> bool:
    try:
        marshal.dumps(item)
        return True
    except ValueError:
        return False


class _Instrument:
    """A synchronous instrument whose measurements go to the exporter process."""

    def __init__(self, handoff: Handoff, number: int) -> None:
        self._put = handoff.put
        self._number = number

    def _measure(self, amount: float, attributes: Attributes) -> None:
        self._put((MEASURE, self._number, amount, dict(attributes) if attributes else {}))


class _Counter(_Instrument, metrics.Counter):
    def add(self, amount: float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._measure(amount, attributes)


class _UpDownCounter(_Instrument, metrics.UpDownCounter):
    def add(self, amount: float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._measure(amount, attributes)


class _Histogram(_Instrument, metrics.Histogram):
    def record(self, amount: float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._measure(amount, attributes)


class _Gauge(_Instrument, metrics._Gauge):  # the API's gauge is still marked private
    def set(self, amount: float, attributes: Attributes = None, context: Context | None = None) -> None:
        self._measure(amount, attributes)


class HandoffMeter(metrics.Meter):
    """Synchronous instruments only: an observable instrument's callbacks would have to run in
    this process; they get the API's no-op instruments (idstitch defines none)."""

    def __init__(self, handoff: Handoff, name: str, version: str | None) -> None:
        super().__init__(name, version)
        self._handoff = handoff

    def _define(
        self, kind: str, name: str, unit: str, description: str, bounds: Sequence[float] | None
    ) -> int:
        bounds_list = list(bounds) if bounds is not None else None
        return self._handoff.define((self.name, self.version, kind, name, unit, description, bounds_list))

    def create_counter(self, name: str, unit: str = "", description: str = "") -> metrics.Counter:
        return _Counter(self._handoff, self._define("counter", name, unit, description, None))

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> metrics.UpDownCounter:
        return _UpDownCounter(self._handoff, self._define("up_down_counter", name, unit, description, None))

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> metrics.Histogram:
        number = self._define("histogram", name, unit, description, explicit_bucket_boundaries_advisory)
        return _Histogram(self._handoff, number)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> metrics._Gauge:
        return _Gauge(self._handoff, self._define("gauge", name, unit, description, None))

    def create_observable_counter(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> Any:
        return metrics.NoOpObservableCounter(name, callbacks, unit, description)

    def create_observable_gauge(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> Any:
        return metrics.NoOpObservableGauge(name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> Any:
        return metrics.NoOpObservableUpDownCounter(name, callbacks, unit, description)


class HandoffMeterProvider(metrics.MeterProvider):
    def __init__(self, handoff: Handoff) -> None:
        self._handoff = handoff

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> metrics.Meter:
        return HandoffMeter(self._handoff, name, version)


def exporters_wanted(env: Mapping[str, str]) -> tuple[str, str]:
    """What OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER ask for (`otlp` when only an endpoint is
    given, else `none`)."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return "none", "none"
    endpoint = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    traces = env.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none").lower()
    metrics_kind = env.get("OTEL_METRICS_EXPORTER", "otlp" if endpoint else "none").lower()
    return traces, metrics_kind
