import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from idstitch.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriceTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_TIER_UNSPECIFIED: _ClassVar[PriceTier]
    PRICE_TIER_BUDGET: _ClassVar[PriceTier]
    PRICE_TIER_MID: _ClassVar[PriceTier]
    PRICE_TIER_PREMIUM: _ClassVar[PriceTier]
PRICE_TIER_UNSPECIFIED: PriceTier
PRICE_TIER_BUDGET: PriceTier
PRICE_TIER_MID: PriceTier
PRICE_TIER_PREMIUM: PriceTier

class ProfileKey(_message.Message):
    __slots__ = ("person_id", "identifier")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    identifier: _event_pb2.Identifier
    def __init__(self, person_id: _Optional[str] = ..., identifier: _Optional[_Union[_event_pb2.Identifier, _Mapping]] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("key", "read_mask")
    KEY_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    key: ProfileKey
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, key: _Optional[_Union[ProfileKey, _Mapping]] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class GetProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: Profile
    def __init__(self, profile: _Optional[_Union[Profile, _Mapping]] = ...) -> None: ...

class BatchGetProfilesRequest(_message.Message):
    __slots__ = ("keys", "read_mask")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    READ_MASK_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ProfileKey]
    read_mask: _field_mask_pb2.FieldMask
    def __init__(self, keys: _Optional[_Iterable[_Union[ProfileKey, _Mapping]]] = ..., read_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class BatchGetProfilesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ProfileResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ProfileResult, _Mapping]]] = ...) -> None: ...

