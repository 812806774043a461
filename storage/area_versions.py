"""Per-province data versions (migration 20): every committed write to a table the summaries
read advances the version of the province of the row it wrote (before and after a change),
through triggers, so the web site can keep each province's share of the nation's and the
learning networks' pages (handlers.summaries.SummaryPart) until a write touches that
province, while the page cache itself follows the whole database's data version.

A trigger is one upsert of a row of this small table per row written; the write path has
nothing else to do. A province missing from the table is at version 0. Rows of `areas`
count in the province of their code (`TH`, `LNxx` give the rows `TH`, `LN`: area names
above provinces are read afresh with every page).

On PostgreSQL the triggers fire at the COMMIT (migration 24). The upsert locks the
province's row until the transaction ends: fired at the write, it made every other
transaction writing in that province wait for the rest of this one, its round trips to the
bot included (bench.throughput_line --postgres: a report's INSERT took 8.8 ms, nearly all
of it waiting). At the COMMIT the row is held only while the commit is written.
"""

from __future__ import annotations

from typing import Any

# (table, the column holding the village code)
TRACKED = (("problems", "village_code"), ("forums", "village_code"),
           ("plans", "village_code"), ("plan_items", "village_code"),
           ("progress_updates", "village_code"), ("support_requests", "village_code"),
           ("lessons", "village_code"), ("areas", "code"))

_TABLE = ("CREATE TABLE IF NOT EXISTS area_versions (province_code TEXT PRIMARY KEY,"
          " version INTEGER NOT NULL)")
_BUMP = ("INSERT INTO area_versions (province_code, version) VALUES (substr({row}.{col}, 1, 2), 1)"
         " ON CONFLICT (province_code) DO UPDATE SET version = area_versions.version + 1")


def _sqlite_statements() -> list[str]:
    found = [_TABLE]
    for table, col in TRACKED:
        found += [
            f"CREATE TRIGGER IF NOT EXISTS {table}_version_insert AFTER INSERT ON {table}"
            f" BEGIN {_BUMP.format(row='NEW', col=col)}; END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_version_update AFTER UPDATE ON {table}"
            f" BEGIN {_BUMP.format(row='NEW', col=col)}; END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_version_moved AFTER UPDATE OF {col}"
            f" ON {table} WHEN substr(OLD.{col}, 1, 2) != substr(NEW.{col}, 1, 2)"
            f" BEGIN {_BUMP.format(row='OLD', col=col)}; END",
            f"CREATE TRIGGER IF NOT EXISTS {table}_version_delete AFTER DELETE ON {table}"
            f" BEGIN {_BUMP.format(row='OLD', col=col)}; END",
        ]
    return found


def _postgres_statements(at_commit: bool) -> list[str]:
    found = [_TABLE.replace("INTEGER", "bigint")]
    for col in sorted({col for _, col in TRACKED}):
        new, old = _BUMP.format(row="NEW", col=col), _BUMP.format(row="OLD", col=col)
        found.append(
            f"CREATE OR REPLACE FUNCTION cercap_area_version_{col}() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" IF TG_OP <> 'DELETE' THEN {new}; END IF;"
            f" IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE'"
            f" AND substr(OLD.{col}, 1, 2) IS DISTINCT FROM substr(NEW.{col}, 1, 2))"
            f" THEN {old}; END IF;"
            " RETURN NULL; END $$")
    kind, when = ("CONSTRAINT TRIGGER", " DEFERRABLE INITIALLY DEFERRED") if at_commit \
        else ("TRIGGER", "")
    for table, col in TRACKED:
        found += [f"DROP TRIGGER IF EXISTS {table}_version ON {table}",
                  f"CREATE {kind} {table}_version AFTER INSERT OR UPDATE OR DELETE ON {table}"
                  f"{when} FOR EACH ROW EXECUTE FUNCTION cercap_area_version_{col}()"]
    return found


def _is_postgres(conn: Any) -> bool:
    return type(conn).__module__ == "storage.engine_postgres"


async def create(conn: Any) -> None:
    """Migration 20: the table and its triggers, in the connection's engine's dialect."""
    statements = _postgres_statements(at_commit=False) if _is_postgres(conn) \
        else _sqlite_statements()
    for statement in statements:
        await conn.execute(statement)


async def bump_at_commit(conn: Any) -> None:
    """Migration 24: on PostgreSQL the triggers of migration 20 become deferred ones, fired
    at the COMMIT. SQLite has one writer at a time: nothing to change there."""
    if _is_postgres(conn):
        for statement in _postgres_statements(at_commit=True):
            await conn.execute(statement)


async def province_versions(conn: Any) -> dict[str, int]:
    """Every province code with its version (a province not listed is at 0)."""
    rows = await conn.execute_fetchall("SELECT province_code, version FROM area_versions")
    return {str(code): int(version) for code, version in rows}
