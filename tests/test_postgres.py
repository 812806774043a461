"""PostgreSQL specifics (issue 14): migrations from every version, the column types, the SQL
translation, `db copy` from SQLite, `backup` pointing at pg_dump. A real server
(tests/pg_server.py, one per session); the rest of the suite runs on it through `db_path`."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot import demo
from bot.cli import main as cli_main
from handlers.clock import FixedClock
from storage.copy import CopyError, copy_database
from storage.db import Database
from storage.engine_postgres import PgConnection, translate
from storage.instance_lock import InstanceLock, InstanceLocked
from storage.migrations import LATEST_VERSION, MIGRATIONS
from storage.migrations.postgres import migrate
from storage.timestamps import to_db
from tests.conftest import _pg_database

pytestmark = pytest.mark.skipif(False, reason="never skipped: PostgreSQL runs everywhere")


@pytest.fixture
def pg_url(pg_server: object, pg_template: str) -> Iterator[str]:
    yield from _pg_database(pg_server, template="template0")


@pytest.fixture
def pg_migrated(pg_server: object, pg_template: str) -> Iterator[str]:
    yield from _pg_database(pg_server, template=pg_template)


def _columns(url: str) -> list[tuple[str, str, str, str]]:
    with psycopg.connect(url) as conn:
        return [tuple(map(str, r)) for r in conn.execute(  # type: ignore[misc]
            "SELECT table_name, column_name, data_type, is_identity FROM"
            " information_schema.columns WHERE table_schema = 'public'"
            " AND table_name <> 'schema_migrations' ORDER BY table_name, column_name")]


def _indexes(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return [(r[0], r[1]) for r in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " ORDER BY indexname")]


def _triggers(url: str) -> list[tuple[str, str, bool, bool]]:
    """Each table's own triggers: name, table, whether deferred to the COMMIT."""
    with psycopg.connect(url) as conn:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
            "SELECT t.tgname, c.relname, t.tgdeferrable, t.tginitdeferred FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            " ORDER BY 2, 1")]


def test_schema_types(pg_migrated: str) -> None:
    columns = _columns(pg_migrated)
    kinds = {(t, c): k for t, c, k, _ in columns}
    assert kinds[("support_requests", "amount_requested")] == "numeric"
    assert kinds[("plan_items", "budget_needed")] == "numeric"
    assert kinds[("tambon_settings", "auto_forward_threshold")] == "numeric"
    assert kinds[("forums", "held_on")] == "date"
    for (table, column), kind in kinds.items():
        if column == "at" or column.endswith("_at"):
            assert kind == "timestamp with time zone", (table, column)
        if column == "id" and table != "areas":
            assert ("YES" in {i for t, c, _, i in columns if (t, c) == (table, "id")}), table
    with psycopg.connect(pg_migrated) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations"
                                               " ORDER BY version")]
    assert versions == sorted(m.version for m in MIGRATIONS)


@pytest.mark.parametrize("start", [0, *sorted(m.version for m in MIGRATIONS)[:-1]])
async def test_migrates_from_every_older_version(pg_url: str, pg_migrated: str,
                                                 start: int) -> None:
    conn = await PgConnection.open(pg_url)
    try:
        assert await migrate(conn, target=start) == start
        async with conn.execute("SELECT max(version) FROM schema_migrations") as cur:
            assert ((await cur.fetchone())[0] or 0) == start
        assert await migrate(conn) == LATEST_VERSION
        assert await migrate(conn) == LATEST_VERSION  # again: nothing to do
    finally:
        await conn.close()
    assert _columns(pg_url) == _columns(pg_migrated)
    assert _indexes(pg_url) == _indexes(pg_migrated)
    assert _triggers(pg_url) == _triggers(pg_migrated)
    assert all(deferred for *_, deferred in _triggers(pg_url))  # storage/area_versions.py


async def test_instances_starting_together_migrate_once(pg_url: str) -> None:
    async def start() -> None:
        async with Database(pg_url):
            pass

    await asyncio.gather(start(), start(), start())
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT version) FROM schema_migrations"
                            ).fetchone() == (len(MIGRATIONS), len(MIGRATIONS))
        assert conn.execute("SELECT count(*) FROM areas WHERE level = 'tambon'"
                            ).fetchone()[0] > 7000


