"""A local stand-in for the Telegram Bot API, for tests.

``TelegramTestServer`` is an aiohttp server bound to 127.0.0.1 that speaks enough of the Bot API
for python-telegram-bot (PTB) to run against it unchanged::

    async with TelegramTestServer(token="123:ABC") as server:
        app = (
            ApplicationBuilder()
            .token(server.token)
            .base_url(server.base_url)
            .base_file_url(server.base_file_url)
            .build()
        )
        ...
        server.push_update(server.text_update(user_id=42, text="/start"))
        await server.wait_for_calls("sendMessage")

Things worth knowing:

* PTB sends parameters as ``application/x-www-form-urlencoded`` where every non-string value is
  JSON-encoded (``chat_id=42``, ``reply_markup={...}``), and as ``multipart/form-data`` when a
  file is uploaded. The server decodes both (and plain JSON bodies) into typed values; uploaded
  files arrive in ``Call.params`` as :class:`Upload`.
* Calls are appended to ``server.calls`` when they are *answered* (``Call.at`` is the arrival
  time), so a long poll shows up when it returns.
* Like Telegram, the server is strict where real code goes wrong in production: texts over 4096
  UTF-16 units, callback_data over 64 bytes, editing a message into exactly what it already is,
  unknown file ids and callback query ids all answer 400 with Telegram's own description.
* Sending to a chat the server has never seen creates it (``strict_chats=True`` answers
  "Bad Request: chat not found" instead).
* PTB's ``File.download_*`` reads a *local* file when ``file_path`` names one that exists
  relative to the working directory; file paths here look like Telegram's
  (``photos/file_3.jpg``), so do not run tests from a directory that has such files.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import ipaddress
import itertools
import json
import mimetypes
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import BodyPartReader, ClientSession, ClientTimeout, web

JSONDict = dict[str, Any]
MethodHandler = Callable[[JSONDict], Awaitable[Any] | Any]

__all__ = [
    "Call",
    "StoredFile",
    "TelegramCloudBlockedError",
    "TelegramTestServer",
    "Upload",
    "block_telegram_cloud",
]

HOST: Final = "127.0.0.1"
DOWNLOAD_METHOD: Final = "downloadFile"
"""``Call.method`` recorded for a file download from ``/file/bot<token>/<path>``."""

MAX_TEXT: Final = 4096
MAX_CAPTION: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_DOWNLOAD_BYTES: Final = 20 * 1024 * 1024

DEFAULT_PHOTO_SIZES: Final[tuple[tuple[int, int, int], ...]] = (
    (90, 68, 1_200),
    (320, 240, 9_000),
    (800, 600, 48_000),
)

# Parameters that are strings in the Bot API: never JSON-decode these, so a text of "123" or
# "true" stays a string.
STRING_PARAMS: Final = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "certificate",
        "custom_title",
        "description",
        "document",
        "emoji",
        "explanation",
        "file_id",
        "first_name",
        "inline_message_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "parse_mode",
        "photo",
        "question",
        "secret_token",
        "short_description",
        "sticker",
        "text",
        "title",
        "url",
        "video",
        "video_note",
        "voice",
    }
)

CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

UPDATE_KINDS: Final = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)

DEFAULT_DESCRIPTIONS: Final[Mapping[int, str]] = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

COMMAND_RE: Final = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass
class Call:
    """One request the server answered."""

    method: str
    params: dict[str, Any]
    at: float
    """``time.monotonic()`` when the request arrived."""
    status: int = 200
    response: JSONDict | None = None
    """The JSON body answered (``None`` for file downloads)."""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call (e.g. the Message dict of a sendMessage)."""
        return None if self.response is None else self.response.get("result")


@dataclass(frozen=True)
class Upload:
    """A file that arrived as a multipart part."""

    name: str
    filename: str | None
    content_type: str
    content: bytes

    def __repr__(self) -> str:  # keep call dumps readable
        return f"Upload({self.name!r}, {self.filename!r}, {len(self.content)} bytes)"


@dataclass
class StoredFile:
    """A file the server can hand out through getFile and the download route."""

    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str

    def as_file(self) -> JSONDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int | None
    description: str | None


