"""The LIVE schema: the clients' own field numbers, and a typed view that names every field."""

from __future__ import annotations

import ast
import dataclasses
import gzip
import inspect
from typing import TYPE_CHECKING, Any

import pytest

# Imported through the client's own package, which loads every module its classes refer to.
from TikTokLive.proto import (
    CommonMessageData,
    Gift,
    HeartBeatMessage,
    ImageModel,
    ProtoMessageFetchResult,
    User,
    WebcastChatMessage,
    WebcastGiftMessage,
    WebcastImEnterRoomMessage,
    WebcastLikeMessage,
    WebcastPushFrame,
)
from TikTokLive.proto import ProtoMessageFetchResultBaseProtoMessage as BaseProtoMessage

from signer.live import proto

if TYPE_CHECKING:
    import betterproto2

#: TikTokLive 7.0.1's class for each of ours (tiktok-live-connector's schema is the same
#: upstream's; the acceptance tests decode with it).
CLIENT_CLASSES: dict[str, type[betterproto2.Message]] = {
    "ImageModel": ImageModel,
    "User": User,
    "CommonMessageData": CommonMessageData,
    "Gift": Gift,
    "WebcastChatMessage": WebcastChatMessage,
    "WebcastGiftMessage": WebcastGiftMessage,
    "WebcastLikeMessage": WebcastLikeMessage,
    "BaseProtoMessage": BaseProtoMessage,
    "ProtoMessageFetchResult": ProtoMessageFetchResult,
    "WebcastPushFrame": WebcastPushFrame,
    "WebcastImEnterRoomMessage": WebcastImEnterRoomMessage,
    "HeartBeatMessage": HeartBeatMessage,
}


def _client_fields(cls: type[betterproto2.Message]) -> dict[str, tuple[int, str, bool]]:
    """Each field: name → (number, type, repeated) as the client's generated class declares it."""
    found = {}
    generated: Any = cls  # a pydantic dataclass, which mypy does not see as one
    for field in dataclasses.fields(generated):
        meta = field.metadata["betterproto"]
        found[field.name] = (meta.number, meta.proto_type, meta.repeated)
    return found


def _our_fields(name: str) -> dict[str, tuple[int, str, bool]]:
    descriptor: Any = getattr(proto, name).DESCRIPTOR
    types = {9: "string", 12: "bytes", 8: "bool", 5: "int32", 3: "int64", 11: "message"}
    found = {}
    for field in descriptor.fields:
        kind = "map" if field.message_type and field.message_type.GetOptions().map_entry else ""
        found[field.name] = (
            field.number,
            kind or types[field.type],
            field.is_repeated and not kind,
        )
    return found


@pytest.mark.parametrize("name", sorted(proto.SCHEMA))
def test_field_numbers_are_the_clients(name: str) -> None:
    """Every field has the number, type and cardinality of TikTokLive's schema."""
    client = _client_fields(CLIENT_CLASSES[name])
    for field, (number, kind, repeated) in _our_fields(name).items():
        client_number, client_kind, client_repeated = client[field]
        assert number == client_number, field
        if kind == "map":
            # The clients' push-frame headers are repeated {key, value}: the map's wire form.
            assert client_kind in {"map", "message"}, field
        else:
            assert (kind, repeated) == (client_kind, client_repeated), field


def _typed_view() -> dict[str, set[str]]:
    """The fields each class under TYPE_CHECKING names: attributes, properties, keywords."""
    tree = ast.parse(inspect.getsource(proto))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    views: dict[str, set[str]] = {}
    for node in block.body:
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        attributes = {
            item.target.id
            for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        }
        properties = {
            item.name
            for item in node.body
            if isinstance(item, ast.FunctionDef) and item.decorator_list
        }
        init = next(
            item
            for item in node.body
            if isinstance(item, ast.FunctionDef) and item.name == "__init__"
        )
        keywords = {arg.arg for arg in init.args.kwonlyargs}
        assert attributes | properties == keywords, node.name
        views[node.name] = keywords
    return views


def test_typed_view_names_every_field() -> None:
    """The classes mypy sees have exactly the runtime classes' fields."""
    views = _typed_view()
    assert set(views) == set(proto.SCHEMA)
    for name, keywords in views.items():
        assert keywords == set(_our_fields(name)), name


def test_a_fetch_result_reads_back_in_the_python_client() -> None:
    """What we encode, TikTokLive decodes: messages, cursor, route params, flags."""
    chat = proto.WebcastChatMessage(
        common=proto.CommonMessageData(method="WebcastChatMessage", msg_id=7),
        user=proto.User(id=42, nickname="Nick Name", display_id="nick"),
        content="hello",
    )
    result = proto.ProtoMessageFetchResult(
        cursor="0",
        route_params={"wrss": "token"},
        push_server="ws://127.0.0.1:1/ws",
        heartbeat_duration=10000,
        need_ack=True,
        is_first=True,
    )
    result.messages.add(method="WebcastChatMessage", payload=chat.SerializeToString(), msg_id=7)
    frame = proto.PushFrame(
        log_id=9,
        payload_type="msg",
        payload_encoding="pb",
        headers={"compress_type": "gzip"},
        payload=gzip.compress(result.SerializeToString()),
    )

    client_frame = WebcastPushFrame().parse(frame.SerializeToString())
    decoded = ProtoMessageFetchResult().parse(gzip.decompress(client_frame.payload))
    comment = WebcastChatMessage().parse(decoded.messages[0].payload)

    assert [(h.key, h.value) for h in client_frame.headers] == [("compress_type", "gzip")]
    assert (decoded.cursor, decoded.route_params, decoded.is_first) == (
        "0",
        {"wrss": "token"},
        True,
    )
    assert (decoded.heartbeat_duration, decoded.need_ack) == (10000, True)
    assert decoded.push_server == "ws://127.0.0.1:1/ws"
    assert comment.user is not None
    assert (comment.content, comment.user.nickname, comment.user.display_id) == (
        "hello",
        "Nick Name",
        "nick",
    )


def test_the_python_clients_enter_room_frame_reads_here() -> None:
    """The frame TikTokLive sends after the upgrade decodes with our classes."""
    payload = WebcastImEnterRoomMessage(room_id=7123, live_id=12, identity="audience")
    sent = WebcastPushFrame(
        payload_type="im_enter_room", payload_encoding="pb", payload=bytes(payload)
    )

    frame = proto.WebcastPushFrame.FromString(bytes(sent))
    enter = proto.WebcastImEnterRoomMessage.FromString(frame.payload)

    assert (frame.payload_type, enter.room_id, enter.live_id) == ("im_enter_room", 7123, 12)
    assert enter.identity == "audience"
