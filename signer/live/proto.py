"""The LIVE protobuf messages the service and the fake TikTok exchange.

A small schema, built at import with the ``protobuf`` package (``descriptor_pb2`` and
``message_factory``): only the messages and fields this project reads or writes. Field
numbers and wire types are those of the clients' own generated schemas (TikTokLive's
``TikTokLiveProto.v3``, tiktok-live-connector's ``tiktok-live-proto/v3``), so what one side
encodes the other decodes; fields left out here are skipped by both decoders.

Use the classes as protobuf messages::

    result = proto.ProtoMessageFetchResult(cursor="0", route_params={"wrss": "x"})
    body = result.SerializeToString()
    again = proto.ProtoMessageFetchResult.FromString(body)

Composite fields are set in the constructor or with ``CopyFrom`` (protobuf refuses
assignment); repeated ones with ``add``/``append``/``extend``; maps like a dict. The typed
classes under ``TYPE_CHECKING`` describe the runtime classes for mypy; a test checks that
both name the same fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = [
    "BaseProtoMessage",
    "CommonMessageData",
    "Gift",
    "HeartBeatMessage",
    "ImageModel",
    "ProtoMessageFetchResult",
    "PushFrame",
    "User",
    "WebcastChatMessage",
    "WebcastGiftMessage",
    "WebcastImEnterRoomMessage",
    "WebcastLikeMessage",
    "WebcastPushFrame",
]

#: The proto package of the schema (any name: it never goes on the wire).
PACKAGE: Final = "tiktok_signer.live"

_Type = descriptor_pb2.FieldDescriptorProto
_STRING: Final = _Type.TYPE_STRING
_BYTES: Final = _Type.TYPE_BYTES
_BOOL: Final = _Type.TYPE_BOOL
_INT32: Final = _Type.TYPE_INT32
_INT64: Final = _Type.TYPE_INT64
_MESSAGE: Final = _Type.TYPE_MESSAGE
#: A ``map<string, string>`` (on the wire: repeated entries of key 1, value 2).
_MAP: Final = -1


class _Field(NamedTuple):
    number: int
    name: str
    type: int
    message: str = ""
    repeated: bool = False


def _msg(number: int, name: str, message: str, *, repeated: bool = False) -> _Field:
    return _Field(number, name, _MESSAGE, message, repeated)


#: Every message: its fields as the clients' schemas number them (see the module docstring).
SCHEMA: Final[dict[str, tuple[_Field, ...]]] = {
    "ImageModel": (
        _Field(1, "url_list", _STRING, repeated=True),
        _Field(2, "uri", _STRING),
        _Field(3, "height", _INT32),
        _Field(4, "width", _INT32),
    ),
    "User": (
        _Field(1, "id", _INT64),
        _Field(3, "nickname", _STRING),
        _msg(9, "avatar_thumb", "ImageModel"),
        _Field(38, "display_id", _STRING),
    ),
    "CommonMessageData": (
        _Field(1, "method", _STRING),
        _Field(2, "msg_id", _INT64),
        _Field(3, "room_id", _INT64),
        _Field(4, "create_time", _INT64),
        _Field(6, "is_show_msg", _BOOL),
        _Field(7, "describe", _STRING),
        _Field(12, "log_id", _STRING),
    ),
    "Gift": (
        _msg(1, "image", "ImageModel"),
        _Field(2, "describe", _STRING),
        _Field(4, "duration", _INT32),
        _Field(5, "id", _INT64),
        _Field(10, "combo", _BOOL),
        _Field(11, "type", _INT32),
        _Field(12, "diamond_count", _INT32),
        _Field(16, "name", _STRING),
    ),
    "WebcastChatMessage": (
        _msg(1, "common", "CommonMessageData"),
        _msg(2, "user", "User"),
        _Field(3, "content", _STRING),
        _Field(14, "content_language", _STRING),
    ),
    "WebcastGiftMessage": (
        _msg(1, "common", "CommonMessageData"),
        _Field(2, "gift_id", _INT64),
        _Field(3, "fan_ticket_count", _INT32),
        _Field(4, "group_count", _INT32),
        _Field(5, "repeat_count", _INT32),
        _Field(6, "combo_count", _INT32),
        _msg(7, "user", "User"),
        _msg(8, "to_user", "User"),
        _Field(9, "repeat_end", _INT32),
        _Field(11, "group_id", _INT64),
        _msg(15, "gift", "Gift"),
        _Field(16, "log_id", _STRING),
    ),
    "WebcastLikeMessage": (
        _msg(1, "common", "CommonMessageData"),
        _Field(2, "count", _INT32),
        _Field(3, "total", _INT64),
        _msg(5, "user", "User"),
    ),
    "BaseProtoMessage": (
        _Field(1, "method", _STRING),
        _Field(2, "payload", _BYTES),
        _Field(3, "msg_id", _INT64),
        _Field(4, "msg_type", _INT32),
        _Field(5, "offset", _INT64),
        _Field(6, "is_history", _BOOL),
        _Field(7, "sample_flag", _INT32),
    ),
    "ProtoMessageFetchResult": (
        _msg(1, "messages", "BaseProtoMessage", repeated=True),
        _Field(2, "cursor", _STRING),
        _Field(3, "fetch_interval", _INT64),
        _Field(4, "now", _INT64),
        _Field(5, "internal_ext", _STRING),
        _Field(6, "fetch_type", _INT32),
        _Field(7, "route_params", _MAP),
        _Field(8, "heartbeat_duration", _INT64),
        _Field(9, "need_ack", _BOOL),
        _Field(10, "push_server", _STRING),
        _Field(11, "is_first", _BOOL),
        _Field(12, "history_comment_cursor", _STRING),
        _Field(13, "history_no_more", _BOOL),
    ),
    # The clients call its headers a repeated {key, value} message: the same wire form.
    "WebcastPushFrame": (
        _Field(1, "seq_id", _INT64),
        _Field(2, "log_id", _INT64),
        _Field(3, "service", _INT64),
        _Field(4, "method", _INT64),
        _Field(5, "headers", _MAP),
        _Field(6, "payload_encoding", _STRING),
        _Field(7, "payload_type", _STRING),
        _Field(8, "payload", _BYTES),
    ),
    "WebcastImEnterRoomMessage": (
        _Field(1, "room_id", _INT64),
        _Field(2, "room_tag", _STRING),
        _Field(3, "live_region", _STRING),
        _Field(4, "live_id", _INT64),
        _Field(5, "identity", _STRING),
        _Field(6, "cursor", _STRING),
        _Field(7, "account_type", _INT64),
        _Field(8, "enter_unique_id", _INT64),
        _Field(9, "filter_welcome_msg", _STRING),
        _Field(10, "is_anchor_continue_keep_msg", _BOOL),
    ),
    "HeartBeatMessage": (
        _Field(1, "room_id", _INT64),
        _Field(2, "send_packet_seq_id", _INT64),
    ),
}


def _entry_name(field: str) -> str:
    """``route_params`` → ``RouteParamsEntry``: protoc's name for a map's entry type."""
    return "".join(part.capitalize() for part in field.split("_")) + "Entry"


def _add_field(message: descriptor_pb2.DescriptorProto, field: _Field) -> None:
    added = message.field.add(name=field.name, number=field.number)
    added.label = _Type.LABEL_REPEATED if field.repeated else _Type.LABEL_OPTIONAL
    if field.type == _MAP:
        entry = message.nested_type.add(name=_entry_name(field.name))
        entry.options.map_entry = True
        for number, name in ((1, "key"), (2, "value")):
            entry.field.add(name=name, number=number, type=_STRING, label=_Type.LABEL_OPTIONAL)
        added.label = _Type.LABEL_REPEATED
        added.type = _MESSAGE
        added.type_name = f".{PACKAGE}.{message.name}.{entry.name}"
    elif field.type == _MESSAGE:
        added.type = _MESSAGE
        added.type_name = f".{PACKAGE}.{field.message}"
    else:
        added.type = field.type


def _file() -> descriptor_pb2.FileDescriptorProto:
    """The schema as one proto3 file."""
    file = descriptor_pb2.FileDescriptorProto(
        name="tiktok_signer/live.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields in SCHEMA.items():
        message = file.message_type.add(name=name)
        for field in fields:
            _add_field(message, field)
    return file


def _classes() -> dict[str, type[Any]]:
    """One message class per schema entry, from a pool of our own."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
        for name in SCHEMA
    }


