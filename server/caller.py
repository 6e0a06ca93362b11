"""Who is calling: the key id the auth interceptor found for this RPC, for the audit log."""

from __future__ import annotations

from contextvars import ContextVar

_caller: ContextVar[str] = ContextVar("idstitch_caller", default="anonymous")


def caller() -> str:
    return _caller.get()


def set_caller(key_id: str) -> object:
    return _caller.set(key_id)


def reset_caller(token: object) -> None:
    _caller.reset(token)  # type: ignore[arg-type]
