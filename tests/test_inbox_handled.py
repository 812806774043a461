"""A handled update stays in the inbox as 'handled' (its body emptied) for the dedupe window:
its row is the key that stops a redelivery; housekeeping deletes it after the window, and an
update with that key is then handled again (storage/inbox.py, migration 21)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.housekeeping import Housekeeping
from handlers.clock import FixedClock
from handlers.engine import Engine
from handlers.messages import Incoming
from storage import inbox, processed_updates
from storage.connection import Connection
from storage.db import Database
from storage.inbox import NewUpdate
from storage.migrations import migrate

WINDOW_DAYS = 7


async def _store(db: Database, key: str, clock: FixedClock) -> int | None:
    async with db.transaction() as conn:
        [row_id] = await inbox.store(conn, "console", [NewUpdate(key, "console:v", '{"x": 1}')],
                                     clock.now())
    return row_id


async def _handle(engine: Engine, key: str, row_id: int) -> bool:
    """True when handled, False when the engine took it for a duplicate."""
    result = await engine.handle(Incoming(channel="console", user_id="demo-village",
                                          chat_id="demo-village", update_id=key,
                                          text="เมนู", inbox_id=row_id))
    return not result.duplicate


async def _row(db: Database, row_id: int) -> tuple[object, ...] | None:
    async with db.read() as conn, conn.execute(
            "SELECT status, body, handled_at IS NOT NULL FROM inbox WHERE id = ?",
            (row_id,)) as cur:
        row = await cur.fetchone()
    return tuple(row) if row else None


async def test_a_handled_row_is_the_key_until_the_window_ends(seeded: Database,
                                                               clock: FixedClock) -> None:
    engine = Engine(seeded, clock)
    first = await _store(seeded, "bot1:u1", clock)
    assert first is not None and await _handle(engine, "bot1:u1", first)
    assert await _row(seeded, first) == ("handled", "", True)  # kept, the text gone
    async with seeded.read() as conn:
        assert await inbox.pending(conn) == []
    # Redelivered inside the window: not stored again, so never handled again.
    clock.advance(timedelta(days=WINDOW_DAYS - 1))
    assert await _store(seeded, "bot1:u1", clock) is None
    pruned = await Housekeeping(seeded, clock, dedupe_window_days=WINDOW_DAYS).run_once()
    assert pruned.processed_updates == 0 and await _row(seeded, first) is not None
    # After the window the key is forgotten: the same key is a new update, handled.
    clock.advance(timedelta(days=2))
    pruned = await Housekeeping(seeded, clock, dedupe_window_days=WINDOW_DAYS).run_once()
    assert pruned.processed_updates == 1 and await _row(seeded, first) is None
    again = await _store(seeded, "bot1:u1", clock)
    assert again is not None and again > first  # an id is never reused
    assert await _handle(engine, "bot1:u1", again)


async def test_a_key_older_code_claimed_in_processed_updates_still_counts(
        seeded: Database, clock: FixedClock) -> None:
    """Older code deleted the row and claimed the key in processed_updates: a redelivery
    stored now is taken for the duplicate it is, and its row does not wait again."""
    async with seeded.transaction() as conn:
        assert await processed_updates.claim(conn, "console", "bot1:old", clock.now())
    row_id = await _store(seeded, "bot1:old", clock)
    assert row_id is not None
    assert not await _handle(Engine(seeded, clock), "bot1:old", row_id)
    assert await _row(seeded, row_id) == ("handled", "", True)


async def test_a_claim_rolls_back_with_the_handling(seeded: Database,
                                                    clock: FixedClock) -> None:
    row_id = await _store(seeded, "bot1:u2", clock)
    assert row_id is not None
    with pytest.raises(RuntimeError):
        async with seeded.transaction() as conn:
            assert await inbox.claim(conn, row_id, clock.now())
            raise RuntimeError("the effects failed")
    assert await _row(seeded, row_id) == ("pending", '{"x": 1}', False)  # handled again


async def test_a_newer_update_of_a_person_waits_for_the_older_one(seeded: Database,
                                                                  clock: FixedClock) -> None:
    """One person's updates are claimed oldest first (what keeps them in order when two
    instances store them): a newer row's claim is refused, and nothing is written, while
    an older row of the same person is pending; another person's row is not held up."""
    engine = Engine(seeded, clock)
    older = await _store(seeded, "bot1:o1", clock)
    newer = await _store(seeded, "bot1:o2", clock)
    async with seeded.transaction() as conn:
        [other] = await inbox.store(conn, "console", [NewUpdate("bot1:x1", "console:w", "{}")],
                                    clock.now())
    assert older is not None and newer is not None and other is not None
    with pytest.raises(inbox.OlderUpdateWaiting):
        await _handle(engine, "bot1:o2", newer)
    assert await _row(seeded, newer) == ("pending", '{"x": 1}', False)
    async with seeded.transaction() as conn:
        assert await inbox.claim(conn, other, clock.now())  # someone else's: free
    assert await _handle(engine, "bot1:o1", older)
    assert await _handle(engine, "bot1:o2", newer)  # its turn now
    assert await _row(seeded, newer) == ("handled", "", True)


