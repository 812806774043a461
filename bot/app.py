"""Wires one process together: database, engine, outbox sender, NLP warm-up.

An App holds its database's instance lock (`storage.instance_lock`) from `__aenter__` to
`__aexit__`: one running bot per SQLite file. A second App on the same file, in another
process or in this one, gets `InstanceLocked`."""

from __future__ import annotations

import asyncio
import gc
import logging

from bot.config import Settings
from bot.my_data_export import MyDataExporter, chained
from bot.outbox_sender import ChannelSender, OutboxSender
from bot.summary_renderer import SummaryRenderer
from bot.web.privacy import terms_of
from handlers import category_suggestion, thai_input
from handlers.clock import Clock, SystemClock
from handlers.engine import Engine, EngineSettings
from storage.db import Database
from storage.instance_lock import InstanceLock

log = logging.getLogger(__name__)


def warm_up_language_tools() -> None:
    """pythainlp's first call costs about a second: pay it before the first person does."""
    thai_input.warm_up()
    category_suggestion.warm_up()


class App:
    def __init__(self, settings: Settings, senders: list[ChannelSender],
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.db_path)
        self.instance_lock = InstanceLock(settings.db_path)
        self.engine = Engine(self.db, self.clock,
                             EngineSettings(bot_username=settings.telegram_bot_username,
                                            privacy=terms_of(settings),
                                            public_url=settings.public_url,
                                            line_basic_id=settings.line_basic_id))
        self.renderer = SummaryRenderer(self.db, settings.media_dir, self.clock)
        self.my_data = MyDataExporter(self.db, settings.media_dir, self.clock)  # PDPA copies
        self.outbox = OutboxSender(self.db, senders, self.clock,
                                   prepare=chained(self.my_data.prepare, self.renderer.prepare))
        self.engine.on_enqueued(self.outbox.wake)
        self.engine.reply_lease = self.outbox.reply_lease
        self._warm_up: asyncio.Task[None] | None = None

    async def __aenter__(self) -> App:
        self.instance_lock.acquire()  # before anything touches the file (migrations)
        try:
            await self.db.open()
        except BaseException:
            self.instance_lock.release()
            raise
        self._warm_up = asyncio.create_task(self._warm_up_and_freeze())
        return self

    async def warmed_up(self) -> None:
        """Wait for the warm-up: traffic is taken only after it (a cold start otherwise
        serves its first people at a third of the speed)."""
        if self._warm_up is not None:
            await asyncio.shield(self._warm_up)

    async def _warm_up_and_freeze(self) -> None:
        # The database's whole pool too (PostgreSQL), so a backlog is met with every
        # connection open.
        await asyncio.gather(asyncio.to_thread(warm_up_language_tools), self.db.warm())
        # What start-up loaded (dictionaries, flows, locales: ~600,000 objects) lives as
        # long as the process. Frozen, the collector no longer walks it: a full collection
        # took ~300 ms, a pause every person in the queue felt (bench/latency_telegram.py).
        gc.collect()
        gc.freeze()

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._warm_up is not None:
                await self._warm_up
            await self.db.close()
        finally:
            self.instance_lock.release()
