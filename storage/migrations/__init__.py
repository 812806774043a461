"""Versioned schema migrations, applied at start-up.

`PRAGMA user_version` holds the version a file is at. Each migration runs in its
own transaction together with the version bump, so a crash mid-migration leaves
the file at the previous version, never half-way.

Each migration says whether the previous version's code keeps working on it
(`expand_only=True`: new tables, nullable or defaulted columns, indexes, rows) or not
(the default: breaking). A program older than the database starts only when every newer
migration is expand-only (storage/migrations/compatibility.py, README: Upgrading one
instance at a time); the reason for each declaration is in the comment above its line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from storage import area_versions
from storage.connection import Connection
from storage.migrations import compatibility
from storage.migrations.areas_data import load_areas
from storage.migrations.compatibility import SchemaIncompatible as SchemaIncompatible
from storage.migrations.compatibility import SchemaTooNew as SchemaTooNew

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql_file: str | None = None
    run: Callable[[Connection], Awaitable[None]] | None = None
    # Code of the schema version before this one keeps working on the database it leaves
    # (reads and writes, with instances of both versions serving at once). Not declared:
    # breaking (a dropped or renamed column or table, a changed meaning).
    expand_only: bool = False
    # A breaking migration that is the contract step of an expand/contract pair: code from
    # this schema version on (the release that stopped using what it drops) keeps working.
    serves_code_from: int | None = None


MIGRATIONS: tuple[Migration, ...] = (
    # Breaking by nature: no code is older than the first schema.
    Migration(1, "initial schema", sql_file="0001_initial.sql"),
    # Rows only: code at 1 reads areas it could not find before, writes nothing new.
    Migration(2, "provinces, districts, tambons and learning networks", run=load_areas,
              expand_only=True),
    # A nullable column, a new table, an index.
    Migration(3, "report photo platform ids, linked group chats",
              sql_file="0003_media_and_groups.sql", expand_only=True),
    # New tables and indexes only.
    Migration(4, "the CERCAP cycle: forums, plans, progress, support requests, reviews, lessons",
              sql_file="0004_cercap_cycle.sql", expand_only=True),
    # New tables, the schedules' rows, outbox.batch nullable (old code sends batch rows as
    # any other), indexes.
    Migration(5, "reminder schedules, pauses, broadcasts", sql_file="0005_reminders.sql",
              expand_only=True),
    Migration(6, "indexes for area summaries", sql_file="0006_summary_indexes.sql",
              expand_only=True),
    # A new table: old code handles its updates directly, processed_updates keeps each once.
    Migration(7, "durable intake: the inbox of stored updates", sql_file="0007_inbox.sql",
              expand_only=True),
    Migration(8, "indexes for pruning by retention", sql_file="0008_retention_indexes.sql",
              expand_only=True),
    # Breaking (a changed meaning): a review now judges one version of its submission;
    # old code's reviews of a corrected submission would be stored as judging version 1,
    # and the newer code would keep the corrected submission waiting after its review.
    Migration(11, "submission versions: corrections after a review",
              sql_file="0011_submission_versions.sql"),
    Migration(12, "the LINE rich menus of each role", sql_file="0012_line_rich_menus.sql",
              expand_only=True),
    # A counter with a default: old code's decisions and new requests leave it right
    # (a correction moves the status back to submitted/forwarded, which old code reads).
    Migration(13, "support request versions: corrections after a return",
              sql_file="0013_support_request_versions.sql", expand_only=True),
    Migration(14, "indexes for the public web site", sql_file="0014_web_indexes.sql",
              expand_only=True),
    Migration(15, "web sign-in links and sessions", sql_file="0015_sign_in.sql",
              expand_only=True),
    Migration(16, "success stories and the villages' consent", sql_file="0016_stories.sql",
              expand_only=True),
    # A new table; people joining through an old instance get no notice record (the old
    # version gave none either).
    Migration(17, "privacy notices given at joining", sql_file="0017_notice_acceptances.sql",
              expand_only=True),
    # A new table, people.erased_at nullable, indexes.
    Migration(18, "erasure requests; erased people", sql_file="0018_erasure.sql",
              expand_only=True),
    # A new table. While an old instance leads, a tambon with its own time also gets the
    # kind's reminder at the default time (once more that day at most; none lost).
    Migration(19, "per-tambon reminder times", sql_file="0019_tambon_reminder_times.sql",
              expand_only=True),
    # A new table and triggers that keep it as old code writes the areas' rows.
    Migration(20, "per-province data versions (the web site's cache)", run=area_versions.create,
              expand_only=True),
    # A nullable column, a wider CHECK, an index: old code reads only 'pending'/'failed' rows,
    # a handled row's key still stops its redelivery, and new code honours old claims.
    Migration(21, "handled updates kept in the inbox", sql_file="0021_inbox_handled.sql",
              expand_only=True),
    # Two nullable columns old code never reads (while an old instance leads, the new ones
    # leave the sending to it: bot/outbox_sender.py, paused).
    Migration(22, "outbox leases: every instance sends", sql_file="0022_outbox_leases.sql",
              expand_only=True),
    # A new table (SQLite) or a nullable column (PostgreSQL's schema_migrations).
    Migration(23, "which program versions can serve the database", run=compatibility.create_record,
              expand_only=True),
    # The same triggers, fired at the COMMIT (PostgreSQL; nothing on SQLite): what they
    # write, and when it becomes visible, is unchanged.
    Migration(24, "per-province data versions written at the commit",
              run=area_versions.bump_at_commit, expand_only=True),
)

# Numbers may be registered out of order by parallel work: the newest is the largest.
LATEST_VERSION = max(m.version for m in MIGRATIONS)


def known() -> tuple[Migration, ...]:
    """The migrations this program knows, read at each call (a test cuts the list to play
    an older program)."""
    return MIGRATIONS


def latest_version() -> int:
    return max(m.version for m in known())


async def schema_version(conn: Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _apply(conn: Connection, migration: Migration) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        if migration.sql_file:
            sql = files("storage.migrations").joinpath(migration.sql_file).read_text("utf-8")
            for statement in _statements(sql):
                await conn.execute(statement)
        if migration.run:
            await migration.run(conn)
        await conn.execute(f"PRAGMA user_version = {migration.version}")
        await compatibility.record(conn, migration, known())
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(conn: Connection, target: int | None = None) -> int:
    """Bring the file up to `target` (the newest); returns the version it ends at."""
    return await apply_from(conn, await schema_version(conn), target, _apply)


async def apply_from(conn: Any, current: int, target: int | None,
                     apply: Callable[[Any, Migration], Awaitable[object]]) -> int:
    """Apply, with `apply` (one engine's way), every migration after `current` up to
    `target`, in order; returns the version the database ends at. A database newer than
    this program is left as it is when every newer migration still serves this version
    (it returns that newer version), else SchemaTooNew (compatibility.check_served)."""
    latest = latest_version()
    if current > latest:
        await compatibility.check_served(conn, current, latest)
        log.warning("database is at schema version %d, newer than this program (%d): served,"
                    " every newer migration is expand-only", current, latest)
        return current
    target = latest if target is None else target
    for migration in sorted(known(), key=lambda m: m.version):
        if current < migration.version <= target:
            log.info("migrating database to version %d: %s", migration.version, migration.name)
            await apply(conn, migration)
            current = migration.version
    return current
