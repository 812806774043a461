"""PostgreSQL specifics (issue 14): migrations from every version, the column types, the SQL
translation, `db copy` from SQLite, `backup` pointing at pg_dump. A real server
(tests/pg_server.py, one per session); the rest of the suite runs on it through `db_path`."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

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
    assert not translate("INSERT INTO drafts (a) VALUES (?)", frozenset({"people"})).returns_id


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
