"""The running bot: channels, durable intake, the shared web server (`/healthz`,
`/metrics`, the web site), the outbox sender, the reminder scheduler, the idle sweep,
housekeeping, the metrics' backlog refresh and the scheduled backups (CERCAP_BACKUP_DIR), in
one process. `cercap-bot run` starts it; tests start it too.

Start-up order: the database, the web server (webhooks are stored from the first
moment; `/healthz` says 503 meanwhile), the channels, the warm-up of the language tools,
then handling (first whatever was stored before a crash) and Telegram polling: the first
person is served at full speed, and `/healthz` says 200 only from then on."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from typing import Protocol

from bot.app import App
from bot.backup_schedule import BackupSchedule
from bot.config import Settings
from bot.housekeeping import Housekeeping
from bot.instances import Instances
from bot.intake import Intake
from bot.line_channel import LineChannel
from bot.media_links import MediaLinks
from bot.metrics import Metrics
from bot.scheduler import Scheduler
from bot.telegram_channel import TelegramChannel
from bot.web import Health, WebServer
from bot.web import privacy as privacy_page
from handlers.clock import Clock
from handlers.engine import Engine
from storage import inbox, outbox

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
        self.web = WebServer(settings.http_host, settings.http_port, health=self.health)
        self.intake = Intake(self.app.db, self.app.clock)
        self.ready = False
        self.channels: list[Channel] = []
        self.telegram: TelegramChannel | None = None
        self.line: LineChannel | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.scheduler = Scheduler(self.app.db, self.app.clock,
                                   on_enqueued=self.app.outbox.wake)
        self.housekeeping = Housekeeping(
            self.app.db, self.app.clock, media_dir=settings.media_dir,
            outbox_retention_days=settings.outbox_retention_days,
            dedupe_window_days=settings.dedupe_window_days,
            photo_retention_days=settings.retention_photo_days,
            identity_retention_days=settings.retention_identity_days,
            audit_detail_retention_days=settings.retention_audit_detail_days)
        privacy_page.register(self.web, privacy_page.terms_of(settings))  # GET /privacy
        self.metrics = Metrics(self.app.clock)
        self.metrics.attach(self.engine, self.intake, self.app.outbox, self.scheduler)
        self.web.add_get("/metrics", self.metrics.handler(settings.metrics_token))
        self.backups = BackupSchedule(
            settings.db_path, settings.backup_dir, self.app.clock, at=settings.backup_time,
            keep_daily=settings.backup_keep_daily, keep_weekly=settings.backup_keep_weekly,
            metrics=self.metrics) if settings.backup_dir else None
        self.instances = Instances(self)  # what runs once (the leader) and everywhere

    @property
    def engine(self) -> Engine:
        return self.app.engine

    async def start(self) -> None:
        await self.app.__aenter__()
        try:
            await self._start()
        except BaseException:
            await self.stop()  # what did start (sessions, the web server) is closed again
            raise

    async def _start(self) -> None:
        s = self.settings
        if s.telegram_token:
            self.telegram = TelegramChannel(
                token=s.telegram_token, engine=self.engine, intake=self.intake,
                media_dir=s.media_dir, api_base_url=s.telegram_api_base_url,
                webhook_url=s.telegram_webhook_url, webhook_secret=s.telegram_webhook_secret,
                max_photo_bytes=s.media_max_bytes, request_timeout=s.telegram_request_timeout)
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
                engine=self.engine, intake=self.intake, media_dir=s.media_dir,
                api_host=s.line_api_host, max_photo_bytes=s.media_max_bytes, links=links)
            self.app.outbox.add_sender(self.line.sender)
            self.metrics.watch_line(self.line.sender)
            self.web.add_post(LINE_WEBHOOK_PATH, self.line.handle_webhook)
            self.channels.append(self.line)
        from bot.web.site import local_url
        from bot.web.site import register as register_site

        self.site = register_site(self.web, self.app.db, clock=self.app.clock,
                                  public_url=s.public_url or "")
        self.site.media_dir, self.site.media_links = s.media_dir, links  # photos on the site
        await self.web.start()
        log.info("web site: %s", local_url(s.http_host, self.web.bound_port or s.http_port))
        for channel in self.channels:
            await channel.start()
        await self.app.warmed_up()
        await self.instances.open()
        await self.intake.start()
        # Telegram polling, the outbox loop, reminders, the idle sweep, housekeeping and
        # backups on the leader (this process on SQLite); the metrics everywhere.
        await self.instances.start()
        self.ready = True

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
        self.ready = False
        await self.web.stop()
        if self.telegram is not None:
            await self.telegram.stop_receiving()
        await self.intake.stop()
        await self.instances.stop()
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:
                log.exception("stopping a channel failed")
        await self.app.__aexit__(None, None, None)

    async def health(self) -> Health:
        """What `/healthz` answers: ready, the database writable, the backlogs."""
        now = self.app.clock.now()
        problems = [] if self.ready else ["starting"]
        writable = await self.app.db.writable()
        if not writable:
            problems.append("database not writable")
        details: dict[str, object] = {}
        try:
            async with self.app.db.read() as conn:
                waiting, oldest = await outbox.backlog(conn)
                stored, oldest_stored = await inbox.backlog(conn)
        except Exception as exc:  # an unreadable database is reported, not raised
            problems.append(f"database not readable: {type(exc).__name__}")
        else:
            details = {
                "outbox_backlog": waiting,
                "oldest_unsent_seconds": round((now - oldest).total_seconds(), 1)
                if oldest else 0.0,
                "inbox_backlog": stored,
                "oldest_unhandled_seconds": round((now - oldest_stored).total_seconds(), 1)
                if oldest_stored else 0.0}
        return Health(ok=not problems, problems=problems, details=details)

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def sweep_idle(self) -> None:
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
