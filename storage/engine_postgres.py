"""The PostgreSQL engine: psycopg 3 (chosen by measurement: bench/pg_driver.py) behind the
same interface as the SQLite connection (storage/connection.py), so a repository reads the
same for both.

What differs per engine lives here:
- placeholders: the repositories write SQLite's `?` and `:name`; each statement is
  translated once (cached) to psycopg's `%s` / `%(name)s`;
- loose typing: the repositories pass whatever Python value they hold (an int for a text
  column, an ISO string for an instant), as SQLite allows. Parameters go to the server as
  text without a type (oid 0), so PostgreSQL infers each one's type from where it stands,
  as it does for a quoted literal;
- what comes back: instants (timestamptz) as storage/timestamps.py writes them (UTC ISO with
  microseconds), dates as 'YYYY-MM-DD', numeric as int when whole, rows indexable by
  position and by name like sqlite3.Row;
- `cursor.lastrowid`: an INSERT into a table with an identity `id` gets `RETURNING id`
  added (tables read from the catalogue), so `INSERT … RETURNING id` and lastrowid both work;
- SQLite-only spellings kept for old code: `INSERT OR IGNORE` becomes `ON CONFLICT DO
  NOTHING`, `PRAGMA data_version` a number that grows with every commit on the server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus

Parameters = Sequence[Any] | dict[str, Any]
DatabaseError = psycopg.Error


def is_postgres_url(target: object) -> bool:
    text = str(target)
    return text.startswith(("postgresql://", "postgres://"))


# ---- parameters and results ---------------------------------------------------------------

class _Untyped(Dumper):
    """Any value as text with no type: the server infers the type from the context."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(obj).encode()


_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


class _Text(_Untyped):
    """A string; one written by storage/timestamps.py (an instant) or an ISO date goes
    typed as timestamptz / date, so it compares with a column also where the server
    cannot infer a type (VALUES lists, CASE)."""

    def get_key(self, obj: Any, format: Any) -> Any:
        if len(obj) == 32 and _INSTANT.fullmatch(obj):
            return (str, "instant")
        if len(obj) == 10 and _DATE.fullmatch(obj):
            return (str, "date")
        return str

    def upgrade(self, obj: Any, format: Any) -> Dumper:
        key = self.get_key(obj, format)
        if key == (str, "instant"):
            return _InstantText(str)
        if key == (str, "date"):
            return _DateText(str)
        return self


class _InstantText(_Untyped):
    oid = 1184  # timestamptz


class _DateText(_Untyped):
    oid = 1082  # date


class _Bool(Dumper):
    oid = 0

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _Instant(Loader):
    def load(self, data: Any) -> str:
        text = bytes(data).decode()
        return (datetime.fromisoformat(text).astimezone(UTC)
                .isoformat(timespec="microseconds"))


class _Date(Loader):
    def load(self, data: Any) -> str:
        return bytes(data).decode()


class _Numeric(Loader):
    def load(self, data: Any) -> int | float:
        raw = bytes(data)
        if b"." in raw or b"e" in raw or b"N" in raw:
            value = float(raw)
            return int(value) if value.is_integer() else value
        return int(raw)


def _configure_adapters(conn: psycopg.AsyncConnection[Any] | psycopg.Connection[Any]) -> None:
    adapters = conn.adapters
    for kind in (int, float):
        adapters.register_dumper(kind, _Untyped)
    adapters.register_dumper(str, _Text)
    adapters.register_dumper(bool, _Bool)
    adapters.register_loader("timestamptz", _Instant)
    adapters.register_loader("date", _Date)
    adapters.register_loader("numeric", _Numeric)


_ROW_CLASSES: dict[tuple[str, ...], type] = {}


