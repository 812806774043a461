"""Runs the reminder schedules kept in the database: each due kind is planned in one
transaction (the rows and the schedule's next run commit together), so a crash or a
restart neither loses a reminder nor sends one twice.

Several instances on one PostgreSQL: the leader plans (bot/instances.py), and each run is
claimed in its transaction by moving the schedule's next run from the time read
(storage.claims.claim_schedule_run): a second planner of the same due time (a leader
stepping down while the next one starts) finds the row moved and plans nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from handlers import reminder_times, reminders
from handlers.clock import Clock, SystemClock
from handlers.schedule_time import QuietHours, When, next_occurrence
from storage import claims
from storage import reminders as schedules_repo
from storage.db import Database

log = logging.getLogger(__name__)

MAX_SLEEP_SECONDS = 60.0


class Scheduler:
    def __init__(self, db: Database, clock: Clock | None = None,
                 quiet: QuietHours | None = None,
                 on_enqueued: Callable[[], None] | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.quiet = quiet or QuietHours.from_env()
        self.on_enqueued = on_enqueued
        self._wake = asyncio.Event()
        self._ensured = False
        self.on_planned: Callable[[dict[str, int]], None] | None = None  # bot/metrics.py

    async def run_due(self) -> dict[str, int]:
        """Plan every kind whose time has come; returns how many messages each queued.
        A kind never planned before is only given its first time (nothing fires at once)."""
        if not self._ensured:  # kinds newer than the database's schedules table
            async with self.db.transaction() as conn:
                await schedules_repo.ensure_schedules(conn)
            self._ensured = True
        now = self.clock.now()
        queued: dict[str, int] = {}
        async with self.db.read() as conn:
            due = [s for s in await schedules_repo.schedules(conn) if s.enabled]
        for schedule in due:
            when = When(schedule.hour, schedule.minute, schedule.weekday, schedule.day_of_month)
            if schedule.next_run_at is not None and schedule.next_run_at > now:
                continue
            async with self.db.transaction() as conn:
                if not await claims.claim_schedule_run(
                        conn, schedule.kind, schedule.next_run_at, next_occurrence(when, now),
                        now if schedule.next_run_at is not None else None):
                    continue  # planned by another instance meanwhile
                if schedule.next_run_at is not None:
                    queued[schedule.kind] = await reminders.plan(
                        conn, schedule.kind, now, schedule.params, self.quiet)
        await self._run_tambon_times(now, queued)
        if any(queued.values()) and self.on_enqueued:
            self.on_enqueued()
        if self.on_planned is not None:
            self.on_planned(queued)
        for kind, count in queued.items():
            log.info("reminders %s: %d queued", kind, count)
        return queued

    async def _run_tambon_times(self, now: datetime, queued: dict[str, int]) -> None:
        """The kinds tambons gave their own time: each planned for its tambon when that
        time comes (counted under the kind), in one transaction with its next time."""
        async with self.db.read() as conn:
            kinds = {s.kind: s for s in await schedules_repo.schedules(conn)}
            own_times = await schedules_repo.tambon_times(conn)
        for own in own_times:
            schedule = kinds.get(own.kind)
            if schedule is None or not schedule.enabled:
                continue
            if own.next_run_at is not None and own.next_run_at > now:
                continue
            async with self.db.transaction() as conn:
                if not await claims.claim_tambon_run(
                        conn, own.tambon_code, own.kind, own.next_run_at,
                        reminder_times.next_run(schedule, own, now),
                        now if own.next_run_at is not None else None):
                    continue  # planned by another instance meanwhile
                if own.next_run_at is not None:
                    queued[own.kind] = queued.get(own.kind, 0) + await reminders.plan(
                        conn, own.kind, now, schedule.params, self.quiet,
                        tambon=own.tambon_code)

    async def seconds_until_next(self) -> float:
        async with self.db.read() as conn:
            enabled = {s.kind for s in await schedules_repo.schedules(conn) if s.enabled}
            upcoming = [s.next_run_at for s in await schedules_repo.schedules(conn)
                        if s.enabled and s.next_run_at is not None]
            upcoming += [own.next_run_at for own in await schedules_repo.tambon_times(conn)
                         if own.kind in enabled and own.next_run_at is not None]
        if not upcoming:
            return MAX_SLEEP_SECONDS
        return max(0.0, min(MAX_SLEEP_SECONDS, (min(upcoming) - self.clock.now()).total_seconds()))

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_due()
            except Exception:
                log.exception("reminder planning failed")
            wait = await self.seconds_until_next()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
