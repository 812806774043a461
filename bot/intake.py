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

Several instances on one PostgreSQL: each instance handles the rows it stored, the same
way, and one person's rows still go one at a time, oldest first, whichever instance
stored them: the handling transaction's claim takes a row only when no older row of the
person is pending (storage/inbox.py). When it refuses (OlderUpdateWaiting: another
instance stored an older one, or is handling it), this instance reads the person's
pending rows and handles them in order, the older one first; two instances on one row
make one claim and one duplicate. No lock is held between transactions, so a handling
that waits on the network (a photo download) never holds up anybody else's. Rows whose
instance died before handling them are found by a slow poll (`ORPHAN_POLL_SECONDS`).
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
from storage.inbox import NewUpdate, OlderUpdateWaiting, StoredUpdate

log = logging.getLogger(__name__)

MAX_HANDLE_ATTEMPTS = 3  # a handler that raises (a bug) is tried this often, then given up
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 5.0
STOP_GRACE_SECONDS = 5.0
ORPHAN_POLL_SECONDS = 1.0  # several instances: how often rows nobody took up are looked for
ORPHAN_AGE_SECONDS = 2.0  # younger rows are their storing instance's to handle
SHARED_PAGE = 20  # a person's rows read at a time, after a claim was refused
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
                    stored_later = await inbox.store_later(conn, [
                        (channel, [NewUpdate(u.update_key, u.person_key, u.body)
                                   for u in updates]) for channel, updates, _ in batch], now)
                ids = await stored_later.ids()  # the INSERTs went with the COMMIT
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
        self._queues.setdefault(stored.person_key, deque()).append(stored)
        self._wake(stored.person_key)

    def _wake(self, person_key: str) -> None:
        if self._running and person_key not in self._workers:
            self._workers[person_key] = asyncio.create_task(self._work(person_key))

    async def _find_orphans(self) -> None:
        """Several instances: rows stored a while ago that nobody handles (the instance
        that stored them died) are taken up here."""
        while self._running:
            await asyncio.sleep(ORPHAN_POLL_SECONDS)
            before = self.clock.now() - timedelta(seconds=ORPHAN_AGE_SECONDS)
            try:
                async with self.db.read() as conn:
                    waiting = [person_key for person_key in
                               await inbox.waiting_people(conn, before)
                               if person_key not in self._workers]
                    found = {person_key: await inbox.pending_of(conn, person_key, SHARED_PAGE)
                             for person_key in waiting}
            except database_errors() as exc:
                log.warning("intake: looking for stored updates failed: %s", exc)
                continue
            for person_key, rows in found.items():
                if rows and person_key not in self._workers:
                    self._queues[person_key] = deque(rows)
                    self._wake(person_key)

    async def _work(self, person_key: str) -> None:
        """One person's rows, one at a time, oldest first; rows stored meanwhile join the
        same queue. A claim refused for an older row of the person (another instance's)
        puts the person's pending rows, as stored, at the head."""
        try:
            queue = self._queues.get(person_key)
            while self._running and queue:
                try:
                    done = await self._handle(queue[0])
                except OlderUpdateWaiting:
                    async with self.db.read() as conn:
                        waiting = await inbox.pending_of(conn, person_key, SHARED_PAGE)
                    _put_first(queue, waiting)
                    continue
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
            except OlderUpdateWaiting:
                raise  # nothing was done: the older row goes first (`_work`)
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


def _put_first(queue: deque[StoredUpdate], pending: list[StoredUpdate]) -> None:
    """The person's pending rows as read merged into the queue, oldest first. A queued row
    the read did not see stays: it may have been stored after the read (its claim tells
    a row another instance handled meanwhile, a duplicate)."""
    rows = {row.id: row for row in queue}
    rows.update((row.id, row) for row in pending)
    queue.clear()
    queue.extend(sorted(rows.values(), key=lambda row: row.id))