def test_translation() -> None:
    t = translate("SELECT '?', 'it''s :x', x FROM t WHERE a = ? AND b LIKE '%a' AND c = :c",
                  frozenset())
    assert t.text == ("SELECT '?', 'it''s :x', x FROM t WHERE a = %s AND b LIKE '%%a'"
                      " AND c = %(c)s")
    t = translate("INSERT OR IGNORE INTO people (name) VALUES (?)", frozenset({"people"}))
    assert t.text == "INSERT INTO people (name) VALUES (%s) ON CONFLICT DO NOTHING RETURNING id"
    assert t.returns_id
    t = translate("INSERT INTO people (name) VALUES (?) RETURNING id", frozenset({"people"}))
    assert not t.returns_id and t.text.endswith("RETURNING id")
    t = translate("INSERT OR IGNORE INTO people (name) VALUES (?) RETURNING id, 1",
                  frozenset({"people"}))
    assert t.text == ("INSERT INTO people (name) VALUES (%s) ON CONFLICT DO NOTHING"
                      " RETURNING id, 1")
    assert not translate("INSERT INTO drafts (a) VALUES (?)", frozenset({"people"})).returns_id
    assert translate("INSERT INTO outbox (a) VALUES (?)", frozenset()).ordered
    assert not translate("INSERT INTO inbox (a) VALUES (?)", frozenset()).ordered
    assert not translate("UPDATE outbox SET a = ?", frozenset()).ordered


async def test_types_round_trip(database: Database, db_engine: str) -> None:
    """What a repository writes comes back as the same Python value on both engines."""
    async with database.transaction() as conn:
        cur = await conn.execute(
            "INSERT INTO people (display_name, language, created_at) VALUES (?, ?, ?)",
            ("ทดสอบ", "th", "2025-01-10T03:00:00.123456+00:00"))
        person = cur.lastrowid
        await conn.execute(
            "INSERT INTO tambon_settings (tambon_code, auto_forward_threshold, updated_by,"
            " updated_at) VALUES (?, ?, ?, ?)",
            ("100101", 150000, person, "2025-01-10T03:00:00.000000+00:00"))
    async with database.read() as conn, conn.execute(
        "SELECT p.id, p.display_name, p.created_at, s.auto_forward_threshold FROM people p"
        " JOIN tambon_settings s ON s.updated_by = p.id WHERE p.id = ?", (person,)) as cur:
        row = await cur.fetchone()
    assert isinstance(person, int)
    assert tuple(row) == (person, "ทดสอบ", "2025-01-10T03:00:00.123456+00:00", 150000)
    assert row["auto_forward_threshold"] == 150000 and type(row[3]) is int
    assert dict(row)["display_name"] == "ทดสอบ"


async def test_instants_come_back_as_written(database: Database, db_engine: str) -> None:
    """Instants read back are the text storage/timestamps.py writes, whatever their
    fraction of a second; on PostgreSQL also those the server computes, in UTC."""
    written = [to_db(datetime(2025, 6, 30, 17, 22, 56, micro, tzinfo=UTC))
               for micro in (0, 100_000, 123_000, 123_456, 5)]
    async with database.transaction() as conn:
        for i, at in enumerate(written):
            await conn.execute("INSERT INTO people (display_name, language, created_at)"
                               " VALUES (?, ?, ?)", (f"p{i}", "th", at))
    async with database.read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT created_at FROM people WHERE display_name LIKE 'p%' ORDER BY id")
        assert [r[0] for r in rows] == written
        if db_engine == "postgres":
            computed = await conn.execute_fetchall(
                "SELECT CAST('2025-06-30 17:22:56.1+07' AS timestamptz),"
                " CAST('2025-06-30 17:22:56+05:30' AS timestamptz)")
            assert tuple(computed[0]) == ("2025-06-30T10:22:56.100000+00:00",
                                          "2025-06-30T11:52:56.000000+00:00")


