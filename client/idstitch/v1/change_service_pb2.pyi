import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from idstitch.v1 import profile_service_pb2 as _profile_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_KIND_UNSPECIFIED: _ClassVar[ChangeKind]
    CHANGE_KIND_PERSON_CREATED: _ClassVar[ChangeKind]
    CHANGE_KIND_PERSONS_MERGED: _ClassVar[ChangeKind]
    CHANGE_KIND_PERSON_SPLIT: _ClassVar[ChangeKind]
    CHANGE_KIND_PERSON_ERASED: _ClassVar[ChangeKind]
    CHANGE_KIND_PROFILE_UPDATED: _ClassVar[ChangeKind]
    CHANGE_KIND_SEGMENT_ENTERED: _ClassVar[ChangeKind]
    CHANGE_KIND_SEGMENT_LEFT: _ClassVar[ChangeKind]
    CHANGE_KIND_CART_ABANDONED: _ClassVar[ChangeKind]
    CHANGE_KIND_ORDER_PLACED: _ClassVar[ChangeKind]
CHANGE_KIND_UNSPECIFIED: ChangeKind
CHANGE_KIND_PERSON_CREATED: ChangeKind
CHANGE_KIND_PERSONS_MERGED: ChangeKind
CHANGE_KIND_PERSON_SPLIT: ChangeKind
CHANGE_KIND_PERSON_ERASED: ChangeKind
CHANGE_KIND_PROFILE_UPDATED: ChangeKind
CHANGE_KIND_SEGMENT_ENTERED: ChangeKind
CHANGE_KIND_SEGMENT_LEFT: ChangeKind
CHANGE_KIND_CART_ABANDONED: ChangeKind
CHANGE_KIND_ORDER_PLACED: ChangeKind

class WatchResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[Change]
    def __init__(self, changes: _Optional[_Iterable[_Union[Change, _Mapping]]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("cursor", "kinds", "segments", "store_ids", "profile_mask")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    STORE_IDS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_MASK_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    kinds: _containers.RepeatedScalarFieldContainer[ChangeKind]
    segments: _containers.RepeatedScalarFieldContainer[str]
    store_ids: _containers.RepeatedScalarFieldContainer[str]
    profile_mask: _field_mask_pb2.FieldMask
    def __init__(self, cursor: _Optional[str] = ..., kinds: _Optional[_Iterable[_Union[ChangeKind, str]]] = ..., segments: _Optional[_Iterable[str]] = ..., store_ids: _Optional[_Iterable[str]] = ..., profile_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("cursor", "at", "person_id", "kind", "store_id", "merged", "split", "profile_updated", "segment", "cart", "order")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    MERGED_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_UPDATED_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    at: _timestamp_pb2.Timestamp
    person_id: str
    kind: ChangeKind
    store_id: str
    merged: PersonsMerged
    split: PersonSplit
    profile_updated: ProfileUpdated
    segment: SegmentChange
    cart: CartAbandoned
    order: OrderPlaced
    def __init__(self, cursor: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., person_id: _Optional[str] = ..., kind: _Optional[_Union[ChangeKind, str]] = ..., store_id: _Optional[str] = ..., merged: _Optional[_Union[PersonsMerged, _Mapping]] = ..., split: _Optional[_Union[PersonSplit, _Mapping]] = ..., profile_updated: _Optional[_Union[ProfileUpdated, _Mapping]] = ..., segment: _Optional[_Union[SegmentChange, _Mapping]] = ..., cart: _Optional[_Union[CartAbandoned, _Mapping]] = ..., order: _Optional[_Union[OrderPlaced, _Mapping]] = ...) -> None: ...

class PersonsMerged(_message.Message):
    __slots__ = ("merged_person_ids",)
    MERGED_PERSON_IDS_FIELD_NUMBER: _ClassVar[int]
    merged_person_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, merged_person_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PersonSplit(_message.Message):
    __slots__ = ("new_person_ids",)
    NEW_PERSON_IDS_FIELD_NUMBER: _ClassVar[int]
    new_person_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, new_person_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ProfileUpdated(_message.Message):
    __slots__ = ("sections", "values")
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    sections: _containers.RepeatedScalarFieldContainer[str]
    values: _profile_service_pb2.Profile
    def __init__(self, sections: _Optional[_Iterable[str]] = ..., values: _Optional[_Union[_profile_service_pb2.Profile, _Mapping]] = ...) -> None: ...

class SegmentChange(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: str
    def __init__(self, segment: _Optional[str] = ...) -> None: ...

class CartAbandoned(_message.Message):
    __slots__ = ("last_cart_activity", "items")
    LAST_CART_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    last_cart_activity: _timestamp_pb2.Timestamp
    items: int
    def __init__(self, last_cart_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., items: _Optional[int] = ...) -> None: ...

class OrderPlaced(_message.Message):
    __slots__ = ("channel", "store_id")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    channel: str
    store_id: str
    def __init__(self, channel: _Optional[str] = ..., store_id: _Optional[str] = ...) -> None: ...

class ListChangesRequest(_message.Message):
    __slots__ = ("person_id", "limit")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    limit: int
    def __init__(self, person_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListChangesResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[Change]
    def __init__(self, changes: _Optional[_Iterable[_Union[Change, _Mapping]]] = ...) -> None: ...
