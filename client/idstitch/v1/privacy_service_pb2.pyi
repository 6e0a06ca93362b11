import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from idstitch.v1 import profile_service_pb2 as _profile_service_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsentDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_DECISION_UNSPECIFIED: _ClassVar[ConsentDecision]
    CONSENT_DECISION_GRANTED: _ClassVar[ConsentDecision]
    CONSENT_DECISION_DENIED: _ClassVar[ConsentDecision]
CONSENT_DECISION_UNSPECIFIED: ConsentDecision
CONSENT_DECISION_GRANTED: ConsentDecision
CONSENT_DECISION_DENIED: ConsentDecision

class EraseRequest(_message.Message):
    __slots__ = ("subject", "request_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_service_pb2.ProfileKey
    request_id: str
    def __init__(self, subject: _Optional[_Union[_profile_service_pb2.ProfileKey, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ErasureCounts(_message.Message):
    __slots__ = ("identifiers", "links", "aliases", "shared_identifier_uses", "events", "profiles", "consent_records", "suppressed_identifiers", "other_persons_events_scrubbed", "held_back_links")
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    SHARED_IDENTIFIER_USES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    CONSENT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    OTHER_PERSONS_EVENTS_SCRUBBED_FIELD_NUMBER: _ClassVar[int]
    HELD_BACK_LINKS_FIELD_NUMBER: _ClassVar[int]
    identifiers: int
    links: int
    aliases: int
    shared_identifier_uses: int
    events: int
    profiles: int
    consent_records: int
    suppressed_identifiers: int
    other_persons_events_scrubbed: int
    held_back_links: int
    def __init__(self, identifiers: _Optional[int] = ..., links: _Optional[int] = ..., aliases: _Optional[int] = ..., shared_identifier_uses: _Optional[int] = ..., events: _Optional[int] = ..., profiles: _Optional[int] = ..., consent_records: _Optional[int] = ..., suppressed_identifiers: _Optional[int] = ..., other_persons_events_scrubbed: _Optional[int] = ..., held_back_links: _Optional[int] = ...) -> None: ...

class ErasureReceipt(_message.Message):
    __slots__ = ("erasure_id", "request_id", "started_at", "completed_at", "counts")
    ERASURE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    erasure_id: str
    request_id: str
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    counts: ErasureCounts
    def __init__(self, erasure_id: _Optional[str] = ..., request_id: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counts: _Optional[_Union[ErasureCounts, _Mapping]] = ...) -> None: ...

class EraseResponse(_message.Message):
    __slots__ = ("receipt",)
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    receipt: ErasureReceipt
    def __init__(self, receipt: _Optional[_Union[ErasureReceipt, _Mapping]] = ...) -> None: ...

class GetErasureRequest(_message.Message):
    __slots__ = ("erasure_id",)
    ERASURE_ID_FIELD_NUMBER: _ClassVar[int]
    erasure_id: str
    def __init__(self, erasure_id: _Optional[str] = ...) -> None: ...

class GetErasureResponse(_message.Message):
    __slots__ = ("receipt",)
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    receipt: ErasureReceipt
    def __init__(self, receipt: _Optional[_Union[ErasureReceipt, _Mapping]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("subject",)
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_service_pb2.ProfileKey
    def __init__(self, subject: _Optional[_Union[_profile_service_pb2.ProfileKey, _Mapping]] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class SetConsentRequest(_message.Message):
    __slots__ = ("subject", "request_id", "purpose", "decision", "source", "decided_at")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    subject: _profile_service_pb2.ProfileKey
    request_id: str
    purpose: str
    decision: ConsentDecision
    source: str
    decided_at: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[_Union[_profile_service_pb2.ProfileKey, _Mapping]] = ..., request_id: _Optional[str] = ..., purpose: _Optional[str] = ..., decision: _Optional[_Union[ConsentDecision, str]] = ..., source: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetConsentResponse(_message.Message):
    __slots__ = ("person_id", "applied")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    applied: bool
    def __init__(self, person_id: _Optional[str] = ..., applied: _Optional[bool] = ...) -> None: ...