class ProfileResult(_message.Message):
    __slots__ = ("index", "found", "profile", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    found: bool
    profile: Profile
    reason: str
    def __init__(self, index: _Optional[int] = ..., found: _Optional[bool] = ..., profile: _Optional[_Union[Profile, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateTraitsRequest(_message.Message):
    __slots__ = ("key", "request_id", "traits")
    KEY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    key: ProfileKey
    request_id: str
    traits: _containers.RepeatedCompositeFieldContainer[TraitUpdate]
    def __init__(self, key: _Optional[_Union[ProfileKey, _Mapping]] = ..., request_id: _Optional[str] = ..., traits: _Optional[_Iterable[_Union[TraitUpdate, _Mapping]]] = ...) -> None: ...

class TraitUpdate(_message.Message):
    __slots__ = ("name", "value", "source", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: TraitValue
    source: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[TraitValue, _Mapping]] = ..., source: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateTraitsResponse(_message.Message):
    __slots__ = ("person_id", "applied")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    applied: bool
    def __init__(self, person_id: _Optional[str] = ..., applied: _Optional[bool] = ...) -> None: ...

class TraitValue(_message.Message):
    __slots__ = ("text", "integer", "number", "flag")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    FLAG_FIELD_NUMBER: _ClassVar[int]
    text: str
    integer: int
    number: float
    flag: bool
    def __init__(self, text: _Optional[str] = ..., integer: _Optional[int] = ..., number: _Optional[float] = ..., flag: _Optional[bool] = ...) -> None: ...

class Trait(_message.Message):
    __slots__ = ("name", "value", "source", "updated_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: TraitValue
    source: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[TraitValue, _Mapping]] = ..., source: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Profile(_message.Message):
    __slots__ = ("person_id", "computed_at", "context", "behavior", "history", "affinities", "segments", "traits", "restricted", "consent")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOR_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    AFFINITIES_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    person_id: str
    computed_at: _timestamp_pb2.Timestamp
    context: ProfileContext
    behavior: ProfileBehavior
    history: ProfileHistory
    affinities: ProfileAffinities
    segments: _containers.RepeatedScalarFieldContainer[str]
    traits: _containers.RepeatedCompositeFieldContainer[Trait]
    restricted: bool
    consent: _containers.RepeatedCompositeFieldContainer[ConsentState]
    def __init__(self, person_id: _Optional[str] = ..., computed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., context: _Optional[_Union[ProfileContext, _Mapping]] = ..., behavior: _Optional[_Union[ProfileBehavior, _Mapping]] = ..., history: _Optional[_Union[ProfileHistory, _Mapping]] = ..., affinities: _Optional[_Union[ProfileAffinities, _Mapping]] = ..., segments: _Optional[_Iterable[str]] = ..., traits: _Optional[_Iterable[_Union[Trait, _Mapping]]] = ..., restricted: _Optional[bool] = ..., consent: _Optional[_Iterable[_Union[ConsentState, _Mapping]]] = ...) -> None: ...

class ConsentState(_message.Message):
    __slots__ = ("purpose", "granted", "conflict", "source", "updated_at")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    CONFLICT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    granted: bool
    conflict: bool
    source: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, purpose: _Optional[str] = ..., granted: _Optional[bool] = ..., conflict: _Optional[bool] = ..., source: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Count(_message.Message):
    __slots__ = ("name", "count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    count: int
    def __init__(self, name: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class ProfileContext(_message.Message):
    __slots__ = ("events", "first_seen", "last_seen", "devices", "latest", "hour_of_day", "day_of_week", "referrers", "cities", "channels")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    HOUR_OF_DAY_FIELD_NUMBER: _ClassVar[int]
    DAY_OF_WEEK_FIELD_NUMBER: _ClassVar[int]
    REFERRERS_FIELD_NUMBER: _ClassVar[int]
    CITIES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    events: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    devices: _containers.RepeatedCompositeFieldContainer[DeviceSummary]
    latest: RecentContext
    hour_of_day: _containers.RepeatedScalarFieldContainer[int]
    day_of_week: _containers.RepeatedScalarFieldContainer[int]
    referrers: _containers.RepeatedCompositeFieldContainer[Count]
    cities: _containers.RepeatedCompositeFieldContainer[Count]
    channels: _containers.RepeatedCompositeFieldContainer[Count]
    def __init__(self, events: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., devices: _Optional[_Iterable[_Union[DeviceSummary, _Mapping]]] = ..., latest: _Optional[_Union[RecentContext, _Mapping]] = ..., hour_of_day: _Optional[_Iterable[int]] = ..., day_of_week: _Optional[_Iterable[int]] = ..., referrers: _Optional[_Iterable[_Union[Count, _Mapping]]] = ..., cities: _Optional[_Iterable[_Union[Count, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[Count, _Mapping]]] = ...) -> None: ...

class DeviceSummary(_message.Message):
    __slots__ = ("node_id", "device_type", "channel", "first_seen", "last_seen", "events")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    device_type: str
    channel: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    events: int
    def __init__(self, node_id: _Optional[str] = ..., device_type: _Optional[str] = ..., channel: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[int] = ...) -> None: ...

class RecentContext(_message.Message):
    __slots__ = ("at", "channel", "device_node_id", "device_type", "city", "region", "country", "referrer", "store_id")
    AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    channel: str
    device_node_id: str
    device_type: str
    city: str
    region: str
    country: str
    referrer: str
    store_id: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ..., device_node_id: _Optional[str] = ..., device_type: _Optional[str] = ..., city: _Optional[str] = ..., region: _Optional[str] = ..., country: _Optional[str] = ..., referrer: _Optional[str] = ..., store_id: _Optional[str] = ...) -> None: ...

class ProductActivity(_message.Message):
    __slots__ = ("sku", "name", "category", "brand", "unit_price", "quantity", "at")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    category: str
    brand: str
    unit_price: _event_pb2.Money
    quantity: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., category: _Optional[str] = ..., brand: _Optional[str] = ..., unit_price: _Optional[_Union[_event_pb2.Money, _Mapping]] = ..., quantity: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CategoryActivity(_message.Message):
    __slots__ = ("category", "at")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    category: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, category: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SessionSummary(_message.Message):
    __slots__ = ("session_id", "channel", "device_type", "last_seen")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    channel: str
    device_type: str
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., channel: _Optional[str] = ..., device_type: _Optional[str] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProfileBehavior(_message.Message):
    __slots__ = ("viewed_products", "viewed_categories", "cart", "cart_abandoned", "last_cart_activity", "cart_value", "recent_sessions")
    VIEWED_PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    VIEWED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    CART_ABANDONED_FIELD_NUMBER: _ClassVar[int]
    LAST_CART_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    CART_VALUE_FIELD_NUMBER: _ClassVar[int]
    RECENT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    viewed_products: _containers.RepeatedCompositeFieldContainer[ProductActivity]
    viewed_categories: _containers.RepeatedCompositeFieldContainer[CategoryActivity]
    cart: _containers.RepeatedCompositeFieldContainer[ProductActivity]
    cart_abandoned: bool
    last_cart_activity: _timestamp_pb2.Timestamp
    cart_value: _containers.RepeatedCompositeFieldContainer[_event_pb2.Money]
    recent_sessions: _containers.RepeatedCompositeFieldContainer[SessionSummary]
    def __init__(self, viewed_products: _Optional[_Iterable[_Union[ProductActivity, _Mapping]]] = ..., viewed_categories: _Optional[_Iterable[_Union[CategoryActivity, _Mapping]]] = ..., cart: _Optional[_Iterable[_Union[ProductActivity, _Mapping]]] = ..., cart_abandoned: _Optional[bool] = ..., last_cart_activity: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cart_value: _Optional[_Iterable[_Union[_event_pb2.Money, _Mapping]]] = ..., recent_sessions: _Optional[_Iterable[_Union[SessionSummary, _Mapping]]] = ...) -> None: ...

class ProfileHistory(_message.Message):
    __slots__ = ("orders", "online_orders", "in_store_orders", "revenue", "online_revenue", "in_store_revenue", "average_order_value", "first_order", "last_order", "products_bought", "discounted_orders", "discount_total", "loyalty", "email")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_ORDERS_FIELD_NUMBER: _ClassVar[int]
    IN_STORE_ORDERS_FIELD_NUMBER: _ClassVar[int]
    REVENUE_FIELD_NUMBER: _ClassVar[int]
    ONLINE_REVENUE_FIELD_NUMBER: _ClassVar[int]
    IN_STORE_REVENUE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_ORDER_VALUE_FIELD_NUMBER: _ClassVar[int]
    FIRST_ORDER_FIELD_NUMBER: _ClassVar[int]
    LAST_ORDER_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_BOUGHT_FIELD_NUMBER: _ClassVar[int]
    DISCOUNTED_ORDERS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LOYALTY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    orders: int
    online_orders: int
    in_store_orders: int
    revenue: _containers.RepeatedCompositeFieldContainer[_event_pb2.Money]
    online_revenue: _containers.RepeatedCompositeFieldContainer[_event_pb2.Money]
    in_store_revenue: _containers.RepeatedCompositeFieldContainer[_event_pb2.Money]
    average_order_value: _containers.RepeatedCompositeFieldContainer[_event_pb2.Money]
    first_order: _timestamp_pb2.Timestamp
    last_order: _timestamp_pb2.Timestamp
    products_bought: _containers.RepeatedCompositeFieldContainer[ProductActivity]
    discounted_orders: int
    discount_total: _containers.RepeatedCompositeFieldContainer[_event_pb2.Money]
    loyalty: Loyalty
    email: EmailInteractions
    def __init__(self, orders: _Optional[int] = ..., online_orders: _Optional[int] = ..., in_store_orders: _Optional[int] = ..., revenue: _Optional[_Iterable[_Union[_event_pb2.Money, _Mapping]]] = ..., online_revenue: _Optional[_Iterable[_Union[_event_pb2.Money, _Mapping]]] = ..., in_store_revenue: _Optional[_Iterable[_Union[_event_pb2.Money, _Mapping]]] = ..., average_order_value: _Optional[_Iterable[_Union[_event_pb2.Money, _Mapping]]] = ..., first_order: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_order: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., products_bought: _Optional[_Iterable[_Union[ProductActivity, _Mapping]]] = ..., discounted_orders: _Optional[int] = ..., discount_total: _Optional[_Iterable[_Union[_event_pb2.Money, _Mapping]]] = ..., loyalty: _Optional[_Union[Loyalty, _Mapping]] = ..., email: _Optional[_Union[EmailInteractions, _Mapping]] = ...) -> None: ...

class Loyalty(_message.Message):
    __slots__ = ("member", "member_since", "tier")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    MEMBER_SINCE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    member: bool
    member_since: _timestamp_pb2.Timestamp
    tier: str
    def __init__(self, member: _Optional[bool] = ..., member_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tier: _Optional[str] = ...) -> None: ...

class EmailInteractions(_message.Message):
    __slots__ = ("opens", "clicks", "last_campaign_id", "last_campaign_name", "last_click_at")
    OPENS_FIELD_NUMBER: _ClassVar[int]
    CLICKS_FIELD_NUMBER: _ClassVar[int]
    LAST_CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_CAMPAIGN_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_CLICK_AT_FIELD_NUMBER: _ClassVar[int]
    opens: int
    clicks: int
    last_campaign_id: str
    last_campaign_name: str
    last_click_at: _timestamp_pb2.Timestamp
    def __init__(self, opens: _Optional[int] = ..., clicks: _Optional[int] = ..., last_campaign_id: _Optional[str] = ..., last_campaign_name: _Optional[str] = ..., last_click_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Affinity(_message.Message):
    __slots__ = ("name", "score", "share")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    name: str
    score: float
    share: float
    def __init__(self, name: _Optional[str] = ..., score: _Optional[float] = ..., share: _Optional[float] = ...) -> None: ...

class ProfileAffinities(_message.Message):
    __slots__ = ("categories", "brands", "price_tier", "discount_ratio", "discount_seeker")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    BRANDS_FIELD_NUMBER: _ClassVar[int]
    PRICE_TIER_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_RATIO_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_SEEKER_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[Affinity]
    brands: _containers.RepeatedCompositeFieldContainer[Affinity]
    price_tier: PriceTier
    discount_ratio: float
    discount_seeker: bool
    def __init__(self, categories: _Optional[_Iterable[_Union[Affinity, _Mapping]]] = ..., brands: _Optional[_Iterable[_Union[Affinity, _Mapping]]] = ..., price_tier: _Optional[_Union[PriceTier, str]] = ..., discount_ratio: _Optional[float] = ..., discount_seeker: _Optional[bool] = ...) -> None: ...
