"""One error hierarchy for the domain. Each error names the gRPC status it maps to, so the
server translates errors in one place and the domain never imports grpc."""

from __future__ import annotations


class IdstitchError(Exception):
    """Base of every error the service reports to a caller."""

    status = "INTERNAL"


class InvalidArgument(IdstitchError):
    """The request is malformed; `field` is the path of the offending field (e.g. `events[3].event_id`)."""

    status = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class NotFound(IdstitchError):
    status = "NOT_FOUND"


class StoreUnavailable(IdstitchError):
    """A backend could not be reached; the caller may retry (ingest is idempotent)."""

    status = "UNAVAILABLE"


class FailedPrecondition(IdstitchError):
    """The request is well-formed but the state does not allow it."""

    status = "FAILED_PRECONDITION"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class ResourceExhausted(IdstitchError):
    """A bounded resource of the server (e.g. its watch streams) is in full use; retry later."""

    status = "RESOURCE_EXHAUSTED"


class StoreMisconfigured(Exception):
    """A backend refused the configuration it was given (a datacenter it does not have, a
    replication it cannot apply): what to fix, in one line, at start."""
