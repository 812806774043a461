"""Rolling upgrades (issue 14): an older program on a database a newer one migrated.

An "older program" is this code with its known migration list as it is; the "newer
program" is the same code with test migrations appended (`program(...)`), so every test
runs the real start-up, repositories and flows on both engines. README: Upgrading one
instance at a time; storage/migrations/compatibility.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot import demo
from handlers.clock import FixedClock
from storage import inbox, reviews
from storage import migrations as registry
from storage.db import Database
from storage.migrations import LATEST_VERSION, MIGRATIONS, Migration, SchemaTooNew
from storage.migrations import postgres as pg_migrations
from storage.migrations.compatibility import OlderInstancesServing, serves_from
from tests.conftest import Harness, _pg_database, eventually, scalar_at
from tests.test_startup_errors import clean_env, run_bot

L = LATEST_VERSION


def _sql(*statements: str) -> Callable[[Any], Awaitable[None]]:
    async def run(conn: Any) -> None:
        for statement in statements:
            await conn.execute(statement)
    return run


# Expand-only, as a later release would write them: a new table with a row, a nullable
# column and an index on a table the old version reads and writes, a defaulted column on
# the inbox.
EXPAND = (
    Migration(L + 1, "test: a new table", run=_sql(
        "CREATE TABLE upgrade_notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL)",
        "INSERT INTO upgrade_notes (id, note) VALUES (1, 'once')"), expand_only=True),
    Migration(L + 2, "test: new columns and an index", run=_sql(
        "ALTER TABLE problems ADD COLUMN upgrade_note TEXT",
        "CREATE INDEX problems_upgrade_note ON problems(upgrade_note)",
        "ALTER TABLE inbox ADD COLUMN upgrade_hint TEXT NOT NULL DEFAULT 'none'"),
        expand_only=True),
)
RENAME = Migration(L + 3, "test: a column renamed", run=_sql(
    "ALTER TABLE upgrade_notes RENAME COLUMN note TO text"))
CONTRACT = Migration(L + 3, "test: the old column dropped", run=_sql(
    "ALTER TABLE upgrade_notes DROP COLUMN note"), serves_code_from=L + 2)
UNDECLARED = Migration(L + 1, "test: says nothing", run=_sql(
    "CREATE TABLE upgrade_notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL)"))


@contextmanager
def program(*extra: Migration) -> Iterator[None]:
    """This code as a program that knows `extra` migrations beyond its own."""
    known = registry.MIGRATIONS
    registry.MIGRATIONS = (*MIGRATIONS, *extra)
    try:
        yield
    finally:
        registry.MIGRATIONS = known


async def _version(db_path: Path | str) -> int:
    async with Database(db_path) as db, db.read() as conn:  # served, whichever it is
        if isinstance(db_path, str):
            rows = await conn.execute_fetchall("SELECT max(version) FROM schema_migrations")
        else:
            rows = await conn.execute_fetchall("PRAGMA user_version")
    return int(rows[0][0])


async def _report(console: Harness, words: str) -> int:
    for line in ("เมนู", "รายงานปัญหา", "ภัยแล้ง/น้ำ", words, "45", "3", "ข้าม", "ข้าม"):
        await console.type(line)
    out = await console.type("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว เลขที่ #" in out, out
    return int(await console.scalar("SELECT max(id) FROM problems"))  # type: ignore[arg-type]


async def _store_update(db: Database, key: str, clock: FixedClock) -> int | None:
    async with db.transaction() as conn:
        [stored] = await inbox.store(conn, "line", [inbox.NewUpdate(
            f"bot:{key}", "line:U-upgrade", '{"type": "message"}')], clock.now())
    return stored


def _url(db_path: Path | str) -> str | None:
    return db_path if isinstance(db_path, str) else None


async def test_an_older_program_serves_a_database_whose_newer_migrations_expand(
        db_path: Path, clock: FixedClock, tmp_path: Path) -> None:
    with program(*EXPAND):
        async with Database(db_path) as db, db.read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT version, serves_from FROM schema_migrations WHERE version > ?"
                " ORDER BY version", (L - 1,))
        assert [(int(v), int(s)) for v, s in rows] == [
            (v, serves_from(v, (*MIGRATIONS, *EXPAND))) for v in (L, L + 1, L + 2)]
        assert all(int(s) <= L for _, s in rows)
    assert await _version(db_path) == L + 2  # the older program did not lower it
    async with Database(db_path) as db:  # the older program starts on L + 2
        async with db.transaction() as conn:
            await demo.seed(conn, clock.now())
        console = Harness(db, clock, tmp_path / "media")
        await console.start("1")
        problem = await _report(console, "บ่อน้ำตื้นแห้ง หลังอัปเกรด")
        async with db.read() as conn:
            details = await reviews.details(conn, "problem", problem)
        assert details is not None and details["upgrade_note"] is None  # the new column
        assert await _store_update(db, "after-upgrade", clock) is not None
    with program(*EXPAND):  # and the newer program reads what it wrote
        assert await scalar_at(db_path, "SELECT upgrade_hint FROM inbox WHERE update_key ="
                               " 'bot:after-upgrade'") == "none"
        assert await scalar_at(db_path, "SELECT description FROM problems WHERE id = ?",
                               problem) == "บ่อน้ำตื้นแห้ง หลังอัปเกรด"


async def test_an_older_program_already_serving_keeps_working_as_the_schema_moves_on(
        db_path: Path, clock: FixedClock, tmp_path: Path) -> None:
    async with Database(db_path) as old:
        async with old.transaction() as conn:
            await demo.seed(conn, clock.now())
        console = Harness(old, clock, tmp_path / "media")
        await console.start("1")
        first = await _report(console, "บ่อน้ำตื้นแห้ง ก่อนอัปเกรด")
        for _ in range(8):  # past PostgreSQL's prepare threshold: its statements prepared
            async with old.read() as conn:
                assert (await reviews.details(conn, "problem", first)) is not None
            await _store_update(old, f"before-{_}", clock)
        with program(*EXPAND):  # a newer instance starts beside it and migrates
            async with Database(db_path):
                pass
        async with old.read() as conn:
            details = await reviews.details(conn, "problem", first)
        assert details is not None and details["description"] == "บ่อน้ำตื้นแห้ง ก่อนอัปเกรด"
        second = await _report(console, "ถนนชำรุด หลังอัปเกรด")
        assert second == first + 1
        assert await _store_update(old, "after", clock) is not None
    assert await _version(db_path) == L + 2


@pytest.mark.parametrize("newer", [(*EXPAND, RENAME), (UNDECLARED,)],
                         ids=["breaking", "undeclared"])
async def test_an_older_program_refuses_a_database_a_breaking_migration_moved_on(
        db_path: Path, newer: tuple[Migration, ...]) -> None:
    with program(*newer):
        async with Database(db_path):
            pass
    top = newer[-1]
    with pytest.raises(SchemaTooNew) as refused:
        async with Database(db_path):
            pass
    said = str(refused.value)
    assert "\n" not in said
    assert f"database is at schema version {top.version}, newer than this program ({L})" in said
    assert f"migration {top.version} ({top.name}) is breaking for this version" in said
    assert f"upgrade this instance to a release of schema version {top.version} or newer" in said
    assert "README: Upgrading one instance at a time" in said
    if len(newer) > 1:  # a program that knows the expand-only ones refuses too
        with program(*EXPAND), pytest.raises(SchemaTooNew,
                                             match=f"schema version {top.version} or newer"):
            async with Database(db_path):
                pass


async def test_a_contract_step_serves_the_release_that_expanded_and_no_older(
        db_path: Path) -> None:
    """Expand/contract over two releases: release A (EXPAND, schema L + 2) stopped using
    what release B's CONTRACT drops; A's instances serve B's database, older ones refuse."""
    with program(*EXPAND, CONTRACT):
        async with Database(db_path):
            pass
    with program(*EXPAND):  # release A starts on B's database and serves it
        async with Database(db_path) as db, db.transaction() as conn:
            await conn.execute("UPDATE problems SET upgrade_note = 'A' WHERE id = -1")
    with pytest.raises(SchemaTooNew, match=f"schema version {L + 2} or newer"):
        async with Database(db_path):
            pass