async def test_requests_stored_together_get_each_update_its_own_row(
        database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group commit of several requests (bot/intake.py): each new update gets its row in
    arrival order; one stored before (a redelivery) or twice in the batch gets None."""
    monkeypatch.setattr(inbox, "STORE_ROWS", 3)  # more updates than one INSERT takes
    old = await _store(database, "bot1:1", clock)
    assert old is not None

    def update(n: int, person: str) -> NewUpdate:
        return NewUpdate(f"bot1:{n}", f"line:{person}", f'{{"n": {n}}}')

    batches = [("line", [update(2, "a"), update(3, "b")]),
               ("console", [NewUpdate("bot1:1", "console:v", "{}")]),  # stored before
               ("line", [update(4, "a"), update(2, "a"), update(5, "c")])]  # 2 twice
    async with database.transaction() as conn:
        stored = await inbox.store_later(conn, batches, clock.now())
    ids = await stored.ids()
    assert [[i is not None for i in request] for request in ids] == \
        [[True, True], [False], [True, False, True]]
    new = [i for request in ids for i in request if i is not None]
    assert new == sorted(new) and min(new) > old  # in the order they came
    async with database.read() as conn:
        rows = await inbox.pending(conn)
    assert [(r.id, r.channel, r.update_key, r.person_key) for r in rows] == [
        (old, "console", "bot1:1", "console:v"),
        (ids[0][0], "line", "bot1:2", "line:a"), (ids[0][1], "line", "bot1:3", "line:b"),
        (ids[2][0], "line", "bot1:4", "line:a"), (ids[2][2], "line", "bot1:5", "line:c")]


@pytest.mark.sqlite_only  # SQLite's table rebuild (PostgreSQL adds a column in place)
def test_migration_21_keeps_rows_ids_and_the_id_counter(tmp_path: Path, db_engine: str) -> None:
    path = tmp_path / "old.db"

    async def to(version: int) -> None:
        conn = Connection.open(str(path))
        try:
            await migrate(conn, version)
        finally:
            await conn.close()

    asyncio.run(to(20))
    with sqlite3.connect(path) as raw:
        for n in range(1, 6):
            raw.execute("INSERT INTO inbox (channel, update_key, person_key, body, received_at)"
                        " VALUES ('line', ?, 'line:U1', '{}', '2025-01-01T00:00:00+00:00')",
                        (f"d:{n}",))
        raw.execute("UPDATE inbox SET status = 'failed' WHERE id = 2")
        raw.execute("DELETE FROM inbox WHERE id IN (4, 5)")  # handled by older code
    asyncio.run(to(21))
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT id, status FROM inbox ORDER BY id").fetchall() == [
            (1, "pending"), (2, "failed"), (3, "pending")]
        cur = raw.execute("INSERT INTO inbox (channel, update_key, person_key, body, received_at)"
                          " VALUES ('line', 'd:6', 'line:U1', '{}', '2025-01-01T00:00:00+00:00')")
        assert cur.lastrowid == 6  # after the 5 used before, not after the 3 left
        indexes = {r[0] for r in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox'"
            " AND sql IS NOT NULL")}
        assert indexes == {"inbox_pending", "inbox_failed", "inbox_handled"}
