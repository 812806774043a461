"""The Telegram channel: python-telegram-bot in, outbox rows out. It only translates.

Updates become `Incoming` for the engine (long polling, or the webhook on the shared
web server); outbox rows become Bot API calls (inline keyboards, split long texts,
HTML-escaped user text), with the platform's flood limits and error codes mapped to
the outbox's retry / fail / blocked outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import logging
import os
from dataclasses import replace
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
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults, TypeHandler

from bot.config import StartupError
from bot.intake import Intake, IntakeChannel, Received, StoredRef
from bot.media_files import save_photo
from bot.outbox_sender import Blocked, Failed, Retry, SendOutcome, Sent
from bot.pacing import TELEGRAM_LIMITS, Pacer
from bot.telegram_transport import AiohttpRequest
from handlers.clock import BANGKOK
from handlers.engine import Engine
from handlers.messages import Choice, Incoming, Location, Reply
from handlers.turn import NAV_PREFIX
from locales import LANGUAGES, t
from storage.outbox import OutboxMessage

# A question's navigation (handlers/turn.py Turn.ask), after its own buttons: one row.
NAVIGATION_ROW = frozenset({f"{NAV_PREFIX}back", f"{NAV_PREFIX}cancel"})

log = logging.getLogger(__name__)

CHANNEL = "telegram"
CALLBACK_DATA_MAX_BYTES = 64
SEND_CONNECTIONS = 16  # more than the outbox ever sends at once (CHATS_IN_FLIGHT)
COMMANDS = ("start", "menu", "help", "cancel", "back")
POLL_SECONDS = 30  # long polling: how long Telegram may hold a getUpdates call
TURNS_BEFORE_NEXT_POLL = 8  # turns of the loop left to the handling before the next poll
POLL_REFUSED_SECONDS = 30.0
UNSUPPORTED_KINDS = ("sticker", "voice", "video", "video_note", "audio", "document",
                     "animation", "contact", "poll", "dice", "venue", "game")


class MalformedUpdate(ValueError):
    """An authenticated request whose body is not an update Telegram would send."""


def _is_update_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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


def _navigation_row(choices: tuple[Choice, ...]) -> tuple[tuple[Choice, ...],
                                                          tuple[Choice, ...]]:
    """(a question's own buttons, the "back" and "cancel" it ends with): those two share
    the last row, whatever the width of the others."""
    end = len(choices)
    while end and choices[end - 1].payload in NAVIGATION_ROW:
        end -= 1
    return choices[:end], choices[end:]


def keyboard(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    own, navigation = _navigation_row(reply.choices)
    if reply.expects in ("location", "photo_or_location"):  # a photo is sent as ever
        rows = [[KeyboardButton(reply.extra.get("share_location", "📍"), request_location=True)]]
        rows += [[KeyboardButton(c.label)] for c in own]
        rows += [[KeyboardButton(c.label) for c in navigation]] if navigation else []
        return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
    if not reply.choices:
        return None
    for choice in reply.choices:
        if len(choice.payload.encode()) > CALLBACK_DATA_MAX_BYTES:
            raise ValueError(f"callback data over 64 bytes: {choice.payload!r}")
    short = all(len(c.label) <= 14 for c in own)
    per_row = 2 if short and len(reply.choices) > 4 else 1
    buttons = [InlineKeyboardButton(c.label, callback_data=c.payload) for c in own]
    rows = [buttons[i:i + per_row] for i in range(0, len(buttons), per_row)]
    if navigation:
        rows.append([InlineKeyboardButton(c.label, callback_data=c.payload)
                     for c in navigation])
    return InlineKeyboardMarkup(rows)


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
        except NetworkError as exc:  # timeouts, 5xx, connection errors: may pass
            return Retry(f"{type(exc).__name__}: {exc}")
        except TelegramError as exc:  # a refusal (a revoked token, a conflict …): will not
            return Failed(f"{type(exc).__name__}: {exc}")
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
        # A picture with a short text and no buttons (a summary chart and its title): the
        # text is the photo's caption, one message.
        caption = (html.escape(reply.text, quote=False) if reply.image and reply.text
                   and not (reply.file or reply.choices) else None)
        if caption is not None and len(caption) > MessageLimit.CAPTION_LENGTH:
            caption = None
        if reply.image:
            with (self.media_dir / reply.image).open("rb") as image:
                if caption is None:
                    await bot.send_photo(chat_id, image)
                else:
                    await bot.send_photo(chat_id, image, caption=caption, reply_markup=markup)
        if reply.file:
            with (self.media_dir / reply.file).open("rb") as document:
                await bot.send_document(chat_id, document)
        pieces = _escape_pieces(reply.text) if reply.text and caption is None else []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            await bot.send_message(chat_id, piece, reply_markup=markup if last else None)


class TelegramChannel:
    def __init__(self, *, token: str, engine: Engine, intake: Intake, media_dir: Path,
                 api_base_url: str | None = None, webhook_url: str | None = None,
                 webhook_secret: str | None = None, max_photo_bytes: int = 10_000_000,
                 request_timeout: float = 10.0) -> None:
        self.engine = engine
        self.intake = intake
        self.media_dir = media_dir
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.max_photo_bytes = max_photo_bytes
        self.request_timeout = request_timeout
        # Update ids belong to one bot: the token's first part is the bot's id.
        self.bot_id = token.split(":", 1)[0]
        self._polling: asyncio.Task[None] | None = None
        self._offset: int | None = None
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
        # No Updater: it confirms a batch to Telegram before the updates are handled.
        # Polling is ours (`_poll`): a batch is confirmed only once it is stored.
        builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender(self.application, media_dir)
        intake.add_channel(IntakeChannel(CHANNEL, self._parse_stored, self._handle_stored,
                                         self._apologize))

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.application.initialize()
        except InvalidToken:
            raise StartupError("Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)"
                               ) from None
        # post_init only runs under run_polling()/run_webhook(); we run the parts ourselves.
        await self._set_commands(self.application)
        await self.application.start()
        if self.webhook_url:
            await self.application.bot.set_webhook(
                self.webhook_url, secret_token=self.webhook_secret,
                allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
            log.info("telegram: webhook set to %s", self.webhook_url)

    def start_receiving(self) -> None:
        """Long polling, when there is no webhook: called once the bot is ready."""
        if not self.webhook_url and self._polling is None:
            self._polling = asyncio.create_task(self._poll(), name="telegram-polling")

    async def stop_receiving(self) -> None:
        """No more polling; what was fetched is stored, and Telegram is told so."""
        if self._polling is not None:
            self._polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
            self._polling = None
            await self._confirm_stored()

    async def stop(self) -> None:
        await self.stop_receiving()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # --- long polling: confirmed to Telegram only once stored ----------------------------

    async def _poll(self) -> None:
        bot = self.application.bot
        await bot.delete_webhook(drop_pending_updates=False)
        log.info("telegram: long polling started")
        wait = 1.0
        while True:
            try:
                batch = await self._get_updates(POLL_SECONDS)
                received = self._received_batch(batch)
                await self.intake.accept(CHANNEL, received)
                if received:
                    # Let the handling and the reply go before the next long poll is
                    # written (PTB's own Updater polls from a task of its own, likewise):
                    # from the store to the reply's request on its socket is a few turns
                    # of the loop (the person's task, the commit, the sender's task,
                    # aiohttp's connection), and nothing waits for this poll meanwhile.
                    for _ in range(TURNS_BEFORE_NEXT_POLL):
                        await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except TimedOut:
                continue
            except (InvalidToken, Forbidden, Conflict) as exc:
                log.error("telegram: polling refused (%s); trying again in %.0f s",
                          type(exc).__name__, POLL_REFUSED_SECONDS)
                await asyncio.sleep(POLL_REFUSED_SECONDS)
                continue
            except Exception as exc:
                # Not stored (or not fetched): not confirmed, so Telegram sends them again.
                log.warning("telegram: polling failed (%s: %s); trying again in %.0f s",
                            type(exc).__name__, exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 30.0)
                continue
            wait = 1.0
            ids = [u["update_id"] for u in batch if _is_update_id(u.get("update_id"))]
            if ids:
                self._offset = max(ids) + 1  # the next call confirms what is stored now

    async def _get_updates(self, timeout: int) -> list[dict[str, Any]]:
        """One getUpdates call, its result as Telegram sent it (to be stored as is)."""
        data: dict[str, Any] = {"timeout": timeout, "allowed_updates": Update.ALL_TYPES}
        if self._offset is not None:
            data["offset"] = self._offset
        result = await self.application.bot._post(  # the raw JSON; get_updates parses it
            "getUpdates", data, read_timeout=self.request_timeout + timeout)
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []

    async def _confirm_stored(self) -> None:
        """Tell Telegram, on the way out, that the last batch is stored."""
        if self._offset is None:
            return
        try:
            async with asyncio.timeout(2.0):
                await self._get_updates(0)
        except (TimeoutError, TelegramError) as exc:
            log.info("telegram: could not confirm the last batch (sent again later): %s", exc)

    def _received_batch(self, batch: list[dict[str, Any]]) -> list[Received]:
        received = []
        for data in batch:
            try:
                received.append(self.received_from(data))
            except MalformedUpdate as exc:
                log.warning("telegram: update ignored, not what Telegram sends: %s", exc)
        return received

    def received_from(self, data: Any) -> Received:
        """An update as Telegram sent it, ready to store; raises MalformedUpdate."""
        if not isinstance(data, dict) or not _is_update_id(data.get("update_id")):
            raise MalformedUpdate("not an object with an update_id")
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # de_json raises whatever the bad field provokes
            raise MalformedUpdate(f"{type(exc).__name__}: {exc}") from exc
        if update is None:
            raise MalformedUpdate("empty update")
        who = update.effective_user or update.effective_chat
        return Received(update_key=f"{self.bot_id}:{update.update_id}",
                        person_key=f"{CHANNEL}:{who.id if who else '-'}",
                        body=json.dumps(data, ensure_ascii=False), parsed=update)

    def _parse_stored(self, body: str) -> Update:
        return Update.de_json(json.loads(body), self.application.bot)

    async def _handle_stored(self, stored: StoredRef, update: Update) -> bool:
        return await self.process(update, stored)

    async def _apologize(self, update: Update) -> None:
        chat = update.effective_chat
        if update.effective_user is None or chat is None or chat.type != ChatType.PRIVATE:
            return
        await self.engine.apologize(CHANNEL, str(update.effective_user.id), str(chat.id))

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
        """Check the secret, store the update, and only then answer 200; an update that
        cannot be stored answers 500, and Telegram delivers it again."""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not self.webhook_secret or not hmac.compare_digest(given.encode(),
                                                              self.webhook_secret.encode()):
            log.warning("telegram webhook: wrong or missing secret token from %s",
                        request.remote)
            return web.Response(status=403)
        try:
            received = self.received_from(json.loads(await request.read()))
        except (ValueError, MalformedUpdate) as exc:  # JSONDecodeError is a ValueError
            log.warning("telegram webhook: unreadable update from %s: %s", request.remote, exc)
            return web.Response(status=400)
        try:
            await self.intake.accept(CHANNEL, [received])
        except Exception:
            log.exception("telegram webhook: could not store update %s; Telegram will "
                          "deliver it again", received.update_key)
            return web.Response(status=500)
        return web.Response(status=200)

    # --- from Telegram to the engine -------------------------------------------------------

    async def _on_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert isinstance(update, Update)
        await self.process(update)

    async def process(self, update: Update, stored: StoredRef | None = None) -> bool:
        """Handle one update; True when the engine's transaction took its stored row."""
        if update.effective_user is None:
            return False
        if update.my_chat_member is not None:
            await self._membership_changed(update)
            return False
        update_id = stored.update_key if stored else f"{self.bot_id}:{update.update_id}"
        inbox_id = stored.id if stored else None
        query = update.callback_query
        if query is not None:
            return await self._callback(query, update_id, inbox_id)
        incoming = await self.incoming_from(update)
        if incoming is None:
            return False
        await self.engine.handle(replace(incoming, update_id=update_id, inbox_id=inbox_id))
        return inbox_id is not None

    async def _callback(self, query: CallbackQuery, update_id: str,
                        inbox_id: int | None) -> bool:
        await _quietly(query.answer())
        message = query.message if isinstance(query.message, Message) else None
        if message is None or message.chat.type != ChatType.PRIVATE:
            return False
        result = await self.engine.handle(Incoming(
            channel=CHANNEL, user_id=str(query.from_user.id), chat_id=str(message.chat.id),
            update_id=update_id, payload=query.data or "", inbox_id=inbox_id))
        if result.duplicate:
            return inbox_id is not None
        if result.stale_button:
            await _quietly(message.edit_reply_markup(reply_markup=None))
            return inbox_id is not None
        label = _button_label(message, query.data or "")
        if label and message.text:
            language = await self.engine.language_of(CHANNEL, str(query.from_user.id))
            chosen = t(language, "tg.chosen", label=label)
            await _quietly(message.edit_text(
                f"{html.escape(message.text, quote=False)}\n\n{html.escape(chosen, quote=False)}",
                reply_markup=None))
        return inbox_id is not None

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
            if not await self.engine.has_joined(CHANNEL, str(message.from_user.id)):
                return Incoming(**base, unsupported="photo")  # nothing kept from strangers
            photo_id, photo = await self._download_photo(message)
            if photo_id is None:
                return Incoming(**base, unsupported="photo_too_large")
            # A caption is what the person said with the photo (a report's description).
            return Incoming(**base, photo=photo, photo_id=photo_id, text=message.caption)
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
        try:
            tg_file = await self.application.bot.get_file(best.file_id)
            content = await tg_file.download_as_bytearray()
            if len(content) > self.max_photo_bytes:
                log.warning("telegram: photo %s is %d bytes, over the limit", best.file_id,
                            len(content))
                return best.file_id, None
            path = await save_photo(self.media_dir, CHANNEL, best.file_unique_id,
                                    bytes(content))
        except (TelegramError, OSError) as exc:
            log.warning("telegram: downloading photo %s failed: %s", best.file_id, exc)
            return best.file_id, None
        return best.file_id, path

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
