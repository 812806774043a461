"""What runs everywhere and what runs once, when several `cercap-bot run` share one
PostgreSQL behind a load balancer.

Everywhere: the web server (webhooks of LINE and Telegram stored by whichever instance
the balancer picked, /healthz, /metrics, the web site), durable intake (each person's
stored updates handled under that person's claim, storage/claims.py), the metrics, and
the outbox sender on the shared outbox (storage.outbox.SharedOutbox: each row claimed with
a lease before it is sent, a chat at a time, so each message is sent once and each chat's
in order; the platforms' rate limits, bot/pacing.py, shared by the live senders so they
hold for the deployment as a whole). A reply an instance queued is sent by that instance
(claimed first); reminders and announcements the leader queued are a NOTIFY to every
sender (a hint: each sender also polls every outbox_sender.IDLE_POLL_SECONDS).

Once, on the leader (bot/leader.py): Telegram long polling (one consumer of getUpdates),
the reminder scheduler (each run also claimed in its transaction), housekeeping, the idle
sweep and backups (none on PostgreSQL: pg_dump's job). Another instance takes over within
`leader.TRY_SECONDS` after the leader's session ends.

SQLite (one process per file): this process leads from the start and sends the outbox
as it always did (no lease, no claim statement); no claim costs anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bot.leader import Leadership
from storage.claims import OUTBOX_CHANNEL, PgClaims, claims_for, coalesced
from storage.outbox import SharedOutbox

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
        self.shared_outbox: SharedOutbox | None = None

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    async def open(self) -> None:
        """Before intake starts: its person claims go through this connection."""
        await self.claims.open()
        self.service.intake.claims = self.claims
        if isinstance(self.claims, PgClaims) and self.service.background:
            claims = self.claims
            await claims.become_sender()
            self.shared_outbox = await SharedOutbox(claims.url,
                                                    lambda: claims.sender_key).open()
            self.service.app.outbox.share(self.shared_outbox, claims, self._hint)

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
        if s.background and isinstance(self.claims, PgClaims):
            self._everywhere.append(asyncio.create_task(s.app.outbox.run(), name="outbox"))
            self._everywhere.append(asyncio.create_task(self._listen(self.claims),
                                                        name="outbox-listen"))
        await self.leadership.start()
        if not self.leading:
            log.info("instances: another instance leads; this one takes webhooks and sends")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._leader.append(asyncio.create_task(work, name=name))

    async def _elected(self) -> None:
        s = self.service
        if s.telegram is not None:
            s.telegram.start_receiving()  # long polling, when there is no webhook
        if not s.background:
            return
        if self.shared_outbox is None:  # one process: it sends (shared: everywhere)
            self._spawn(s.app.outbox.run(), "outbox")
        self._spawn(s.scheduler.run(), "reminders")
        self._spawn(s.sweep_idle(), "idle-sweep")
        self._spawn(s.housekeeping.run(), "housekeeping")
        if s.backups is not None:
            self._spawn(s.backups.run(), "backups")

    async def _listen(self, claims: PgClaims) -> None:
        """Wake the sender at each NOTIFY; listen again when the connection breaks."""
        outbox = self.service.app.outbox
        while True:
            try:
                async for _ in claims.listen(OUTBOX_CHANNEL):
                    outbox.wake_from_elsewhere()
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
        await self._cancel(self._everywhere)  # sends under way finish and are recorded
        if self.shared_outbox is not None:
            await self.shared_outbox.close()
        await self.claims.close()  # what is still leased is free for the others at once