@pytest.mark.parametrize("table", ["kept", "dropped"])
async def test_a_newer_migration_without_a_record_is_refused(db_path: Path, table: str
                                                             ) -> None:
    """A database newer than this program that does not say who can serve it (written by a
    program without the record, or by hand; a SQLite file without the table) is refused."""
    async with Database(db_path) as db, db.transaction() as conn:
        if isinstance(db_path, str):
            await conn.execute("INSERT INTO schema_migrations (version, name, applied_at)"
                               " VALUES (?, 'unknown', '2026-12-01T00:00:00+00:00')", (L + 1,))
        else:
            if table == "dropped":
                await conn.execute("DROP TABLE schema_migrations")
            await conn.execute(f"PRAGMA user_version = {L + 1}")
    with pytest.raises(SchemaTooNew, match="does not record which versions can still serve"):
        async with Database(db_path):
            pass


async def test_cercap_bot_run_refuses_with_one_line_and_status_2(db_path: Path) -> None:
    with program(*EXPAND, RENAME):
        async with Database(db_path):
            pass
    env = clean_env(CERCAP_DB=str(db_path), CERCAP_HTTP_PORT="1")
    status, _, err = await run_bot(env)
    said = [line for line in err.splitlines() if " INFO " not in line and line.strip()]
    assert status == 2, err
    assert len(said) == 1 and said[0].startswith("error: database is at schema version"), err
    assert f"({L})" in said[0] and f"migration {L + 3} (test: a column renamed)" in said[0]


