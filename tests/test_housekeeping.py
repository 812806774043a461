"""Housekeeping with a clock that moves only when told: what is past its retention is
deleted, what is recent is kept, pending messages never go, and a backlog longer than a
batch is deleted batch by batch, each through an index."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.housekeeping import Housekeeping
from bot.summary_renderer import EXPORT_FOLDER
from handlers.clock import FixedClock
from handlers.messages import Reply
from storage import invites, outbox
from storage.db import Database
from storage.outbox import NewMessage
from storage.timestamps import to_db
from tests.conftest import eventually

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
PAYLOAD = json.dumps(Reply("ข้อความ").to_payload(), ensure_ascii=False)


async def _message(db: Database, created: datetime, *, sent: datetime | None = None,
                   failed: bool = False, batch: str | None = None) -> int:
    """One outbox row created at `created`; sent at `sent`, or failed, or still pending."""
    async with db.transaction() as conn:
        key = f"test:{os.urandom(8).hex()}"
        await outbox.enqueue_many(conn, [NewMessage("telegram", "9001", None, PAYLOAD, key)],
                                  priority=outbox.NOTIFICATION, now=created, batch=batch)
        async with conn.execute("SELECT id FROM outbox WHERE dedupe_key = ?", (key,)) as cur:
            (row_id,) = await cur.fetchone()
        if sent is not None:
            await outbox.mark_sent(conn, row_id, sent)
        elif failed:
            await outbox.mark_failed(conn, row_id, "400: Bad Request")
    return row_id


async def _ids(db: Database, sql: str) -> set[object]:
    async with db.read() as conn, conn.execute(sql) as cur:
        return {r[0] for r in await cur.fetchall()}


async def _processed(db: Database, update_id: str, at: datetime) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO processed_updates (channel, update_id, processed_at)"
                           " VALUES ('telegram', ?, ?)", (update_id, to_db(at)))


async def _identity(db: Database) -> int:
    async with db.read() as conn, conn.execute("SELECT MIN(id) FROM identities") as cur:
        (identity_id,) = await cur.fetchone()
    return int(identity_id)


def _export(media: Path, name: str, written: datetime) -> Path:
    path = media / EXPORT_FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


async def test_old_rows_go_recent_ones_stay(seeded: Database, clock: FixedClock,
                                            tmp_path: Path) -> None:
    then = clock.now()
    # Outbox: sent 30 days and a second before "now" (below), and a second short of it.
    old_sent = await _message(seeded, then - 40 * DAY, sent=then)
    recent_sent = await _message(seeded, then - 40 * DAY, sent=then + 2 * SECOND)
    old_pending = await _message(seeded, then - 400 * DAY)
    old_failed = await _message(seeded, then - 400 * DAY, failed=True)
    announcement = await _message(seeded, then - 40 * DAY, sent=then, batch="broadcast:7")
    # Invite attempts: 31 days before "now" and 29.
    identity = await _identity(seeded)
    async with seeded.transaction() as conn:
        await invites.record_attempt(conn, identity, False, then - DAY)
        await invites.record_attempt(conn, identity, True, then + DAY)
    # Processed updates: handled 8 and 6 days before "now" (dedupe window 7 days).
    clock.advance(30 * DAY + SECOND)
    now = clock.now()
    await _processed(seeded, "old-update", now - 8 * DAY)
    await _processed(seeded, "recent-update", now - 6 * DAY)
    # Exports: written a minute more and a minute less than a day ago.
    media = tmp_path / "media"
    minute = timedelta(minutes=1)
    old_export = _export(media, "cercap-350101-old.xlsx", now - DAY - minute)
    recent_export = _export(media, "cercap-350101-new.xlsx", now - DAY + minute)
    photo = media / "photos" / "old.jpg"  # not an export: never touched
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"jpeg")
    os.utime(photo, (0, 0))

    pruned = await Housekeeping(seeded, clock, media_dir=media).run_once()

    assert (pruned.outbox, pruned.invite_attempts, pruned.processed_updates,
            pruned.exports) == (1, 1, 1, 1)
    assert pruned.errors == []
    assert await _ids(seeded, "SELECT id FROM outbox") == {
        recent_sent, old_pending, old_failed, announcement}
    assert old_sent not in await _ids(seeded, "SELECT id FROM outbox")
    assert await _ids(seeded, "SELECT success FROM invite_attempts") == {1}
    assert await _ids(seeded, "SELECT update_id FROM processed_updates") == {"recent-update"}
    assert not old_export.exists() and recent_export.exists() and photo.exists()


async def test_pending_messages_are_never_pruned_however_old(
        database: Database, clock: FixedClock) -> None:
    then = clock.now()
    pending = {await _message(database, then - n * 100 * DAY) for n in range(1, 4)}
    clock.advance(3650 * DAY)
    pruned = await Housekeeping(database, clock, outbox_retention_days=1).run_once()
    assert pruned.outbox == 0
    assert await _ids(database, "SELECT id FROM outbox WHERE status = 'pending'") == pending


async def test_retention_comes_from_the_constructor(database: Database,
                                                    clock: FixedClock) -> None:
    now = clock.now()
    await _message(database, now - 20 * DAY, sent=now - 10 * DAY)
    await _processed(database, "two-days", now - 2 * DAY)
    default = Housekeeping(database, clock)
    assert (await default.run_once()).total == 0  # within 30 and 7 days
    shorter = Housekeeping(database, clock, outbox_retention_days=5, dedupe_window_days=1)
    pruned = await shorter.run_once()
    assert (pruned.outbox, pruned.processed_updates) == (1, 1)
    with pytest.raises(ValueError, match="dedupe_window_days"):
        Housekeeping(database, clock, dedupe_window_days=0)


@pytest.mark.sqlite_only  # reads SQLite's statement trace
async def test_a_backlog_longer_than_a_batch_goes_in_batches_through_indexes(
        seeded: Database, clock: FixedClock) -> None:
    then = clock.now()
    identity = await _identity(seeded)
    async with seeded.transaction() as conn:
        await outbox.enqueue_many(conn, [
            NewMessage("telegram", str(9000 + i % 7), None, PAYLOAD, f"backlog:{i}")
            for i in range(250)], priority=outbox.BULK, now=then)
        await conn.execute("UPDATE outbox SET status = 'sent', sent_at = created_at")
        await conn.executemany(
            "INSERT INTO processed_updates (channel, update_id, processed_at) VALUES (?, ?, ?)",
            [("line", f"u{i}", to_db(then - i * SECOND)) for i in range(230)])
        await conn.executemany(
            "INSERT INTO invite_attempts (identity_id, attempted_at, success) VALUES (?, ?, 0)",
            [(identity, to_db(then - i * SECOND)) for i in range(210)])
    keep = await _message(seeded, then, sent=then + 40 * DAY)

    statements: list[str] = []
    seeded.conn.raw.set_trace_callback(statements.append)
    clock.advance(60 * DAY)
    try:
        pruned = await Housekeeping(seeded, clock, batch_size=100).run_once()
    finally:
        seeded.conn.raw.set_trace_callback(None)

    assert (pruned.outbox, pruned.processed_updates, pruned.invite_attempts) == (250, 230, 210)
    assert pruned.transactions == 3 + 3 + 3  # 100, 100, then the rest: one table at a time
    assert await _ids(seeded, "SELECT id FROM outbox") == {keep}
    deletes = [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert sum("FROM outbox" in s for s in deletes) == 3
    # 9 batches, and the last of the processed keys also deletes the inbox's handled rows
    assert len(deletes) == 9 + 1 and sum("FROM inbox" in s for s in deletes) == 1
    assert statements.count("COMMIT") >= 9  # each batch its own transaction
    for statement in {s.split(" WHERE ")[0]: s for s in deletes}.values():
        async with seeded.read() as conn, conn.execute(f"EXPLAIN QUERY PLAN {statement}") as cur:
            plan = [r[3] for r in await cur.fetchall()]
        assert not [step for step in plan if step.startswith("SCAN") or "TEMP B-TREE" in step], (
            statement, plan)  # migration 0008: every batch found through an index


async def test_run_prunes_now_and_again_at_every_interval(database: Database,
                                                          clock: FixedClock) -> None:
    old = clock.now() - 31 * DAY
    first = await _message(database, old, sent=old)
    task = asyncio.create_task(Housekeeping(database, clock, interval_seconds=0.01).run())
    try:
        async def gone(row_id: int) -> bool:
            return row_id not in await _ids(database, "SELECT id FROM outbox")

        await eventually(lambda: gone(first), what="the first run's pruning")
        second = await _message(database, old, sent=old)  # another old row, later on
        await eventually(lambda: gone(second), what="a later run's pruning")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
