"""Wrapping a gRPC method handler, once, for all four handler kinds.

grpcio hands a server interceptor a handler with one of four behaviours (unary or streamed
request, unary or streamed response) and leaves it to each interceptor to replace the right one.
Done by hand in each interceptor that went wrong in two ways: one skipped stream-stream handlers,
and one ended its span when a response-streaming method *returned* its generator, before a single
response was produced. Here an interceptor says only what happens around a call — a context
manager entered with the request, which yields the request the method should see — and the
helper runs it around the whole call, streamed responses included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, cast

import grpc

Around = Callable[[Any, grpc.ServicerContext], AbstractContextManager[Any]]
"""(request, context) → a context manager around the call, yielding the request to pass on."""
Deserializer = Callable[[bytes], Any]

KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def wrap(
    handler: grpc.RpcMethodHandler,
    around: Around,
    *,
    deserializer: Callable[[Deserializer | None], Deserializer | None] | None = None,
) -> grpc.RpcMethodHandler:
    """The handler with its behaviour run inside `around`, and its request deserializer
    replaced by `deserializer(the old one)` when given."""
    kind = next((k for k in KINDS if getattr(handler, k) is not None), None)
    if kind is None:
        return handler
    behavior: Callable[[Any, grpc.ServicerContext], Any] = getattr(handler, kind)

    def run(request: Any, context: grpc.ServicerContext) -> Any:
        with around(request, context) as passed:
            return behavior(passed, context)

    def run_streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        # grpcio iterates the responses after this function has returned: the context manager
        # stays entered until the last one (or the error) is produced.
        with around(request, context) as passed:
            yield from behavior(passed, context)

    changes: dict[str, Any] = {kind: run_streaming if handler.response_streaming else run}
    if deserializer is not None:
        changes["request_deserializer"] = deserializer(handler.request_deserializer)
    # grpcio's handlers are named tuples; the typed interface does not say so.
    return cast(grpc.RpcMethodHandler, cast(Any, handler)._replace(**changes))


def code_of(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status an abort (or set_code) has set on the call, if any. grpcio's servicer context
    has `code()`; its typed interface does not (an experimental addition)."""
    code = getattr(context, "code", None)
    value = code() if code is not None else None
    return value if isinstance(value, grpc.StatusCode) else None