def _row_class(names: tuple[str, ...]) -> type:
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        index = {name: i for i, name in enumerate(names)}
        get = tuple.__getitem__

        class PgRow(tuple):  # type: ignore[type-arg]
            """A result row: by position or by column name, like sqlite3.Row."""

            __slots__ = ()

            def __getitem__(self, key: Any) -> Any:
                if isinstance(key, str):
                    return get(self, index[key])
                return get(self, key)

            def keys(self) -> list[str]:
                return list(names)

        cls = _ROW_CLASSES[names] = PgRow
    return cls


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return tuple
    cls = _row_class(tuple(d.name for d in description))
    return lambda values: cls(values)


# ---- statements ---------------------------------------------------------------------------

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::|\?|:[A-Za-z_]\w*|%")
_INSERT_INTO = re.compile(r"^\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+([A-Za-z_]\w*)", re.I)
_OR_IGNORE = re.compile(r"^(\s*INSERT)\s+OR\s+IGNORE\b", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.I)
_CHANGES = ("INSERT", "UPDATE", "DELETE")
# A result that is every column of a table (`SELECT *`, `t.*`, `RETURNING *`) is never
# prepared: once another instance's migration adds a column, a prepared one fails with
# "cached plan must not change result type" (tests/test_rolling_upgrades.py).
_WHOLE_ROW = re.compile(r"(?:\bSELECT|,)\s*(?:[A-Za-z_]\w*\.)?\*(?!\w)|\bRETURNING\s+\*", re.I)
_SPECIAL = {
    "PRAGMA data_version": "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint",
}


_REWRITES = (
    (re.compile(r"\bIS\s+NOT\s+\?", re.I), "IS DISTINCT FROM ?"),
    (re.compile(r"\bIS\s+\?", re.I), "IS NOT DISTINCT FROM ?"),
    (re.compile(r"\bjson_each\((\?|:\w+)\)", re.I), r"json_array_elements_text(CAST(\1 AS json))"),
    (re.compile(r"\bWHERE\s+1\s+AND\b", re.I), "WHERE TRUE AND"),
)


def _placeholders(sql: str) -> str:
    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if token.startswith(":") and token != "::":
            return f"%({token[1:]})s"
        return token.replace("%", "%%")  # psycopg reads % inside literals too

    return _TOKENS.sub(swap, sql)


class Statement:
    __slots__ = ("prepare", "returns_id", "text")

    def __init__(self, text: str, returns_id: bool) -> None:
        self.text = text
        self.returns_id = returns_id
        self.prepare = False if _WHOLE_ROW.search(text) else None  # None: psycopg's way


def translate(sql: str, id_tables: frozenset[str], many: bool = False) -> Statement:
    """SQLite-flavoured portable SQL → psycopg's (see the module's docstring)."""
    special = _SPECIAL.get(sql.strip())
    if special is not None:
        return Statement(special, False)
    text = sql.rstrip().rstrip(";")
    returns_id = False
    if _OR_IGNORE.match(text):
        text = _OR_IGNORE.sub(r"\1", text)
        if not _ON_CONFLICT.search(text):
            text += " ON CONFLICT DO NOTHING"
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    insert = _INSERT_INTO.match(text)
    if insert and not many and insert.group(1).lower() in id_tables \
            and not _RETURNING.search(text):
        text += " RETURNING id"
        returns_id = True
    return Statement(_placeholders(text), returns_id)


# ---- the connection -----------------------------------------------------------------------

class PgCursor:
    """A statement run when awaited (or entered): its rows, lastrowid and rowcount."""

    __slots__ = ("_conn", "_params", "_rows", "_sql", "lastrowid", "rowcount")

    def __init__(self, conn: PgConnection, sql: str, params: Parameters) -> None:
        self._conn = conn
        self._sql = sql
        self._params = params
        self._rows: list[Any] = []
        self.lastrowid: int | None = None
        self.rowcount = -1

    async def _run(self) -> PgCursor:
        await self._conn._run(self)
        return self

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._run().__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows


PREPARE_AFTER = 5  # psycopg's default: statements run once or twice (migrations) are not
PREPARED_MAX = 256  # the bot's distinct hot statements fit (psycopg drops the least used)


