"""The fake LINE server, checked against the real line-bot-sdk v3 async client and parser."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PostbackAction,
    PushMessageRequest,
    QuotaType,
    ReplyMessageRequest,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.webhooks import (
    FollowEvent,
    GroupSource,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)

from tests.servers.line_api import LineTestServer, new_group_id, new_user_id, redelivery

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "test-access-token"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[LineTestServer]:
    async with LineTestServer(channel_secret=SECRET, access_token=TOKEN, clock=clock) as srv:
        yield srv


@pytest.fixture
async def client(server: LineTestServer) -> AsyncIterator[AsyncApiClient]:
    # Created here, inside the running loop; closed at the end of each test.
    api_client = AsyncApiClient(Configuration(host=server.origin, access_token=TOKEN))
    try:
        yield api_client
    finally:
        await api_client.close()


def error_message(exc: ApiException) -> str:
    return str(json.loads(exc.body)["message"])


def text(value: str) -> list[TextMessage]:
    return [TextMessage(text=value)]


async def test_reply_with_valid_token_delivers_once(
    server: LineTestServer, client: AsyncApiClient
) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    token = server.text_event(user, "แจ้งเหตุ")["replyToken"]

    response = await api.reply_message(
        ReplyMessageRequest(reply_token=token, messages=text("รับทราบ"))
    )

    assert response.sent_messages[0].id
    assert response.sent_messages[0].quote_token
    assert server.delivered_messages(user) == [
        {"via": "reply", "to": user, "message": {"type": "text", "text": "รับทราบ"}}
    ]
    with pytest.raises(ApiException) as info:
        await api.reply_message(ReplyMessageRequest(reply_token=token, messages=text("again")))
    assert info.value.status == 400
    assert error_message(info.value) == "Invalid reply token"
    assert len(server.delivered_messages()) == 1
    assert [c.status for c in server.calls_to("reply")] == [200, 400]
    assert server.calls_to("/message/reply")[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_reply_token_expiry_unknown_and_rejection(
    server: LineTestServer, client: AsyncApiClient, clock: FakeClock
) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    expired = server.follow_event(user)["replyToken"]
    clock.now += 61
    invalidated = server.postback_event(user, "a=1")["replyToken"]
    server.invalidate_reply_token(invalidated)
    for token in (expired, invalidated, "0" * 32):
        with pytest.raises(ApiException) as info:
            await api.reply_message(ReplyMessageRequest(reply_token=token, messages=text("x")))
        assert info.value.status == 400
        assert error_message(info.value) == "Invalid reply token"

    server.reject_reply_tokens = True
    fresh = server.text_event(user, "hi")["replyToken"]
    with pytest.raises(ApiException):
        await api.reply_message(ReplyMessageRequest(reply_token=fresh, messages=text("x")))
    server.reject_reply_tokens = False
    await api.reply_message(ReplyMessageRequest(reply_token=fresh, messages=text("ok")))
    assert [d["message"]["text"] for d in server.delivered_messages()] == ["ok"]


async def test_group_reply_lands_in_the_group(
    server: LineTestServer, client: AsyncApiClient
) -> None:
    api = AsyncMessagingApi(client)
    group, user = new_group_id(), new_user_id()
    token = server.group_text_event(group, user, "สวัสดี")["replyToken"]
    await api.reply_message(ReplyMessageRequest(reply_token=token, messages=text("ค่ะ")))
    assert server.delivered_messages(group)[0]["to"] == group


async def test_push_retry_key_delivers_once_then_409(
    server: LineTestServer, client: AsyncApiClient
) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=user, messages=text("น้ำท่วมหมู่ 3"))

    first = await api.push_message_with_http_info(request, x_line_retry_key=key)
    assert first.status_code == 200
    assert first.data.sent_messages[0].id
    first_request_id = first.headers["x-line-request-id"]

    with pytest.raises(ApiException) as info:
        await api.push_message(request, x_line_retry_key=key)
    assert info.value.status == 409
    assert error_message(info.value) == "The retry key is already accepted"
    assert info.value.headers["x-line-accepted-request-id"] == first_request_id
    assert server.delivered_messages(user) == [
        {"via": "push", "to": user, "message": {"type": "text", "text": "น้ำท่วมหมู่ 3"}}
    ]
    assert server.calls_to("push")[0].headers["X-Line-Retry-Key"] == key


async def test_failed_push_does_not_consume_retry_key(
    server: LineTestServer, client: AsyncApiClient
) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=user, messages=text("เตือนภัย"))
    server.fail_next("push", 500)

    with pytest.raises(ApiException) as info:
        await api.push_message(request, x_line_retry_key=key)
    assert info.value.status == 500
    assert server.delivered_messages() == []

    await api.push_message(request, x_line_retry_key=key)
    with pytest.raises(ApiException) as again:
        await api.push_message(request, x_line_retry_key=key)
    assert again.value.status == 409
    assert len(server.delivered_messages(user)) == 1
    assert [c.status for c in server.calls_to("push")] == [500, 200, 409]


async def test_rate_limit_and_monthly_limit(server: LineTestServer, client: AsyncApiClient) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    server.fail_next("push", 429)
    with pytest.raises(ApiException) as info:
        await api.push_message(PushMessageRequest(to=user, messages=text("a")))
    assert info.value.status == 429
    assert "rate limit" in error_message(info.value)

    server.quota_limit = 1
    await api.push_message(PushMessageRequest(to=user, messages=text("b")))
    with pytest.raises(ApiException) as monthly:
        await api.push_message(PushMessageRequest(to=user, messages=text("c")))
    assert monthly.value.status == 429
    assert error_message(monthly.value) == "You have reached your monthly limit."
    assert server.delivered_texts(user) == ["b"]


async def test_loading_animation(server: LineTestServer, client: AsyncApiClient) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    await api.show_loading_animation(ShowLoadingAnimationRequest(chat_id=user, loading_seconds=10))
    (call,) = server.calls_to("loading")
    assert call.status == 202
    assert call.json == {"chatId": user, "loadingSeconds": 10}

    server.fail_next("loading", 400)
    with pytest.raises(ApiException) as info:
        await api.show_loading_animation(ShowLoadingAnimationRequest(chat_id=user))
    assert info.value.status == 400


async def test_message_content(server: LineTestServer, client: AsyncApiClient) -> None:
    blob = AsyncMessagingApiBlob(client)
    user = new_user_id()
    event = server.image_event(user, "777000111", data=b"\xff\xd8jpeg-bytes")
    assert event["message"]["contentProvider"] == {"type": "line"}

    data = await blob.get_message_content("777000111")
    assert bytes(data) == b"\xff\xd8jpeg-bytes"

    with pytest.raises(ApiException) as info:
        await blob.get_message_content("404404")
    assert info.value.status == 404


async def test_quota_consumption_and_profile(
    server: LineTestServer, client: AsyncApiClient
) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    server.quota_limit = 500
    server.consumption_offset = 7
    server.add_profile(user, "ผู้ใหญ่บ้าน")

    quota = await api.get_message_quota()
    assert quota.type == QuotaType.LIMITED
    assert quota.value == 500
    await api.push_message(PushMessageRequest(to=user, messages=text("a")))
    assert (await api.get_message_quota_consumption()).total_usage == 8

    profile = await api.get_profile(user)
    assert (profile.display_name, profile.user_id, profile.language) == (
        "ผู้ใหญ่บ้าน",
        user,
        "th",
    )

    server.quota_limit = None
    assert (await api.get_message_quota()).type == QuotaType.NONE


async def test_rich_menu_lifecycle(server: LineTestServer, client: AsyncApiClient) -> None:
    api = AsyncMessagingApi(client)
    blob = AsyncMessagingApiBlob(client)
    request = RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=True,
        name="main",
        chat_bar_text="เมนู",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=2500, height=843),
                action=PostbackAction(label="แจ้งเหตุ", data="menu=report"),
            )
        ],
    )
    rich_menu_id = (await api.create_rich_menu(request)).rich_menu_id
    assert rich_menu_id.startswith("richmenu-")

    # Without an image the menu cannot become the default.
    with pytest.raises(ApiException) as info:
        await api.set_default_rich_menu(rich_menu_id)
    assert info.value.status == 400

    # SDK surprise: set_rich_menu_image sets no Content-Type; without one the SDK tries to
    # json.dumps the bytes. Pass it explicitly.
    with pytest.raises(TypeError):
        await blob.set_rich_menu_image(rich_menu_id, PNG)
    await blob.set_rich_menu_image(rich_menu_id, PNG, _headers={"Content-Type": "image/png"})
    menu = server.rich_menus[rich_menu_id]
    assert (menu.image, menu.image_content_type) == (PNG, "image/png")

    await api.set_default_rich_menu(rich_menu_id)
    assert (await api.get_default_rich_menu_id()).rich_menu_id == rich_menu_id
    listed = (await api.get_rich_menu_list()).richmenus
    assert [(m.rich_menu_id, m.chat_bar_text) for m in listed] == [(rich_menu_id, "เมนู")]

    await api.delete_rich_menu(rich_menu_id)
    assert (await api.get_rich_menu_list()).richmenus == []
    with pytest.raises(ApiException) as gone:
        await api.get_default_rich_menu_id()
    assert gone.value.status == 404


async def test_wrong_bearer_is_401(server: LineTestServer) -> None:
    bad = AsyncApiClient(Configuration(host=server.origin, access_token="wrong"))
    try:
        with pytest.raises(ApiException) as info:
            await AsyncMessagingApi(bad).get_message_quota()
    finally:
        await bad.close()
    assert info.value.status == 401
    assert error_message(info.value) == "Authentication failed"
    assert server.calls[-1].status == 401


def test_signed_body_parses_into_sdk_event_classes() -> None:
    server = LineTestServer(channel_secret=SECRET, access_token=TOKEN)
    user, group = new_user_id(), new_group_id()
    events = [
        server.text_event(user, "น้ำท่วมถนนหน้าวัด"),
        server.postback_event(user, "action=date", {"date": "2025-01-15"}),
        server.image_event(user, "900001"),
        server.location_event(user, 13.75, 100.5, title="วัด", address="กรุงเทพฯ"),
        server.sticker_event(user),
        server.follow_event(user),
        server.unfollow_event(user),
        server.group_text_event(group, user, "ประชุม"),
    ]
    body = server.webhook_body(events)
    assert b"\\u0e19" in body  # Thai arrives \u-escaped, as LINE sends it
    assert "น".encode() not in body
    parser = WebhookParser(SECRET)
    parsed = parser.parse(body.decode("utf-8"), server.sign(body))

    text_ev, postback, image, location, sticker, follow, unfollow, group_ev = parsed
    assert isinstance(text_ev, MessageEvent)
    assert isinstance(text_ev.message, TextMessageContent)
    assert text_ev.message.text == "น้ำท่วมถนนหน้าวัด"
    assert text_ev.message.quote_token
    assert isinstance(text_ev.source, UserSource)
    assert text_ev.source.user_id == user
    assert text_ev.reply_token in server.reply_tokens
    assert isinstance(postback, PostbackEvent)
    assert postback.postback.params == {"date": "2025-01-15"}
    assert isinstance(image, MessageEvent)
    assert isinstance(image.message, ImageMessageContent)
    assert isinstance(location, MessageEvent)
    assert isinstance(location.message, LocationMessageContent)
    assert location.message.title == "วัด"
    assert isinstance(sticker, MessageEvent)
    assert isinstance(sticker.message, StickerMessageContent)
    assert isinstance(follow, FollowEvent)
    assert isinstance(unfollow, UnfollowEvent)
    assert "replyToken" not in events[6]
    assert isinstance(group_ev, MessageEvent)
    assert isinstance(group_ev.source, GroupSource)
    assert group_ev.source.group_id == group

    ids = [e["webhookEventId"] for e in events]
    assert len(set(ids)) == len(ids)
    again = redelivery(events[0])
    assert again["webhookEventId"] == events[0]["webhookEventId"]
    assert again["deliveryContext"] == {"isRedelivery": True}
    assert events[0]["deliveryContext"] == {"isRedelivery": False}
    (reparsed,) = parser.parse(
        server.webhook_body([again]).decode(), server.sign(server.webhook_body([again]))
    )
    assert reparsed.delivery_context.is_redelivery is True

    raw_utf8 = server.webhook_body(events[:1], ensure_ascii=False)
    assert "น".encode() in raw_utf8
    assert parser.parse(raw_utf8.decode(), server.sign(raw_utf8))[0].message.text == (
        "น้ำท่วมถนนหน้าวัด"
    )
    with pytest.raises(InvalidSignatureError):
        parser.parse(raw_utf8.decode(), server.sign(body))
    with pytest.raises(InvalidSignatureError):
        parser.parse(body.decode() + " ", server.sign(body))


async def test_post_webhook_to_a_bot_that_replies(server: LineTestServer) -> None:
    """A tiny bot: checks the signature with the SDK, answers 200, replies afterwards."""
    parser = WebhookParser(SECRET)
    tasks: set[asyncio.Task[None]] = set()
    api_client = AsyncApiClient(Configuration(host=server.origin, access_token=TOKEN))
    api = AsyncMessagingApi(api_client)

    async def reply(token: str, said: str) -> None:
        await api.reply_message(
            ReplyMessageRequest(reply_token=token, messages=text(f"ได้รับ: {said}"))
        )

    async def webhook(request: web.Request) -> web.Response:
        signature = request.headers.get("X-Line-Signature")
        if signature is None:
            return web.Response(status=400, text="missing signature")
        try:
            events = parser.parse(await request.text(), signature)
        except InvalidSignatureError:
            return web.Response(status=400, text="bad signature")
        for event in events:
            if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                task = asyncio.create_task(reply(event.reply_token, event.message.text))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/callback", webhook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/callback"
    user = new_user_id()
    try:
        assert await server.post_webhook(url, [server.text_event(user, "ถนนขาด")]) == 200
        delivered = await server.wait_for_delivered(1, to=user, timeout=3)
        assert delivered[0]["message"]["text"] == "ได้รับ: ถนนขาด"

        assert await server.post_webhook(url, [server.text_event(user, "x")], tamper=True) == 400
        assert await server.post_webhook(url, [server.text_event(user, "x")], signature=None) == 400
        assert (
            await server.post_webhook(
                url, [server.text_event(user, "x")], signature="bm90LXRoZS1zaWc="
            )
            == 400
        )
        assert [p.status for p in server.webhook_posts] == [200, 400, 400, 400]
        assert len(server.delivered_messages()) == 1

        with pytest.raises(TimeoutError, match="2 delivered message"):
            await server.wait_for_delivered(2, timeout=0.05)
    finally:
        await asyncio.gather(*tasks)
        await runner.cleanup()
        await api_client.close()


async def test_wait_for_wakes_on_calls_and_fail_next_validates(
    server: LineTestServer, client: AsyncApiClient
) -> None:
    api = AsyncMessagingApi(client)
    user = new_user_id()
    waiter = asyncio.create_task(server.wait_for(lambda: server.calls_to("quota") or None))
    await asyncio.sleep(0)
    assert not waiter.done()
    await api.get_message_quota()
    calls = await asyncio.wait_for(waiter, 1)
    assert calls[0].status == 200

    with pytest.raises(TimeoutError, match="never"):
        await server.wait_for(lambda: False, timeout=0.05, what="never")
    with pytest.raises(ValueError):
        server.fail_next("pushh", 500)
    server.fail_next("*", 503, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            await api.get_profile(user)
        assert info.value.status == 503
    assert (await api.get_profile(user)).user_id == user
