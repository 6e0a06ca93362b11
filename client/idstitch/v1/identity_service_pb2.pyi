import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from idstitch.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_CREATED: _ClassVar[Outcome]
    OUTCOME_ATTACHED: _ClassVar[Outcome]
    OUTCOME_MERGED: _ClassVar[Outcome]
    OUTCOME_DUPLICATE: _ClassVar[Outcome]
    OUTCOME_UNATTRIBUTED: _ClassVar[Outcome]
    OUTCOME_SUPPRESSED: _ClassVar[Outcome]

class Strength(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STRENGTH_UNSPECIFIED: _ClassVar[Strength]
    STRENGTH_WEAK: _ClassVar[Strength]
    STRENGTH_STRONG: _ClassVar[Strength]

class EvidenceClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVIDENCE_CLASS_UNSPECIFIED: _ClassVar[EvidenceClass]
    EVIDENCE_CLASS_AUTHENTICATED: _ClassVar[EvidenceClass]
    EVIDENCE_CLASS_SAME_DEVICE: _ClassVar[EvidenceClass]
    EVIDENCE_CLASS_DECLARED: _ClassVar[EvidenceClass]
    EVIDENCE_CLASS_CLICK_THROUGH: _ClassVar[EvidenceClass]

class DetachMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DETACH_MODE_UNSPECIFIED: _ClassVar[DetachMode]
    DETACH_MODE_NEW_PERSON: _ClassVar[DetachMode]
    DETACH_MODE_SHARED: _ClassVar[DetachMode]
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_CREATED: Outcome
OUTCOME_ATTACHED: Outcome
OUTCOME_MERGED: Outcome
OUTCOME_DUPLICATE: Outcome
OUTCOME_UNATTRIBUTED: Outcome
OUTCOME_SUPPRESSED: Outcome
STRENGTH_UNSPECIFIED: Strength
STRENGTH_WEAK: Strength
STRENGTH_STRONG: Strength
EVIDENCE_CLASS_UNSPECIFIED: EvidenceClass
EVIDENCE_CLASS_AUTHENTICATED: EvidenceClass
EVIDENCE_CLASS_SAME_DEVICE: EvidenceClass
EVIDENCE_CLASS_DECLARED: EvidenceClass
EVIDENCE_CLASS_CLICK_THROUGH: EvidenceClass
DETACH_MODE_UNSPECIFIED: DetachMode
DETACH_MODE_NEW_PERSON: DetachMode
DETACH_MODE_SHARED: DetachMode

class IngestRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_event_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_event_pb2.Event, _Mapping]]] = ...) -> None: ...

class RefusedLink(_message.Message):
    __slots__ = ("from_index", "to_index", "rule", "action")
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    TO_INDEX_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    from_index: int
    to_index: int
    rule: str
    action: str
    def __init__(self, from_index: _Optional[int] = ..., to_index: _Optional[int] = ..., rule: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class IgnoredIdentifier(_message.Message):
    __slots__ = ("index", "type", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    type: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., type: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EventResult(_message.Message):
    __slots__ = ("event_id", "person_id", "outcome", "refused_links", "ignored_identifiers", "merged_person_ids")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REFUSED_LINKS_FIELD_NUMBER: _ClassVar[int]
    IGNORED_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    MERGED_PERSON_IDS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    person_id: str
    outcome: Outcome
    refused_links: _containers.RepeatedCompositeFieldContainer[RefusedLink]
    ignored_identifiers: _containers.RepeatedCompositeFieldContainer[IgnoredIdentifier]
    merged_person_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, event_id: _Optional[str] = ..., person_id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., refused_links: _Optional[_Iterable[_Union[RefusedLink, _Mapping]]] = ..., ignored_identifiers: _Optional[_Iterable[_Union[IgnoredIdentifier, _Mapping]]] = ..., merged_person_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    def __init__(self, results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ...) -> None: ...

class IngestStreamRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_event_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_event_pb2.Event, _Mapping]]] = ...) -> None: ...