class PgConnection:
    """One psycopg connection in autocommit mode (transactions are explicit BEGIN/COMMIT,
    as on SQLite), offering the methods the repositories use on storage.connection's."""

    def __init__(self, raw: psycopg.AsyncConnection[Any], id_tables: frozenset[str]) -> None:
        self.raw = raw
        self.id_tables = id_tables
        self._statements: dict[tuple[str, bool], Statement] = {}
        self.total_changes = 0
        self.row_factory: Any = None  # accepted and ignored: rows always work by name
        # BEGIN not sent yet: it goes with the transaction's first statement, in one
        # round trip (a pipeline), instead of a round trip of its own.
        self.begin_pending = False

    @classmethod
    async def open(cls, url: str) -> PgConnection:
        # Prepared statements (bench.throughput_line --postgres): a statement run
        # PREPARE_AFTER times is parsed once and then only bound and executed: the server's
        # CPU per handled update down by a third, the wall time per statement ~40%. Each is
        # still planned with its own values (force_custom_plan), as SQLite does, so a
        # summary for the nation does not reuse a plan made for a tambon.
        raw = await psycopg.AsyncConnection.connect(url, autocommit=True,
                                                    prepare_threshold=PREPARE_AFTER)
        raw.prepared_max = PREPARED_MAX
        _configure_adapters(raw)
        raw.row_factory = _row_factory
        await raw.execute("SET TIME ZONE 'UTC'")
        await raw.execute("SET DateStyle = 'ISO, YMD'")
        await raw.execute("SET plan_cache_mode = force_custom_plan")
        conn = cls(raw, frozenset())
        await conn.refresh_id_tables()
        return conn

    async def refresh_id_tables(self) -> None:
        """Which tables have an identity `id` (an INSERT into them returns it)."""
        cur = await self.raw.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'id'"
            " AND is_identity = 'YES' AND table_schema = current_schema()")
        self.id_tables = frozenset(str(r[0]) for r in await cur.fetchall())
        self._statements.clear()

    def _statement(self, sql: str, many: bool = False) -> Statement:
        key = (sql, many)
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = translate(sql, self.id_tables, many)
        return statement

    @property
    def in_transaction(self) -> bool:
        return self.begin_pending or \
            self.raw.info.transaction_status != TransactionStatus.IDLE

    async def _run(self, cursor: PgCursor) -> None:
        statement = self._statement(cursor._sql)
        # A cursor per statement: two coroutines may use the connection at once (a read
        # beside a transaction's statements); psycopg queues them, each keeps its rows.
        cur = self.raw.cursor()
        if self.begin_pending:
            self.begin_pending = False
            async with self.raw.pipeline():  # BEGIN and the statement: one round trip
                await self.raw.execute("BEGIN")
                await cur.execute(statement.text, cursor._params or (),  # type: ignore[arg-type]
                                  prepare=statement.prepare)
        else:
            await cur.execute(statement.text, cursor._params or (),  # type: ignore[arg-type]
                              prepare=statement.prepare)
        rows = await cur.fetchall() if cur.description is not None else []
        cursor.rowcount = cur.rowcount
        if cur.rowcount > 0 and (cur.statusmessage or "").startswith(_CHANGES):
            self.total_changes += cur.rowcount
        if statement.returns_id:
            cursor.lastrowid = rows[0][0] if rows else None
            rows = []
        cursor._rows = rows

    def execute(self, sql: str, parameters: Parameters = ()) -> PgCursor:
        return PgCursor(self, sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        return await (await self.execute(sql, parameters)).fetchall()

    async def fetchall_in_thread(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        """On SQLite a long query goes to a worker thread; here the server does the work
        while the event loop waits on the socket."""
        return await self.execute_fetchall(sql, parameters)

    async def executemany(self, sql: str, rows: Iterable[Parameters]) -> PgCursor:
        rows = list(rows)
        statement = self._statement(sql, many=True)
        cursor = PgCursor(self, sql, ())
        if rows and self.begin_pending:
            self.begin_pending = False
            await self.raw.execute("BEGIN")
        if rows:
            cur = self.raw.cursor()
            await cur.executemany(statement.text, rows)  # type: ignore[arg-type]
            cursor.rowcount = cur.rowcount
            self.total_changes += max(cur.rowcount, 0)
        else:
            cursor.rowcount = 0
        return cursor

    async def close(self) -> None:
        await self.raw.close()


# ---- the database -------------------------------------------------------------------------

class PostgresDatabase:
    """storage.db.Database's interface on PostgreSQL: one writer connection behind a lock
    (as on SQLite, so the repositories see the same one-transaction-at-a-time world), and a
    second connection for long reads (`reader()`)."""

    def __init__(self, url: str) -> None:
        import asyncio

        self.url = url
        self.path = url  # what logs and messages show: the URL (its password left out)
        self._conn: PgConnection | None = None
        self._reader: PgConnection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> PostgresDatabase:
        from storage.migrations.postgres import migrate

        self._conn = await PgConnection.open(self.url)
        async with self._lock:
            await migrate(self._conn)
        return self

    async def close(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                await conn.close()
        self._reader = self._conn = None

    async def __aenter__(self) -> PostgresDatabase:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def conn(self) -> PgConnection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def _connected(self) -> PgConnection:
        """The writer, connected again if the server dropped it (a restart, a failover):
        the next transaction goes on a new connection."""
        conn = self.conn
        if conn.raw.closed or conn.raw.broken:
            import logging

            logging.getLogger(__name__).warning("PostgreSQL connection lost: reconnecting")
            self._conn = conn = await PgConnection.open(self.url)
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        async with self._lock:
            conn = await self._connected()
            conn.begin_pending = True  # sent with the first statement
            try:
                yield conn
            except BaseException:
                if conn.begin_pending:  # nothing was sent
                    conn.begin_pending = False
                elif not (conn.raw.closed or conn.raw.broken):
                    await conn.execute("ROLLBACK")
                raise
            else:
                if conn.begin_pending:  # an empty transaction: nothing to commit
                    conn.begin_pending = False
                else:
                    await conn.execute("COMMIT")

    async def writable(self, timeout: float = 1.0) -> bool:
        import asyncio
        import logging

        try:
            async with asyncio.timeout(timeout), self.transaction() as conn:
                await conn.execute("SELECT 1")  # an empty transaction sends nothing
        except (TimeoutError, psycopg.Error) as exc:
            logging.getLogger(__name__).warning("database not writable: %s", exc)
            return False
        return True

    async def compact(self, tables: Iterable[str] | None = None) -> bool:
        """After an erasure: `tables` (every table of the schema when None) rewritten without
        the dead row versions that still hold the erased values — VACUUM FULL, which writes
        new files (indexes and TOAST rebuilt too) and drops the old ones — then ANALYZE, so
        the planner's statistics come from what remains. VACUUM runs outside a transaction:
        on the writer, between transactions (its lock held), each table locked (ACCESS
        EXCLUSIVE) for as long as its rewrite. Needs the tables' owner (the user that
        migrated). What it cannot reach: WAL segments until they are recycled, WAL archives,
        replicas' WAL, and dumps (README, Personal data). True (nothing is left waiting, as
        SQLite's WAL can be)."""
        async with self._lock:
            conn = await self._connected()
            if tables is None:
                rows = await conn.execute_fetchall(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                    " current_schema() AND table_type = 'BASE TABLE'")
                tables = [str(r[0]) for r in rows]
            for table in tables:
                await conn.execute('VACUUM (FULL, ANALYZE) "{}"'.format(table.replace('"', '""')))
        return True

    async def reader(self) -> PgConnection:
        if self._reader is not None and (self._reader.raw.closed or self._reader.raw.broken):
            self._reader = None
        if self._reader is None:
            self._reader = await PgConnection.open(self.url)
        return self._reader

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PgConnection]:
        async with self._lock:
            yield await self._connected()

    async def data_version(self) -> int:
        async with self.conn.execute("PRAGMA data_version") as cur:
            row = await cur.fetchone()
        return int(row[0])
