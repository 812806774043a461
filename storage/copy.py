"""`cercap-bot db copy --from SQLITE_PATH --to postgresql://…`: a province's SQLite file into
a PostgreSQL database, so a deployment grows without starting over.

- Refused while a bot runs on the file (its instance lock, storage/instance_lock.py, is
  held for the whole copy, so none starts meanwhile either).
- The file is first brought to this program's schema version (as the bot's start would),
  the PostgreSQL database too (created tables, storage/migrations/postgres.py).
- Every table of the file, in one transaction: COPY into a temporary table of the same
  shape, then INSERT … ON CONFLICT (primary key) DO UPDATE into the real one, so a rerun
  writes the same rows again (idempotent) and a row changed since the last copy is
  updated. Foreign keys are checked at the end of each table's statement, so row order
  within a table (areas under areas) does not matter; tables go parents first.
- Identity sequences are set past the largest id copied, so new rows get new ids.
- Counts checked: each table holds as many rows on both sides, or the copy is rolled back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.db import Database
from storage.instance_lock import instance_lock

PG_ONLY_TABLES = frozenset({"schema_migrations"})
# Written by triggers as the other tables' rows go in (storage/area_versions.py): emptied
# and copied last, so it ends as the file has it.
COPY_LAST = ("area_versions",)


class CopyError(RuntimeError):
    """The copy cannot be done (or did not check out); nothing was written."""


@dataclass(frozen=True)
class CopyResult:
    counts: dict[str, int]  # rows per table, equal on both sides


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


async def _copy_table(cur: object, source: sqlite3.Connection, table: str,
                      columns: list[str]) -> None:
    quoted = ", ".join(f'"{c}"' for c in columns)
    await cur.execute(  # type: ignore[attr-defined]
        f'CREATE TEMPORARY TABLE "copy_{table}" (LIKE "{table}") ON COMMIT DROP')
    rows = source.execute(f'SELECT {quoted} FROM "{table}"')
    async with cur.copy(f'COPY "copy_{table}" ({quoted}) FROM STDIN') as copy:  # type: ignore[attr-defined]
        while batch := rows.fetchmany(5000):
            for row in batch:
                await copy.write_row(row)
    await cur.execute(  # type: ignore[attr-defined]
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f'"{table}"',))
    key = [r[0] for r in await cur.fetchall()]  # type: ignore[attr-defined]
    if not key:
        raise CopyError(f"table {table} has no primary key on PostgreSQL: cannot copy it again")
    others = [c for c in columns if c not in key]
    update = (" DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in others)
              if others else " DO NOTHING")
    await cur.execute(  # type: ignore[attr-defined]
        f'INSERT INTO "{table}" ({quoted}) SELECT {quoted} FROM "copy_{table}"'
        f' ON CONFLICT ({", ".join(chr(34) + k + chr(34) for k in key)}){update}')
    if "id" in columns:
        await cur.execute(  # type: ignore[attr-defined]
            "SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table}"',))
        sequence = (await cur.fetchone())[0]  # type: ignore[attr-defined]
        if sequence:
            await cur.execute(  # type: ignore[attr-defined]
                f'SELECT setval(%s, GREATEST((SELECT max(id) FROM "{table}"), 1),'
                f' (SELECT max(id) FROM "{table}") IS NOT NULL)', (sequence,))


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
        source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            tables = _tables_parents_first(source)
            counts: dict[str, int] = {}
            async with await psycopg.AsyncConnection.connect(url) as target:
                async with target.cursor() as cur:
                    await cur.execute("SET TIME ZONE 'UTC'")
                    for table in tables:
                        if table in PG_ONLY_TABLES:
                            continue
                        if table in COPY_LAST:
                            await cur.execute(f'DELETE FROM "{table}"')
                        await _copy_table(cur, source, table, _columns(source, table))
                        expected = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()
                        await cur.execute(f'SELECT count(*) FROM "{table}"')
                        found = (await cur.fetchone())[0]  # type: ignore[index]
                        if found != expected[0]:
                            raise CopyError(
                                f"table {table}: {expected[0]} rows in {sqlite_path}, {found}"
                                " in PostgreSQL (rows there that the file does not have?);"
                                " nothing was copied")
                        counts[table] = int(found)
                        if progress:
                            progress(table, counts[table])
                await target.commit()
        finally:
            source.close()
    return CopyResult(counts)
