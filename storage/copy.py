"""`cercap-bot db copy --from SQLITE_PATH --to postgresql://…`: a province's SQLite file into
a PostgreSQL database, so a deployment grows without starting over.

- Refused while a bot runs on the file (its instance lock, storage/instance_lock.py, is
  held for the whole copy, so none starts meanwhile either).
- The file is first brought to this program's schema version (as the bot's start would),
  the PostgreSQL database too (created tables, storage/migrations/postgres.py).
- Every table of the file, in one transaction, through the COPY protocol: straight into a
  table that is empty (TRUNCATEd first, so that COPY FREEZE writes the rows frozen and marks
  their pages all-visible: index-only scans work from the start); into a temporary table
  of the same shape, then one INSERT … SELECT … ON CONFLICT (primary key) DO UPDATE, into
  one that is not, so a rerun writes the same rows again (idempotent) and a row changed
  since the last copy is updated. The file is read in a worker thread while the previous
  batch goes to the server.
- Triggers do not fire row by row: `SET LOCAL session_replication_role = replica` when the
  user may (a superuser, or one granted SET on it), which also skips the per-row foreign
  key checks; these are then checked once per foreign key, one anti-join each (a missing
  parent rolls everything back). A user who may not has the tables' own triggers disabled
  inside the transaction instead (ALTER TABLE … DISABLE TRIGGER, enabled again before the
  commit; the foreign keys then are checked row by row as usual).
- What the triggers maintain, `area_versions` (storage/area_versions.py), is copied as the
  file has it; a province whose version on PostgreSQL was already at least the file's gets
  one more than that, so a page cached from the old rows is not served again.
- Identity sequences are set past the largest id copied, so new rows get new ids.
- Counts checked: each table holds as many rows on both sides, or the copy is rolled back.
- After the commit each copied table is VACUUMed and ANALYZEd: the planner's statistics, and
  the visibility map of rows upserted into a table that was not empty. (Measured on the
  nationwide file: without FREEZE the nation's summary took 6-7 s after the copy, the
  visibility map being set only as far as VACUUM got before autovacuum's work on the same
  tables got in its way, and 1.4 s once autovacuum had been through everything.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.db import Database
from storage.instance_lock import instance_lock

# The target records its own migrations as it is migrated (the file has the table from
# migration 23 on): never copied over it.
TARGETS_OWN_TABLES = frozenset({"schema_migrations"})
# Written by triggers as the other tables' rows go in (storage/area_versions.py): copied
# last, as the file has it (see the module's docstring).
COPY_LAST = ("area_versions",)
BATCH = 10_000  # rows read from the file at a time


class CopyError(RuntimeError):
    """The copy cannot be done (or did not check out); nothing was written."""


@dataclass(frozen=True)
class CopyResult:
    counts: dict[str, int]  # rows per table, equal on both sides
    triggers: str = "replica"  # how per-row triggers were kept quiet: "replica" or "disabled"


def _tables_parents_first(source: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]
    parents = {name: {r[2] for r in source.execute(f'PRAGMA foreign_key_list("{name}")')
                      if r[2] != name} for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        if not ready:  # a cycle between tables: keep the rest in name order
            ready = [n for n in names if n not in ordered]
        ordered.extend(ready)
    return [n for n in ordered if n not in COPY_LAST] + [n for n in ordered if n in COPY_LAST]


def _columns(source: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in source.execute(f'PRAGMA table_info("{table}")')]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _stream(cur: Any, source: sqlite3.Connection, table: str, into: str,
                  columns: list[str], freeze: bool = False) -> None:
    """The file's rows of `table` COPYed into `into`; the next batch is read from the file in
    a thread while the current one is written."""
    quoted = ", ".join(_q(c) for c in columns)
    rows = source.execute(f"SELECT {quoted} FROM {_q(table)}")
    options = " (FREEZE)" if freeze else ""
    async with cur.copy(f"COPY {_q(into)} ({quoted}) FROM STDIN{options}") as copy:
        batch = rows.fetchmany(BATCH)
        while batch:
            following = asyncio.ensure_future(asyncio.to_thread(rows.fetchmany, BATCH))
            try:
                for row in batch:
                    await copy.write_row(row)
            finally:
                batch = await following


async def _primary_key(cur: Any, table: str) -> list[str]:
    await cur.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (_q(table),))
    return [r[0] for r in await cur.fetchall()]


async def _truncate_empty(cur: Any, tables: list[str]) -> set[str]:
    """The tables that are empty on PostgreSQL, TRUNCATEd in this transaction so that COPY
    FREEZE may fill them: rows written frozen and their pages marked all-visible in the
    visibility map, which index-only scans need (otherwise the first VACUUM, racing
    autovacuum, decides how fast the summaries are). Only a set that every table referring
    to one of them (foreign keys) belongs to can be truncated."""
    empty = set()
    for table in tables:
        await cur.execute(f"SELECT EXISTS (SELECT 1 FROM {_q(table)})")
        if not (await cur.fetchone())[0]:
            empty.add(table)
    await cur.execute(
        "SELECT p.relname, c.relname FROM pg_constraint k JOIN pg_class p ON p.oid ="
        " k.confrelid JOIN pg_class c ON c.oid = k.conrelid WHERE k.contype = 'f'"
        " AND p.relnamespace = current_schema()::regnamespace")
    referrers: dict[str, set[str]] = {}
    for parent, child in await cur.fetchall():
        referrers.setdefault(parent, set()).add(child)
    while True:
        keep = {t for t in empty if referrers.get(t, set()) <= empty}
        if keep == empty:
            break
        empty = keep
    if empty:
        await cur.execute("TRUNCATE " + ", ".join(_q(t) for t in sorted(empty)))
    return empty


async def _copy_table(cur: Any, source: sqlite3.Connection, table: str,
                      columns: list[str], truncated: bool) -> None:
    quoted = ", ".join(_q(c) for c in columns)
    if truncated:
        await _stream(cur, source, table, table, columns, freeze=True)
        return await _move_sequence(cur, table, columns)
    await cur.execute(f"SELECT EXISTS (SELECT 1 FROM {_q(table)})")
    if not (await cur.fetchone())[0]:
        await _stream(cur, source, table, table, columns)  # empty: straight in
    else:
        key = await _primary_key(cur, table)
        if not key:
            raise CopyError(f"table {table} has no primary key on PostgreSQL: cannot copy it"
                            " again")
        staging = f"copy_{table}"
        await cur.execute(
            f"CREATE TEMPORARY TABLE {_q(staging)} (LIKE {_q(table)}) ON COMMIT DROP")
        await _stream(cur, source, table, staging, columns)
        others = [c for c in columns if c not in key]
        update = (" DO UPDATE SET " + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in others)
                  if others else " DO NOTHING")
        await cur.execute(
            f"INSERT INTO {_q(table)} ({quoted}) SELECT {quoted} FROM {_q(staging)}"
            f" ON CONFLICT ({', '.join(_q(k) for k in key)}){update}")
    await _move_sequence(cur, table, columns)


async def _move_sequence(cur: Any, table: str, columns: list[str]) -> None:
    if "id" in columns:
        await cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", (_q(table),))
        sequence = (await cur.fetchone())[0]
        if sequence:
            await cur.execute(
                f"SELECT setval(%s, GREATEST((SELECT max(id) FROM {_q(table)}), 1),"
                f" (SELECT max(id) FROM {_q(table)}) IS NOT NULL)", (sequence,))


async def _quiet_triggers(target: Any, cur: Any, tables: list[str]) -> tuple[str, list[str]]:
    """Per-row triggers off for this transaction: ("replica", []) or ("disabled", the
    ALTER TABLE statements that enable them again)."""
    import psycopg

    try:
        async with target.transaction():  # a savepoint: a refusal leaves the rest intact
            await cur.execute("SET LOCAL session_replication_role = replica")
        return "replica", []
    except psycopg.errors.InsufficientPrivilege:
        pass
    await cur.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND c.relnamespace ="
        " current_schema()::regnamespace AND c.relname = ANY(%s) ORDER BY 1, 2", (tables,))
    enable = []
    for table, trigger in await cur.fetchall():
        await cur.execute(f"ALTER TABLE {_q(table)} DISABLE TRIGGER {_q(trigger)}")
        enable.append(f"ALTER TABLE {_q(table)} ENABLE TRIGGER {_q(trigger)}")
    return "disabled", enable


async def _check_foreign_keys(cur: Any, tables: list[str]) -> None:
    """Every foreign key of the copied tables, one anti-join each (replica mode skipped the
    per-row checks)."""
    await cur.execute(
        "SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,"
        " ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)"
        "  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),"
        " ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)"
        "  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid WHERE c.contype = 'f'"
        " AND t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)"
        " ORDER BY 1", (tables,))
    for name, child, parent, columns, referenced in await cur.fetchall():
        present = " AND ".join(f"c.{_q(col)} IS NOT NULL" for col in columns)
        match = " AND ".join(f"p.{_q(r)} = c.{_q(col)}"
                             for col, r in zip(columns, referenced, strict=True))
        await cur.execute(f"SELECT count(*) FROM {child} c WHERE {present} AND NOT EXISTS"
                          f" (SELECT 1 FROM {parent} p WHERE {match})")
        missing = (await cur.fetchone())[0]
        if missing:
            raise CopyError(f"table {child}: {missing} rows refer to rows of {parent} that"
                            f" do not exist ({name}); nothing was copied")


async def _versions_kept_moving(cur: Any) -> None:
    """area_versions as the file has it, except that a province never goes back: one past
    what PostgreSQL had where that was not below the file's."""
    await cur.execute("CREATE TEMPORARY TABLE copy_old_versions ON COMMIT DROP AS"
                      " SELECT province_code, version FROM area_versions")
    await cur.execute("DELETE FROM area_versions")