class IngestStreamResponse(_message.Message):
    __slots__ = ("events_received", "events_duplicate", "persons_created", "persons_merged", "links_refused", "identifiers_ignored", "events_unattributed", "events_suppressed")
    EVENTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    PERSONS_CREATED_FIELD_NUMBER: _ClassVar[int]
    PERSONS_MERGED_FIELD_NUMBER: _ClassVar[int]
    LINKS_REFUSED_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_IGNORED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_UNATTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    events_received: int
    events_duplicate: int
    persons_created: int
    persons_merged: int
    links_refused: int
    identifiers_ignored: int
    events_unattributed: int
    events_suppressed: int
    def __init__(self, events_received: _Optional[int] = ..., events_duplicate: _Optional[int] = ..., persons_created: _Optional[int] = ..., persons_merged: _Optional[int] = ..., links_refused: _Optional[int] = ..., identifiers_ignored: _Optional[int] = ..., events_unattributed: _Optional[int] = ..., events_suppressed: _Optional[int] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("identifier",)
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    identifier: _event_pb2.Identifier
    def __init__(self, identifier: _Optional[_Union[_event_pb2.Identifier, _Mapping]] = ...) -> None: ...

class LinkStrength(_message.Message):
    __slots__ = ("from_node_id", "to_node_id", "strength", "evidence_class")
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_CLASS_FIELD_NUMBER: _ClassVar[int]
    from_node_id: str
    to_node_id: str
    strength: Strength
    evidence_class: EvidenceClass
    def __init__(self, from_node_id: _Optional[str] = ..., to_node_id: _Optional[str] = ..., strength: _Optional[_Union[Strength, str]] = ..., evidence_class: _Optional[_Union[EvidenceClass, str]] = ...) -> None: ...

class ResolvedPerson(_message.Message):
    __slots__ = ("person_id", "identifiers", "links")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifiers: _containers.RepeatedCompositeFieldContainer[GraphNode]
    links: _containers.RepeatedCompositeFieldContainer[LinkStrength]
    def __init__(self, person_id: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[GraphNode, _Mapping]]] = ..., links: _Optional[_Iterable[_Union[LinkStrength, _Mapping]]] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("person", "shared", "shared_by")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    SHARED_BY_FIELD_NUMBER: _ClassVar[int]
    person: ResolvedPerson
    shared: bool
    shared_by: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, person: _Optional[_Union[ResolvedPerson, _Mapping]] = ..., shared: _Optional[bool] = ..., shared_by: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchResolveRequest(_message.Message):
    __slots__ = ("identifiers",)
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    identifiers: _containers.RepeatedCompositeFieldContainer[_event_pb2.Identifier]
    def __init__(self, identifiers: _Optional[_Iterable[_Union[_event_pb2.Identifier, _Mapping]]] = ...) -> None: ...

class BatchResolveResult(_message.Message):
    __slots__ = ("index", "found", "resolution", "ignored_reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    IGNORED_REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    found: bool
    resolution: ResolveResponse
    ignored_reason: str
    def __init__(self, index: _Optional[int] = ..., found: _Optional[bool] = ..., resolution: _Optional[_Union[ResolveResponse, _Mapping]] = ..., ignored_reason: _Optional[str] = ...) -> None: ...

class BatchResolveResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResolveResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResolveResult, _Mapping]]] = ...) -> None: ...

class GetIdentityGraphRequest(_message.Message):
    __slots__ = ("person_id", "identifier")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifier: _event_pb2.Identifier
    def __init__(self, person_id: _Optional[str] = ..., identifier: _Optional[_Union[_event_pb2.Identifier, _Mapping]] = ...) -> None: ...

class GraphNode(_message.Message):
    __slots__ = ("node_id", "type", "display_value", "shared", "first_seen", "last_seen")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    type: str
    display_value: str
    shared: bool
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, node_id: _Optional[str] = ..., type: _Optional[str] = ..., display_value: _Optional[str] = ..., shared: _Optional[bool] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GraphEdge(_message.Message):
    __slots__ = ("from_node_id", "to_node_id", "first_seen", "last_seen", "channel", "event_count", "rule", "strength", "evidence_class")
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TO_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_CLASS_FIELD_NUMBER: _ClassVar[int]
    from_node_id: str
    to_node_id: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    channel: str
    event_count: int
    rule: str
    strength: Strength
    evidence_class: EvidenceClass
    def __init__(self, from_node_id: _Optional[str] = ..., to_node_id: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ..., event_count: _Optional[int] = ..., rule: _Optional[str] = ..., strength: _Optional[_Union[Strength, str]] = ..., evidence_class: _Optional[_Union[EvidenceClass, str]] = ...) -> None: ...

