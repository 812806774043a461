"""The Telegram channel: python-telegram-bot in, outbox rows out. It only translates.

Updates become `Incoming` for the engine (long polling, or the webhook on the shared
web server); outbox rows become Bot API calls (inline keyboards, split long texts,
HTML-escaped user text), with the platform's flood limits and error codes mapped to
the outbox's retry / fail / blocked outcomes.
"""

from __future__ import annotations

import hmac
import html
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

# Durations from python-telegram-bot as timedelta (its announced future default).
os.environ.setdefault("PTB_TIMEDELTA", "1")
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType, MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults, TypeHandler

from bot.ordering import PerKeyLock
from bot.outbox_sender import Blocked, Failed, Retry, SendOutcome, Sent
from bot.pacing import TELEGRAM_LIMITS, Pacer
from bot.telegram_transport import AiohttpRequest
from handlers.clock import BANGKOK
from handlers.engine import Engine
from handlers.messages import Incoming, Location, Reply
from locales import LANGUAGES, t
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CALLBACK_DATA_MAX_BYTES = 64
SEND_CONNECTIONS = 16  # more than the outbox ever sends at once (CHATS_IN_FLIGHT)
COMMANDS = ("start", "menu", "help", "cancel", "back")
UNSUPPORTED_KINDS = ("sticker", "voice", "video", "video_note", "audio", "document",
                     "animation", "contact", "poll", "dice", "venue", "game")


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Cut a long text into pieces Telegram accepts, at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return pieces


