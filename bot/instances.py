"""What runs everywhere and what runs once, when several `cercap-bot run` share one
PostgreSQL behind a load balancer.

Everywhere: the web server (webhooks of LINE and Telegram stored by whichever instance
the balancer picked, /healthz, /metrics, the web site), durable intake (each person's
stored updates handled under that person's claim, storage/claims.py) and the metrics.

Once, on the leader (bot/leader.py): Telegram long polling (one consumer of getUpdates),
the outbox sender (so each message is sent once, each chat's messages in order, and the
platforms' rate limits, bot/pacing.py, hold for the deployment as a whole), the reminder
scheduler (each run also claimed in its transaction), housekeeping, the idle sweep and
backups (none on PostgreSQL: pg_dump's job). Another instance takes over within
`leader.TRY_SECONDS` after the leader's session ends.

A reply queued on an instance that does not lead is a NOTIFY to the leader (a hint: the
leader's sender also polls the outbox every outbox_sender.IDLE_POLL_SECONDS).

SQLite (one process per file): this process leads from the start, in today's order, and
no claim costs anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bot.leader import Leadership
from storage.claims import OUTBOX_CHANNEL, PgClaims, claims_for, coalesced

if TYPE_CHECKING:
    from bot.service import Service

log = logging.getLogger(__name__)

LISTEN_AGAIN_SECONDS = 1.0


class Instances:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.claims = claims_for(service.settings.db_path)
        self.leadership = Leadership(self.claims, self._elected, self._deposed)
        self._everywhere: list[asyncio.Task[None]] = []
        self._leader: list[asyncio.Task[None]] = []
        self._hint = coalesced(lambda: self.claims.notify(OUTBOX_CHANNEL))

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    async def open(self) -> None:
        """Before intake starts: its person claims go through this connection."""
        await self.claims.open()
        self.service.intake.claims = self.claims

    async def start(self) -> None:
        """Once intake handles: the leader's work here or elsewhere, the rest here."""
        s = self.service
        if s.background:
            self._everywhere.append(asyncio.create_task(s.metrics.run(s.app.db),
                                                        name="metrics"))
        if not self.claims.shared:
            self.leadership.leading = True
            await self._elected()
            return
        s.engine.on_enqueued(self._queued)
        await self.leadership.start()
        if not self.leading:
            log.info("instances: another instance leads; this one takes webhooks")

    def _queued(self, chats: object, ready: object) -> None:
        if not self.leading:
            self._hint()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._leader.append(asyncio.create_task(work, name=name))

    async def _elected(self) -> None:
        s = self.service
        if s.telegram is not None:
            s.telegram.start_receiving()  # long polling, when there is no webhook
        if not s.background:
            return
        self._spawn(s.app.outbox.run(), "outbox")
        self._spawn(s.scheduler.run(), "reminders")
        self._spawn(s.sweep_idle(), "idle-sweep")
        self._spawn(s.housekeeping.run(), "housekeeping")
        if s.backups is not None:
            self._spawn(s.backups.run(), "backups")
        if isinstance(self.claims, PgClaims):
            self._spawn(self._listen(self.claims), "outbox-listen")

    async def _listen(self, claims: PgClaims) -> None:
        """Wake the sender at each NOTIFY; listen again when the connection breaks."""
        outbox = self.service.app.outbox
        while True:
            try:
                async for _ in claims.listen(OUTBOX_CHANNEL):
                    outbox.wake()
            except Exception as exc:
                log.warning("instances: listening failed (polling meanwhile): %s", exc)
            await asyncio.sleep(LISTEN_AGAIN_SECONDS)

    async def _deposed(self) -> None:
        await self._cancel(self._leader)
        if self.service.telegram is not None:
            await self.service.telegram.stop_receiving()

    @staticmethod
    async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()

    async def stop(self) -> None:
        """After intake stopped (its claims are let go): the leader's work, then the rest;
        closing the claim connection ends the lease at once."""
        await self.leadership.stop()  # the leader's work stops with it
        await self._cancel(self._everywhere)
        await self.claims.close()