class UnappliedLink(_message.Message):
    __slots__ = ("from_node_id", "other_person_id", "rule", "channel", "first_seen", "last_seen", "event_count", "evidence_class")
    FROM_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    EVENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_CLASS_FIELD_NUMBER: _ClassVar[int]
    from_node_id: str
    other_person_id: str
    rule: str
    channel: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    event_count: int
    evidence_class: EvidenceClass
    def __init__(self, from_node_id: _Optional[str] = ..., other_person_id: _Optional[str] = ..., rule: _Optional[str] = ..., channel: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_count: _Optional[int] = ..., evidence_class: _Optional[_Union[EvidenceClass, str]] = ...) -> None: ...

class GetIdentityGraphResponse(_message.Message):
    __slots__ = ("person_id", "aliases", "nodes", "edges", "unapplied_links")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    UNAPPLIED_LINKS_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    aliases: _containers.RepeatedScalarFieldContainer[str]
    nodes: _containers.RepeatedCompositeFieldContainer[GraphNode]
    edges: _containers.RepeatedCompositeFieldContainer[GraphEdge]
    unapplied_links: _containers.RepeatedCompositeFieldContainer[UnappliedLink]
    def __init__(self, person_id: _Optional[str] = ..., aliases: _Optional[_Iterable[str]] = ..., nodes: _Optional[_Iterable[_Union[GraphNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[GraphEdge, _Mapping]]] = ..., unapplied_links: _Optional[_Iterable[_Union[UnappliedLink, _Mapping]]] = ...) -> None: ...

class DetachIdentifierRequest(_message.Message):
    __slots__ = ("identifier", "mode")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    identifier: _event_pb2.Identifier
    mode: DetachMode
    def __init__(self, identifier: _Optional[_Union[_event_pb2.Identifier, _Mapping]] = ..., mode: _Optional[_Union[DetachMode, str]] = ...) -> None: ...

class DetachIdentifierResponse(_message.Message):
    __slots__ = ("person_id", "new_person_id", "person_events", "new_person_events")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    PERSON_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEW_PERSON_EVENTS_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    new_person_id: str
    person_events: int
    new_person_events: int
    def __init__(self, person_id: _Optional[str] = ..., new_person_id: _Optional[str] = ..., person_events: _Optional[int] = ..., new_person_events: _Optional[int] = ...) -> None: ...

class ExplainLinkRequest(_message.Message):
    __slots__ = ("a", "b")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    a: _event_pb2.Identifier
    b: _event_pb2.Identifier
    def __init__(self, a: _Optional[_Union[_event_pb2.Identifier, _Mapping]] = ..., b: _Optional[_Union[_event_pb2.Identifier, _Mapping]] = ...) -> None: ...

class ExplainLinkResponse(_message.Message):
    __slots__ = ("same_person", "person_a", "person_b", "path", "held", "explanation")
    SAME_PERSON_FIELD_NUMBER: _ClassVar[int]
    PERSON_A_FIELD_NUMBER: _ClassVar[int]
    PERSON_B_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    same_person: bool
    person_a: str
    person_b: str
    path: _containers.RepeatedCompositeFieldContainer[GraphEdge]
    held: _containers.RepeatedCompositeFieldContainer[HeldLink]
    explanation: str
    def __init__(self, same_person: _Optional[bool] = ..., person_a: _Optional[str] = ..., person_b: _Optional[str] = ..., path: _Optional[_Iterable[_Union[GraphEdge, _Mapping]]] = ..., held: _Optional[_Iterable[_Union[HeldLink, _Mapping]]] = ..., explanation: _Optional[str] = ...) -> None: ...

class HeldLink(_message.Message):
    __slots__ = ("link", "held_by")
    LINK_FIELD_NUMBER: _ClassVar[int]
    HELD_BY_FIELD_NUMBER: _ClassVar[int]
    link: UnappliedLink
    held_by: str
    def __init__(self, link: _Optional[_Union[UnappliedLink, _Mapping]] = ..., held_by: _Optional[str] = ...) -> None: ...