async def _versions_after(cur: Any) -> None:
    await cur.execute(
        "UPDATE area_versions a SET version = o.version + 1 FROM copy_old_versions o"
        " WHERE o.province_code = a.province_code AND o.version >= a.version")


async def copy_database(sqlite_path: Path, url: str,
                        progress: Callable[[str, int], None] | None = None) -> CopyResult:
    """Copy every table of `sqlite_path` into the PostgreSQL database at `url`."""
    import psycopg

    if not sqlite_path.is_file():
        raise CopyError(f"no SQLite database at {sqlite_path}")
    with instance_lock(sqlite_path):  # InstanceLocked while a bot runs on it
        async with Database(sqlite_path):
            pass  # the file at this program's schema version
        async with Database(url):
            pass  # the PostgreSQL schema at the same version
        source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True,
                                 check_same_thread=False)  # batches read in a worker thread
        try:
            tables = [t for t in _tables_parents_first(source) if t not in TARGETS_OWN_TABLES]
            counts: dict[str, int] = {}
            async with await psycopg.AsyncConnection.connect(url) as target:
                async with target.cursor() as cur:
                    await cur.execute("SET TIME ZONE 'UTC'")
                    await cur.execute("SET DateStyle = 'ISO, YMD'")
                    mode, enable = await _quiet_triggers(target, cur, tables)
                    truncated = await _truncate_empty(cur, tables)
                    for table in tables:
                        if table == "area_versions":
                            await _versions_kept_moving(cur)
                        await _copy_table(cur, source, table, _columns(source, table),
                                          table in truncated)
                        if table == "area_versions":
                            await _versions_after(cur)
                        expected = source.execute(
                            f"SELECT count(*) FROM {_q(table)}").fetchone()[0]
                        await cur.execute(f"SELECT count(*) FROM {_q(table)}")
                        found = (await cur.fetchone())[0]
                        if found != expected:
                            raise CopyError(
                                f"table {table}: {expected} rows in {sqlite_path}, {found}"
                                " in PostgreSQL (rows there that the file does not have?);"
                                " nothing was copied")
                        counts[table] = int(found)
                        if progress:
                            progress(table, counts[table])
                    if mode == "replica":
                        await _check_foreign_keys(cur, tables)
                    for statement in enable:
                        await cur.execute(statement)
                await target.commit()
                await target.set_autocommit(True)
                await target.execute(  # not in a transaction: VACUUM cannot be
                    "VACUUM (ANALYZE) " + ", ".join(_q(t) for t in tables))
        finally:
            source.close()
    return CopyResult(counts, mode)