class _ApiError(Exception):
    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class _Default(enum.Enum):
    STORED = enum.auto()


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _coerce(name: str, value: Any) -> Any:
    """Turn a form/query value into the typed value Telegram would see."""
    if not isinstance(value, str) or name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise _bad(f"wrong parameter {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"wrong parameter {name} specified") from None


def _image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, if the header says so."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return int(width), int(height)
    if content.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(content):
            if content[i] != 0xFF:
                return None
            marker = content[i + 1]
            (length,) = struct.unpack(">H", content[i + 2 : i + 4])
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", content[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


def _fake_jpeg(size: int, seed: int) -> bytes:
    """Bytes that start and end like a JPEG, ``size`` long, different per seed."""
    body_len = max(size - 4, 0)
    pattern = f"fake-jpeg-{seed}-".encode()
    body = (pattern * (body_len // len(pattern) + 1))[:body_len]
    return b"\xff\xd8" + body + b"\xff\xd9"


def _update_kind(update: Mapping[str, Any]) -> str | None:
    return next((key for key in update if key in UPDATE_KINDS), None)


class TelegramTestServer:
    """A Telegram Bot API double on 127.0.0.1. See the module docstring."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        username: str = "cercap_test_bot",
        first_name: str = "CERCAP Test Bot",
        strict_chats: bool = False,
    ) -> None:
        bot_id, sep, _secret = token.partition(":")
        if not sep or not bot_id.isdigit():
            raise ValueError(f"token must look like '<bot id>:<secret>', got {token!r}")
        self.token = token
        self.bot_id = int(bot_id)
        self.username = username
        self.first_name = first_name
        self.strict_chats = strict_chats

        self.calls: list[Call] = []
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None

        self._calls_cond = asyncio.Condition()
        self._faults: dict[str, list[_Fault]] = {}
        self._stalls: dict[str, int] = {}
        # Update ids the bot confirmed with getUpdates' offset: Telegram forgets them.
        self.confirmed_ids: list[int] = []
        self._released = asyncio.Event()
        self._pending: list[JSONDict] = []
        self._update_ids = itertools.count(100_001)
        self._last_update_id = 100_000
        self._updates_event = asyncio.Event()
        self._poll_generation = 0
        self._waiting_polls = 0
        self._allowed_updates: list[str] = []
        self._closing = False

        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._blocked: set[int] = set()
        self._message_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._bot_messages: dict[int, list[int]] = {}
        self._callback_queries: dict[str, JSONDict] = {}
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._photo_sets: dict[str, list[JSONDict]] = {}
        self._documents: dict[str, JSONDict] = {}
        self._file_counter = itertools.count(1)
        self._query_counter = itertools.count(4_700_000_000_000_000_001)
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._extra_methods: dict[str, MethodHandler] = {}

        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._port: int | None = None

        self._methods: dict[str, tuple[str, MethodHandler]] = {}
        for name, handler in {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
        }.items():
            self._methods[name.lower()] = (name, handler)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("server already started")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/file/{token_part}/{file_path:.+}", self._handle_download)
        app.router.add_route("*", "/{token_part}/{method}", self._handle_api)
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def stop(self) -> None:
        """Answer every pending long poll with an empty result, then shut the server down."""
        self._released.set()
        self._closing = True
        self._wake_polls()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"{self.origin}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``Bot(base_file_url=...)`` / ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.origin}/file/bot"

    @property
    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    @property
    def waiting_polls(self) -> int:
        """How many getUpdates requests are waiting right now."""
        return self._waiting_polls

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by an offset."""
        return list(self._pending)

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Params of successful sendMessage/sendPhoto/sendDocument calls, in order."""
        return [
            call.params
            for call in self.calls
            if call.method in ("sendMessage", "sendPhoto", "sendDocument")
            and call.ok
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def bot_messages(self, chat_id: int) -> list[JSONDict]:
        """Current state (after edits and deletions) of what the bot sent to a chat."""
        return [
            copy.deepcopy(self._messages[(chat_id, message_id)])
            for message_id in self._bot_messages.get(chat_id, [])
            if (chat_id, message_id) in self._messages
        ]

    def last_bot_message(self, chat_id: int) -> JSONDict:
        messages = self.bot_messages(chat_id)
        if not messages:
            raise LookupError(f"the bot has sent nothing to chat {chat_id}")
        return messages[-1]

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """The command list set with setMyCommands for a scope and language."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    async def wait_for(
        self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0
    ) -> list[Call]:
        """Wait until ``predicate(server.calls)`` holds; re-checked whenever a call is answered
        or a long poll starts waiting. Returns the calls. Raises TimeoutError."""
        async with self._calls_cond:
            try:
                async with asyncio.timeout(timeout):
                    await self._calls_cond.wait_for(lambda: predicate(self.calls))
            except TimeoutError:
                raise TimeoutError(
                    f"condition {getattr(predicate, '__name__', predicate)!s} not met within "
                    f"{timeout}s; {len(self.calls)} calls so far:\n{self.describe_calls()}"
                ) from None
        return list(self.calls)

    async def wait_for_calls(
        self, method: str, count: int = 1, timeout: float = 5.0, *, ok_only: bool = True
    ) -> list[Call]:
        """Wait until ``method`` has been answered ``count`` times; returns those calls."""

        def enough(calls: list[Call]) -> bool:
            return len(self._matching(calls, method, ok_only)) >= count

        enough.__name__ = f"{count} x {method}{' (ok)' if ok_only else ''}"
        calls = await self.wait_for(enough, timeout)
        return self._matching(calls, method, ok_only)

    async def wait_for_poll(self, timeout: float = 5.0) -> None:
        """Wait until some getUpdates request is waiting for updates."""

        def polling(_calls: list[Call]) -> bool:
            return self._waiting_polls > 0

        await self.wait_for(polling, timeout)

    def describe_calls(self, last: int = 25) -> str:
        lines = []
        for call in self.calls[-last:]:
            params = ", ".join(f"{k}={v!r}"[:80] for k, v in call.params.items())
            lines.append(f"  {call.status} {call.method}({params})")
        return "\n".join(lines) or "  (none)"

    @staticmethod
    def _matching(calls: list[Call], method: str, ok_only: bool) -> list[Call]:
        return [c for c in calls if c.method == method and (c.ok or not ok_only)]

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        status: int,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` and Telegram's
        error JSON. 429 carries ``parameters.retry_after`` (default 1 second)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        if status == 429 and retry_after is None:
            retry_after = 1
        canonical = self._methods.get(method.lower(), (method, None))[0]
        self._faults.setdefault(canonical, []).append(
            _Fault(status, times, retry_after, description)
        )

    def stall_next(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` get no answer at all (a timeout for the
        client) and are not carried out."""
        canonical = self._methods.get(method.lower(), (method, None))[0]
        self._stalls[canonical] = self._stalls.get(canonical, 0) + times

    def block_user(self, chat_id: int) -> None:
        """From now on every send to this chat answers 403 "bot was blocked by the user"."""
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def register_method(self, name: str, handler: MethodHandler) -> None:
        """Serve an extra Bot API method: ``handler(params)`` returns the ``result`` (may be a
        coroutine); raise nothing, use fail_next for errors."""
        self._methods[name.lower()] = (name, handler)

    def _take_fault(self, method: str) -> _ApiError | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        if fault.status == 429:
            description = fault.description or f"Too Many Requests: retry after {fault.retry_after}"
        else:
            description = (
                fault.description
                or DEFAULT_DESCRIPTIONS.get(fault.status)
                or HTTPStatus(fault.status).phrase
            )
        parameters = None if fault.retry_after is None else {"retry_after": fault.retry_after}
        return _ApiError(fault.status, description, parameters)

    # ------------------------------------------------------------------ simulated people

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates; assigns ``update_id`` when missing. Returns it."""
        queued = dict(update)
        if "update_id" not in queued:
            queued["update_id"] = self._next_update_id()
        update_id = int(queued["update_id"])
        if update_id > self._last_update_id:
            self._last_update_id = update_id
            self._update_ids = itertools.count(update_id + 1)
        self._pending.append(queued)
        self._wake_polls()
        return update_id

    def add_chat(self, chat: Mapping[str, Any]) -> JSONDict:
        """Make a chat known (needed for sends with ``strict_chats=True``)."""
        stored = dict(chat)
        self._chats[int(stored["id"])] = stored
        return stored

    def add_file(self, file_id: str, content: bytes, file_path: str | None = None) -> JSONDict:
        """Make ``file_id`` resolvable by getFile and downloadable. Returns the File dict."""
        existing = self._files.get(file_id)
        if file_path is None:
            file_path = existing.file_path if existing else f"documents/file_{self._n()}"
        unique_id = existing.file_unique_id if existing else f"AQAD{self._n():06d}"
        stored = StoredFile(file_id, unique_id, content, file_path)
        if existing is not None:
            self._files_by_path.pop(existing.file_path, None)
        self._files[file_id] = stored
        self._files_by_path[file_path] = stored
        return stored.as_file()

    def file(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def message_update(
        self,
        user_id: int,
        fields: Mapping[str, Any],
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        """An Update carrying a message from ``user_id`` with extra ``fields``
        (``{"contact": {...}}`` etc.). Channel chats produce a ``channel_post``."""
        user = self._user(user_id, first_name, language_code)
        chat = self._chat(user, chat_id, chat_type)
        message: JSONDict = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
        }
        if chat_type == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = user
        message.update(copy.deepcopy(dict(fields)))
        self._messages[(chat["id"], message["message_id"])] = message
        kind = "channel_post" if chat_type == "channel" else "message"
        return {"update_id": self._next_update_id(), kind: copy.deepcopy(message)}

    def text_update(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Somchai",
        language_code: str = "th",
    ) -> JSONDict:
        """A text message; ``/command`` texts get a bot_command entity like Telegram's."""
        fields: JSONDict = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self.message_update(user_id, fields, chat_id, chat_type, first_name, language_code)

    def callback_update(
        self, user_id: int, data: str, message: Mapping[str, Any] | None = None
    ) -> JSONDict:
        """A button press on ``message`` (a bot message dict, e.g. ``call.result`` of a
        sendMessage); default: the bot's last message to the user's private chat."""
        if message is None:
            message = self.last_bot_message(user_id)
        user = self._user(user_id, None, None)
        query_id = str(next(self._query_counter))
        chat_id = int(message["chat"]["id"])
        query: JSONDict = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(dict(message)),
            "chat_instance": str(-(abs(chat_id) * 7919 + self.bot_id)),
            "data": data,
        }
        self._callback_queries[query_id] = {"query": query, "answered": None}
        return {"update_id": self._next_update_id(), "callback_query": copy.deepcopy(query)}

    def photo_update(
        self,
        user_id: int,
        file_id: str,
        sizes: Sequence[tuple[int, int, int]] = DEFAULT_PHOTO_SIZES,
        caption: str | None = None,
        content: bytes | None = None,
    ) -> JSONDict:
        """A photo message. ``sizes`` are (width, height, file_size), smallest first; the
        largest gets ``file_id`` (others ``{file_id}_{w}x{h}``) and every size is registered
        as a downloadable file (``content`` for the largest if given, else fake JPEG bytes)."""
        photo: list[JSONDict] = []
        for index, (width, height, file_size) in enumerate(sizes):
            largest = index == len(sizes) - 1
            size_id = file_id if largest else f"{file_id}_{width}x{height}"
            data = content if largest and content is not None else _fake_jpeg(file_size, index)
            stored = self.add_file(size_id, data, f"photos/file_{self._n()}.jpg")
            photo.append(
                {
                    "file_id": size_id,
                    "file_unique_id": stored["file_unique_id"],
                    "width": width,
                    "height": height,
                    "file_size": len(data),
                }
            )
        for size in photo:
            self._photo_sets[size["file_id"]] = photo
        fields: JSONDict = {"photo": photo}
        if caption is not None:
            fields["caption"] = caption
        return self.message_update(user_id, fields)

    def location_update(self, user_id: int, lat: float, lon: float) -> JSONDict:
        return self.message_update(user_id, {"location": {"latitude": lat, "longitude": lon}})

    def sticker_update(self, user_id: int, emoji: str = "\U0001f44d") -> JSONDict:
        n = self._n()
        file_id = f"CAACAgIAAxkBAA{n:06d}"
        content = b"RIFF\x0c\x00\x00\x00WEBPVP8 " + f"sticker-{n}".encode()
        stored = self.add_file(file_id, content, f"stickers/file_{n}.webp")
        sticker = {
            "file_id": file_id,
            "file_unique_id": stored["file_unique_id"],
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "CercapTestStickers",
            "file_size": stored["file_size"],
        }
        return self.message_update(user_id, {"sticker": sticker})

    # ------------------------------------------------------------------ webhook

    async def deliver_to_webhook(
        self, update: Mapping[str, Any], secret: str | _Default | None = _Default.STORED
    ) -> int:
        """POST ``update`` to the webhook set with setWebhook, the way Telegram does, with
        X-Telegram-Bot-Api-Secret-Token = the stored secret (or ``secret``; None: no header).
        Returns the HTTP status."""
        if not self.webhook_url:
            raise RuntimeError("no webhook is set (call setWebhook first)")
        token = self.webhook_secret if secret is _Default.STORED else secret
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=10))
        async with self._client.post(
            self.webhook_url,
            data=json.dumps(dict(update) if isinstance(update, Mapping) else update),
            headers=headers,
        ) as response:
            await response.read()
            return response.status

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        token_part = request.match_info["token_part"]
        method_name = request.match_info["method"]
        if not token_part.startswith("bot"):
            raise web.HTTPNotFound()
        try:
            params = await self._read_params(request)
        except ValueError as exc:
            params = {}
            error: _ApiError | None = _bad(f"can't parse request: {exc}")
        else:
            error = None
        canonical, handler = self._methods.get(method_name.lower(), (method_name, None))
        call = Call(canonical, params, at)
        try:
            if error is not None:
                raise error
            if token_part[3:] != self.token:
                raise _ApiError(401, "Unauthorized")
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            fault = self._take_fault(canonical)
            if fault is not None:
                raise fault
            if self._stalls.get(canonical):
                # Never answered: the client times out; the call is not carried out.
                self._stalls[canonical] -= 1
                await self._released.wait()
                raise _ApiError(499, "Client Closed Request")
            result = handler(params)
            if isinstance(result, Awaitable):
                result = await result
            body: JSONDict = {"ok": True, "result": result}
        except _ApiError as exc:
            call.status = exc.status
            body = exc.body()
        except asyncio.CancelledError:
            call.status = 499  # the client went away (e.g. PTB cancelled its long poll)
            self.calls.append(call)
            raise
        call.response = body
        self.calls.append(call)
        await self._notify()
        return web.json_response(body, status=call.status)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        token_part = request.match_info["token_part"]
        file_path = request.match_info["file_path"]
        call = Call(DOWNLOAD_METHOD, {"file_path": file_path}, at)
        stored = self._files_by_path.get(file_path)
        response: web.StreamResponse
        if token_part != f"bot{self.token}":
            call.status = 401
            response = web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        elif stored is None:
            call.status = 404
            response = web.json_response(_ApiError(404, "Not Found").body(), status=404)
        else:
            content_type = mimetypes.guess_type(file_path)[0] or "application/octet-stream"
            response = web.Response(body=stored.content, content_type=content_type)
        self.calls.append(call)
        await self._notify()
        return response

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {k: _coerce(k, v) for k, v in request.query.items()}
        if request.method != "POST" or not request.can_read_body:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            params.update({k: _coerce(k, v) for k, v in body.items()})
        elif content_type == "multipart/form-data":
            uploads: dict[str, Upload] = {}
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    uploads[part.name] = Upload(
                        name=part.name,
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        content=bytes(await part.read()),
                    )
                else:
                    params[part.name] = _coerce(part.name, await part.text())
            for name, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    attached = uploads.pop(value.removeprefix("attach://"), None)
                    if attached is not None:
                        params[name] = attached
            params.update(uploads)
        else:
            form = await request.post()
            for name, value in form.items():
                params[name] = _coerce(name, value) if isinstance(value, str) else value
        return params

    async def _notify(self) -> None:
        async with self._calls_cond:
            self._calls_cond.notify_all()

    def _wake_polls(self) -> None:
        event, self._updates_event = self._updates_event, asyncio.Event()
        event.set()

    def _next_update_id(self) -> int:
        update_id = next(self._update_ids)
        self._last_update_id = max(self._last_update_id, update_id)
        return update_id

    def _n(self) -> int:
        return next(self._file_counter)

    # ------------------------------------------------------------------ chats and messages

    def _user(self, user_id: int, first_name: str | None, language_code: str | None) -> JSONDict:
        """The user dict for ``user_id``; first seen with defaults Somchai/th, later builders
        keep what was set unless they pass new values ("" drops language_code)."""
        user = self._users.setdefault(
            user_id,
            {"id": user_id, "is_bot": False, "first_name": "Somchai", "language_code": "th"},
        )
        if first_name is not None:
            user["first_name"] = first_name
        if language_code:
            user["language_code"] = language_code
        elif language_code == "":
            user.pop("language_code", None)
        return dict(user)

    def _chat(self, user: JSONDict, chat_id: int | None, chat_type: str) -> JSONDict:
        if chat_type == "private":
            if chat_id is not None and chat_id != user["id"]:
                raise ValueError("a private chat's id is the user's id")
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            self._chats[user["id"]] = chat
            return dict(chat)
        if chat_type not in ("group", "supergroup", "channel"):
            raise ValueError(f"unknown chat_type {chat_type!r}")
        if chat_id is None:
            raise ValueError(f"a {chat_type} needs an explicit (negative) chat_id")
        known = self._chats.get(chat_id)
        if known is None or known.get("type") != chat_type:
            known = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {-chat_id}"}
            self._chats[chat_id] = known
        return dict(known)

    def _chat_for(self, params: JSONDict) -> JSONDict:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str):
            found = next(
                (c for c in self._chats.values() if f"@{c.get('username')}" == chat_id), None
            )
            if found is None:
                raise _bad("chat not found")
            chat_id = found["id"]
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _bad("chat not found")
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.strict_chats:
                raise _bad("chat not found")
            if chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": "User"}
            elif chat_id < -1_000_000_000_000:
                chat = {"id": chat_id, "type": "supergroup", "title": "Test supergroup"}
            else:
                chat = {"id": chat_id, "type": "group", "title": "Test group"}
            self._chats[chat_id] = chat
        return dict(chat)

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    @staticmethod
    def _check_markup(markup: Any) -> JSONDict | None:
        """Validate a reply_markup; returns it if it is an inline keyboard (the only kind
        Telegram echoes in the sent Message)."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        keyboard = markup.get("inline_keyboard")
        if keyboard is None:
            return None
        if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
        for row in keyboard:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed")
                data = button.get("callback_data")
                if data is not None and not (
                    0 < len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad("BUTTON_DATA_INVALID")
        return markup

    def _new_bot_message(self, chat: JSONDict, params: JSONDict, fields: JSONDict) -> JSONDict:
        markup = self._check_markup(params.get("reply_markup"))
        message: JSONDict = {
            "message_id": 0,
            "from": self.bot_user,
            "chat": chat,
            "date": int(time.time()),
        }
        reply_to = self._reply_target(chat["id"], params)
        if params.get("message_thread_id") is not None:
            message["message_thread_id"] = params["message_thread_id"]
        if reply_to is not None:
            message["reply_to_message"] = copy.deepcopy(reply_to)
        message.update(fields)
        if markup is not None:
            message["reply_markup"] = markup
        message["message_id"] = self._next_message_id(chat["id"])
        self._messages[(chat["id"], message["message_id"])] = message
        self._bot_messages.setdefault(chat["id"], []).append(message["message_id"])
        return copy.deepcopy(message)

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = bool(params.get("allow_sending_without_reply"))
        else:
            return None
        target = self._messages.get((chat_id, _as_int(message_id, "message_id") or 0))
        if target is None and not allow:
            raise _bad("message to be replied not found")
        if target is None:
            return None
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _text(self, params: JSONDict) -> str:
        text = params.get("text")
        if text is None or (isinstance(text, str) and not text.strip()):
            raise _bad("message text is empty")
        text = str(text)
        if _utf16_len(text) > MAX_TEXT:
            raise _bad("message is too long")
        return text

    def _caption_fields(self, params: JSONDict) -> JSONDict:
        caption = params.get("caption")
        if caption is None or caption == "":
            return {}
        caption = str(caption)
        if _utf16_len(caption) > MAX_CAPTION:
            raise _bad("message caption is too long")
        fields: JSONDict = {"caption": caption}
        if params.get("caption_entities"):
            fields["caption_entities"] = params["caption_entities"]
        return fields

    def _message_for_edit(self, params: JSONDict) -> JSONDict | None:
        """The stored message an edit refers to; None for inline messages."""
        if params.get("inline_message_id"):
            return None
        chat = self._chat_for(params)
        message_id = _as_int(params.get("message_id"), "message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise _bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return message

    # ------------------------------------------------------------------ methods

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params.get("offset"), "offset")
        limit = min(max(_as_int(params.get("limit"), "limit", 100) or 100, 1), 100)
        timeout = max(_as_int(params.get("timeout"), "timeout", 0) or 0, 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed]
        if offset is not None:
            before = self._pending
            if offset < 0:
                self._pending = self._pending[offset:]
            else:
                self._pending = [u for u in self._pending if int(u["update_id"]) >= offset]
            kept = {id(u) for u in self._pending}
            self.confirmed_ids += [int(u["update_id"]) for u in before if id(u) not in kept]

        # A newer getUpdates ends an older one with 409, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_polls()

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiting_polls += 1
        try:
            first = True
            while True:
                if generation != self._poll_generation:
                    raise _ApiError(409, DEFAULT_DESCRIPTIONS[409])
                batch = self._deliverable(limit)
                remaining = deadline - loop.time()
                if batch or self._closing or remaining <= 0:
                    return batch
                event = self._updates_event
                if first:
                    first = False
                    await self._notify()  # let wait_for_poll() see us waiting
                    continue  # re-check: state may have moved while notifying
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await event.wait()
        finally:
            self._waiting_polls -= 1

    def _deliverable(self, limit: int) -> list[JSONDict]:
        allowed = self._allowed_updates
        updates = [u for u in self._pending if not allowed or _update_kind(u) in allowed]
        return copy.deepcopy(updates[:limit])

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and secret != "" and not SECRET_RE.match(str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if not url:
            self.webhook_url = None
            self.webhook_secret = None
            self.webhook_allowed_updates = None
            return True
        if not str(url).startswith(("http://", "https://")):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = str(url)
        self.webhook_secret = str(secret) if secret else None
        allowed = params.get("allowed_updates")
        self.webhook_allowed_updates = list(allowed) if isinstance(allowed, list) else None
        self._wake_polls()  # a waiting getUpdates now conflicts
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook_url = None
        self.webhook_secret = None
        self.webhook_allowed_updates = None
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url:
            info["ip_address"] = HOST
            info["max_connections"] = 40
            if self.webhook_allowed_updates is not None:
                info["allowed_updates"] = self.webhook_allowed_updates
        return info

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        fields: JSONDict = {"text": self._text(params)}
        if params.get("entities"):
            fields["entities"] = params["entities"]
        if isinstance(params.get("link_preview_options"), dict):
            fields["link_preview_options"] = params["link_preview_options"]
        return self._new_bot_message(chat, params, fields)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        fields = self._caption_fields(params)
        photo = params.get("photo")
        if isinstance(photo, Upload):
            sizes = self._store_uploaded_photo(photo)
        elif isinstance(photo, str) and photo:
            if photo in self._photo_sets:
                sizes = copy.deepcopy(self._photo_sets[photo])
            elif photo.startswith(("http://", "https://")):
                sizes = self._store_uploaded_photo(
                    Upload("photo", None, "image/jpeg", _fake_jpeg(20_000, self._n()))
                )
            else:
                raise _bad("wrong file identifier/HTTP URL specified")
        else:
            raise _bad("there is no photo in the request")
        fields["photo"] = sizes
        return self._new_bot_message(chat, params, fields)

    def _store_uploaded_photo(self, upload: Upload) -> list[JSONDict]:
        width, height = _image_size(upload.content) or (800, 600)
        n = self._n()
        sizes: list[JSONDict] = []
        scale = min(1.0, 90 / max(width, height, 1))
        if scale < 1.0:  # Telegram adds a thumbnail for anything bigger than 90px
            thumb_id = f"AgACAgIAAxkBAA{n:06d}s"
            thumb = self.add_file(thumb_id, upload.content, f"photos/file_{n}_s.jpg")
            sizes.append(
                {
                    "file_id": thumb_id,
                    "file_unique_id": thumb["file_unique_id"],
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                    "file_size": thumb["file_size"],
                }
            )
        file_id = f"AgACAgIAAxkBAA{n:06d}"
        stored = self.add_file(file_id, upload.content, f"photos/file_{n}.jpg")
        sizes.append(
            {
                "file_id": file_id,
                "file_unique_id": stored["file_unique_id"],
                "width": width,
                "height": height,
                "file_size": stored["file_size"],
            }
        )
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        fields = self._caption_fields(params)
        document = params.get("document")
        if isinstance(document, Upload):
            n = self._n()
            file_id = f"BQACAgIAAxkBAA{n:06d}"
            name = document.filename or "file"
            suffix = name.rsplit(".", 1)[-1] if "." in name else "bin"
            stored = self.add_file(file_id, document.content, f"documents/file_{n}.{suffix}")
            doc: JSONDict = {
                "file_id": file_id,
                "file_unique_id": stored["file_unique_id"],
                "file_name": name,
                "mime_type": document.content_type,
                "file_size": stored["file_size"],
            }
            self._documents[file_id] = doc
        elif isinstance(document, str) and document:
            if document in self._documents:
                doc = copy.deepcopy(self._documents[document])
            elif document in self._files:
                known = self._files[document]
                doc = {
                    "file_id": known.file_id,
                    "file_unique_id": known.file_unique_id,
                    "file_name": known.file_path.rsplit("/", 1)[-1],
                    "mime_type": mimetypes.guess_type(known.file_path)[0]
                    or "application/octet-stream",
                    "file_size": len(known.content),
                }
            elif document.startswith(("http://", "https://")):
                n = self._n()
                file_id = f"BQACAgIAAxkBAA{n:06d}"
                name = document.rsplit("/", 1)[-1] or "file"
                stored = self.add_file(file_id, b"%PDF-1.4\n", f"documents/file_{n}")
                doc = {
                    "file_id": file_id,
                    "file_unique_id": stored["file_unique_id"],
                    "file_name": name,
                    "file_size": stored["file_size"],
                }
            else:
                raise _bad("wrong file identifier/HTTP URL specified")
        else:
            raise _bad("there is no document in the request")
        fields["document"] = doc
        return self._new_bot_message(chat, params, fields)

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat_for(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text = self._text(params)
        message = self._message_for_edit(params)
        if message is None:
            return True
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        markup = self._check_markup(params.get("reply_markup"))
        entities = params.get("entities") or None
        if (
            message["text"] == text
            and message.get("entities") == entities
            and message.get("reply_markup") == markup
        ):
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message["text"] = text
        for key, value in (("entities", entities), ("reply_markup", markup)):
            if value is None:
                message.pop(key, None)  # Telegram drops a keyboard not resent with the edit
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict | bool:
        message = self._message_for_edit(params)
        if message is None:
            return True
        markup = self._check_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _delete_message(self, params: JSONDict) -> bool:
        chat = self._chat_for(params)
        message_id = _as_int(params.get("message_id"), "message_id")
        if self._messages.pop((chat["id"], message_id or 0), None) is None:
            raise _bad("message to delete not found")
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        entry = self._callback_queries.get(query_id)
        if entry is None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        entry["answered"] = params
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        file_id = params.get("file_id")
        if not file_id:
            raise _bad("file_id is empty")
        stored = self._files.get(str(file_id))
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        return stored.as_file()

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not COMMAND_RE.match(
                str(command.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("command description is empty")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        return copy.deepcopy(self._commands.get(key, []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands.pop(key, None)
        return True


# ---------------------------------------------------------------------- the cloud guard

TELEGRAM_DOMAINS: Final = ("telegram.org", "telegram.me", "t.me", "telesco.pe", "tdesktop.com")
TELEGRAM_NETWORKS: Final = tuple(
    ipaddress.ip_network(net)
    for net in (
        "91.105.192.0/23",
        "91.108.4.0/22",
        "91.108.8.0/22",
        "91.108.12.0/22",
        "91.108.16.0/22",
        "91.108.20.0/22",
        "91.108.56.0/22",
        "95.161.64.0/20",
        "149.154.160.0/20",
        "185.76.151.0/24",
        "2001:67c:4e8::/48",
        "2001:b28:f23c::/47",
        "2001:b28:f23f::/48",
        "2a0a:f280::/32",
    )
)


class TelegramCloudBlockedError(RuntimeError):
    """Raised when code under test tries to reach the real Telegram."""


def _is_telegram(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    name = host.strip().lower().rstrip(".").strip("[]")
    if any(name == domain or name.endswith(f".{domain}") for domain in TELEGRAM_DOMAINS):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return any(address in network for network in TELEGRAM_NETWORKS)


def block_telegram_cloud() -> contextlib.AbstractContextManager[list[str]]:
    """While active, resolving or connecting to Telegram's hosts or networks raises
    TelegramCloudBlockedError. Yields the list of blocked attempts, so a fixture can also
    assert it stayed empty even when the code under test swallowed the error::

        @pytest.fixture(autouse=True)
        def no_real_telegram() -> Iterator[None]:
            with block_telegram_cloud() as attempts:
                yield
            assert not attempts
    """
    return _guard()


@contextlib.contextmanager
def _guard() -> Iterator[list[str]]:
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def refuse(host: object, how: str) -> None:
        attempts.append(f"{how} {host!r}")
        raise TelegramCloudBlockedError(
            f"test tried to reach the real Telegram ({how} {host!r}); "
            "point the bot at TelegramTestServer.base_url instead"
        )

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_telegram(host):
            refuse(host, "getaddrinfo")
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if isinstance(address, tuple) and address and _is_telegram(address[0]):
            refuse(address[0], "create_connection")
        return real_create_connection(address, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address and _is_telegram(address[0]):
            refuse(address[0], "connect")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple) and address and _is_telegram(address[0]):
            refuse(address[0], "connect_ex")
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.create_connection = real_create_connection
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
