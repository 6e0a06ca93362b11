"""AdminService over gRPC: caller keys and the audit log."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import grpc

from common.errors import InvalidArgument
from idstitch.v1 import admin_service_pb2 as pb
from idstitch.v1 import admin_service_pb2_grpc as pb_grpc
from privacy.records import PrivacyRecords
from server.auth import ROLES, AuthInterceptor, allowed_methods, create_key
from server.caller import caller
from server.convert import timestamp

MAX_AUDIT = 1000


KEY_ID = re.compile(r"k_[0-9a-f]{8,32}")
"""The form of the key ids create_key makes; anything else is refused before a store sees it."""


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(self, records: PrivacyRecords, auth: AuthInterceptor | None, methods: Sequence[str]) -> None:
        """`methods`: every method this server serves (full gRPC names), for WhoAmI."""
        self._records = records
        self._auth = auth
        self._methods = tuple(methods)

    def WhoAmI(self, request: pb.WhoAmIRequest, context: grpc.ServicerContext) -> pb.WhoAmIResponse:
        if self._auth is None:  # keys are off: every caller may call everything
            return pb.WhoAmIResponse(role="admin", methods=allowed_methods("admin", self._methods))
        key_id = caller()
        role = next((k.role for k in self._records.api_keys() if k.key_id == key_id), "")
        return pb.WhoAmIResponse(key_id=key_id, role=role, methods=allowed_methods(role, self._methods))

    def CreateKey(self, request: pb.CreateKeyRequest, context: grpc.ServicerContext) -> pb.CreateKeyResponse:
        if request.role not in ROLES:
            raise InvalidArgument("role", f"one of {', '.join(ROLES)}")
        now = time.time_ns() // 1000
        key_id, token = create_key(self._records, request.role, now)
        self._records.audit(now, caller(), "create_key", {"key_id": key_id, "role": request.role})
        return pb.CreateKeyResponse(key_id=key_id, key=token)

    def ListKeys(self, request: pb.ListKeysRequest, context: grpc.ServicerContext) -> pb.ListKeysResponse:
        out = pb.ListKeysResponse()
        for k in self._records.api_keys():
            info = out.keys.add(key_id=k.key_id, role=k.role, created_at=timestamp(k.created_at))
            if k.revoked_at is not None:
                info.revoked_at.CopyFrom(timestamp(k.revoked_at))
        return out

    def RevokeKey(self, request: pb.RevokeKeyRequest, context: grpc.ServicerContext) -> pb.RevokeKeyResponse:
        if not request.key_id:
            raise InvalidArgument("key_id", "required")
        if not KEY_ID.fullmatch(request.key_id):
            raise InvalidArgument(
                "key_id", "not a key id (k_ and hex digits, as CreateKey and ListKeys show)"
            )
        now = time.time_ns() // 1000
        revoked = self._records.revoke_key(request.key_id, now)
        if self._auth is not None:
            self._auth.forget()
        # An id that names no key is the caller's string, not ours: the audit log does not keep it.
        named = request.key_id if revoked else "unknown"
        self._records.audit(now, caller(), "revoke_key", {"key_id": named, "revoked": int(revoked)})
        return pb.RevokeKeyResponse(revoked=revoked)

    def ListAudit(self, request: pb.ListAuditRequest, context: grpc.ServicerContext) -> pb.ListAuditResponse:
        if request.limit < 0 or request.after_seq < 0:
            raise InvalidArgument("limit" if request.limit < 0 else "after_seq", "must not be negative")
        entries = self._records.audit_log(request.after_seq, min(request.limit or MAX_AUDIT, MAX_AUDIT))
        return pb.ListAuditResponse(
            records=[
                pb.AuditRecord(
                    seq=e.seq, at=timestamp(e.at), caller=e.caller, operation=e.operation,
                    detail={k: str(v) for k, v in e.detail.items()},
                )
                for e in entries
            ]
        )  # fmt: skip
