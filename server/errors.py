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
from contextlib import contextmanager
from typing import Any

import grpc

from common.errors import IdstitchError, InvalidArgument
from server import bounds, interception

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
        streaming = handler.request_streaming

        @contextmanager
        def guarded(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield _checked_stream(request) if streaming else _checked(request)
            except Exception as e:
                _fail(e, method, context)

        return interception.wrap(handler, guarded, deserializer=_tolerant)


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def tolerant(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:
            return UNDECODABLE

    return tolerant


def _checked(request: Any) -> Any:
    if request is UNDECODABLE:
        raise InvalidArgument("request", "not a valid message of this method's request type")
    bounds.check(request)
    return request


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for n, request in enumerate(requests):
        if request is UNDECODABLE:
            raise InvalidArgument(f"requests[{n}]", "not a valid message of this method's request type")
        bounds.check(request, f"requests[{n}]")
        yield request


def _fail(e: Exception, method: str, context: grpc.ServicerContext) -> None:
    if isinstance(e, IdstitchError):
        context.abort(getattr(grpc.StatusCode, e.status), str(e))
    if interception.code_of(context) is not None:  # an abort already in flight
        raise e
    if not context.is_active():  # the caller cancelled or its deadline passed
        log.debug("%s ended by its caller during %s", method, type(e).__name__)
        raise e
    # The traceback's frames, never the message: a driver's message may quote a value.
    log.error(
        "unexpected %s in %s\n%s", type(e).__name__, method, "".join(traceback.format_tb(e.__traceback__))
    )
    context.abort(grpc.StatusCode.INTERNAL, "internal error")
