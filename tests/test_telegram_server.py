"""The local Telegram Bot API double, driven by the real python-telegram-bot stack."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import ClientSession, web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.servers.telegram_api import (
    Call,
    TelegramCloudBlockedError,
    TelegramTestServer,
    Upload,
    block_telegram_cloud,
)

TOKEN = "123:ABC"
USER = 555_001

pytestmark = pytest.mark.timeout(30)


def tiny_png(width: int = 120, height: int = 80) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture(autouse=True)
def no_real_telegram() -> Iterator[list[str]]:
    with block_telegram_cloud() as attempts:
        yield attempts


@pytest.fixture
async def server() -> AsyncIterator[TelegramTestServer]:
    async with TelegramTestServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture
async def bot(server: TelegramTestServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as b:
        yield b


def build_app(server: TelegramTestServer, *, updater: bool = True) -> Application:
    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
    )
    if not updater:
        builder = builder.updater(None)
    return builder.build()


async def test_urls_and_get_me(server: TelegramTestServer, bot: Bot) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/bot"
    assert server.base_file_url == f"{server.origin}/file/bot"
    assert bot.username == "cercap_test_bot"
    assert bot.id == 123
    me = await bot.get_me()
    assert me.is_bot and me.username == "cercap_test_bot"
    assert [c.method for c in server.calls] == ["getMe", "getMe"]
    assert all(c.ok for c in server.calls)


async def test_wrong_token_is_unauthorized(server: TelegramTestServer) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("123:WRONG", base_url=server.base_url):
            pass
    assert server.calls[-1].status == 401
    assert server.calls[-1].response == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }


async def test_unknown_method_is_404(server: TelegramTestServer, bot: Bot) -> None:
    with pytest.raises(Exception, match="noSuchMethod"):
        await bot.do_api_request("noSuchMethod", api_kwargs={"x": 1})
    call = server.calls_to("noSuchMethod")[0]
    assert call.status == 404
    assert call.response is not None
    assert call.response["description"] == "Not Found: method not found"


async def test_send_message_with_keyboard_is_recorded(server: TelegramTestServer, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="vote:yes")],
            [InlineKeyboardButton("No", callback_data="vote:no")],
        ]
    )
    first = await bot.send_message(USER, "Is the road flooded?", reply_markup=keyboard)
    second = await bot.send_message(USER, "123")  # a numeric text stays a string
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.reply_markup == keyboard
    assert first.from_user is not None and first.from_user.id == bot.id
    assert second.text == "123"

    sent = server.sent_messages(USER)
    assert [m["text"] for m in sent] == ["Is the road flooded?", "123"]
    assert sent[0]["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Yes", "callback_data": "vote:yes"}],
            [{"text": "No", "callback_data": "vote:no"}],
        ]
    }
    assert server.sent_messages(999) == []

    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(
            USER,
            "x",
            reply_markup=InlineKeyboardMarkup.from_button(
                InlineKeyboardButton("long", callback_data="x" * 65)
            ),
        )
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "a" * 4097)


async def test_callback_answer_and_edit_through_application(server: TelegramTestServer) -> None:
    app = build_app(server, updater=False)
    seen: list[str] = []

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        seen.append(query.data)
        await query.answer("Thanks")
        await query.edit_message_text(f"You chose {query.data}")

    app.add_handler(CallbackQueryHandler(on_button))
    async with app:
        await app.bot.send_message(
            USER,
            "Choose",
            reply_markup=InlineKeyboardMarkup.from_button(
                InlineKeyboardButton("A", callback_data="a")
            ),
        )
        message = server.calls_to("sendMessage")[-1].result
        update = server.callback_update(USER, "a", message)
        await app.process_update(Update.de_json(update, app.bot))

        assert seen == ["a"]
        answer = server.calls_to("answerCallbackQuery")[0]
        assert answer.ok and answer.params["text"] == "Thanks"
        assert answer.params["callback_query_id"] == update["callback_query"]["id"]
        edited = server.last_bot_message(USER)
        assert edited["text"] == "You chose a"
        assert "reply_markup" not in edited  # not resent with the edit, so Telegram drops it
        assert "edit_date" in edited

        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await app.bot.edit_message_text("You chose a", USER, message["message_id"])
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await app.bot.answer_callback_query("42")


async def test_edit_reply_markup_and_text(server: TelegramTestServer, bot: Bot) -> None:
    sent = await bot.send_message(USER, "v1")
    edited = await bot.edit_message_text("v2", USER, sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "v2"
    markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("ok", callback_data="ok"))
    with_kb = await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=markup)
    assert not isinstance(with_kb, bool) and with_kb.reply_markup == markup
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("v3", USER, 99)


async def test_photo_upload_get_file_and_download(server: TelegramTestServer, bot: Bot) -> None:
    png = tiny_png()
    keyboard = InlineKeyboardMarkup.from_button(InlineKeyboardButton("Map", callback_data="map"))
    message = await bot.send_photo(
        USER, photo=png, caption="Flood at the temple", reply_markup=keyboard
    )
    assert message.caption == "Flood at the temple"
    largest = message.photo[-1]
    assert (largest.width, largest.height) == (120, 80)
    assert len(message.photo) == 2  # a 90px thumbnail plus the original

    params = server.sent_messages(USER)[0]
    upload = params["photo"]
    assert isinstance(upload, Upload) and upload.content == png
    assert params["reply_markup"] == keyboard.to_dict()  # JSON-encoded multipart field

    downloaded = await (await bot.get_file(largest.file_id)).download_as_bytearray()
    assert bytes(downloaded) == png

    again = await bot.send_photo(USER, photo=largest.file_id)
    assert again.photo[-1].file_id == largest.file_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(USER, photo="no-such-file-id")


async def test_incoming_photo_is_downloadable(server: TelegramTestServer, bot: Bot) -> None:
    update = Update.de_json(
        server.photo_update(USER, "PHOTO-1", content=b"\xff\xd8real-ish\xff\xd9"), bot
    )
    assert update.message is not None
    photo = update.message.photo
    assert [p.file_id for p in photo][-1] == "PHOTO-1"
    data = await (await bot.get_file("PHOTO-1")).download_as_bytearray()
    assert bytes(data) == b"\xff\xd8real-ish\xff\xd9"
    small = await (await bot.get_file(photo[0].file_id)).download_as_bytearray()
    assert len(small) == photo[0].file_size

    server.add_file("DOC-1", b"hello", "documents/report.txt")
    file = await bot.get_file("DOC-1")
    assert file.file_path == f"{server.base_file_url}{TOKEN}/documents/report.txt"
    assert await file.download_as_bytearray() == bytearray(b"hello")
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("unknown")


async def test_send_document(server: TelegramTestServer, bot: Bot) -> None:
    message = await bot.send_document(USER, document=b"a,b\n1,2\n", filename="report.csv")
    assert message.document is not None
    assert message.document.file_name == "report.csv"
    data = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(data) == b"a,b\n1,2\n"


async def test_other_updates_parse(server: TelegramTestServer, bot: Bot) -> None:
    location = Update.de_json(server.location_update(USER, 13.75, 100.5), bot)
    assert location.message is not None and location.message.location is not None
    assert location.message.location.latitude == 13.75
    sticker = Update.de_json(server.sticker_update(USER), bot)
    assert sticker.message is not None and sticker.message.sticker is not None
    assert await (await bot.get_file(sticker.message.sticker.file_id)).download_as_bytearray()
    group = Update.de_json(
        server.text_update(USER, "/report@cercap_test_bot x", -4001, "group"), bot
    )
    assert group.message is not None and group.message.chat.type == "group"
    assert group.message.entities[0].length == len("/report@cercap_test_bot")
    ids = [location.update_id, sticker.update_id, group.update_id]
    assert ids == sorted(ids) and len(set(ids)) == 3


async def test_commands(server: TelegramTestServer, bot: Bot) -> None:
    commands = [BotCommand("start", "Begin"), BotCommand("report", "Report an event")]
    assert await bot.set_my_commands(commands, language_code="th")
    call = server.calls_to("setMyCommands")[0]
    assert call.params["commands"] == [c.to_dict() for c in commands]
    assert call.params["language_code"] == "th"
    assert await bot.get_my_commands(language_code="th") == tuple(commands)
    assert await bot.get_my_commands() == ()
    assert server.commands(language_code="th") == [c.to_dict() for c in commands]
    assert await bot.delete_my_commands(language_code="th")
    assert server.commands(language_code="th") == []
    assert await bot.send_chat_action(USER, "typing")


async def test_long_polling_application(server: TelegramTestServer) -> None:
    app = build_app(server)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "welcome")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))

    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=10)
    try:
        await server.wait_for_poll()
        assert server.calls_to("deleteWebhook")  # PTB's bootstrap

        first = server.push_update(server.text_update(USER, "hello"))
        replies = await server.wait_for_calls("sendMessage")
        assert replies[0].params["text"] == "echo: hello"
        assert "reply_parameters" not in replies[0].params  # PTB 22 quotes only in groups

        second = server.push_update(server.text_update(USER, "/start"))
        await server.wait_for(lambda calls: any(c.params.get("text") == "welcome" for c in calls))
        assert second == first + 1
    finally:
        started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        elapsed = time.monotonic() - started

    assert elapsed < 2.0
    # The last getUpdates confirmed everything PTB fetched.
    final = [c for c in server.calls_to("getUpdates") if c.ok][-1]
    assert final.params["offset"] == second + 1
    assert server.pending_updates == []


async def test_get_updates_returns_as_soon_as_pushed(server: TelegramTestServer, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await server.wait_for_poll()
    started = time.monotonic()
    update_id = server.push_update(server.text_update(USER, "hi"))
    updates = await poll
    assert time.monotonic() - started < 2.0
    assert [u.update_id for u in updates] == [update_id]
    assert updates[0].message is not None and updates[0].message.text == "hi"

    # Not confirmed yet: delivered again; confirmed by offset: gone.
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == ()
    assert server.pending_updates == []

    for n in range(3):
        server.push_update(server.text_update(USER, f"m{n}"))
    assert len(await bot.get_updates(limit=2)) == 2


async def test_stop_releases_pending_polls() -> None:
    server = TelegramTestServer(token=TOKEN)
    await server.start()
    async with Bot(TOKEN, base_url=server.base_url) as own_bot:
        poll = asyncio.create_task(own_bot.get_updates(timeout=30))
        await server.wait_for_poll()
        started = time.monotonic()
        await server.stop()
        assert await poll == ()
        assert time.monotonic() - started < 2.0


# Building RetryAfter reads its deprecated int-valued retry_after (unless PTB_TIMEDELTA=1).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_rate_limit(server: TelegramTestServer, bot: Bot) -> None:
    server.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "first")
    retry_after = caught.value.retry_after  # int, or timedelta with PTB_TIMEDELTA set
    seconds = getattr(retry_after, "total_seconds", lambda: retry_after)()
    assert seconds == 7
    failed = server.calls_to("sendMessage")[0]
    assert failed.status == 429
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert server.sent_messages() == []  # failed sends are not "sent"
    await bot.send_message(USER, "second")
    assert [m["text"] for m in server.sent_messages()] == ["second"]


async def test_fail_next_forbidden_server_error_and_bad_request(
    server: TelegramTestServer, bot: Bot
) -> None:
    server.fail_next("sendMessage", 403, times=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(USER, "hello")
    server.fail_next("sendMessage", 500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(USER, "hello")
    server.fail_next("sendmessage", 400, description="Bad Request: chat not found")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(USER, "hello")
    assert [c.status for c in server.calls_to("sendMessage")] == [403, 403, 500, 400]
    await bot.send_message(USER, "finally")

    server.block_user(USER)
    with pytest.raises(Forbidden):
        await bot.send_message(USER, "again")


async def test_wait_for_times_out_with_context(server: TelegramTestServer, bot: Bot) -> None:
    await bot.send_message(USER, "only this")

    def never(calls: list[Call]) -> bool:
        return False

    with pytest.raises(TimeoutError, match=r"(?s)never not met.*sendMessage"):
        await server.wait_for(never, timeout=0.05)


async def test_webhook(server: TelegramTestServer, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []

    async def receive(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response(status=200 if secret == "s3cret" else 403)

    hook = web.Application()
    hook.router.add_post("/hook", receive)
    runner = web.AppRunner(hook, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"http://127.0.0.1:{port}/hook"
        assert await bot.set_webhook(url, secret_token="s3cret")
        assert (server.webhook_url, server.webhook_secret) == (url, "s3cret")
        info = await bot.get_webhook_info()
        assert info.url == url

        update = server.text_update(USER, "via webhook")
        assert await server.deliver_to_webhook(update) == 200
        assert await server.deliver_to_webhook(update, secret="forged") == 403
        assert await server.deliver_to_webhook(update, secret=None) == 403
        assert [s for s, _ in received] == ["s3cret", "forged", None]
        assert received[0][1] == update

        with pytest.raises(Exception, match="webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook()
        assert server.webhook_url is None
    finally:
        await runner.cleanup()


async def test_guard_blocks_real_telegram(
    server: TelegramTestServer, no_real_telegram: list[str]
) -> None:
    with pytest.raises(TelegramCloudBlockedError):
        socket.getaddrinfo("api.telegram.org", 443)
    with pytest.raises(TelegramCloudBlockedError):
        socket.create_connection(("149.154.167.220", 443), timeout=1)
    with pytest.raises(NetworkError, match="real Telegram"):
        async with Bot(TOKEN):
            pass
    assert len(no_real_telegram) >= 3
    no_real_telegram.clear()

    async with Bot(TOKEN, base_url=server.base_url) as local:  # 127.0.0.1 still works
        assert local.username == "cercap_test_bot"


async def test_newer_poll_ends_older_with_conflict(server: TelegramTestServer, bot: Bot) -> None:
    # PTB gives get_updates its own one-connection pool, so a second poller needs its own Bot.
    older = asyncio.create_task(bot.get_updates(timeout=20))
    await server.wait_for_poll()
    async with Bot(TOKEN, base_url=server.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await older


async def test_raw_json_form_and_get_requests(server: TelegramTestServer) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with ClientSession() as http:
        async with http.get(f"{server.base_url}{TOKEN}/getMe") as response:
            assert response.status == 200
            assert (await response.json())["result"]["username"] == "cercap_test_bot"
        body = {"chat_id": USER, "text": "json", "reply_markup": json.dumps(markup)}
        async with http.post(f"{server.base_url}{TOKEN}/sendMessage", json=body) as response:
            assert response.status == 200
            assert (await response.json())["result"]["reply_markup"] == markup
        form = {"chat_id": str(USER), "text": "true"}
        async with http.post(f"{server.base_url}{TOKEN}/sendMessage", data=form) as response:
            assert (await response.json())["result"]["text"] == "true"
        async with http.get(f"{server.base_file_url}WRONG/photos/x.jpg") as response:
            assert response.status == 401
    assert [m["text"] for m in server.sent_messages(USER)] == ["json", "true"]
    assert server.sent_messages(USER)[0]["reply_markup"] == markup
