"""A local stand-in for the LINE Messaging API, for tests.

``LineTestServer`` is an aiohttp server bound to 127.0.0.1 on a free port. It answers the
endpoints a bot built on line-bot-sdk v3 uses, with the JSON bodies the SDK deserialises, and
it plays the LINE platform in the other direction: it builds complete, signed webhook bodies
and POSTs them to the bot.

    async with LineTestServer(channel_secret="s3cret", access_token="tok") as server:
        config = Configuration(host=server.origin, access_token="tok")
        async with AsyncApiClient(config) as client:   # create it inside the running loop
            ...
        await server.post_webhook(bot_url, [server.text_event(user_id, "สวัสดี")])
        await server.wait_for(lambda: server.delivered_messages(user_id))

``Configuration(host=...)`` replaces both api.line.me and api-data.line.me, so the blob
endpoints (message content, rich menu images) are served from the same origin.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from aiohttp import ClientSession, ClientTimeout, web

JsonDict = dict[str, Any]
T = TypeVar("T")

DEFAULT_DESTINATION: Final = "U" + "0" * 32
REPLY_TOKEN_TTL: Final = 60.0
RETRY_KEY_TTL: Final = 24 * 60 * 60.0
DEFAULT_QUOTA: Final = 300

AUTH_FAILED_BODY: Final[JsonDict] = {"message": "Authentication failed"}
INVALID_REPLY_TOKEN_BODY: Final[JsonDict] = {"message": "Invalid reply token"}
MONTHLY_LIMIT_BODY: Final[JsonDict] = {"message": "You have reached your monthly limit."}
RATE_LIMIT_BODY: Final[JsonDict] = {
    "message": "The API rate limit has been exceeded. Try again later."
}
RETRY_KEY_ACCEPTED_MESSAGE: Final = "The retry key is already accepted"
NOT_FOUND_BODY: Final[JsonDict] = {"message": "Not found"}

_DEFAULT_ERROR_BODIES: Final[dict[int, JsonDict]] = {
    400: {"message": "The request body has 1 error(s)"},
    401: AUTH_FAILED_BODY,
    403: {"message": "Access to this API is not available for your account"},
    404: NOT_FOUND_BODY,
    409: {"message": RETRY_KEY_ACCEPTED_MESSAGE},
    429: RATE_LIMIT_BODY,
    500: {"message": "Internal server error"},
    502: {"message": "Bad gateway"},
    503: {"message": "Service unavailable"},
}

# Every endpoint has a "kind": the name used by fail_next() and calls_to().
KINDS: Final[frozenset[str]] = frozenset(
    {
        "reply",
        "push",
        "loading",
        "content",
        "quota",
        "consumption",
        "profile",
        "richmenu_create",
        "richmenu_get",
        "richmenu_list",
        "richmenu_delete",
        "richmenu_image_upload",
        "richmenu_image_download",
        "richmenu_set_default",
        "richmenu_get_default",
        "richmenu_cancel_default",
        "richmenu_link",
        "richmenu_unlink",
        "richmenu_get_user",
        "unknown",
    }
)

_MESSAGE_TYPES: Final = frozenset(
    {
        "text",
        "textV2",
        "sticker",
        "image",
        "video",
        "audio",
        "location",
        "imagemap",
        "template",
        "flex",
    }
)
# Sent messages of these types come back with a quoteToken.
_QUOTABLE_TYPES: Final = frozenset({"text", "textV2", "sticker", "image", "video"})
_RICH_MENU_IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png"})
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


# --------------------------------------------------------------------------- ids and helpers


def new_ulid(ms: int | None = None) -> str:
    """A ULID-shaped string (26 Crockford base32 characters), as LINE's webhookEventId."""
    stamp = int(time.time() * 1000) if ms is None else ms
    value = ((stamp & (2**48 - 1)) << 80) | int.from_bytes(os.urandom(10), "big")
    chars: list[str] = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_user_id() -> str:
    """A user ID in LINE's format: ``U`` and 32 lowercase hex digits."""
    return "U" + secrets.token_hex(16)


def new_group_id() -> str:
    """A group ID in LINE's format: ``C`` and 32 lowercase hex digits."""
    return "C" + secrets.token_hex(16)


