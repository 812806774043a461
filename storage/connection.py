"""The writer's connection: aiosqlite's async interface over one sqlite3 connection whose
statements run right away, on the event loop's thread.

Handling an update is a dozen or two short statements on a small, indexed, WAL-mode
file: each takes a few microseconds in SQLite, while a hand-off to aiosqlite's thread
and back costs 60 to 160 µs of CPU (measured: `bench/latency_telegram.py --profile`).
So the hot path runs its statements inline, and the only slow statements it has, bulk
inserts of many rows and the queries that find whom a reminder goes to, go to a worker
thread. Long reads (summaries, exports) use aiosqlite's own connection,
`Database.reader()`, in its thread.

Statements are executed when `execute` is called; awaiting the result only hands back the
cursor, so code written for aiosqlite (`await conn.execute(...)`, `async with
conn.execute(...) as cur`) works unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import aiosqlite

Row = sqlite3.Row
Parameters = Sequence[Any] | Mapping[str, Any]
INLINE_MANY_ROWS = 200  # executemany with more rows than this runs in a worker thread
T = TypeVar("T")


class Cursor:
    """A finished statement: the rows it returned, its lastrowid and rowcount."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self
        yield  # a generator that finishes at once: `await` yields this cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class HeldRows:
    """A result's rows held in memory, handed out as a cursor does (both engines)."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: list[Any] = []

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows


class Fetched(HeldRows):
    """A statement's result read to the end (its statement finished: a COMMIT may follow
    while the caller still holds it)."""

    __slots__ = ("lastrowid", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._rows = cursor.fetchall()
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        cursor.close()

    async def __aenter__(self) -> Fetched:
        return self


class Later:
    """A statement whose result the caller reads later (`Connection.execute_later`): on
    SQLite it ran at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Fetched) -> None:
        self._cursor = cursor

    async def result(self) -> Fetched:
        return self._cursor


async def _to_thread_to_the_end(work: Callable[[], T]) -> T:
    """Run `work` on the connection in a worker thread. If the caller is cancelled (the
    bot stops), the statement still runs on in its thread: wait for it to end before the
    cancellation goes on, so nobody rolls back or closes the connection under it (SQLite
    would crash the process)."""
    future = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


class Connection:
    """The subset of aiosqlite.Connection the repositories use, run inline."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    @classmethod
    def open(cls, path: str) -> Connection:
        # check_same_thread off: bulk statements run in a worker thread while the event
        # loop waits for them, holding the database lock, so never two threads at once.
        return cls(sqlite3.connect(path, isolation_level=None, check_same_thread=False))

    @property
    def row_factory(self) -> Any:
        return self.raw.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self.raw.row_factory = factory

    @property
    def total_changes(self) -> int:
        return self.raw.total_changes

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def execute(self, sql: str, parameters: Parameters = ()) -> Cursor:
        return Cursor(self.raw.execute(sql, parameters))

    async def execute_later(self, sql: str, parameters: Parameters = ()) -> Later:
        """A statement whose result is read later: a server engine sends it with the next
        statement (storage/engine_postgres.py); here it runs now."""
        return Later(Fetched(self.raw.execute(sql, parameters)))

    async def execute_fetchall(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        return self.raw.execute(sql, parameters).fetchall()

    async def fetchall_in_thread(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        """A query that may read many rows (whom a nationwide reminder goes to), in a worker
        thread: the event loop answers webhooks meanwhile."""
        def run() -> list[Any]:
            cursor = self.raw.execute(sql, parameters)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

        return await _to_thread_to_the_end(run)

    async def executemany(self, sql: str, rows: Iterable[Parameters]) -> Cursor:
        rows = list(rows)
        if len(rows) <= INLINE_MANY_ROWS:
            return Cursor(self.raw.executemany(sql, rows))

        def run() -> sqlite3.Cursor:
            cursor = self.raw.executemany(sql, rows)
            cursor.close()  # done: nothing keeps the statement (and its locks) alive
            return cursor

        return Cursor(await _to_thread_to_the_end(run))

    async def close(self) -> None:
        self.raw.close()


# What read-only queries (summaries) accept: the writer's inline connection, or the
# reader, aiosqlite's threaded one.
AnyConnection = Connection | aiosqlite.Connection
