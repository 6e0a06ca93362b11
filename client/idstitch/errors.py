"""Errors of the idstitch API as exceptions a caller can catch by kind.

Each is still a `grpc.RpcError` with `code()` and `details()`, so code written against the raw
stubs keeps working; the kind says what to do: fix the request (InvalidArgument), find the
subject first (NotFound), get another key (Unauthenticated, PermissionDenied), retry later
(Unavailable, DeadlineExceeded), or look at the current state (FailedPrecondition)."""

from __future__ import annotations

import grpc


class ApiError(grpc.RpcError):
    """An error status the server (or the channel) answered with."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class InvalidArgument(ApiError):
    """The request is malformed; the details name the field, never its value."""


class NotFound(ApiError):
    pass


class Unauthenticated(ApiError):
    """No key, or one the server does not know (or has revoked)."""


class PermissionDenied(ApiError):
    """The key's role may not make this call; the details name the role it needs."""


class FailedPrecondition(ApiError):
    pass


class ResourceExhausted(ApiError):
    pass


class Unavailable(ApiError):
    """The server or a store it needs was away; retried by the client before it is raised."""


class DeadlineExceeded(ApiError):
    pass


KINDS: dict[grpc.StatusCode, type[ApiError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def typed(error: grpc.RpcError) -> ApiError:
    """The typed exception of a call's error."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else None) or ""
    return KINDS.get(code, ApiError)(code, details)
