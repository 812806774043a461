"""Online backups with SQLite's backup API: safe while the bot runs (the copy is one
consistent snapshot, whatever is being written meanwhile), and restores that check the
file before replacing anything."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.migrations import LATEST_VERSION


class BackupError(Exception):
    pass


PG_DUMP_ADVICE = ("this database is PostgreSQL: back it up with pg_dump (pg_dump --format=custom"
                  " --file=FILE \"$CERCAP_DB\") and restore with pg_restore; see the README,"
                  " PostgreSQL")


def _file_only(db_path: Path | str) -> None:
    if str(db_path).startswith(("postgresql://", "postgres://")):
        raise BackupError(PG_DUMP_ADVICE)


def _check(path: Path) -> int:
    """The file's schema version, after an integrity check."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"{path} failed the integrity check: {result}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > LATEST_VERSION:
        raise BackupError(f"{path} is from a newer version of the bot (schema {version})")
    return version


def backup(db_path: Path, target: Path) -> int:
    """Copy the live database to `target` (a new file); returns the schema version."""
    _file_only(db_path)
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    return _check(target)


def restore(backup_path: Path, db_path: Path) -> int:
    """Replace the database with a backup (stop the bot first); returns the schema
    version restored. The next start migrates an older backup to the current schema."""
    _file_only(db_path)
    version = _check(backup_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    destination = sqlite3.connect(db_path)
    try:
        source.backup(destination)
        destination.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        destination.close()
        source.close()
    return version
