"""The writer connection: statements run inline, and the WAL is still copied back into
the database file (by a checkpoint off the event loop), so it never grows without end."""

from __future__ import annotations

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
