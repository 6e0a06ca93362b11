"""Who is signed in to the console, kept on the server. The browser holds only a random session
id (in Flask's signed, HttpOnly cookie); the API key it signed in with stays here, so the key is
never in a cookie, a URL or a page. A session ends after `idle_seconds` without a request."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Session:
    key: str
    """The caller key every API call of this session carries."""
    key_id: str
    role: str
    methods: frozenset[str]
    """Full gRPC method names the key's role may call (AdminService.WhoAmI)."""
    last_seen: float
    erasures: list[str] = field(default_factory=list)
    """Erasure ids started in this session, newest last (for the erasure list)."""

    def may(self, method: str) -> bool:
        """Whether the key may call `Service/Method` (e.g. "PrivacyService/Erase")."""
        return f"/idstitch.v1.{method}" in self.methods


class Sessions:
    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle_seconds
        self._clock = clock
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, key: str, key_id: str, role: str, methods: frozenset[str]) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._expire()
            self._by_id[sid] = Session(key, key_id, role, methods, self._clock())
        return sid

    def get(self, sid: str | None) -> Session | None:
        """The live session `sid` names (its idle time restarts), or None."""
        if not sid:
            return None
        with self._lock:
            self._expire()
            found = self._by_id.get(sid)
            if found is not None:
                found.last_seen = self._clock()
            return found

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [s for s, v in self._by_id.items() if now - v.last_seen > self._idle]:
            del self._by_id[sid]
