"""Messages as the CLI prints them: protobuf's JSON mapping, except that 64-bit integers are
numbers. The mapping writes them as strings (JavaScript cannot hold every int64); a count of 8
printed as "8" broke every `jq '.eventsReceived > 0'` a user wrote."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def message_json(message: Message) -> dict[str, Any]:
    out = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    _numbers(message.DESCRIPTOR, out)  # type: ignore[arg-type]
    return out


def _numbers(desc: Descriptor, d: dict[str, Any]) -> None:
    for f in desc.fields:
        if f.json_name not in d:
            continue
        value = d[f.json_name]
        entry = f.message_type
        if entry is not None and entry.GetOptions().map_entry:
            inner = entry.fields_by_name["value"]
            d[f.json_name] = {k: _one(inner, v) for k, v in value.items()}
        elif f.is_repeated:
            d[f.json_name] = [_one(f, v) for v in value]
        else:
            d[f.json_name] = _one(f, value)


def _one(f: FieldDescriptor, value: Any) -> Any:
    if f.type in _INT64 and isinstance(value, str):
        return int(value)
    nested = f.message_type
    if nested is not None and isinstance(value, dict) and not nested.full_name.startswith("google.protobuf."):
        _numbers(nested, value)
    return value


def selected(d: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The parts of a message's JSON that field mask `paths` (snake_case, dotted) name."""
    out: dict[str, Any] = {}
    # FieldMask's own JSON form spells each path as the message's JSON names them.
    for path in FieldMask(paths=paths).ToJsonString().split(","):
        names = path.split(".")
        source, target = d, out
        for name in names[:-1]:
            if not isinstance(source.get(name), dict):
                break
            source = source[name]
            target = target.setdefault(name, {})
        else:
            if names[-1] in source:
                target[names[-1]] = source[names[-1]]
    return out
