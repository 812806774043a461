"""The leader: of several instances on one PostgreSQL, the one that does what must run once
(Telegram long polling, reminders, housekeeping). The outbox is sent by every instance
(storage.outbox.SharedOutbox), not by the leader alone.

The lease is a session-level advisory lock on the instance's claim connection
(storage/claims.py): the server grants it to one session at a time and releases it when
that session ends, so a killed leader's lease ends with its socket. Every instance tries
to take it every `TRY_SECONDS`; the leader checks every `TRY_SECONDS` that its session is
still there, and steps down at once when it is not (a broken connection, a check that
took longer than CHECK_TIMEOUT_SECONDS): the lease is then gone or about to go, and
another instance may already lead.

SQLite (one process per file): the process is the leader from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from storage.claims import Claims
from storage.db import database_errors

log = logging.getLogger(__name__)

TRY_SECONDS = 1.0


class Leadership:
    def __init__(self, claims: Claims, elected: Callable[[], Awaitable[None]],
                 deposed: Callable[[], Awaitable[None]], try_seconds: float = TRY_SECONDS
                 ) -> None:
        self.claims = claims
        self.elected = elected
        self.deposed = deposed
        self.try_seconds = try_seconds
        self.leading = False
        self.changed = asyncio.Event()  # set at each election and each stepping down
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try once now (the first instance leads from its start), then keep trying."""
        await self._step()
        self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leading:
            await self._step_down()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.try_seconds)
            try:
                await self._step()
            except Exception:
                log.exception("leadership: a step failed")

    async def _step(self) -> None:
        if self.leading:
            generation = self.claims.generation
            if not await self.claims.alive() or self.claims.generation != generation:
                log.warning("leadership: the lease is lost; stepping down")
                await self._step_down()
            return
        try:
            won = await self.claims.try_leader()
        except database_errors() as exc:
            log.warning("leadership: could not try for the lease: %s", exc)
            return
        if won:
            self.leading = True
            self.changed.set()
            log.info("leadership: this instance leads (polling, sending, schedules)")
            await self.elected()

    async def _step_down(self) -> None:
        self.leading = False
        self.changed.set()
        try:
            await self.deposed()
        except Exception:
            log.exception("leadership: stopping the leader's work failed")
