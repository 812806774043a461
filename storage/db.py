"""The SQLite database: one writer connection behind a lock, WAL, foreign keys on.

SQLite has one writer. Every write goes through `Database.transaction()`, which
holds an asyncio lock for the whole BEGIN IMMEDIATE … COMMIT, so two coroutines
never interleave transactions on the same connection. Keep transactions short and
never await the network inside one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.migrations import migrate

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = Path("data") / "cercap.db"
BUSY_TIMEOUT_MS = 5000


def db_path_from_env() -> Path:
    return Path(os.environ.get("CERCAP_DB") or DEFAULT_DB_PATH)


async def _configure(conn: aiosqlite.Connection) -> None:
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA synchronous = NORMAL")


class Database:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> Database:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        await _configure(self._conn)
        async with self._lock:
            await migrate(self._conn)
        return self

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: all of it commits or none of it does."""
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def reader(self) -> aiosqlite.Connection:
        """A second, read-only connection for long reads (summaries, exports): with WAL it
        sees the last committed state and never waits for, or holds up, the writer."""
        if self._reader is None:
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await _configure(self._reader)
            await self._reader.execute("PRAGMA query_only = ON")
        return self._reader

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A consistent read. Shares the writer's lock, so it never sees half a transaction."""
        async with self._lock:
            yield self.conn
