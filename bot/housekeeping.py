"""Housekeeping: what the bot keeps only for a while is deleted once its retention passes,
so the database and the media folder do not grow without end.

| what | kept for | setting |
|---|---|---|
| sent outbox messages | 30 days after sending | `CERCAP_OUTBOX_RETENTION_DAYS` |
| invite-code attempts (the guess throttle) | 30 days | — |
| processed update keys (the dedupe window) | 7 days after handling | `CERCAP_DEDUPE_WINDOW_DAYS` |
| summary exports and charts, people's copies of their data | 1 day after writing | — |
| photos of submissions (the file) | 1,095 days | `CERCAP_RETENTION_PHOTO_DAYS` |
| idle identities never joined, or blocked | 180 days | `CERCAP_RETENTION_IDENTITY_DAYS` |
| text of failed outbox rows, announcements | as sent ones | `CERCAP_OUTBOX_RETENTION_DAYS` |
| stored updates that could not be handled | as sent ones | `CERCAP_OUTBOX_RETENTION_DAYS` |
| detail of audit rows (who/what/when stay) | 1,825 days | `CERCAP_RETENTION_AUDIT_DETAIL_DAYS` |

A photo's submission stays (only the file and its reference go); an identity's
conversations and drafts go with it; a row whose text is emptied keeps its status and
reason; a stored update's body (the platform's JSON) goes with it.

Never deleted: outbox messages still pending (whatever their age) or failed (the reason
stays for whoever looks into it), the sent messages of an announcement (its delivery
report counts them), and everything that is evidence: reports, forums, plans, progress,
requests, reviews, lessons, the audit log's rows, the privacy notices given and erasure
requests. A photo file another row still uses (a success story) stays.

The dedupe window is how long a redelivered update is still recognised. Platforms
redeliver within minutes or hours; a Telegram update id restarts from a random value
after a week without updates, and ids belong to one bot token, so keys are not kept
forever: an id seen long ago must not swallow a new message.

Rows are deleted in batches of `batch_size`, each its own short write transaction run in
a worker thread, oldest first, so a long backlog (the first run on an old database) never
holds the writer for long: whoever waits for it waits one batch (about 20 ms for 1,000
outbox rows here), and the event loop keeps serving meanwhile.

    housekeeping = Housekeeping(db, clock, media_dir=settings.media_dir)
    task = asyncio.create_task(housekeeping.run())  # every hour; cancel it to stop
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.summary_renderer import EXPORT_FOLDER
from handlers.clock import Clock, SystemClock
from storage import invites, outbox, privacy, processed_updates
from storage.connection import Connection
from storage.db import Database

log = logging.getLogger(__name__)

OUTBOX_RETENTION_DAYS = 30
INVITE_ATTEMPT_RETENTION_DAYS = 30
DEDUPE_WINDOW_DAYS = 7
PHOTO_RETENTION_DAYS = 1095
IDENTITY_RETENTION_DAYS = 180
AUDIT_DETAIL_RETENTION_DAYS = 1825
EXPORT_RETENTION = timedelta(days=1)
INTERVAL_SECONDS = 3600.0
BATCH_SIZE = 1000

Prune = Callable[[Connection, datetime, int], Awaitable[int]]


@dataclass
class Pruned:
    """What one run deleted."""

    outbox: int = 0
    invite_attempts: int = 0
    processed_updates: int = 0
    exports: int = 0
    inactive_identities: int = 0
    outbox_bodies: int = 0
    failed_inbox: int = 0
    audit_details: int = 0
    photos: int = 0  # photos taken off submissions (their files deleted when unused)
    transactions: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (self.outbox + self.invite_attempts + self.processed_updates + self.exports
                + self.inactive_identities + self.outbox_bodies + self.failed_inbox
                + self.audit_details + self.photos)


class Housekeeping:
    def __init__(self, db: Database, clock: Clock | None = None, *,
                 media_dir: Path | None = None,
                 outbox_retention_days: float = OUTBOX_RETENTION_DAYS,
                 invite_attempt_retention_days: float = INVITE_ATTEMPT_RETENTION_DAYS,
                 dedupe_window_days: float = DEDUPE_WINDOW_DAYS,
                 export_retention: timedelta = EXPORT_RETENTION,
                 photo_retention_days: float = PHOTO_RETENTION_DAYS,
                 identity_retention_days: float = IDENTITY_RETENTION_DAYS,
                 audit_detail_retention_days: float = AUDIT_DETAIL_RETENTION_DAYS,
                 interval_seconds: float = INTERVAL_SECONDS,
                 batch_size: int = BATCH_SIZE) -> None:
        """`media_dir`: the media folder whose `exports/` the summary renderer writes
        (None: exports are left alone)."""
        for name, days in (("outbox_retention_days", outbox_retention_days),
                           ("invite_attempt_retention_days", invite_attempt_retention_days),
                           ("dedupe_window_days", dedupe_window_days),
                           ("photo_retention_days", photo_retention_days),
                           ("identity_retention_days", identity_retention_days),
                           ("audit_detail_retention_days", audit_detail_retention_days)):
            if days <= 0:
                raise ValueError(f"{name} must be more than 0, not {days}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.db = db
        self.clock = clock or SystemClock()
        self.media_dir = media_dir
        self.outbox_retention = timedelta(days=outbox_retention_days)
        self.invite_attempt_retention = timedelta(days=invite_attempt_retention_days)
        self.dedupe_window = timedelta(days=dedupe_window_days)
        self.export_retention = export_retention
        self.photo_retention = timedelta(days=photo_retention_days)
        self.identity_retention = timedelta(days=identity_retention_days)
        self.audit_detail_retention = timedelta(days=audit_detail_retention_days)
        self.interval_seconds = interval_seconds
        self.batch_size = batch_size

    async def run(self) -> None:
        """Prune now and then every `interval_seconds`, until cancelled. A failed run is
        logged and tried again at the next interval."""
        while True:
            try:
                pruned = await self.run_once()
                if pruned.total:
                    log.info("housekeeping: deleted %d sent outbox messages, %d invite"
                             " attempts, %d processed update keys, %d export files, %d"
                             " inactive identities, %d failed stored updates, %d photos;"
                             " emptied %d outbox texts, %d audit details",
                             pruned.outbox, pruned.invite_attempts, pruned.processed_updates,
                             pruned.exports, pruned.inactive_identities, pruned.failed_inbox,
                             pruned.photos, pruned.outbox_bodies, pruned.audit_details)
            except Exception:
                log.exception("housekeeping run failed (tried again later)")
            await asyncio.sleep(self.interval_seconds)

    async def run_once(self, now: datetime | None = None) -> Pruned:
        """Delete everything past its retention as of `now` (the clock's now by default)."""
        now = now or self.clock.now()
        pruned = Pruned()
        for name, prune, retention in (
                ("outbox", outbox.prune_sent, self.outbox_retention),
                ("invite_attempts", invites.prune_attempts, self.invite_attempt_retention),
                ("processed_updates", processed_updates.prune, self.dedupe_window),
                ("inactive_identities", privacy.prune_inactive_identities,
                 self.identity_retention),
                ("outbox_bodies", privacy.blank_old_outbox_bodies, self.outbox_retention),
                ("failed_inbox", privacy.prune_failed_inbox, self.outbox_retention),
                ("audit_details", privacy.clear_audit_detail, self.audit_detail_retention)):
            try:
                if name in privacy.RETENTION_KINDS:  # nothing due: no write transaction
                    async with self.db.read() as conn:
                        if not await privacy.due(conn, name, now - retention):
                            continue
                deleted = await self._in_batches(prune, now - retention, pruned)
            except Exception as exc:  # one table's trouble does not stop the others
                log.exception("housekeeping: pruning %s failed", name)
                pruned.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            setattr(pruned, name, deleted)
        try:
            await self._photos(now - self.photo_retention, pruned)
        except Exception as exc:
            log.exception("housekeeping: removing old photos failed")
            pruned.errors.append(f"photos: {type(exc).__name__}: {exc}")
        if self.media_dir is not None:
            try:
                pruned.exports = await asyncio.to_thread(
                    remove_old_files, self.media_dir / EXPORT_FOLDER, now - self.export_retention)
            except OSError as exc:
                log.exception("housekeeping: removing old exports failed")
                pruned.errors.append(f"exports: {type(exc).__name__}: {exc}")
        return pruned

    async def _photos(self, before: datetime, pruned: Pruned) -> None:
        """Photos past their retention taken off their submissions, batch by batch; a
        file is deleted once the batch that freed it committed (a crash in between leaves
        a file nothing points at, never a reference to a missing file)."""
        async with self.db.read() as conn:
            if not await privacy.photos_due(conn, before):
                return
        while True:
            async with self.db.transaction() as conn:
                taken, unused = await privacy.clear_old_photos(conn, before, self.batch_size)
            pruned.transactions += 1
            if self.media_dir is not None:
                await asyncio.to_thread(_unlink_all, self.media_dir, unused)
            pruned.photos += taken
            if taken < self.batch_size:
                return
            await asyncio.sleep(0)

    async def _in_batches(self, prune: Prune, before: datetime, pruned: Pruned) -> int:
        total = 0
        while True:
            async with self.db.transaction() as conn:
                deleted = await prune(conn, before, self.batch_size)
            pruned.transactions += 1
            total += deleted
            if deleted < self.batch_size:
                return total
            await asyncio.sleep(0)  # whoever waits for the writer goes before the next batch


def _unlink_all(media_dir: Path, relative: list[str]) -> None:
    root = media_dir.resolve()
    for name in relative:
        target = (media_dir / name).resolve()
        if root in target.parents and target.is_file() and not target.is_symlink():
            target.unlink(missing_ok=True)


def remove_old_files(folder: Path, before: datetime) -> int:
    """Delete the regular files under `folder` last written before `before`; returns how
    many. Symbolic links are neither followed nor deleted."""
    if not folder.is_dir():
        return 0
    cutoff = before.timestamp()
    removed = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                info = path.lstat()
                if path.is_symlink() or not path.is_file() or info.st_mtime >= cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # gone meanwhile
            removed += 1
    return removed