# PostgreSQL: instances of the newer program starting together, old ones serving.

SLOW = (
    Migration(L + 1, "test: a slow new table", run=_sql(
        "CREATE TABLE upgrade_notes (id INTEGER PRIMARY KEY, note TEXT NOT NULL)",
        "SELECT pg_sleep(0.3)",
        "INSERT INTO upgrade_notes (id, note) VALUES (1, 'once')"), expand_only=True),
    Migration(L + 2, "test: a slow column", run=_sql(
        "SELECT pg_sleep(0.3)", "ALTER TABLE upgrade_notes ADD COLUMN extra TEXT"),
        expand_only=True),
)


@pytest.fixture
def pg_db(pg_server: object, pg_template: str) -> Iterator[str]:
    """A PostgreSQL database at this program's version (SQLite has one process per file:
    storage/instance_lock.py, so nothing below applies to it)."""
    yield from _pg_database(pg_server, template=pg_template)


async def test_two_new_instances_migrating_at_once_apply_each_migration_once(
        pg_db: str) -> None:
    url = pg_db

    async def start() -> None:
        async with Database(url):
            pass

    with program(*SLOW):
        await asyncio.gather(start(), start(), start())
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version, count(*) FROM schema_migrations WHERE version > %s"
                            " GROUP BY version ORDER BY version", (L,)).fetchall() == [
            (L + 1, 1), (L + 2, 1)]
        assert conn.execute("SELECT note FROM upgrade_notes").fetchall() == [("once",)]


async def test_a_migration_waiting_for_a_lock_does_not_stall_the_old_instances(
        pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long read holds `problems` (ACCESS SHARE); the migration's ALTER TABLE waits for
    ACCESS EXCLUSIVE, and every writer of `problems` queues behind it. lock_timeout gives
    up the wait: the writer goes through while the reader still holds, then the migration
    is tried again and applied once the reader ends."""
    url = pg_db
    monkeypatch.setattr(pg_migrations, "LOCK_TIMEOUT", "300ms")
    reader = await psycopg.AsyncConnection.connect(url)
    writer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    watcher = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await reader.execute("SELECT count(*) FROM problems")  # in its transaction, held

        async def alter_waits() -> bool:
            cur = await watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE relation = 'problems'::regclass"
                " AND mode = 'AccessExclusiveLock' AND NOT granted")
            return bool((await cur.fetchone() or (0,))[0])

        with program(*EXPAND):
            migrating = asyncio.create_task(Database(url).open())
            await eventually(alter_waits, timeout=10, what="the ALTER TABLE waiting")
            await asyncio.wait_for(writer.execute(  # queued behind the ALTER, then through
                "UPDATE problems SET description = description WHERE id = -1"), timeout=5)
            assert not migrating.done()
            await reader.rollback()
            db = await asyncio.wait_for(migrating, timeout=20)
            await db.close()
        assert await _version(url) == L + 2
    finally:
        for conn in (reader, writer, watcher):
            await conn.close()


async def test_a_breaking_migration_waits_until_the_instances_it_breaks_are_gone(
        pg_db: str) -> None:
    """An old instance serving (its connection holds its version's serving lock): a newer
    release with a breaking migration refuses to apply it, and applies it once the old
    instance has stopped. An expand-only one is applied beside it."""
    old = await Database(pg_db).open()
    try:
        with program(*EXPAND):
            async with Database(pg_db):
                pass  # expand-only: applied while the old instance serves
        with program(*EXPAND, RENAME), pytest.raises(OlderInstancesServing) as refused:
            await Database(pg_db).open()
        said = str(refused.value)
        assert f"migration {L + 3} (test: a column renamed) is breaking for schema version" \
            f" {L + 2} and older" in said, said
        assert f"1 of schema version {L}" in said and "stop them" in said, said
        assert await _version(pg_db) == L + 2  # not applied
    finally:
        await old.close()
    with program(*EXPAND, RENAME):
        async with Database(pg_db):
            pass
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (L + 3,)
