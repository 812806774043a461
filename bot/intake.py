"""Durable intake, shared by both channels: store first, then acknowledge, then handle.

An adapter checks a request (signature, secret), parses it into updates and calls
`accept`, which stores them in one short transaction; only then does the adapter tell
the platform they arrived (LINE's 200, Telegram's webhook 200 or its next getUpdates
offset). When the store fails, `accept` raises and the adapter answers 500, so the
platform delivers again. Each person's stored updates are handled one at a time, in
the order they were stored, by one task per person; different people at once. At
start, whatever was stored and not handled (the process died) is handled first.

The handling transaction claims the stored row, pending -> handled (the engine does, for
an `Incoming` that carries its `inbox_id`), so a crash at any instant neither loses nor
doubles; the handled row is the update's key for the dedupe window (storage/inbox.py).

Several instances on one PostgreSQL (`claims.shared`): any instance stores, and a person's
rows are handled by whichever instance holds that person's claim (storage/claims.py), read
from the inbox in id order, whichever instance stored them. The storing instance tries to
claim at once; when another holds the claim, that one finds the new row: a holder reads
the person's rows again after letting go, and claims again if any wait (so a row stored
while it held the claim is never left behind). Rows whose instance died before handling
them are found by a slow poll (`ORPHAN_POLL_SECONDS`), once their claim died with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from handlers.clock import Clock, SystemClock
from storage import inbox
from storage.claims import Claims, LocalClaims
from storage.db import Database, database_errors
from storage.inbox import NewUpdate, StoredUpdate

log = logging.getLogger(__name__)

MAX_HANDLE_ATTEMPTS = 3  # a handler that raises (a bug) is tried this often, then given up
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 5.0
STOP_GRACE_SECONDS = 5.0
ORPHAN_POLL_SECONDS = 1.0  # several instances: how often rows nobody took up are looked for
ORPHAN_AGE_SECONDS = 2.0  # younger rows are their storing instance's to handle
SHARED_PAGE = 20  # several instances: a person's rows read at a time
PARSED_KEPT = 10_000  # parsed updates kept for rows another instance may handle


@dataclass(frozen=True)
class Received:
    """One update as an adapter parsed it: its keys, its raw JSON, the parsed object."""

    update_key: str
    person_key: str
    body: str
    parsed: Any


@dataclass(frozen=True)
class StoredRef:
    """Which stored row an update came from, and the key the engine claims it by."""

    id: int
    update_key: str


@dataclass(frozen=True)
class IntakeChannel:
    """What intake needs from an adapter."""

    channel: str
    parse: Callable[[str], Any]  # the stored JSON back into the platform's object
    # Handle one update; True when the engine's transaction claimed the stored row.
    handle: Callable[[StoredRef, Any], Awaitable[bool]]
    # Tell the person something went wrong, after the last attempt failed.
    apologize: Callable[[Any], Awaitable[None]]


class Intake:
    def __init__(self, db: Database, clock: Clock | None = None,
                 claims: Claims | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.claims: Claims = claims or LocalClaims()
        self._orphans: asyncio.Task[None] | None = None
        self._channels: dict[str, IntakeChannel] = {}
        self._parsed: dict[int, Any] = {}  # parsed at the door: not parsed again
        # Each person's stored rows waiting to be handled, oldest first (the inbox table is
        # the truth; this is its copy for this process, rebuilt from it at start).
        self._queues: dict[str, deque[StoredUpdate]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # Requests waiting to be stored: those arriving together share one commit.
        self._arrivals: list[tuple[str, list[Received], asyncio.Future[None]]] = []
        self._storing: asyncio.Task[None] | None = None
        self._running = False
        self.on_given_up: Callable[[str], None] | None = None  # bot/metrics.py counts
        # An update stored already (pending or handled) arrived again: not stored twice.
        self.on_duplicate: Callable[[str], None] | None = None

    def add_channel(self, channel: IntakeChannel) -> None:
        self._channels[channel.channel] = channel

    async def accept(self, channel: str, updates: list[Received]) -> None:
        """Store the updates durably; returns once they are committed, raises when they
        could not be stored."""
        if not updates:
            return
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrivals.append((channel, updates, stored))
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_arrivals())
        await stored

    async def _store_arrivals(self) -> None:
        """Group commit: every request that arrived meanwhile is stored in one transaction
        (a commit per request would be most of the cost of a busy minute)."""
        while self._arrivals:
            batch, self._arrivals = self._arrivals, []
            now = self.clock.now()
            try:
                async with self.db.transaction() as conn:
                    ids = [await inbox.store(conn, channel, [
                        NewUpdate(u.update_key, u.person_key, u.body) for u in updates], now)
                        for channel, updates, _ in batch]
            except Exception as exc:
                for _, _, stored in batch:
                    if not stored.done():
                        stored.set_exception(exc)
                continue
            if self.claims.shared and len(self._parsed) > PARSED_KEPT:
                self._parsed.clear()  # rows other instances handled: parsed again if need be
            for (channel, updates, stored), row_ids in zip(batch, ids, strict=True):
                for row_id, update in zip(row_ids, updates, strict=True):
                    if row_id is not None:
                        self._parsed[row_id] = update.parsed
                        self._queue(StoredUpdate(row_id, channel, update.update_key,
                                                 update.person_key, update.body, now, 0))
                    elif self.on_duplicate is not None:
                        self.on_duplicate(channel)
                if not stored.done():
                    stored.set_result(None)

    async def start(self) -> None:
        """Start handling: first what was stored before this process started."""
        async with self.db.read() as conn:
            waiting = await inbox.pending(conn)
        self._queues = {}
        for stored in waiting:
            self._queues.setdefault(stored.person_key, deque()).append(stored)
        if waiting:
            log.info("intake: %d stored updates of %d people to handle", len(waiting),
                     len(self._queues))
        self._running = True
        for person_key in list(self._queues):
            self._wake(person_key)
        if self.claims.shared:
            self._queues = {}  # the inbox is read per person, under the person's claim
            self._orphans = asyncio.create_task(self._find_orphans(), name="intake-orphans")

    async def stop(self) -> None:
        """Updates being handled finish; the rest stay stored for the next start."""
        if self._storing is not None:
            await asyncio.gather(self._storing, return_exceptions=True)
        self._running = False
        if self._orphans is not None:
            self._orphans.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._orphans
            self._orphans = None
        workers = list(self._workers.values())
        if workers:
            await asyncio.wait(workers, timeout=STOP_GRACE_SECONDS)
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _queue(self, stored: StoredUpdate) -> None:
        if not self.claims.shared:
            self._queues.setdefault(stored.person_key, deque()).append(stored)
        self._wake(stored.person_key)

    def _wake(self, person_key: str) -> None:
        if self._running and person_key not in self._workers:
            work = self._work_shared if self.claims.shared else self._work
            self._workers[person_key] = asyncio.create_task(work(person_key))

    async def _find_orphans(self) -> None:
        """Several instances: rows stored a while ago that nobody handles (the instance
        that stored them died; its claims died with it) are taken up here."""
        while self._running:
            await asyncio.sleep(ORPHAN_POLL_SECONDS)
            before = self.clock.now() - timedelta(seconds=ORPHAN_AGE_SECONDS)
            try:
                async with self.db.read() as conn:
                    waiting = await inbox.waiting_people(conn, before)
            except database_errors() as exc:
                log.warning("intake: looking for stored updates failed: %s", exc)
                continue
            for person_key in waiting:
                self._wake(person_key)

    async def _work_shared(self, person_key: str) -> None:
        """Several instances: while this instance holds the person's claim, their stored
        rows, oldest first, whichever instance stored them."""
        try:
            while self._running:
                try:
                    if not await self.claims.try_person(person_key):
                        return  # another instance holds it: it reads our row before letting go
                except database_errors() as exc:
                    log.warning("intake: claiming failed (the poll tries again): %s", exc)
                    return
                generation = self.claims.generation
                try:
                    if not await self._handle_claimed(person_key, generation):
                        return
                finally:
                    with contextlib.suppress(*database_errors()):
                        if self.claims.generation == generation:
                            await self.claims.release_person(person_key)
                # A row stored meanwhile by an instance that could not claim: ours to take.
                async with self.db.read() as conn:
                    if not await inbox.pending_of(conn, person_key, 1):
                        return
        except database_errors() as exc:
            log.warning("intake: the database failed; the poll tries again: %s", exc)
        finally:
            self._workers.pop(person_key, None)

    async def _handle_claimed(self, person_key: str, generation: int) -> bool:
        """Handle the person's rows until none wait; False when stopping or when the
        claim was lost (the rows left stay stored for whoever claims next)."""
        while True:
            async with self.db.read() as conn:
                rows = await inbox.pending_of(conn, person_key, SHARED_PAGE)
            if not rows:
                return True
            for stored in rows:
                if not self._running or self.claims.generation != generation:
                    return False
                if not await self._handle(stored):
                    return False

    async def _work(self, person_key: str) -> None:
        """One person's rows, one at a time, oldest first; rows stored meanwhile join the
        same queue."""
        try:
            queue = self._queues.get(person_key)
            while self._running and queue:
                try:
                    done = await self._handle(queue[0])
                except database_errors() as exc:
                    log.warning("intake: the database failed; trying again: %s", exc)
                    await asyncio.sleep(RETRY_MAX_SECONDS)
                    continue
                if not done:
                    return  # stopping: the row stays stored for the next start
                queue.popleft()
            if queue is not None and not queue:
                self._queues.pop(person_key, None)
        finally:
            self._workers.pop(person_key, None)

    async def _handle(self, stored: StoredUpdate) -> bool:
        """Handle one stored row; False when stopping first (it stays stored)."""
        channel = self._channels.get(stored.channel)
        if channel is None:  # a channel no longer configured: keep it for when it is
            log.warning("intake: no channel %s for stored update %d", stored.channel, stored.id)
            await self._give_up(stored, stored.attempts, "channel not configured", None)
            return True
        attempts, wait = stored.attempts, RETRY_FIRST_SECONDS
        while self._running:
            try:
                update = self._parsed.get(stored.id)
                if update is None:
                    update = channel.parse(stored.body)
                consumed = await channel.handle(StoredRef(stored.id, stored.update_key), update)
            except database_errors() as exc:
                # The database cannot be written now (locked by another process, disk
                # full, read-only): the update stays stored and is tried until it can be.
                log.warning("intake: update %d waits for the database: %s", stored.id, exc)
            except Exception as exc:
                attempts += 1
                log.exception("intake: handling update %d failed (attempt %d of %d)",
                              stored.id, attempts, MAX_HANDLE_ATTEMPTS)
                if attempts >= MAX_HANDLE_ATTEMPTS:
                    await self._give_up(stored, attempts, f"{type(exc).__name__}: {exc}",
                                        channel, self._parsed.get(stored.id))
                    return True
            else:
                self._parsed.pop(stored.id, None)
                if not consumed:  # nothing the engine takes: done with all the same
                    async with self.db.transaction() as conn:
                        await inbox.mark_handled(conn, stored.id, self.clock.now())
                return True
            await asyncio.sleep(wait)
            wait = min(wait * 2, RETRY_MAX_SECONDS)
        return False

    async def _give_up(self, stored: StoredUpdate, attempts: int, error: str,
                       channel: IntakeChannel | None, update: Any = None) -> None:
        self._parsed.pop(stored.id, None)
        async with self.db.transaction() as conn:
            await inbox.mark_failed(conn, stored.id, attempts, error)
        log.error("intake: update %d (%s) given up: %s", stored.id, stored.update_key, error)
        if self.on_given_up is not None:
            self.on_given_up(stored.channel)
        if channel is not None:
            try:
                await channel.apologize(update if update is not None
                                        else channel.parse(stored.body))
            except Exception:
                log.exception("intake: could not tell the person about update %d", stored.id)
