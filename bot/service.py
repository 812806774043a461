"""The running bot: channels, the shared web server, the outbox sender and the idle
sweep, in one process. `cercap-bot run` starts it; tests start it too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from typing import Protocol

from bot.app import App
from bot.config import Settings
from bot.line_channel import LineChannel
from bot.media_links import MediaLinks
from bot.ordering import PerKeyLock
from bot.scheduler import Scheduler
from bot.telegram_channel import TelegramChannel
from bot.web import WebServer
from handlers.clock import Clock
from handlers.engine import Engine

log = logging.getLogger(__name__)

IDLE_SWEEP_SECONDS = 600.0
LINE_WEBHOOK_PATH = "/line/callback"


class Channel(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Service:
    def __init__(self, settings: Settings, clock: Clock | None = None, *,
                 background: bool = True) -> None:
        """`background=False` leaves out the outbox loop and the idle sweep, for tests
        that deliver the outbox themselves, step by step."""
        self.settings = settings
        self.background = background
        self.app = App(settings, [], clock)
        self.web = WebServer(settings.http_host, settings.http_port)
        self.ordering = PerKeyLock()
        self.channels: list[Channel] = []
        self.telegram: TelegramChannel | None = None
        self.line: LineChannel | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.scheduler = Scheduler(self.app.db, self.app.clock,
                                   on_enqueued=self.app.outbox.wake)

    @property
    def engine(self) -> Engine:
        return self.app.engine

    async def start(self) -> None:
        await self.app.__aenter__()
        s = self.settings
        if s.telegram_token:
            self.telegram = TelegramChannel(
                token=s.telegram_token, engine=self.engine, media_dir=s.media_dir,
                api_base_url=s.telegram_api_base_url, webhook_url=s.telegram_webhook_url,
                webhook_secret=s.telegram_webhook_secret, max_photo_bytes=s.media_max_bytes,
                ordering=self.ordering, request_timeout=s.telegram_request_timeout)
            self.app.outbox.add_sender(self.telegram.sender)
            if s.telegram_webhook_url:
                self.web.add_post(self.telegram.webhook_path(), self.telegram.handle_webhook)
            self.channels.append(self.telegram)
        links = self._media_links()
        if links:
            self.web.app.router.add_get("/media/{path:.*}", links.handle)
        if s.line_access_token:
            if not s.line_channel_secret:
                raise ValueError("LINE_CHANNEL_SECRET is required with LINE_CHANNEL_ACCESS_TOKEN")
            self.line = LineChannel(
                access_token=s.line_access_token, channel_secret=s.line_channel_secret,
                engine=self.engine, media_dir=s.media_dir, api_host=s.line_api_host,
                max_photo_bytes=s.media_max_bytes, ordering=self.ordering, links=links)
            self.app.outbox.add_sender(self.line.sender)
            self.web.add_post(LINE_WEBHOOK_PATH, self.line.handle_webhook)
            self.channels.append(self.line)
        await self.web.start()
        for channel in self.channels:
            await channel.start()
        if self.background:
            self._tasks = [asyncio.create_task(self.app.outbox.run(), name="outbox"),
                           asyncio.create_task(self.scheduler.run(), name="reminders"),
                           asyncio.create_task(self._sweep_idle(), name="idle-sweep")]

    def _media_links(self) -> MediaLinks | None:
        """Signed links to the media folder, when the bot has a public address."""
        s = self.settings
        if not s.public_url:
            return None
        seed = s.media_secret or s.line_channel_secret or s.telegram_token or ""
        secret = hmac.new(seed.encode(), b"cercap media links", hashlib.sha256).digest()
        return MediaLinks(s.public_url, secret, s.media_dir)

    async def stop(self) -> None:
        """No new requests, then the work in hand finishes, then the connections close.
        Whatever is still in the outbox is delivered after the next start."""
        await self.web.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:
                log.exception("stopping a channel failed")
        await self.app.__aexit__(None, None, None)

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _sweep_idle(self) -> None:
        while True:
            try:
                closed = await self.engine.close_idle_conversations()
                if closed:
                    log.info("closed %d idle conversations", closed)
            except Exception:
                log.exception("idle sweep failed")
            await asyncio.sleep(IDLE_SWEEP_SECONDS)


async def run_until_stopped(settings: Settings) -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Service(settings):
        log.info("cercap-bot is running; Ctrl+C to stop")
        await stop.wait()
