"""Which program versions can serve a database: rolling upgrades, one instance at a time.

Each migration declares whether code of the schema version before it keeps working on the
database it leaves (`Migration.expand_only`: only new tables, new columns that are nullable
or have a default, new indexes, new rows, new triggers that keep data the old code does not
read) or not (breaking: a column or table dropped or renamed, a NOT NULL column without a
default, a value whose meaning changed so that what the old code writes or reads is wrong).
A migration that does not declare itself is breaking. The contract step of an
expand/contract pair (release A adds the new and stops using the old; release B drops the
old) is breaking for code older than A only: it says so with `serves_code_from=A`.

When a migration is applied, the oldest code schema version that can still serve the
database is recorded with it: `schema_migrations.serves_from`, the most any migration at
or before it needs (`serves_from()`). The table exists on both engines from migration 23
(on PostgreSQL it held the applied versions already and gains the column; on SQLite it is
new, and `PRAGMA user_version` stays the file's version). Migrations before 23 have no
`serves_from` (NULL, or no row on SQLite): a program older than 23 does not have this
check anyway, it refuses any database newer than itself.

A program whose newest migration is L, started on a database at V > L, serves it when
every applied migration newer than L records `serves_from <= L`; otherwise (or when a
newer migration has no record) it refuses with `SchemaTooNew`: one line, both versions,
what to do. A program that is already running when the schema moves on does not look
again: what it reads and writes keeps working because the newer migrations are expand-only.
Before a breaking migration is applied, the instances it breaks must be stopped (README);
on PostgreSQL a breaking migration is not applied while one of them holds its serving lock
(postgres.SERVING_LOCKS: OlderInstancesServing).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from storage.catalogue import is_postgres
from storage.timestamps import to_db

if TYPE_CHECKING:
    from storage.migrations import Migration

RECORDED_FROM = 23  # the first migration that records serves_from (it creates the column)
UPGRADE_HELP = "README: Upgrading one instance at a time"


class SchemaIncompatible(RuntimeError):
    """This program and the database (or the instances serving it) do not go together:
    one line for the operator (`cercap-bot` exits with status 2)."""


class SchemaTooNew(SchemaIncompatible):
    """The database was migrated by a newer program in a way this one cannot serve."""


class OlderInstancesServing(SchemaIncompatible):
    """A breaking migration, not applied: instances of a version it breaks still serve."""

    def __init__(self, migration: Migration, serving: list[tuple[int, int]]) -> None:
        versions = ", ".join(f"{n} of schema version {v}" for v, n in serving)
        super().__init__(
            f"migration {migration.version} ({migration.name}) is breaking for schema"
            f" version {needs_code_from(migration) - 1} and older, and instances still serve"
            f" the database ({versions}): stop them, then start this release again"
            f" ({UPGRADE_HELP})")


def needs_code_from(migration: Migration) -> int:
    """The oldest code schema version that works on the database this migration leaves, as
    far as this migration goes: any (0) when expand-only; for a contract step the release
    it names (`serves_code_from`); else its own version."""
    if migration.expand_only:
        return 0
    if migration.serves_code_from is not None:
        return min(migration.serves_code_from, migration.version)
    return migration.version


def serves_from(version: int, migrations: Iterable[Migration]) -> int:
    """The oldest code schema version that can serve a database at `version`: the most
    any migration at or before it needs (needs_code_from; 0 when none needs any)."""
    return max((needs_code_from(m) for m in migrations if m.version <= version), default=0)


async def create_record(conn: Any) -> None:
    """Migration 23: `schema_migrations` gains `serves_from` (PostgreSQL), or is created
    with it (SQLite). Expand-only: no program reads the column before this one."""
    if is_postgres(conn):
        await conn.execute(
            "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS serves_from integer")
    else:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " name TEXT NOT NULL, applied_at TEXT NOT NULL, serves_from INTEGER)")


async def record(conn: Any, migration: Migration, migrations: Iterable[Migration]) -> None:
    """In the migration's own transaction: its row, with the oldest version it serves."""
    if migration.version < RECORDED_FROM:
        if is_postgres(conn):
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, to_db(datetime.now(UTC))))
        return
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at, serves_from)"
        " VALUES (?, ?, ?, ?)",
        (migration.version, migration.name, to_db(datetime.now(UTC)),
         serves_from(migration.version, migrations)))


async def check_served(conn: Any, current: int, latest: int) -> None:
    """A database at `current`, newer than this program (`latest`): return when every
    newer applied migration says it still serves `latest`, else raise SchemaTooNew."""
    try:
        rows = await conn.execute_fetchall(
            "SELECT version, name, serves_from FROM schema_migrations WHERE version > ?"
            " ORDER BY version", (latest,))
    except sqlite3.OperationalError:  # a SQLite file migrated before 23: no record
        rows = []
    newer = {int(r[0]): (str(r[1]), r[2]) for r in rows}
    head = f"database is at schema version {current}, newer than this program ({latest}),"

    def todo(needed: int) -> str:
        return (f"upgrade this instance to a release of schema version {needed} or newer"
                f" (the database's is {current}; {UPGRADE_HELP})")

    if current not in newer or any(s is None for _, s in newer.values()):
        raise SchemaTooNew(f"{head} and it does not record which versions can still serve"
                           f" it: {todo(current)}")
    needed = max(int(s) for _, s in newer.values())
    for version, (name, serves) in newer.items():
        if int(serves) > latest:
            raise SchemaTooNew(f"{head} and its migration {version} ({name}) is breaking"
                               f" for this version: {todo(needed)}")