def _escape_pieces(text: str) -> list[str]:
    # Split first, then escape: an escape never lands across a cut. An escaped piece
    # may grow (& -> &amp;), so leave room.
    pieces = split_text(text, MessageLimit.MAX_TEXT_LENGTH // 2)
    return [html.escape(p, quote=False) for p in pieces]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if reply.expects == "location":
        rows = [[KeyboardButton(reply.extra.get("share_location", "📍"), request_location=True)]]
        rows += [[KeyboardButton(c.label)] for c in reply.choices]
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if not reply.choices:
        return None
    for choice in reply.choices:
        if len(choice.payload.encode()) > CALLBACK_DATA_MAX_BYTES:
            raise ValueError(f"callback data over 64 bytes: {choice.payload!r}")
    short = all(len(c.label) <= 14 for c in reply.choices)
    per_row = 2 if short and len(reply.choices) > 4 else 1
    buttons = [InlineKeyboardButton(c.label, callback_data=c.payload) for c in reply.choices]
    return InlineKeyboardMarkup([buttons[i:i + per_row] for i in range(0, len(buttons), per_row)])


def _retry_after_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Delivers outbox rows of the Telegram channel."""

    channel = CHANNEL

    def __init__(self, application: Application, media_dir: Path) -> None:  # type: ignore[type-arg]
        self.application = application
        self.media_dir = media_dir
        self.pacer = Pacer(TELEGRAM_LIMITS)
        self._keyboard_shown: set[str] = set()  # chats with a reply keyboard to remove

    def is_group_chat(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    async def send(self, message: OutboxMessage) -> SendOutcome:
        try:
            await self._send(message)
        except RetryAfter as exc:
            return Retry(f"429: {exc}", _retry_after_seconds(exc))
        except Forbidden as exc:
            return Blocked(str(exc))
        except BadRequest as exc:
            if "chat not found" in str(exc).lower():
                return Blocked(str(exc))
            return Failed(f"400: {exc}")
        except NetworkError as exc:  # timeouts, 5xx, connection errors
            return Retry(f"{type(exc).__name__}: {exc}")
        except TelegramError as exc:
            return Retry(f"{type(exc).__name__}: {exc}")
        return Sent()

    async def _send(self, message: OutboxMessage) -> None:
        bot = self.application.bot
        reply = Reply.from_payload(message.payload)
        chat_id = int(message.chat_id)
        markup: Any = keyboard(reply)
        if markup is None and message.chat_id in self._keyboard_shown:
            markup = ReplyKeyboardRemove()
        if isinstance(markup, ReplyKeyboardMarkup):
            self._keyboard_shown.add(message.chat_id)
        elif isinstance(markup, ReplyKeyboardRemove):
            self._keyboard_shown.discard(message.chat_id)
        if reply.image:
            with (self.media_dir / reply.image).open("rb") as image:
                await bot.send_photo(chat_id, image)
        if reply.file:
            with (self.media_dir / reply.file).open("rb") as document:
                await bot.send_document(chat_id, document)
        pieces = _escape_pieces(reply.text) if reply.text else []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            await bot.send_message(chat_id, piece, reply_markup=markup if last else None)


class TelegramChannel:
    def __init__(self, *, token: str, engine: Engine, media_dir: Path,
                 api_base_url: str | None = None, webhook_url: str | None = None,
                 webhook_secret: str | None = None, max_photo_bytes: int = 10_000_000,
                 ordering: PerKeyLock | None = None, request_timeout: float = 10.0) -> None:
        self.engine = engine
        self.media_dir = media_dir
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.max_photo_bytes = max_photo_bytes
        self.ordering = ordering or PerKeyLock()
        if webhook_url and not webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL")
        timeouts = {"read_timeout": request_timeout, "write_timeout": request_timeout,
                    "connect_timeout": request_timeout, "pool_timeout": request_timeout}
        builder = (ApplicationBuilder().token(token)
                   .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=BANGKOK))
                   .request(AiohttpRequest(connection_pool_size=SEND_CONNECTIONS, **timeouts))
                   .get_updates_request(AiohttpRequest(connection_pool_size=1, **timeouts)))
        if api_base_url:
            origin = api_base_url.rstrip("/")
            builder = builder.base_url(f"{origin}/bot").base_file_url(f"{origin}/file/bot")
        if webhook_url:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender(self.application, media_dir)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.application.initialize()
        # post_init only runs under run_polling()/run_webhook(); we run the parts ourselves.
        await self._set_commands(self.application)
        await self.application.start()
        if self.webhook_url:
            await self.application.bot.set_webhook(
                self.webhook_url, secret_token=self.webhook_secret,
                allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
            log.info("telegram: webhook set to %s", self.webhook_url)
        else:
            assert self.application.updater is not None
            await self.application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            log.info("telegram: long polling started")

    async def stop(self) -> None:
        if self.application.updater and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def _set_commands(self, application: Application) -> None:  # type: ignore[type-arg]
        for language in LANGUAGES:
            commands = [BotCommand(c, t(language, f"tg.command.{c}")) for c in COMMANDS]
            await application.bot.set_my_commands(commands, language_code=language)
        await application.bot.set_my_commands(
            [BotCommand(c, t("th", f"tg.command.{c}")) for c in COMMANDS])

    # --- webhook (served by the shared web server) --------------------------------------

    def webhook_path(self) -> str:
        from urllib.parse import urlparse

        return urlparse(self.webhook_url or "").path or "/telegram/webhook"

    async def handle_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not self.webhook_secret or not hmac.compare_digest(given.encode(),
                                                              self.webhook_secret.encode()):
            log.warning("telegram webhook: wrong or missing secret token from %s",
                        request.remote)
            return web.Response(status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError):
            log.warning("telegram webhook: unreadable update from %s", request.remote)
            return web.Response(status=400)
        try:
            await self.process(update)
        except Exception:
            # Not acknowledged: Telegram delivers the update again, and the engine
            # handles it exactly once.
            log.exception("telegram webhook: handling update %s failed", update.update_id)
            return web.Response(status=500)
        return web.Response(status=200)

    # --- from Telegram to the engine -------------------------------------------------------

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert isinstance(update, Update)
        await self.process(update)

    async def process(self, update: Update) -> None:
        user = update.effective_user
        if user is None:
            return
        async with self.ordering.hold(f"{CHANNEL}:{user.id}"):
            if update.my_chat_member is not None:
                await self._membership_changed(update)
                return
            query = update.callback_query
            if query is not None:
                await self._callback(update, query)
                return
            incoming = await self.incoming_from(update)
            if incoming is not None:
                await self.engine.handle(incoming)

    async def _callback(self, update: Update, query: CallbackQuery) -> None:
        await _quietly(query.answer())
        message = query.message if isinstance(query.message, Message) else None
        if message is None or message.chat.type != ChatType.PRIVATE:
            return
        result = await self.engine.handle(Incoming(
            channel=CHANNEL, user_id=str(query.from_user.id), chat_id=str(message.chat.id),
            update_id=str(update.update_id), payload=query.data or ""))
        if result.duplicate:
            return
        if result.stale_button:
            await _quietly(message.edit_reply_markup(reply_markup=None))
            return
        label = _button_label(message, query.data or "")
        if label and message.text:
            language = await self.engine.language_of(CHANNEL, str(query.from_user.id))
            chosen = t(language, "tg.chosen", label=label)
            await _quietly(message.edit_text(
                f"{html.escape(message.text, quote=False)}\n\n{html.escape(chosen, quote=False)}",
                reply_markup=None))

    async def _membership_changed(self, update: Update) -> None:
        member = update.my_chat_member
        assert member is not None
        status = member.new_chat_member.status
        if status in ("kicked", "left"):
            await self.engine.mark_unreachable(CHANNEL, str(member.chat.id))

    async def incoming_from(self, update: Update) -> Incoming | None:
        message = update.message
        if message is None or message.from_user is None:
            return None  # edits, channel posts, and the like: nothing to act on
        base: dict[str, Any] = {"channel": CHANNEL, "user_id": str(message.from_user.id),
                                "chat_id": str(message.chat.id),
                                "update_id": str(update.update_id)}
        if message.chat.type != ChatType.PRIVATE:
            if not (message.text or "").startswith("/") or not self._addressed_to_us(message):
                return None
            return Incoming(**base, text=message.text, is_group=True)
        if message.text is not None:
            return Incoming(**base, text=message.text)
        if message.photo:
            photo_id, photo = await self._download_photo(message)
            if photo_id is None:
                return Incoming(**base, unsupported="photo_too_large")
            return Incoming(**base, photo=photo, photo_id=photo_id)
        if message.location is not None:
            return Incoming(**base, location=Location(message.location.latitude,
                                                      message.location.longitude))
        kind = next((k for k in UNSUPPORTED_KINDS if getattr(message, k, None)), "other")
        return Incoming(**base, unsupported=kind)

    def _addressed_to_us(self, message: Message) -> bool:
        command = (message.text or "").split()[0]
        if "@" not in command:
            return True
        return command.split("@", 1)[1].casefold() == (self.application.bot.username or
                                                       "").casefold()

    async def _download_photo(self, message: Message) -> tuple[str | None, str | None]:
        """The largest size under the limit: (its file_id, its path in the media folder).
        A failed download keeps the file_id, so the photo can be fetched later."""
        fitting = [p for p in message.photo
                   if p.file_size is None or p.file_size <= self.max_photo_bytes]
        if not fitting:
            return None, None
        best = max(fitting, key=lambda p: p.width * p.height)
        relative = Path("telegram") / f"{best.file_unique_id}.jpg"
        try:
            tg_file = await self.application.bot.get_file(best.file_id)
            target = self.media_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            await tg_file.download_to_drive(target)
        except (TelegramError, OSError):
            log.exception("telegram: downloading photo %s failed", best.file_id)
            return best.file_id, None
        return best.file_id, relative.as_posix()

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: error while handling an update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_user is None:
            return
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        language = await self.engine.language_of(CHANNEL, str(update.effective_user.id))
        await _quietly(context.bot.send_message(chat.id, t(language, "error.generic")))


def _button_label(message: Message, data: str) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


async def _quietly(call: Any) -> None:
    """A cosmetic call (answer a button, edit a question): failing it must not fail the update."""
    try:
        await call
    except (TimeoutError, TelegramError) as exc:
        log.info("telegram: cosmetic call failed: %s", exc)