def redelivery(event: JsonDict) -> JsonDict:
    """A deep copy of ``event`` as LINE redelivers it: same webhookEventId, isRedelivery true."""
    again = copy.deepcopy(event)
    again["deliveryContext"] = {**again.get("deliveryContext", {}), "isRedelivery": True}
    return again


class _CIDict(dict[str, str]):
    """A dict of headers with case-insensitive lookups (keys are stored lowercased)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


# --------------------------------------------------------------------------- records


@dataclass
class Call:
    """One HTTP request the server answered."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int
    at: float
    kind: str = "unknown"
    response: JsonDict | None = None
    data: bytes = b""
    request_id: str = ""


@dataclass
class Delivery:
    via: Literal["reply", "push"]
    to: str
    message: JsonDict
    sent_id: str

    def as_dict(self) -> JsonDict:
        return {"via": self.via, "to": self.to, "message": copy.deepcopy(self.message)}


@dataclass
class ReplyToken:
    token: str
    chat_id: str
    user_id: str | None
    issued_at: float
    used: bool = False
    invalidated: bool = False


@dataclass
class RichMenu:
    rich_menu_id: str
    request: JsonDict
    image: bytes | None = None
    image_content_type: str | None = None

    def as_response(self) -> JsonDict:
        return {"richMenuId": self.rich_menu_id, **copy.deepcopy(self.request)}


@dataclass
class WebhookPost:
    url: str
    body: bytes
    signature: str | None
    status: int
    response_text: str


@dataclass
class _Fault:
    status: int
    body: JsonDict
    headers: dict[str, str]
    remaining: int


@dataclass
class _Request:
    method: str
    path: str
    match: dict[str, str]
    headers: _CIDict
    json: Any
    data: bytes
    content_type: str
    request_id: str


@dataclass
class _Response:
    status: int
    json: JsonDict | None = None
    data: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, details: list[JsonDict] | None = None) -> _Response:
    body: JsonDict = {"message": message}
    if details:
        body["details"] = details
    return _Response(status, body)


def _body_errors(details: list[JsonDict]) -> _Response:
    return _error(400, f"The request body has {len(details)} error(s)", details)


def _validate_messages(messages: Any) -> list[JsonDict]:
    """Light checks in LINE's style; returns error details (empty when fine)."""
    if not isinstance(messages, list) or not messages:
        return [{"message": "must be specified", "property": "messages"}]
    if len(messages) > 5:
        return [{"message": "Size must be between 1 and 5", "property": "messages"}]
    details: list[JsonDict] = []
    for index, message in enumerate(messages):
        prop = f"messages[{index}]"
        if not isinstance(message, dict):
            details.append({"message": "must be an object", "property": prop})
            continue
        kind = message.get("type")
        if kind not in _MESSAGE_TYPES:
            details.append({"message": "Invalid message type", "property": f"{prop}.type"})
        elif kind in {"text", "textV2"}:
            text = message.get("text")
            if not isinstance(text, str) or not text:
                details.append({"message": "must be specified", "property": f"{prop}.text"})
            elif len(text) > 5000:
                details.append(
                    {"message": "Length must be between 0 and 5000", "property": f"{prop}.text"}
                )
    return details


# --------------------------------------------------------------------------- the server


