"""The one place domain errors become gRPC statuses. Messages of domain errors are written to be
safe to return (they name fields, never values); anything unexpected becomes a bare INTERNAL."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import grpc

from identity.errors import IdstitchError

log = logging.getLogger("idstitch.server")


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or (handler.request_streaming and handler.response_streaming):
            return handler
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=_guard(handler.unary_unary, method))
        if handler.stream_unary is not None:
            return handler._replace(stream_unary=_guard(handler.stream_unary, method))
        if handler.unary_stream is not None:  # errors before the first message (Export)
            return handler._replace(unary_stream=_guard(handler.unary_stream, method))
        return handler


def _guard(behavior: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Callable[..., Any]:
    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behavior(request, context)
        except IdstitchError as e:
            context.abort(getattr(grpc.StatusCode, e.status), str(e))
        except Exception as e:
            if context.code() is not None:  # an abort already in flight
                raise
            # The traceback's frames, never the message: a driver's message may quote a value.
            log.error(
                "unexpected %s in %s\n%s",
                type(e).__name__,
                method,
                "".join(traceback.format_tb(e.__traceback__)),
            )
            context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return guarded
