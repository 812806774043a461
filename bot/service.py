"""The running bot: channels, the shared web server, the outbox sender and the idle
sweep, in one process. `cercap-bot run` starts it; tests start it too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.app import App
from bot.config import Settings
from bot.ordering import PerKeyLock
from bot.telegram_channel import TelegramChannel
from bot.web import WebServer
from handlers.clock import Clock
from handlers.engine import Engine

log = logging.getLogger(__name__)

IDLE_SWEEP_SECONDS = 600.0


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
        self._tasks: list[asyncio.Task[None]] = []

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
                ordering=self.ordering)
            self.app.outbox.add_sender(self.telegram.sender)
            if s.telegram_webhook_url:
                self.web.add_post(self.telegram.webhook_path(), self.telegram.handle_webhook)
            self.channels.append(self.telegram)
        await self.web.start()
        for channel in self.channels:
            await channel.start()
        if self.background:
            self._tasks = [asyncio.create_task(self.app.outbox.run(), name="outbox"),
                           asyncio.create_task(self._sweep_idle(), name="idle-sweep")]

    async def stop(self) -> None:
        for channel in reversed(self.channels):
            with contextlib.suppress(Exception):
                await channel.stop()
        await self.web.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
