"""The writer connection: statements run inline, and the WAL is still copied back into
the database file (by a checkpoint off the event loop), so it never grows without end."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage import db as db_module
from storage.db import Database
from tests.conftest import eventually


async def test_the_wal_is_checkpointed_while_the_bot_runs(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    async with Database(path) as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        size_before = path.stat().st_size
        for i in range(db_module.CHECKPOINT_EVERY_COMMITS + 1):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO notes (body) VALUES (?)", ("ข" * 2000 + str(i),))

        async def copied_into_the_file() -> bool:
            return path.stat().st_size > size_before + 100 * 2000

        await eventually(copied_into_the_file, what="the WAL checkpoint")
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == \
            db_module.CHECKPOINT_EVERY_COMMITS + 1


async def test_a_transaction_that_fails_leaves_nothing(tmp_path: Path) -> None:
    async with Database(tmp_path / "bot.db") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO notes (body) VALUES ('kept?')")
                await conn.execute("INSERT INTO notes (body) VALUES (NULL)")
        async with db.read() as conn:
            assert await conn.execute_fetchall("SELECT body FROM notes") == []


async def test_a_lock_held_by_another_process_is_waited_for_without_freezing_the_bot(
        tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "bot.db"
    async with Database(path) as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        other = sqlite3.connect(path, isolation_level=None)  # e.g. a restore by mistake
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO notes (body) VALUES ('after the other')")

        writing = asyncio.create_task(write())
        for _ in range(10):  # the event loop keeps serving others meanwhile
            await asyncio.sleep(0)
        assert not writing.done()
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(writing, 5)
        async with db.read() as conn:
            rows = await conn.execute_fetchall("SELECT body FROM notes")
        assert [tuple(r) for r in rows] == [("after the other",)]


def _names_seen_from_outside(path: Path) -> set[str]:
    """What another connection (another process, a backup) sees committed."""
    with sqlite3.connect(path) as outside:
        return {row[0] for row in outside.execute("SELECT display_name FROM people")}


async def test_transactions_ending_together_share_a_commit_and_return_once_it_is_done(
        tmp_path: Path) -> None:
    """A group commit: transactions that end in the same turn of the event loop are
    committed together. None of them returns before its rows are committed, and one that
    fails takes only its own rows with it."""
    path = tmp_path / "group.db"
    async with Database(path) as db:
        db.group_window = 3600.0  # as under load: commits close together
        for _ in range(2):  # the commits before
            async with db.transaction():
                pass
        seen_inside_second: set[str] = set()
        seen_after: dict[str, set[str]] = {}

        async def add(name: str, *, fail: bool = False) -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO people (display_name, language, created_at)"
                                   " VALUES (?, 'th', '2026-12-01T00:00:00+00:00')", (name,))
                if name == "สอง":
                    seen_inside_second.update(_names_seen_from_outside(path))
                if fail:
                    raise RuntimeError("a handler bug")
            seen_after[name] = _names_seen_from_outside(path)

        results = await asyncio.gather(add("หนึ่ง"), add("สอง"), add("สาม", fail=True),
                                       return_exceptions=True)
        assert isinstance(results[2], RuntimeError) and results[:2] == [None, None]
        # The first had ended but was not committed yet while the second ran: one group.
        assert "หนึ่ง" not in seen_inside_second
        # Each returned only once committed; the failed one left nothing.
        assert {"หนึ่ง", "สอง"} <= seen_after["หนึ่ง"] and "สาม" not in seen_after["หนึ่ง"]
        assert _names_seen_from_outside(path) >= {"หนึ่ง", "สอง"}
        assert "สาม" not in _names_seen_from_outside(path)


async def test_one_commit_just_before_is_not_a_queue(tmp_path: Path) -> None:
    """An update is stored (one commit), then handled at once: its transaction commits
    without waiting for a turn of the loop, though the store committed a moment ago. Only
    a second commit within the window means a queue (people pausing between messages get
    their answer without the group's wait)."""
    path = tmp_path / "alone.db"
    async with Database(path) as db:
        db.group_window = 3600.0
        async with db.transaction():
            pass  # the update stored
        seen_inside_second: set[str] = set()

        async def add(name: str) -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO people (display_name, language, created_at)"
                                   " VALUES (?, 'th', '2026-12-01T00:00:00+00:00')", (name,))
                if name == "สอง":
                    seen_inside_second.update(_names_seen_from_outside(path))

        await asyncio.gather(add("หนึ่ง"), add("สอง"))
        assert "หนึ่ง" in seen_inside_second  # committed alone, before the second ran


async def test_a_read_never_sees_rows_of_a_group_not_yet_committed(tmp_path: Path) -> None:
    """A read on the writer's connection commits what is open first, so the outbox sender
    can never send a reply whose transaction might still be lost."""
    path = tmp_path / "read.db"
    async with Database(path) as db:
        db.group_window = 3600.0
        for _ in range(2):
            async with db.transaction():
                pass
        outside_during_read: set[str] = set()

        async def write() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO people (display_name, language, created_at)"
                                   " VALUES ('หนึ่ง', 'th', '2026-12-01T00:00:00+00:00')")

        async def read() -> None:
            async with db.read():
                outside_during_read.update(_names_seen_from_outside(path))

        writing = asyncio.ensure_future(write())
        await asyncio.sleep(0)  # the write's body runs and ends; its COMMIT is pending
        await read()
        await writing
        assert outside_during_read == {"หนึ่ง"}