class LineTestServer:
    """A fake LINE Messaging API (and LINE platform, for webhooks) on 127.0.0.1."""

    redelivery = staticmethod(redelivery)

    def __init__(
        self,
        *,
        channel_secret: str = "test-channel-secret",
        access_token: str = "test-access-token",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        reply_token_ttl: float = REPLY_TOKEN_TTL,
        quota_limit: int | None = DEFAULT_QUOTA,
    ) -> None:
        self.channel_secret = channel_secret
        self.access_token = access_token
        self.clock = clock
        self.wall_clock = wall_clock
        self.reply_token_ttl = reply_token_ttl
        # GET /quota: {"type": "limited", "value": quota_limit}, or {"type": "none"} if None.
        # Pushes beyond the limit answer 429 "You have reached your monthly limit."
        self.quota_limit: int | None = quota_limit
        # GET /quota/consumption: totalUsage = consumption_offset + pushes delivered.
        self.consumption_offset = 0
        self.pushes_delivered = 0
        # When True every reply answers 400 "Invalid reply token".
        self.reject_reply_tokens = False
        # When True, GET /profile of a user not added with add_profile() answers 404.
        self.strict_profiles = False

        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.webhook_posts: list[WebhookPost] = []
        self.reply_tokens: dict[str, ReplyToken] = {}
        self.contents: dict[str, tuple[bytes, str]] = {}
        self.profiles: dict[str, JsonDict] = {}
        self.rich_menus: dict[str, RichMenu] = {}
        self.default_rich_menu_id: str | None = None
        self.user_rich_menus: dict[str, str] = {}

        self._accepted_retry_keys: dict[str, tuple[str, list[JsonDict], float]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._held: dict[str, int] = {}
        self._released = asyncio.Event()
        self._ids = itertools.count(580000000000000001)
        self._condition = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> LineTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("LineTestServer already started")
        app = web.Application()
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self._client = ClientSession(timeout=ClientTimeout(total=30))

    async def close(self) -> None:
        self._released.set()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("LineTestServer is not started")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``, no trailing slash: pass it as Configuration(host=...)."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ test controls

    def fail_next(
        self,
        kind: str,
        status: int,
        times: int = 1,
        body: JsonDict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` requests of ``kind`` (see KINDS, or "*" for any) answer
        ``status`` with ``body`` (LINE's usual body for that status by default). Checked after
        authentication; a failed request delivers nothing and consumes no token or retry key."""
        if kind != "*" and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)} or '*'")
        if times < 1:
            raise ValueError("times must be >= 1")
        default = _DEFAULT_ERROR_BODIES.get(status, {"message": f"Injected error {status}"})
        self._faults.setdefault(kind, []).append(
            _Fault(
                status,
                copy.deepcopy(body if body is not None else default),
                dict(headers or {}),
                times,
            )
        )

    def hold_answer_next(self, kind: str, times: int = 1) -> None:
        """The next `times` requests of `kind` are carried out but never answered, as when
        LINE accepted a push and the answer was lost: the client times out."""
        self._held[kind] = self._held.get(kind, 0) + times

    def release_held(self) -> None:
        """Answer the requests held so far (`hold_answer_next`)."""
        self._released.set()
        self._released = asyncio.Event()

    def clear_faults(self) -> None:
        self._faults.clear()

    def invalidate_reply_token(self, token: str) -> None:
        """Make ``token`` answer 400 Invalid reply token (as if LINE expired it)."""
        info = self.reply_tokens.get(token)
        if info is not None:
            info.invalidated = True

    def issue_reply_token(self, chat_id: str, user_id: str | None = None) -> str:
        """Register a fresh reply token (32 hex digits) valid once for ``reply_token_ttl`` s.
        ``chat_id`` is where a reply lands (the user, or the group for group events)."""
        token = secrets.token_hex(16)
        self.reply_tokens[token] = ReplyToken(
            token, chat_id, user_id if user_id is not None else chat_id, self.clock()
        )
        return token

    def add_content(self, message_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Serve ``data`` at GET /v2/bot/message/{message_id}/content."""
        self.contents[message_id] = (bytes(data), content_type)

    def add_profile(
        self,
        user_id: str,
        display_name: str,
        *,
        language: str | None = "th",
        picture_url: str | None = None,
        status_message: str | None = None,
    ) -> None:
        profile: JsonDict = {"displayName": display_name, "userId": user_id}
        if picture_url is not None:
            profile["pictureUrl"] = picture_url
        if status_message is not None:
            profile["statusMessage"] = status_message
        if language is not None:
            profile["language"] = language
        self.profiles[user_id] = profile

    def clear_calls(self) -> None:
        """Forget recorded calls and deliveries (state such as tokens and menus is kept)."""
        self.calls.clear()
        self.deliveries.clear()

    # ------------------------------------------------------------------ inspection

    def calls_to(self, path_suffix_or_kind: str) -> list[Call]:
        """Calls whose kind is the argument (a name in KINDS), else whose path ends with it."""
        if path_suffix_or_kind in KINDS:
            return [c for c in self.calls if c.kind == path_suffix_or_kind]
        return [c for c in self.calls if c.path.endswith(path_suffix_or_kind)]

    def delivered_messages(self, to: str | None = None) -> list[JsonDict]:
        """Every message actually delivered, in order, as {"via", "to", "message"}.
        For a reply, "to" is the chat the token was issued for (the user, or the group)."""
        return [d.as_dict() for d in self.deliveries if to is None or d.to == to]

    def delivered_texts(self, to: str | None = None) -> list[str]:
        return [
            d.message.get("text", "")
            for d in self.deliveries
            if (to is None or d.to == to) and d.message.get("type") in {"text", "textV2"}
        ]

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str | None = None
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value. It is checked now and
        again after every call the server answers (and every webhook POST it makes)."""

        async def waiting() -> T:
            async with self._condition:
                return await self._condition.wait_for(predicate)

        try:
            return await asyncio.wait_for(waiting(), timeout)
        except TimeoutError:
            label = what or getattr(predicate, "__qualname__", repr(predicate))
            raise TimeoutError(
                f"LineTestServer.wait_for({label}) still false after {timeout}s.\n{self.describe()}"
            ) from None

    async def wait_for_delivered(
        self, count: int = 1, to: str | None = None, timeout: float = 5.0
    ) -> list[JsonDict]:
        """Wait until at least ``count`` messages were delivered (to ``to``); return them."""

        def enough() -> list[JsonDict] | None:
            found = self.delivered_messages(to)
            return found if len(found) >= count else None

        target = f" to {to}" if to else ""
        return await self.wait_for(enough, timeout, what=f"{count} delivered message(s){target}")

    def describe(self, last: int = 15) -> str:
        lines = [f"{len(self.calls)} call(s), {len(self.deliveries)} delivered message(s)."]
        for call in self.calls[-last:]:
            detail = ""
            if call.status >= 400 and call.response:
                detail = f" {call.response.get('message', '')!r}"
            lines.append(f"  {call.method} {call.path} [{call.kind}] -> {call.status}{detail}")
        for delivery in self.deliveries[-last:]:
            text = delivery.message.get("text", delivery.message.get("type"))
            lines.append(f"  delivered via {delivery.via} to {delivery.to}: {text!r}")
        for post in self.webhook_posts[-last:]:
            lines.append(f"  webhook POST {post.url} -> {post.status}")
        return "\n".join(lines)

    async def _notify(self) -> None:
        async with self._condition:
            self._condition.notify_all()

    # ------------------------------------------------------------------ webhooks

    def sign(self, body: bytes | str) -> str:
        """X-Line-Signature: base64(HMAC-SHA256(channel secret, body bytes))."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        digest = hmac.new(self.channel_secret.encode("utf-8"), raw, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def webhook_body(
        self,
        events: list[JsonDict],
        destination: str = DEFAULT_DESTINATION,
        *,
        ensure_ascii: bool = True,
    ) -> bytes:
        """The exact bytes LINE POSTs: compact JSON; Thai is \\uXXXX-escaped by default."""
        payload = {"destination": destination, "events": events}
        text = json.dumps(payload, ensure_ascii=ensure_ascii, separators=(",", ":"))
        return text.encode("utf-8")

    async def post_webhook(
        self,
        url: str,
        events: list[JsonDict],
        *,
        signature: str | Literal["auto"] | None = "auto",
        tamper: bool = False,
        ensure_ascii: bool = True,
        destination: str = DEFAULT_DESTINATION,
        timeout: float = 10.0,
    ) -> int:
        """POST the events to the bot as LINE does and return the HTTP status.

        signature: "auto" signs the body correctly; a string is sent as is; None omits the
        X-Line-Signature header. tamper=True changes the body after signing it."""
        if self._client is None:
            raise RuntimeError("LineTestServer is not started")
        body = self.webhook_body(events, destination, ensure_ascii=ensure_ascii)
        sent_signature = self.sign(body) if signature == "auto" else signature
        if tamper:
            body = body.replace(b'"events":', b'"events" :', 1)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "LineBotWebhook/2.0",
        }
        if sent_signature is not None:
            headers["X-Line-Signature"] = sent_signature
        async with self._client.post(
            url, data=body, headers=headers, timeout=ClientTimeout(total=timeout)
        ) as response:
            text = await response.text()
            status = response.status
        self.webhook_posts.append(WebhookPost(url, body, sent_signature, status, text))
        await self._notify()
        return status

    # ------------------------------------------------------------------ event builders

    def _event(self, type_: str, source: JsonDict) -> JsonDict:
        stamp = int(self.wall_clock() * 1000)
        return {
            "type": type_,
            "mode": "active",
            "timestamp": stamp,
            "source": source,
            "webhookEventId": new_ulid(stamp),
            "deliveryContext": {"isRedelivery": False},
        }

    def _user_event(self, type_: str, user_id: str, *, reply: bool = True) -> JsonDict:
        event = self._event(type_, {"type": "user", "userId": user_id})
        if reply:
            event["replyToken"] = self.issue_reply_token(user_id, user_id)
        return event

    def _message_id(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def _quote_token() -> str:
        return secrets.token_urlsafe(48)

    def text_event(self, user_id: str, text: str) -> JsonDict:
        event = self._user_event("message", user_id)
        event["message"] = {
            "type": "text",
            "id": self._message_id(),
            "text": text,
            "quoteToken": self._quote_token(),
        }
        return event

    def group_text_event(self, group_id: str, user_id: str, text: str) -> JsonDict:
        event = self._event("message", {"type": "group", "groupId": group_id, "userId": user_id})
        event["replyToken"] = self.issue_reply_token(group_id, user_id)
        event["message"] = {
            "type": "text",
            "id": self._message_id(),
            "text": text,
            "quoteToken": self._quote_token(),
        }
        return event

    def postback_event(
        self, user_id: str, data: str, params: dict[str, str] | None = None
    ) -> JsonDict:
        """params as LINE sends them, e.g. {"date": "2025-01-15"} for a datetime picker."""
        event = self._user_event("postback", user_id)
        postback: JsonDict = {"data": data}
        if params is not None:
            postback["params"] = dict(params)
        event["postback"] = postback
        return event

    def image_event(
        self,
        user_id: str,
        message_id: str | None = None,
        *,
        data: bytes | None = None,
        content_type: str = "image/jpeg",
    ) -> JsonDict:
        """An image sent by the user; with ``data`` its content is served too."""
        mid = message_id if message_id is not None else self._message_id()
        if data is not None:
            self.add_content(mid, data, content_type)
        event = self._user_event("message", user_id)
        event["message"] = {
            "type": "image",
            "id": mid,
            "contentProvider": {"type": "line"},
            "quoteToken": self._quote_token(),
        }
        return event

    def location_event(
        self,
        user_id: str,
        lat: float,
        lon: float,
        title: str | None = None,
        address: str | None = None,
    ) -> JsonDict:
        event = self._user_event("message", user_id)
        message: JsonDict = {
            "type": "location",
            "id": self._message_id(),
            "latitude": lat,
            "longitude": lon,
        }
        if title is not None:
            message["title"] = title
        if address is not None:
            message["address"] = address
        event["message"] = message
        return event

    def sticker_event(
        self, user_id: str, package_id: str = "446", sticker_id: str = "1988"
    ) -> JsonDict:
        event = self._user_event("message", user_id)
        event["message"] = {
            "type": "sticker",
            "id": self._message_id(),
            "packageId": package_id,
            "stickerId": sticker_id,
            "stickerResourceType": "STATIC",
            "keywords": ["Happy", "Smile"],
            "quoteToken": self._quote_token(),
        }
        return event

    def follow_event(self, user_id: str, *, is_unblocked: bool = False) -> JsonDict:
        event = self._user_event("follow", user_id)
        event["follow"] = {"isUnblocked": is_unblocked}
        return event

    def unfollow_event(self, user_id: str) -> JsonDict:
        return self._user_event("unfollow", user_id, reply=False)

    # ------------------------------------------------------------------ HTTP plumbing

    def _add_routes(self, app: web.Application) -> None:
        # Order matters: literal paths before the parameterised ones they overlap.
        table: list[tuple[str, str, str, Callable[[_Request], _Response]]] = [
            ("POST", "/v2/bot/message/reply", "reply", self._reply),
            ("POST", "/v2/bot/message/push", "push", self._push),
            ("POST", "/v2/bot/chat/loading/start", "loading", self._loading),
            ("GET", "/v2/bot/message/quota", "quota", self._quota),
            ("GET", "/v2/bot/message/quota/consumption", "consumption", self._consumption),
            ("GET", "/v2/bot/message/{messageId}/content", "content", self._content),
            ("GET", "/v2/bot/profile/{userId}", "profile", self._profile),
            ("POST", "/v2/bot/richmenu", "richmenu_create", self._richmenu_create),
            ("GET", "/v2/bot/richmenu/list", "richmenu_list", self._richmenu_list),
            ("GET", "/v2/bot/richmenu/{richMenuId}", "richmenu_get", self._richmenu_get),
            ("DELETE", "/v2/bot/richmenu/{richMenuId}", "richmenu_delete", self._richmenu_delete),
            (
                "POST",
                "/v2/bot/richmenu/{richMenuId}/content",
                "richmenu_image_upload",
                self._richmenu_image_upload,
            ),
            (
                "GET",
                "/v2/bot/richmenu/{richMenuId}/content",
                "richmenu_image_download",
                self._richmenu_image_download,
            ),
            (
                "GET",
                "/v2/bot/user/all/richmenu",
                "richmenu_get_default",
                self._richmenu_get_default,
            ),
            (
                "DELETE",
                "/v2/bot/user/all/richmenu",
                "richmenu_cancel_default",
                self._richmenu_cancel_default,
            ),
            (
                "POST",
                "/v2/bot/user/all/richmenu/{richMenuId}",
                "richmenu_set_default",
                self._richmenu_set_default,
            ),
            (
                "POST",
                "/v2/bot/user/{userId}/richmenu/{richMenuId}",
                "richmenu_link",
                self._richmenu_link,
            ),
            ("GET", "/v2/bot/user/{userId}/richmenu", "richmenu_get_user", self._richmenu_get_user),
            ("DELETE", "/v2/bot/user/{userId}/richmenu", "richmenu_unlink", self._richmenu_unlink),
        ]
        for method, path, kind, handler in table:
            app.router.add_route(method, path, self._endpoint(kind, handler))
        app.router.add_route("*", "/{tail:.*}", self._endpoint("unknown", self._unknown))

    def _endpoint(
        self, kind: str, handler: Callable[[_Request], _Response]
    ) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.StreamResponse:
            data = await request.read()
            headers = _CIDict(request.headers.items())
            request_id = str(uuid.uuid4())
            body: Any = None
            parse_error = False
            if data and "json" in request.content_type:
                try:
                    body = json.loads(data)
                except ValueError:
                    parse_error = True
            req = _Request(
                request.method,
                request.path,
                dict(request.match_info),
                headers,
                body,
                data,
                request.content_type,
                request_id,
            )
            if headers.get("Authorization") != f"Bearer {self.access_token}":
                result = _Response(401, dict(AUTH_FAILED_BODY))
            elif (fault := self._take_fault(kind)) is not None:
                result = _Response(
                    fault.status, copy.deepcopy(fault.body), headers=dict(fault.headers)
                )
            elif parse_error:
                result = _error(400, "The request body could not be parsed as JSON")
            else:
                result = handler(req)
            self.calls.append(
                Call(
                    method=request.method,
                    path=request.path,
                    headers=headers,
                    json=body,
                    status=result.status,
                    at=self.clock(),
                    kind=kind,
                    response=result.json,
                    data=data,
                    request_id=request_id,
                )
            )
            await self._notify()
            if self._held.get(kind):
                # Carried out, but the answer never comes: the client times out.
                self._held[kind] -= 1
                await self._released.wait()
            response_headers = {"x-line-request-id": request_id, **result.headers}
            if result.data is not None:
                return web.Response(
                    status=result.status,
                    body=result.data,
                    content_type=result.content_type,
                    headers=response_headers,
                )
            return web.json_response(
                result.json if result.json is not None else {},
                status=result.status,
                headers=response_headers,
            )

        return run

    def _take_fault(self, kind: str) -> _Fault | None:
        for key in (kind, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                return fault
        return None

    def _deliver(
        self, via: Literal["reply", "push"], to: str, messages: list[JsonDict]
    ) -> list[JsonDict]:
        sent: list[JsonDict] = []
        for message in messages:
            sent_id = self._message_id()
            self.deliveries.append(Delivery(via, to, copy.deepcopy(message), sent_id))
            entry: JsonDict = {"id": sent_id}
            if message.get("type") in _QUOTABLE_TYPES:
                entry["quoteToken"] = self._quote_token()
            sent.append(entry)
        return sent

    # ------------------------------------------------------------------ messaging endpoints

    def _reply(self, req: _Request) -> _Response:
        body = req.json if isinstance(req.json, dict) else {}
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            return _body_errors([{"message": "must be specified", "property": "replyToken"}])
        details = _validate_messages(body.get("messages"))
        if details:
            return _body_errors(details)
        info = self.reply_tokens.get(token)
        if (
            self.reject_reply_tokens
            or info is None
            or info.used
            or info.invalidated
            or self.clock() - info.issued_at > self.reply_token_ttl
        ):
            return _Response(400, dict(INVALID_REPLY_TOKEN_BODY))
        info.used = True
        return _Response(
            200, {"sentMessages": self._deliver("reply", info.chat_id, body["messages"])}
        )

    def _push(self, req: _Request) -> _Response:
        now = self.clock()
        retry_key = req.headers.get("X-Line-Retry-Key")
        if retry_key is not None:
            try:
                uuid.UUID(retry_key)
            except ValueError:
                return _error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
            self._accepted_retry_keys = {
                k: v for k, v in self._accepted_retry_keys.items() if now - v[2] < RETRY_KEY_TTL
            }
            accepted = self._accepted_retry_keys.get(retry_key.lower())
            if accepted is not None:
                accepted_id, sent_before, _ = accepted
                return _Response(
                    409,
                    {
                        "message": RETRY_KEY_ACCEPTED_MESSAGE,
                        "sentMessages": copy.deepcopy(sent_before),
                    },
                    headers={"x-line-accepted-request-id": accepted_id},
                )
        body = req.json if isinstance(req.json, dict) else {}
        to = body.get("to")
        details: list[JsonDict] = []
        if not isinstance(to, str) or not to:
            details.append({"message": "must be specified", "property": "to"})
        details.extend(_validate_messages(body.get("messages")))
        if details:
            return _body_errors(details)
        if self.quota_limit is not None and self.total_usage >= self.quota_limit:
            return _Response(429, dict(MONTHLY_LIMIT_BODY))
        sent = self._deliver("push", to, body["messages"])
        self.pushes_delivered += 1
        if retry_key is not None:
            self._accepted_retry_keys[retry_key.lower()] = (req.request_id, sent, now)
        return _Response(200, {"sentMessages": sent})

    @property
    def total_usage(self) -> int:
        return self.consumption_offset + self.pushes_delivered

    def _loading(self, req: _Request) -> _Response:
        body = req.json if isinstance(req.json, dict) else {}
        details: list[JsonDict] = []
        chat_id = body.get("chatId")
        if not isinstance(chat_id, str) or not chat_id:
            details.append({"message": "must be specified", "property": "chatId"})
        seconds = body.get("loadingSeconds", 20)
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not 5 <= seconds <= 60
            or seconds % 5
        ):
            details.append(
                {
                    "message": "must be a multiple of 5 between 5 and 60",
                    "property": "loadingSeconds",
                }
            )
        if details:
            return _body_errors(details)
        return _Response(202, {})

    def _content(self, req: _Request) -> _Response:
        found = self.contents.get(req.match["messageId"])
        if found is None:
            return _Response(404, dict(NOT_FOUND_BODY))
        data, content_type = found
        return _Response(200, data=data, content_type=content_type)

    def _quota(self, req: _Request) -> _Response:
        if self.quota_limit is None:
            return _Response(200, {"type": "none"})
        return _Response(200, {"type": "limited", "value": self.quota_limit})

    def _consumption(self, req: _Request) -> _Response:
        return _Response(200, {"totalUsage": self.total_usage})

    def _profile(self, req: _Request) -> _Response:
        user_id = req.match["userId"]
        profile = self.profiles.get(user_id)
        if profile is None:
            if self.strict_profiles:
                return _Response(404, dict(NOT_FOUND_BODY))
            profile = {
                "displayName": f"LINE user {user_id[-4:]}",
                "userId": user_id,
                "language": "th",
            }
        return _Response(200, copy.deepcopy(profile))

    def _unknown(self, req: _Request) -> _Response:
        return _Response(404, dict(NOT_FOUND_BODY))

    # ------------------------------------------------------------------ rich menu endpoints

    def _richmenu_create(self, req: _Request) -> _Response:
        body = req.json if isinstance(req.json, dict) else {}
        details: list[JsonDict] = []
        size = body.get("size")
        if not (
            isinstance(size, dict)
            and isinstance(size.get("width"), int)
            and isinstance(size.get("height"), int)
        ):
            details.append({"message": "must be specified", "property": "size"})
        if not isinstance(body.get("selected"), bool):
            details.append({"message": "must be specified", "property": "selected"})
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 300:
            details.append({"message": "size must be between 1 and 300", "property": "name"})
        bar = body.get("chatBarText")
        if not isinstance(bar, str) or not 1 <= len(bar) <= 14:
            details.append({"message": "size must be between 1 and 14", "property": "chatBarText"})
        areas = body.get("areas")
        if not isinstance(areas, list) or len(areas) > 20:
            details.append({"message": "size must be between 0 and 20", "property": "areas"})
        if details:
            return _body_errors(details)
        rich_menu_id = "richmenu-" + secrets.token_hex(16)
        self.rich_menus[rich_menu_id] = RichMenu(rich_menu_id, copy.deepcopy(body))
        return _Response(200, {"richMenuId": rich_menu_id})

    def _richmenu_get(self, req: _Request) -> _Response:
        menu = self.rich_menus.get(req.match["richMenuId"])
        if menu is None:
            return _Response(404, dict(NOT_FOUND_BODY))
        return _Response(200, menu.as_response())

    def _richmenu_list(self, req: _Request) -> _Response:
        return _Response(200, {"richmenus": [m.as_response() for m in self.rich_menus.values()]})

    def _richmenu_delete(self, req: _Request) -> _Response:
        rich_menu_id = req.match["richMenuId"]
        if self.rich_menus.pop(rich_menu_id, None) is None:
            return _Response(404, dict(NOT_FOUND_BODY))
        if self.default_rich_menu_id == rich_menu_id:
            self.default_rich_menu_id = None
        self.user_rich_menus = {u: m for u, m in self.user_rich_menus.items() if m != rich_menu_id}
        return _Response(200, {})

    def _richmenu_image_upload(self, req: _Request) -> _Response:
        menu = self.rich_menus.get(req.match["richMenuId"])
        if menu is None:
            return _Response(404, dict(NOT_FOUND_BODY))
        if req.content_type not in _RICH_MENU_IMAGE_TYPES:
            return _error(415, "Unsupported Media Type; use image/jpeg or image/png")
        if not req.data:
            return _error(400, "The request body is empty")
        if menu.image is not None:
            return _error(400, "An image has already been uploaded to the richmenu")
        menu.image = req.data
        menu.image_content_type = req.content_type
        return _Response(200, {})

    def _richmenu_image_download(self, req: _Request) -> _Response:
        menu = self.rich_menus.get(req.match["richMenuId"])
        if menu is None or menu.image is None:
            return _Response(404, dict(NOT_FOUND_BODY))
        return _Response(200, data=menu.image, content_type=menu.image_content_type or "image/png")

    def _usable_menu(self, rich_menu_id: str) -> _Response | None:
        menu = self.rich_menus.get(rich_menu_id)
        if menu is None:
            return _error(404, "richmenu not found")
        if menu.image is None:
            return _error(400, "must upload richmenu image before applying it to user")
        return None

    def _richmenu_set_default(self, req: _Request) -> _Response:
        rich_menu_id = req.match["richMenuId"]
        problem = self._usable_menu(rich_menu_id)
        if problem is not None:
            return problem
        self.default_rich_menu_id = rich_menu_id
        return _Response(200, {})

    def _richmenu_get_default(self, req: _Request) -> _Response:
        if self.default_rich_menu_id is None:
            return _error(404, "no default richmenu")
        return _Response(200, {"richMenuId": self.default_rich_menu_id})

    def _richmenu_cancel_default(self, req: _Request) -> _Response:
        self.default_rich_menu_id = None
        return _Response(200, {})

    def _richmenu_link(self, req: _Request) -> _Response:
        rich_menu_id = req.match["richMenuId"]
        problem = self._usable_menu(rich_menu_id)
        if problem is not None:
            return problem
        self.user_rich_menus[req.match["userId"]] = rich_menu_id
        return _Response(200, {})

    def _richmenu_get_user(self, req: _Request) -> _Response:
        rich_menu_id = self.user_rich_menus.get(req.match["userId"])
        if rich_menu_id is None:
            return _error(404, "the user has no richmenu")
        return _Response(200, {"richMenuId": rich_menu_id})

    def _richmenu_unlink(self, req: _Request) -> _Response:
        self.user_rich_menus.pop(req.match["userId"], None)
        return _Response(200, {})
