"""The one place requests are checked at the door and domain errors become gRPC statuses.

- A body that does not decode is INVALID_ARGUMENT, not grpcio's INTERNAL "Exception deserializing
  request!" (which it also logs at ERROR, once per bad request): the deserializer is wrapped and
  hands the method a marker instead of raising.
- Every request message is checked against the bounds (server.bounds) before the method runs;
  a streamed request message as it arrives, named `requests[n]`.
- Messages of domain errors are written to be safe to return (they name fields, never values);
  anything unexpected becomes a bare INTERNAL, logged with its frames but not its message.
- A caller that cancelled or whose deadline passed is not a server error: nothing is logged above
  DEBUG, whatever the method raised while the call was being torn down.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from identity.errors import IdstitchError, InvalidArgument
from server import bounds

log = logging.getLogger("idstitch.server")


class Undecodable:
    """What the method receives instead of a request whose bytes are not its message type."""


UNDECODABLE = Undecodable()


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            behavior = getattr(handler, kind)
            if behavior is not None:
                return handler._replace(
                    request_deserializer=_tolerant(handler.request_deserializer),
                    **{kind: _guard(behavior, method, handler.request_streaming, handler.response_streaming)},
                )
        return handler


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return UNDECODABLE

    return tolerant


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for n, request in enumerate(requests):
        if request is UNDECODABLE:
            raise InvalidArgument(f"requests[{n}]", "not a valid message of this method's request type")
        bounds.check(request, f"requests[{n}]")
        yield request


def _guard(
    behavior: Callable[[Any, grpc.ServicerContext], Any],
    method: str,
    request_streaming: bool,
    response_streaming: bool,
) -> Callable[..., Any]:
    def run(request: Any, context: grpc.ServicerContext) -> Any:
        if request_streaming:
            return behavior(_checked_stream(request), context)
        if request is UNDECODABLE:
            raise InvalidArgument("request", "not a valid message of this method's request type")
        bounds.check(request)
        return behavior(request, context)

    def fail(e: Exception, context: grpc.ServicerContext) -> None:
        if isinstance(e, IdstitchError):
            context.abort(getattr(grpc.StatusCode, e.status), str(e))
        if context.code() is not None:  # an abort already in flight
            raise e
        if not context.is_active():  # the caller cancelled or its deadline passed
            log.debug("%s ended by its caller during %s", method, type(e).__name__)
            raise e
        # The traceback's frames, never the message: a driver's message may quote a value.
        log.error(
            "unexpected %s in %s\n%s", type(e).__name__, method, "".join(traceback.format_tb(e.__traceback__))
        )
        context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return run(request, context)
        except Exception as e:
            fail(e, context)

    def guarded_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        # Errors raised while the responses are produced (after the first one, too) are handled
        # like those before it.
        try:
            yield from run(request, context)
        except Exception as e:
            fail(e, context)

    return guarded_stream if response_streaming else guarded
