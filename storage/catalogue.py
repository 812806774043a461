"""What the schema holds, asked of the running engine's own catalogue: SQLite's
`sqlite_master` and table-valued pragmas, PostgreSQL's `information_schema` (the current
schema). One function per question, two engine answers; callers (the erasure, the copy of
a person's data, the tests) never learn which engine answered.

Which connection is PostgreSQL's is told by its class's module (storage/engine_postgres.py),
so a SQLite bot never imports psycopg."""

from __future__ import annotations

from typing import Any

# Column types whose values are text on PostgreSQL (what LIKE and REPLACE apply to).
PG_TEXT_TYPES = ("text", "character varying", "character")


def is_postgres(conn: Any) -> bool:
    return type(conn).__module__ == "storage.engine_postgres"


async def tables(conn: Any) -> list[str]:
    """Every table of the schema, by name."""
    if is_postgres(conn):
        rows = await conn.execute_fetchall(
            "SELECT table_name FROM information_schema.tables WHERE table_schema ="
            " current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")
    else:
        rows = await conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            " ORDER BY name")
    return [str(r[0]) for r in rows]


async def columns(conn: Any, table: str) -> list[str]:
    """Every column of `table`, in the table's order."""
    if is_postgres(conn):
        rows = await conn.execute_fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
    else:
        rows = await conn.execute_fetchall("SELECT name FROM pragma_table_info(?) ORDER BY cid",
                                           (table,))
    return [str(r[0]) for r in rows]


async def text_columns(conn: Any, table: str) -> list[str]:
    """The columns of `table` that can hold text. On SQLite every column (a value of any
    type fits any column, whatever its declared type); on PostgreSQL the columns of a text
    type (`PG_TEXT_TYPES`)."""
    if not is_postgres(conn):
        return await columns(conn, table)
    marks = ", ".join("?" * len(PG_TEXT_TYPES))
    rows = await conn.execute_fetchall(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        f" current_schema() AND table_name = ? AND data_type IN ({marks})"
        " ORDER BY ordinal_position", (table, *PG_TEXT_TYPES))
    return [str(r[0]) for r in rows]


async def references(conn: Any, target: str) -> set[tuple[str, str]]:
    """(table, column) of every foreign key pointing at `target`."""
    if is_postgres(conn):
        rows = await conn.execute_fetchall(
            "SELECT k.table_name, k.column_name FROM information_schema.table_constraints c"
            " JOIN information_schema.key_column_usage k ON k.constraint_schema ="
            " c.constraint_schema AND k.constraint_name = c.constraint_name"
            " AND k.table_name = c.table_name"
            " JOIN information_schema.constraint_column_usage u ON u.constraint_schema ="
            " c.constraint_schema AND u.constraint_name = c.constraint_name"
            " WHERE c.constraint_type = 'FOREIGN KEY' AND c.table_schema = current_schema()"
            " AND u.table_name = ?", (target,))
        return {(str(r[0]), str(r[1])) for r in rows}
    found: set[tuple[str, str]] = set()
    for table in await tables(conn):
        for row in await conn.execute_fetchall(
                'SELECT "table", "from" FROM pragma_foreign_key_list(?)', (table,)):
            if row[0] == target:
                found.add((table, str(row[1])))
    return found
