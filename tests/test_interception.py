"""The one interceptor helper: every handler kind is wrapped, around the whole call (streamed
responses included), and an unexpected exception is INTERNAL with no message, whatever the kind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from google.protobuf import wrappers_pb2

from server import interception
from server.errors import ErrorInterceptor

SECRET = "alice@example.com"
Text = wrappers_pb2.StringValue


def _fail_unary(request: Any, context: grpc.ServicerContext) -> Text:
    raise RuntimeError(f"driver said: {SECRET}")


def _fail_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Text]:
    yield Text(value="first")
    raise RuntimeError(f"driver said: {SECRET}")


def _count_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Text]:
    for n in range(3):
        context.log.append(f"response {n}")  # type: ignore[attr-defined]
        yield Text(value=str(n))


def _handlers() -> grpc.GenericRpcHandler:
    kw = {"request_deserializer": Text.FromString, "response_serializer": Text.SerializeToString}
    return grpc.method_handlers_generic_handler(
        "t.Svc",
        {
            "UU": grpc.unary_unary_rpc_method_handler(_fail_unary, **kw),
            "US": grpc.unary_stream_rpc_method_handler(_fail_stream, **kw),
            "SU": grpc.stream_unary_rpc_method_handler(_fail_unary, **kw),
            "SS": grpc.stream_stream_rpc_method_handler(_fail_stream, **kw),
        },
    )


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers((_handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(None)


def _call(channel: grpc.Channel, kind: str) -> None:
    kw = {"request_serializer": Text.SerializeToString, "response_deserializer": Text.FromString}
    method = f"/t.Svc/{kind}"
    requests = iter([Text(value="a"), Text(value="b")])
    if kind == "UU":
        channel.unary_unary(method, **kw)(Text(value="a"), timeout=10)
    elif kind == "US":
        list(channel.unary_stream(method, **kw)(Text(value="a"), timeout=10))
    elif kind == "SU":
        channel.stream_unary(method, **kw)(requests, timeout=10)
    else:
        list(channel.stream_stream(method, **kw)(requests, timeout=10))


@pytest.mark.parametrize("kind", ["UU", "US", "SU", "SS"])
def test_an_unexpected_exception_is_internal_with_no_message_for_every_handler_kind(channel, kind, caplog):
    with caplog.at_level(logging.DEBUG), pytest.raises(grpc.RpcError) as err:
        _call(channel, kind)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert err.value.details() == "internal error"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "unexpected RuntimeError" in logged
    assert SECRET not in logged


class _Context:
    def __init__(self) -> None:
        self.log: list[str] = []


def test_the_wrapper_stays_around_a_call_until_its_last_streamed_response():
    @contextmanager
    def around(request: Any, context: Any) -> Iterator[Any]:
        context.log.append("enter")
        try:
            yield request.upper()
        finally:
            context.log.append("exit")

    handler = grpc.unary_stream_rpc_method_handler(_count_stream)
    wrapped = interception.wrap(handler, around)
    context = _Context()
    responses = wrapped.unary_stream("req", context)
    assert context.log == []  # nothing runs before grpcio iterates
    assert [r.value for r in responses] == ["0", "1", "2"]
    assert context.log == ["enter", "response 0", "response 1", "response 2", "exit"]


def test_the_wrapper_replaces_the_deserializer_and_passes_the_request_it_yields():
    seen: list[Any] = []

    def behave(request: Any, context: Any) -> str:
        seen.append(request)
        return "ok"

    @contextmanager
    def around(request: Any, context: Any) -> Iterator[Any]:
        yield ("checked", request)

    handler = grpc.stream_unary_rpc_method_handler(behave, request_deserializer=bytes.decode)
    wrapped = interception.wrap(handler, around, deserializer=lambda old: lambda b: ("new", old(b)))
    assert wrapped.request_deserializer(b"x") == ("new", "x")
    assert wrapped.stream_unary("r", _Context()) == "ok"
    assert seen == [("checked", "r")]
