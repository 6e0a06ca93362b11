"""Counts the calls a server is running, so that stopping never closes a store under one.

`grpc.Server.stop(grace)` stops *waiting* for handlers once the grace runs out; it does not stop
their threads. A Resolve whose deadline expired still runs in its worker thread, inside a store
read, when the server returns from `stop`. Closing an embedded SQLite connection under that read
crashed the process (a segmentation fault, not an exception). So the server closes its stores only
once this gate has drained: new calls are refused with UNAVAILABLE from the moment the stop began,
and every call already running (a streamed response until its last message) is waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from server import interception


class InFlight(grpc.ServerInterceptor):
    """The outermost interceptor: every call's handler runs between `_enter` and `_leave`."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._closed = False

    @property
    def running(self) -> int:
        with self._changed:
            return self._running

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        return None if handler is None else interception.wrap(handler, self._counted)

    @contextmanager
    def _counted(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with self._changed:
            refused = self._closed
            if not refused:
                self._running += 1
        if refused:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the server is stopping; retry on another")
        try:
            yield request
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def close(self, timeout: float) -> bool:
        """Refuses new calls and waits up to `timeout` s for the running ones to end: True when
        none runs any more."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self._closed = True
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True
