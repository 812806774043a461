"""Versioned schema migrations, applied at start-up.

`PRAGMA user_version` holds the version a file is at. Each migration runs in its
own transaction together with the version bump, so a crash mid-migration leaves
the file at the previous version, never half-way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from storage import area_versions
from storage.connection import Connection
from storage.migrations.areas_data import load_areas

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql_file: str | None = None
    run: Callable[[Connection], Awaitable[None]] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", sql_file="0001_initial.sql"),
    Migration(2, "provinces, districts, tambons and learning networks", run=load_areas),
    Migration(3, "report photo platform ids, linked group chats",
              sql_file="0003_media_and_groups.sql"),
    Migration(4, "the CERCAP cycle: forums, plans, progress, support requests, reviews, lessons",
              sql_file="0004_cercap_cycle.sql"),
    Migration(5, "reminder schedules, pauses, broadcasts", sql_file="0005_reminders.sql"),
    Migration(6, "indexes for area summaries", sql_file="0006_summary_indexes.sql"),
    Migration(7, "durable intake: the inbox of stored updates", sql_file="0007_inbox.sql"),
    Migration(8, "indexes for pruning by retention", sql_file="0008_retention_indexes.sql"),
    Migration(11, "submission versions: corrections after a review",
              sql_file="0011_submission_versions.sql"),
    Migration(12, "the LINE rich menus of each role", sql_file="0012_line_rich_menus.sql"),
    Migration(13, "support request versions: corrections after a return",
              sql_file="0013_support_request_versions.sql"),
    Migration(14, "indexes for the public web site", sql_file="0014_web_indexes.sql"),
    Migration(15, "web sign-in links and sessions", sql_file="0015_sign_in.sql"),
    Migration(16, "success stories and the villages' consent", sql_file="0016_stories.sql"),
    Migration(17, "privacy notices given at joining", sql_file="0017_notice_acceptances.sql"),
    Migration(18, "erasure requests; erased people", sql_file="0018_erasure.sql"),
    Migration(19, "per-tambon reminder times", sql_file="0019_tambon_reminder_times.sql"),
    Migration(20, "per-province data versions (the web site's cache)", run=area_versions.create),
)

# Numbers may be registered out of order by parallel work: the newest is the largest.
LATEST_VERSION = max(m.version for m in MIGRATIONS)


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
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def migrate(conn: Connection, target: int = LATEST_VERSION) -> int:
    """Bring the file up to `target`; returns the version it ends at."""
    return await apply_from(conn, await schema_version(conn), target, _apply)


async def apply_from(conn: Any, current: int, target: int,
                     apply: Callable[[Any, Migration], Awaitable[object]]) -> int:
    """Apply, with `apply` (one engine's way), every migration after `current` up to
    `target`, in order; returns the version the database ends at."""
    if current > LATEST_VERSION:
        raise RuntimeError(
            f"database is at schema version {current}, newer than this program ({LATEST_VERSION})"
        )
    for migration in sorted(MIGRATIONS, key=lambda m: m.version):
        if current < migration.version <= target:
            log.info("migrating database to version %d: %s", migration.version, migration.name)
            await apply(conn, migration)
            current = migration.version
    return current
