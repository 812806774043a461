"""A fresh file and a file from an older version both end at the current schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from storage.db import Database
from storage.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version
from storage.migrations.compatibility import RECORDED_FROM, serves_from


async def _schema(path: Path) -> list[tuple[str, str]]:
    async with aiosqlite.connect(path) as conn, conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name") as cur:
        return [(r[0], r[1]) for r in await cur.fetchall()]


async def test_fresh_file_reaches_the_current_schema(tmp_path: Path) -> None:
    async with Database(tmp_path / "fresh.db") as db:
        assert await schema_version(db.conn) == LATEST_VERSION
        async with db.read() as conn, conn.execute(
                "SELECT level, COUNT(*) FROM areas GROUP BY level ORDER BY level") as cur:
            counts = dict(await cur.fetchall())
        async with conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with conn.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1
    assert counts == {"nation": 1, "network": 14, "province": 77, "district": 928,
                      "tambon": 7436}


async def test_older_file_is_upgraded_keeping_its_data(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    async with aiosqlite.connect(old, isolation_level=None) as conn:
        assert await migrate(conn, target=1) == 1
        await conn.execute("INSERT INTO people (display_name, language, created_at)"
                           " VALUES ('ผู้ใช้เดิม', 'th', ?)", (datetime.now(UTC).isoformat(),))
    async with Database(old) as db:
        assert await schema_version(db.conn) == LATEST_VERSION
        async with db.read() as conn, conn.execute("SELECT display_name FROM people") as cur:
            assert [r[0] for r in await cur.fetchall()] == ["ผู้ใช้เดิม"]
    fresh = tmp_path / "fresh.db"
    async with Database(fresh):
        pass
    assert await _schema(old) == await _schema(fresh)


async def test_opening_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    async with Database(path):
        pass
    before = await _schema(path)
    async with Database(path) as db, db.read() as conn, conn.execute(
            "SELECT COUNT(*) FROM areas") as cur:
        assert (await cur.fetchone())[0] == 1 + 14 + 77 + 928 + 7436
    assert await _schema(path) == before


async def test_every_province_belongs_to_a_learning_network(tmp_path: Path) -> None:
    async with Database(tmp_path / "n.db") as db, db.read() as conn, conn.execute(
            "SELECT p.code FROM areas p LEFT JOIN areas n ON n.code = p.parent_code"
            " WHERE p.level = 'province' AND (n.level IS NOT 'network')") as cur:
        assert await cur.fetchall() == []


@pytest.mark.parametrize("start", [0, *sorted(m.version for m in MIGRATIONS)[:-1]])
async def test_every_older_file_is_upgraded(tmp_path: Path, start: int) -> None:
    """SQLite from every older version (PostgreSQL: tests/test_postgres.py)."""
    path = tmp_path / f"at-{start}.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await migrate(conn, target=start) == start
        assert await schema_version(conn) == start
        assert await migrate(conn) == LATEST_VERSION
        assert await migrate(conn) == LATEST_VERSION  # again: nothing to do
    fresh = tmp_path / "fresh.db"
    async with Database(fresh):
        pass
    assert await _schema(path) == await _schema(fresh)


async def test_each_migration_from_23_records_which_versions_serve_it(
        db_path: Path) -> None:
    """Both engines: schema_migrations holds, for every migration from 23, the oldest code
    version that can serve the database (the last breaking migration at or before it)."""
    async with Database(db_path) as db, db.read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT version, serves_from FROM schema_migrations WHERE version >= ?"
            " ORDER BY version", (RECORDED_FROM,))
    assert [(int(v), int(s)) for v, s in rows] == [
        (m.version, serves_from(m.version, MIGRATIONS))
        for m in sorted(MIGRATIONS, key=lambda m: m.version) if m.version >= RECORDED_FROM]
    assert rows and all(0 < int(s) <= int(v) for v, s in rows)


def test_an_undeclared_migration_is_breaking() -> None:
    from storage.migrations import Migration

    assert Migration(99, "says nothing").expand_only is False
    assert serves_from(99, (*MIGRATIONS, Migration(99, "says nothing"))) == 99
    assert serves_from(LATEST_VERSION, MIGRATIONS) >= 11  # 11 changed what a review means