_CLASSES: Final = _classes()

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, MutableMapping, MutableSequence
    from typing import Generic, Self, TypeVar

    _M = TypeVar("_M", bound="_Message")

    class _Message:
        """What every generated class offers (the subset used here)."""

        @classmethod
        def FromString(cls, data: bytes, /) -> Self: ...
        def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...
        def ParseFromString(self, data: bytes, /) -> int: ...
        def CopyFrom(self, other: Self, /) -> None: ...
        def HasField(self, name: str, /) -> bool: ...
        def ByteSize(self) -> int: ...

    class _Repeated(Generic[_M]):
        """A repeated message field."""

        def add(self, **fields: Any) -> _M: ...
        def append(self, value: _M, /) -> None: ...
        def extend(self, values: Iterable[_M], /) -> None: ...
        def __iter__(self) -> Iterator[_M]: ...
        def __len__(self) -> int: ...
        def __getitem__(self, index: int, /) -> _M: ...

    class ImageModel(_Message):
        """``webcast.model.base.ImageModel``."""

        url_list: MutableSequence[str]
        uri: str
        height: int
        width: int

        def __init__(
            self,
            *,
            url_list: Iterable[str] = ...,
            uri: str = ...,
            height: int = ...,
            width: int = ...,
        ) -> None: ...

    class User(_Message):
        """``webcast.model.base.user.User``: ``display_id`` is the @-handle."""

        id: int
        nickname: str
        display_id: str

        @property
        def avatar_thumb(self) -> ImageModel: ...
        def __init__(
            self,
            *,
            id: int = ...,
            nickname: str = ...,
            avatar_thumb: ImageModel = ...,
            display_id: str = ...,
        ) -> None: ...

    class CommonMessageData(_Message):
        """``webcast.shared.message.CommonMessageData``."""

        method: str
        msg_id: int
        room_id: int
        create_time: int
        is_show_msg: bool
        describe: str
        log_id: str

        def __init__(
            self,
            *,
            method: str = ...,
            msg_id: int = ...,
            room_id: int = ...,
            create_time: int = ...,
            is_show_msg: bool = ...,
            describe: str = ...,
            log_id: str = ...,
        ) -> None: ...

    class Gift(_Message):
        """``webcast.model.Gift``."""

        describe: str
        duration: int
        id: int
        combo: bool
        type: int
        diamond_count: int
        name: str

        @property
        def image(self) -> ImageModel: ...
        def __init__(
            self,
            *,
            image: ImageModel = ...,
            describe: str = ...,
            duration: int = ...,
            id: int = ...,
            combo: bool = ...,
            type: int = ...,
            diamond_count: int = ...,
            name: str = ...,
        ) -> None: ...

    class WebcastChatMessage(_Message):
        """A chat comment (TikTokLive's ``CommentEvent``, the connector's ``chat``)."""

        content: str
        content_language: str

        @property
        def common(self) -> CommonMessageData: ...
        @property
        def user(self) -> User: ...
        def __init__(
            self,
            *,
            common: CommonMessageData = ...,
            user: User = ...,
            content: str = ...,
            content_language: str = ...,
        ) -> None: ...

    class WebcastGiftMessage(_Message):
        """A gift (``GiftEvent``, ``gift``)."""

        gift_id: int
        fan_ticket_count: int
        group_count: int
        repeat_count: int
        combo_count: int
        repeat_end: int
        group_id: int
        log_id: str

        @property
        def common(self) -> CommonMessageData: ...
        @property
        def user(self) -> User: ...
        @property
        def to_user(self) -> User: ...
        @property
        def gift(self) -> Gift: ...
        def __init__(
            self,
            *,
            common: CommonMessageData = ...,
            gift_id: int = ...,
            fan_ticket_count: int = ...,
            group_count: int = ...,
            repeat_count: int = ...,
            combo_count: int = ...,
            user: User = ...,
            to_user: User = ...,
            repeat_end: int = ...,
            group_id: int = ...,
            gift: Gift = ...,
            log_id: str = ...,
        ) -> None: ...

    class WebcastLikeMessage(_Message):
        """Likes (``LikeEvent``, ``like``): ``count`` in this message, ``total`` in the room."""

        count: int
        total: int

        @property
        def common(self) -> CommonMessageData: ...
        @property
        def user(self) -> User: ...
        def __init__(
            self,
            *,
            common: CommonMessageData = ...,
            count: int = ...,
            total: int = ...,
            user: User = ...,
        ) -> None: ...

    class BaseProtoMessage(_Message):
        """One message of a fetch result: ``method`` names the type ``payload`` encodes."""

        method: str
        payload: bytes
        msg_id: int
        msg_type: int
        offset: int
        is_history: bool
        sample_flag: int

        def __init__(
            self,
            *,
            method: str = ...,
            payload: bytes = ...,
            msg_id: int = ...,
            msg_type: int = ...,
            offset: int = ...,
            is_history: bool = ...,
            sample_flag: int = ...,
        ) -> None: ...

    class ProtoMessageFetchResult(_Message):
        """The answer of ``webcast/im/fetch/`` and the payload of a ``msg`` push frame."""

        cursor: str
        fetch_interval: int
        now: int
        internal_ext: str
        fetch_type: int
        heartbeat_duration: int
        need_ack: bool
        push_server: str
        is_first: bool
        history_comment_cursor: str
        history_no_more: bool

        @property
        def messages(self) -> _Repeated[BaseProtoMessage]: ...
        @property
        def route_params(self) -> MutableMapping[str, str]: ...
        def __init__(
            self,
            *,
            messages: Iterable[BaseProtoMessage] = ...,
            cursor: str = ...,
            fetch_interval: int = ...,
            now: int = ...,
            internal_ext: str = ...,
            fetch_type: int = ...,
            route_params: Mapping[str, str] = ...,
            heartbeat_duration: int = ...,
            need_ack: bool = ...,
            push_server: str = ...,
            is_first: bool = ...,
            history_comment_cursor: str = ...,
            history_no_more: bool = ...,
        ) -> None: ...

    class WebcastPushFrame(_Message):
        """A socket frame: ``payload_type`` ``msg``, ``ack``, ``hb``, ``im_enter_room``, ..."""

        seq_id: int
        log_id: int
        service: int
        method: int
        payload_encoding: str
        payload_type: str
        payload: bytes

        @property
        def headers(self) -> MutableMapping[str, str]: ...
        def __init__(
            self,
            *,
            seq_id: int = ...,
            log_id: int = ...,
            service: int = ...,
            method: int = ...,
            headers: Mapping[str, str] = ...,
            payload_encoding: str = ...,
            payload_type: str = ...,
            payload: bytes = ...,
        ) -> None: ...

    class WebcastImEnterRoomMessage(_Message):
        """The payload of the ``im_enter_room`` frame a client sends after the upgrade."""

        room_id: int
        room_tag: str
        live_region: str
        live_id: int
        identity: str
        cursor: str
        account_type: int
        enter_unique_id: int
        filter_welcome_msg: str
        is_anchor_continue_keep_msg: bool

        def __init__(
            self,
            *,
            room_id: int = ...,
            room_tag: str = ...,
            live_region: str = ...,
            live_id: int = ...,
            identity: str = ...,
            cursor: str = ...,
            account_type: int = ...,
            enter_unique_id: int = ...,
            filter_welcome_msg: str = ...,
            is_anchor_continue_keep_msg: bool = ...,
        ) -> None: ...

    class HeartBeatMessage(_Message):
        """The payload of an ``hb`` frame."""

        room_id: int
        send_packet_seq_id: int

        def __init__(self, *, room_id: int = ..., send_packet_seq_id: int = ...) -> None: ...

else:
    ImageModel = _CLASSES["ImageModel"]
    User = _CLASSES["User"]
    CommonMessageData = _CLASSES["CommonMessageData"]
    Gift = _CLASSES["Gift"]
    WebcastChatMessage = _CLASSES["WebcastChatMessage"]
    WebcastGiftMessage = _CLASSES["WebcastGiftMessage"]
    WebcastLikeMessage = _CLASSES["WebcastLikeMessage"]
    BaseProtoMessage = _CLASSES["BaseProtoMessage"]
    ProtoMessageFetchResult = _CLASSES["ProtoMessageFetchResult"]
    WebcastPushFrame = _CLASSES["WebcastPushFrame"]
    WebcastImEnterRoomMessage = _CLASSES["WebcastImEnterRoomMessage"]
    HeartBeatMessage = _CLASSES["HeartBeatMessage"]

#: What the clients' sources call the socket frame besides ``WebcastPushFrame``.
PushFrame = WebcastPushFrame