def test_backup_on_postgres_says_pg_dump(pg_migrated: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERCAP_DB", pg_migrated)
    assert cli_main(["backup", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "pg_dump" in err[0]
    assert not (tmp_path / "b.db").exists()


def _rows(table: str, sqlite_path: Path, url: str) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(sqlite_path) as s:
        cols = [r[1] for r in s.execute(f'PRAGMA table_info("{table}")')]
        order = ", ".join(f'"{c}"' for c in cols)
        left = [tuple(r) for r in s.execute(f'SELECT {order} FROM "{table}" ORDER BY {order}')]
    from storage.engine_postgres import _configure_adapters

    with psycopg.connect(url) as p:
        _configure_adapters(p)
        p.execute("SET TIME ZONE 'UTC'")
        right = [tuple(r) for r in p.execute(f'SELECT {order} FROM "{table}" ORDER BY {order}')]
    return left, right


@pytest.mark.sqlite_only
async def test_db_copy_round_trip(db_path: Path, pg_url: str, clock: FixedClock,
                                  tmp_path: Path) -> None:
    async with Database(db_path) as db:
        async with db.transaction() as conn:
            await demo.seed(conn, clock.now())
        from tests.conftest import Harness

        harness = Harness(db, clock, tmp_path / "media")
        await harness.start("1")
        for line in ("1", "1", "น้ำท่วมถนนในหมู่บ้าน", "12"):
            await harness.type(line)
        await harness.sender.drain() if hasattr(harness.sender, "drain") else None
    said: list[str] = []
    result = await copy_database(db_path, pg_url, progress=lambda t, n: said.append(t))
    assert result.counts["areas"] > 7000 and result.counts["people"] >= 4
    for table in result.counts:
        left, right = _rows(table, db_path, pg_url)
        assert left == right, table
    # Tables empty before: filled by COPY FREEZE, every page all-visible and frozen at once
    # (index-only scans need the visibility map; autovacuum need not come by first).
    with psycopg.connect(pg_url, autocommit=True) as p:
        p.execute("CREATE EXTENSION IF NOT EXISTS pg_visibility")
        pages, frozen = p.execute(
            "SELECT (SELECT relpages FROM pg_class WHERE relname = 'role_grants'),"
            " all_frozen FROM pg_visibility_map_summary('role_grants')").fetchone()
    assert pages > 0 and frozen == pages
    # Again: the same rows, nothing doubled; a row added since is copied too.
    with sqlite3.connect(db_path) as s:
        s.execute("INSERT INTO people (display_name, language, created_at) VALUES"
                  " ('ใหม่', 'th', '2025-01-11T03:00:00.000000+00:00')")
    again = await copy_database(db_path, pg_url)
    assert result.triggers == again.triggers == "replica"  # the tests' user is a superuser
    assert again.counts["people"] == result.counts["people"] + 1
    # The provinces' data versions never go back: one past what PostgreSQL had.
    with sqlite3.connect(db_path) as s:
        in_file = dict(s.execute("SELECT province_code, version FROM area_versions"))
    with psycopg.connect(pg_url) as p:
        on_pg = dict(p.execute("SELECT province_code, version FROM area_versions"))
        assert p.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
                         " AND tgenabled <> 'O'").fetchone()[0] == 0
        # VACUUMed and ANALYZEd after the commit (statistics, the visibility map).
        assert p.execute("SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'areas'"
                         " AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
                         ).fetchone()[0] == 1
    assert in_file and on_pg == {code: v + 1 for code, v in in_file.items()}
    assert {k: v for k, v in again.counts.items() if k != "people"} == \
        {k: v for k, v in result.counts.items() if k != "people"}
    # New rows on PostgreSQL get ids past the copied ones.
    async with Database(pg_url) as pg, pg.transaction() as conn:
        cur = await conn.execute(
            "INSERT INTO people (display_name, language, created_at) VALUES (?, ?, ?)",
            ("หลัง", "th", "2025-01-12T03:00:00.000000+00:00"))
        assert cur.lastrowid == again.counts["people"] + 1


@pytest.mark.sqlite_only
async def test_db_copy_refused_while_a_bot_runs(db_path: Path, pg_url: str) -> None:
    lock = InstanceLock(db_path)
    lock.acquire()
    try:
        with pytest.raises(InstanceLocked):
            await copy_database(db_path, pg_url)
    finally:
        lock.release()


@pytest.mark.sqlite_only
def test_db_copy_command(db_path: Path, pg_url: str, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "province.db"
    shutil.copy(db_path, source)
    assert cli_main(["db", "copy", "--from", str(source), "--to", pg_url]) == 0
    out = capsys.readouterr().out
    assert "areas: " in out and "counts checked" in out
    assert cli_main(["db", "copy", "--from", str(source), "--to", str(tmp_path / "x.db")]) == 2


@pytest.mark.sqlite_only
async def test_db_copy_checks_foreign_keys(db_path: Path, pg_url: str) -> None:
    """Replica mode skips the per-row foreign key checks: they are done once per key, and a
    row whose parent is missing rolls the whole copy back."""
    async with Database(db_path):
        pass
    with sqlite3.connect(db_path) as s:
        s.execute("PRAGMA foreign_keys = OFF")
        s.execute("INSERT INTO people (display_name, language, created_at) VALUES"
                  " ('ก', 'th', '2025-01-11T03:00:00.000000+00:00')")
        s.execute("INSERT INTO role_grants (person_id, role, area_code, granted_at) VALUES"
                  " (1, 'viewer', '99999999', '2025-01-11T03:00:00.000000+00:00')")
    with pytest.raises(CopyError, match="role_grants"):
        await copy_database(db_path, pg_url)
    with psycopg.connect(pg_url) as p:
        assert p.execute("SELECT count(*) FROM people").fetchone()[0] == 0


@pytest.mark.sqlite_only
async def test_db_copy_as_an_ordinary_user(db_path: Path, pg_server: object,
                                           clock: FixedClock) -> None:
    """A user who may not set session_replication_role: the tables' triggers are disabled
    inside the transaction and enabled again; the rows are the same."""
    async with Database(db_path) as db, db.transaction() as conn:
        await demo.seed(conn, clock.now())
    admin_url = pg_server.admin_url  # type: ignore[attr-defined]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS copy_owner_db")
        admin.execute("DROP ROLE IF EXISTS copier")
        admin.execute("CREATE ROLE copier LOGIN")
        admin.execute("CREATE DATABASE copy_owner_db OWNER copier TEMPLATE template0")
    url = admin_url.replace("postgres@", "copier@").rsplit("/", 1)[0] + "/copy_owner_db"
    try:
        result = await copy_database(db_path, url)
        assert result.triggers == "disabled"
        for table in result.counts:
            left, right = _rows(table, db_path, url)
            assert left == right, table
        with psycopg.connect(url) as p:
            enabled = p.execute("SELECT count(*), count(*) FILTER (WHERE tgenabled = 'O')"
                                " FROM pg_trigger WHERE NOT tgisinternal").fetchone()
        assert enabled[0] > 0 and enabled[0] == enabled[1]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS copy_owner_db WITH (FORCE)")
            admin.execute("DROP ROLE IF EXISTS copier")


# ---- the connection pool (storage/engine_postgres.py PostgresDatabase) -------------------

async def _person(conn: PgConnection, name: str) -> int:
    cur = await conn.execute("INSERT INTO people (display_name, language, created_at)"
                             " VALUES (?, 'th', ?)", (name, "2025-01-10T03:00:00.000000+00:00"))
    assert cur.lastrowid is not None
    return cur.lastrowid


async def _waiting_for_lock(url: str, deadline: float = 10.0) -> None:
    """Until a session of this database waits for a lock (polled, with a deadline)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        while loop.time() < end:
            cur = await watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE"
                                        " datname = current_database() AND"
                                        " wait_event_type = 'Lock'")
            if (await cur.fetchone())[0]:  # type: ignore[index]
                return
            await asyncio.sleep(0.01)
    raise AssertionError("no session waited for a lock")


async def test_pool_runs_two_peoples_transactions_at_once(pg_migrated: str) -> None:
    """The second transaction runs and commits while the first is still open (one writer
    would wait for the first: the first waits for the second here, so it would hang)."""
    async with Database(pg_migrated) as db:
        second_done = asyncio.Event()

        async def first() -> None:
            async with db.transaction() as conn:
                await _person(conn, "first")
                await asyncio.wait_for(second_done.wait(), 10)

        async def second() -> None:
            async with db.transaction() as conn:
                await _person(conn, "second")
            second_done.set()

        await asyncio.gather(first(), second())
        async with db.read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT display_name FROM people WHERE display_name IN ('first', 'second')")
        assert sorted(r[0] for r in rows) == ["first", "second"]


async def test_two_villages_of_a_province_report_without_waiting_for_each_other(
        pg_migrated: str) -> None:
    """A report's transaction commits while another village of its province is still in
    the middle of its own (the province's data version, storage/area_versions.py, is
    written at the COMMIT; written at the INSERT it held every other report of the
    province until this one ended), and each report still advances the version."""
    from storage import areas, problems
    from storage.area_versions import province_versions

    now = datetime(2025, 1, 10, 3, tzinfo=UTC)
    async with Database(pg_migrated) as db:
        async with db.transaction() as conn:
            tambons = [r[0] for r in await conn.execute_fetchall(
                "SELECT code FROM areas WHERE level = 'tambon' AND code LIKE '50%'"
                " ORDER BY code LIMIT 2")]
            villages = [(await areas.add_village(conn, tambon, 1, "บ้านทดสอบ")).code
                        for tambon in tambons]
        async with db.read() as conn:
            before = (await province_versions(conn)).get("50", 0)
        second_done = asyncio.Event()

        async def report(conn: PgConnection, village: str) -> None:
            await problems.insert(
                conn, village_code=village, category="water", description="น้ำไม่พอ",
                households=3, severity=2, photo_ref=None, photo_platform_id=None,
                latitude=None, longitude=None, reporter_id=await _person(conn, village),
                now=now)

        async def first() -> None:
            async with db.transaction() as conn:
                await report(conn, villages[0])
                await asyncio.wait_for(second_done.wait(), 10)

        async def second() -> None:
            async with db.transaction() as conn:
                await report(conn, villages[1])
            second_done.set()

        await asyncio.gather(first(), second())
        async with db.read() as conn:
            assert (await province_versions(conn)).get("50", 0) == before + 2


async def test_warming_the_pool_opens_every_connection_once(pg_migrated: str) -> None:
    """`warm()` (bot/app.py, at start) opens the whole pool at once; again, nothing more.
    Each new connection knows the tables with ids from the first (an INSERT still gives
    its id)."""
    def connections() -> int:
        with psycopg.connect(pg_migrated, autocommit=True) as watcher:
            return int(watcher.execute(  # type: ignore[index]
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()").fetchone()[0])

    async with Database(pg_migrated) as db:
        assert connections() == 1
        await db.warm()
        assert connections() == db.pool_size
        await db.warm()
        assert connections() == db.pool_size

        async def person(name: str) -> int:
            async with db.transaction() as conn:
                return await _person(conn, name)
        ids = await asyncio.gather(*(person(f"p{i}") for i in range(db.pool_size)))
        assert len(set(ids)) == db.pool_size and connections() == db.pool_size


async def test_reader_runs_reads_awaited_together_at_once(pg_migrated: str) -> None:
    """`reader()`'s statements awaited together run on connections of their own at once
    (a summary's reads, handlers/summaries.py): the first waits for a lock that is given up
    only after the second has answered, so one connection would hang here."""
    with psycopg.connect(pg_migrated, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(4242)")
        async with Database(pg_migrated) as db:
            reader = await db.reader()
            second_answered = asyncio.Event()

            async def first() -> list[Any]:
                return await reader.execute_fetchall(
                    "SELECT pg_advisory_lock_shared(4242), pg_backend_pid()")

            async def second() -> list[Any]:
                rows = await reader.execute_fetchall("SELECT 2, pg_backend_pid()")
                second_answered.set()
                return rows

            async def release() -> None:
                await asyncio.wait_for(second_answered.wait(), 10)
                holder.execute("SELECT pg_advisory_unlock(4242)")

            waited, answered, _ = await asyncio.wait_for(
                asyncio.gather(first(), second(), release()), 20)
            assert answered[0][0] == 2 and waited[0][1] != answered[0][1]
            assert await db.reader() is reader  # one group, kept


async def test_reads_awaited_together_on_one_pooled_connection(pg_migrated: str) -> None:
    """Reads gathered on one pool connection take turns on its wire: each gets its own
    answer (none refused for meeting another's sync)."""
    async with Database(pg_migrated) as db, db.read() as conn:
        answers = await asyncio.gather(*(
            conn.execute_fetchall("SELECT CAST(? AS bigint) * 2", (i,)) for i in range(20)))
        assert [rows[0][0] for rows in answers] == [i * 2 for i in range(20)]


async def test_pool_commits_outbox_rows_in_id_order(pg_migrated: str) -> None:
    """A transaction queueing to a chat waits for one that queued before it to commit, and
    then sees its row pending before its own (the engine's hand-over of replies relies on
    it: handlers/engine.py `_enqueue`)."""
    from storage import outbox

    now = datetime(2025, 1, 10, 3, tzinfo=UTC)
    async with Database(pg_migrated) as db:
        commit_first = asyncio.Event()
        first_id: list[int] = []

        async def first() -> None:
            async with db.transaction() as conn:
                message = await outbox.enqueue_message(
                    conn, channel="line", chat_id="U1", person_id=None,
                    priority=outbox.NOTIFICATION, payload={"text": "a"}, now=now)
                assert message is not None
                first_id.append(message.id)
                await asyncio.wait_for(commit_first.wait(), 10)

        async def second() -> tuple[int, bool]:
            while not first_id:
                await asyncio.sleep(0.001)
            async with db.transaction() as conn:
                queued = await outbox.queue_later(
                    conn, channel="line", chat_id="U1", person_id=None,
                    priority=outbox.LIVE_REPLY, payload={"text": "b"}, now=now)
                message = await queued.message()
                assert message is not None
                return message.id, await queued.earlier_waiting()

        async def release_first() -> None:
            await _waiting_for_lock(pg_migrated)  # the second's INSERT waits for the first
            commit_first.set()

        _, (second_id, earlier_pending), _ = await asyncio.gather(first(), second(),
                                                                  release_first())
        assert second_id > first_id[0] and earlier_pending


async def test_pool_replaces_a_broken_connection(pg_migrated: str, pg_server: object) -> None:
    async with Database(pg_migrated) as db:
        async with db.read() as conn:
            pid = (await conn.execute_fetchall("SELECT pg_backend_pid()"))[0][0]
        with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:  # type: ignore[attr-defined]
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):  # found out by its next statement
            async with db.transaction() as conn:
                await _person(conn, "lost")
        async with db.transaction() as conn:  # on a new connection
            await _person(conn, "kept")
            new_pid = (await conn.execute_fetchall("SELECT pg_backend_pid()"))[0][0]
        assert new_pid != pid
        async with db.read() as conn:
            names = [r[0] for r in await conn.execute_fetchall(
                "SELECT display_name FROM people WHERE display_name IN ('lost', 'kept')")]
        assert names == ["kept"]


async def test_pool_after_a_cancelled_or_unfinished_transaction(pg_migrated: str) -> None:
    """A transaction cancelled while its statement runs is rolled back (psycopg cancels
    the statement, the pool sends ROLLBACK) and its connection comes back clean; one left
    inside a transaction (a BEGIN sent by hand) is closed, not reused."""
    async with Database(pg_migrated) as db:
        async def stuck() -> None:
            async with db.transaction() as conn:
                await _person(conn, "cancelled")
                await conn.execute("SELECT pg_sleep(30)")

        task = asyncio.create_task(stuck())
        await _sleeping(pg_migrated)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.transaction() as conn:
            await _person(conn, "after")
        async with db.read() as conn:
            names = [r[0] for r in await conn.execute_fetchall(
                "SELECT display_name FROM people WHERE display_name IN ('cancelled', 'after')")]
            assert names == ["after"]
            await conn.execute("BEGIN")
            pid = (await conn.execute_fetchall("SELECT pg_backend_pid()"))[0][0]
        for _ in range(db.pool_size + 1):  # every connection the pool has now
            async with db.read() as conn:
                assert (await conn.execute_fetchall("SELECT pg_backend_pid()"))[0][0] != pid


async def _sleeping(url: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        while loop.time() < end:
            cur = await watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE"
                                        " query LIKE 'SELECT pg_sleep%%' AND state = 'active'")
            if (await cur.fetchone())[0]:  # type: ignore[index]
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the statement never started")


async def test_pool_close_waits_for_work_in_flight(pg_migrated: str) -> None:
    db = await Database(pg_migrated).open()
    inside, finish = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        async with db.transaction() as conn:
            await _person(conn, "in flight")
            inside.set()
            await asyncio.wait_for(finish.wait(), 10)

    task = asyncio.create_task(work())
    await asyncio.wait_for(inside.wait(), 10)
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0)
    assert not closing.done()  # waits for the transaction under way
    with pytest.raises(RuntimeError):  # nothing new starts meanwhile
        async with db.transaction():
            pass
    finish.set()
    await task
    await closing
    with psycopg.connect(pg_migrated) as check:
        assert check.execute("SELECT count(*) FROM people WHERE display_name = 'in flight'"
                             ).fetchone()[0] == 1  # type: ignore[index]


# ---- deferred statements (storage/engine_postgres.py DEFERRED) ----------------------------

def test_deferred_statements_are_the_repositories_own() -> None:
    """Each DEFERRED text is still a statement of storage/ (else it defers nothing)."""
    from storage.engine_postgres import DEFERRED

    storage = Path(__file__).parent.parent / "storage"
    sources = " ".join(" ".join(p.read_text().replace('"', "").split())
                       for p in storage.glob("*.py")
                       if p.name != "engine_postgres.py")  # string literals joined
    for text in DEFERRED:
        assert " ".join(text.split()) in sources, text


async def test_deferred_statement_goes_with_the_next_and_is_seen(pg_migrated: str) -> None:
    from storage import conversations
    from storage.conversations import Conversation

    now = datetime(2025, 1, 10, 3, tzinfo=UTC)
    async with Database(pg_migrated) as db:
        async with db.transaction() as conn:
            person = await _person(conn, "deferred")
            cur = await conn.execute(
                "INSERT INTO identities (channel, platform_user_id, chat_id, person_id,"
                " created_at) VALUES ('line', 'Ud', 'Ud', ?, ?)", (person, now.isoformat()))
            identity = cur.lastrowid
            assert identity is not None
            await conversations.save(conn, Conversation(identity, "report", "what", {}, [], 3),
                                     now)
            assert conn.sent_unsynced  # sent, not waited for
            loaded = await conversations.load(conn, identity)  # the same round trip
            assert not conn.sent_unsynced and (loaded.flow, loaded.seq) == ("report", 3)
            await conversations.save(conn, Conversation(identity, "report", "where", {}, [], 4),
                                     now)
        async with db.read() as conn:  # the COMMIT took the last one with it
            assert (await conversations.load(conn, identity)).step == "where"


async def test_a_transaction_of_one_deferred_statement_commits_it_alone(
        pg_migrated: str) -> None:
    """The inbox's INSERT of a batch is its transaction's only statement: it runs on its own
    (no BEGIN, no COMMIT), its result is there after, and a failing one fails the
    transaction, leaves nothing and the connection clean."""
    from storage import conversations, inbox
    from storage.conversations import Conversation

    now = datetime(2025, 1, 10, 3, tzinfo=UTC)
    async with Database(pg_migrated) as db:
        async with db.transaction() as conn:
            stored = await inbox.store_later(
                conn, [("line", [inbox.NewUpdate("b:1", "line:U1", "{}")])], now)
            assert conn._held is not None and not conn.sent_unsynced  # nothing sent yet
        [[row_id]] = await stored.ids()
        assert row_id is not None and not conn.in_transaction
        for _ in range(db.pool_size + 1):
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                async with db.transaction() as conn:
                    await conversations.save(
                        conn, Conversation(10**9, "report", "x", {}, [], 1), now)
        async with db.read() as conn:
            assert [r.id for r in await inbox.pending(conn)] == [row_id]
            assert await conn.execute_fetchall("SELECT 1 FROM conversations") == []


async def test_deferred_statement_failing_fails_its_transaction(pg_migrated: str) -> None:
    from storage import conversations
    from storage.conversations import Conversation

    now = datetime(2025, 1, 10, 3, tzinfo=UTC)
    async with Database(pg_migrated) as db:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            async with db.transaction() as conn:
                await _person(conn, "rolled back")
                await conversations.save(conn, Conversation(10**9, "report", "x", {}, [], 1),
                                         now)  # no such identity: raised by the COMMIT
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            async with db.transaction() as conn:
                await conversations.save(conn, Conversation(10**9, "report", "x", {}, [], 1),
                                         now)
                await _person(conn, "rolled back")  # raised here, by the next statement
        for _ in range(db.pool_size + 1):  # every connection still serves, clean
            async with db.transaction() as conn:
                await _person(conn, "after")
        async with db.read() as conn:
            names = {r[0] for r in await conn.execute_fetchall(
                "SELECT display_name FROM people WHERE display_name IN ('rolled back', 'after')")}
        assert names == {"after"}


async def test_the_pools_statements_are_prepared_by_their_values_types_and_evicted(
        pg_migrated: str) -> None:
    """The pool's connections send on libpq directly (storage/pg_wire.py): a statement is
    prepared once per types of its values (NULL, a number as text, an instant typed), more
    distinct statements than PREPARED_MAX still run (the least used is deallocated, and
    prepared again when it comes back), and the server never holds more than that."""
    from storage.pg_wire import PREPARED_MAX

    async with Database(pg_migrated) as db, db.read() as conn:
        assert conn.wire is not None
        for value, expected in ((None, True), ("x", False), (3, False), (None, True)):
            rows = await conn.execute_fetchall("SELECT CAST(? AS text) IS NULL AS empty",
                                               (value,))
            assert rows[0]["empty"] is expected
        instant = "2025-01-10T03:00:00.000000+00:00"
        rows = await conn.execute_fetchall(
            "SELECT :at = CAST('2025-01-10 03:00+00' AS timestamptz) AND :at > :at::date",
            {"at": instant})
        assert rows[0][0] is True
        for i in range(PREPARED_MAX + 40):
            for _ in range(2):  # prepared the second time
                assert (await conn.execute_fetchall(f"SELECT ? + {i}", (1,)))[0][0] == i + 1
        for _ in range(2):  # evicted long ago: prepared again
            assert (await conn.execute_fetchall("SELECT ? + 0", (5,)))[0][0] == 5
        held = await conn.execute_fetchall("SELECT count(*) FROM pg_prepared_statements")
        assert PREPARED_MAX // 2 < held[0][0] <= PREPARED_MAX


async def test_a_prepared_statement_made_stale_by_a_migration_elsewhere_is_not_kept(
        pg_migrated: str) -> None:
    """Another instance changed a column's type under a prepared statement ("cached plan
    must not change result type"): the statement fails once, and the connection with its
    prepared statements is replaced, so the next try runs."""
    with psycopg.connect(pg_migrated, autocommit=True) as admin:
        admin.execute("CREATE TABLE gauges (id bigint PRIMARY KEY, level integer)")
        admin.execute("INSERT INTO gauges VALUES (1, 7)")
    async with Database(pg_migrated) as db:
        async with db.read() as conn:
            for _ in range(3):
                assert (await conn.execute_fetchall(
                    "SELECT level FROM gauges WHERE id = ?", (1,)))[0][0] == 7
            pid = (await conn.execute_fetchall("SELECT pg_backend_pid()"))[0][0]
        with psycopg.connect(pg_migrated, autocommit=True) as admin:
            admin.execute("ALTER TABLE gauges ALTER COLUMN level TYPE text")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            async with db.read() as conn:
                await conn.execute_fetchall("SELECT level FROM gauges WHERE id = ?", (1,))
        for _ in range(db.pool_size + 1):
            async with db.read() as conn:
                assert (await conn.execute_fetchall(
                    "SELECT level FROM gauges WHERE id = ?", (1,)))[0][0] == "7"
                assert (await conn.execute_fetchall("SELECT pg_backend_pid()"))[0][0] != pid
