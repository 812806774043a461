"""The PostgreSQL engine: psycopg 3 (chosen by measurement: bench/pg_driver.py) behind the
same interface as the SQLite connection (storage/connection.py), so a repository reads the
same for both.

What differs per engine lives here:
- placeholders: the repositories write SQLite's `?` and `:name`; each statement is
  translated once (cached) to libpq's `$n` for the pool's connections, which send on libpq
  directly (storage/pg_wire.py: a third of psycopg's cursors' CPU a statement), and to
  psycopg's `%s` / `%(name)s` for the others;
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
  NOTHING`, `PRAGMA data_version` a number that grows with every commit on the server;
- concurrency: a pool of connections, so transactions run at once, where SQLite has one
  writer (`PostgresDatabase` says what still holds and why); round trips saved: BEGIN goes
  with a transaction's first statement, the outbox's order lock with its first INSERT there,
  and `DEFERRED` statements (and `execute_later`) with the statement after them; a
  transaction that is one such statement only runs it alone, without BEGIN and COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import ExecStatus, TransactionStatus

from storage.connection import HeldRows
from storage.pg_wire import PREPARED_MAX, Slot, Wire

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
        # The session's time zone is UTC: "2025-06-30 17:22:56.123+00" is rewritten as
        # text, a third of the time of parsing it (a nation's summary reads ~50,000).
        if len(text) >= 22 and text[10] == " " and text.endswith("+00") and (
                len(text) == 22 or text[19] == "."):
            return f"{text[:10]}T{text[11:19]}.{text[20:-3]:0<6}+00:00"
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


def _row_class_of(result: Any) -> Any:
    """The row class of a result, named from the result's own fields (not through
    `cursor.description`, whose Column objects cost more than the rest of a short row)."""
    if result is None or not result.nfields:
        return tuple
    return _row_class(tuple((result.fname(i) or b"").decode()
                            for i in range(result.nfields)))


def _row_factory(cursor: Any) -> Any:
    return _row_class_of(cursor.pgresult)


# ---- statements ---------------------------------------------------------------------------

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|::|\?|:[A-Za-z_]\w*|%")
_INSERT_INTO = re.compile(r"^\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+([A-Za-z_]\w*)", re.I)
_OR_IGNORE = re.compile(r"^(\s*INSERT)\s+OR\s+IGNORE\b", re.I)
_RETURNING = re.compile(r"\bRETURNING\b", re.I)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.I)
_CHANGES = ("INSERT", "UPDATE", "DELETE")
_QUERY = re.compile(r"\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.I)
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


def _numbered(sql: str) -> tuple[bytes, tuple[str, ...] | None]:
    """The statement with libpq's `$n` placeholders: `?` in order, `:name` numbered by
    first appearance (the names, in that order, pick the values from a mapping)."""
    names: list[str] = []
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        token = match.group(0)
        if token == "?":
            count += 1
            return f"${count}"
        if token.startswith(":") and token != "::":
            if token[1:] not in names:
                names.append(token[1:])
            return f"${names.index(token[1:]) + 1}"
        return token

    return _TOKENS.sub(swap, sql).encode(), (tuple(names) if names else None)


# Tables whose ids must commit in id order: the outbox (a chat's messages go in id order,
# and a reply is handed to the sender when nothing with a smaller id waits for its chat).
# A transaction's first INSERT into one takes ORDER_LOCK, held to its COMMIT or ROLLBACK
# (PostgresDatabase's docstring says why).
ORDERED_TABLES = frozenset({"outbox"})
ORDER_LOCK = 0x636F7264  # "cord": pg_advisory_xact_lock key of the outbox's id order


# Statements whose callers never look at their result (no rows, no rowcount): inside a
# transaction each is sent without waiting, in a pipeline that the transaction's next
# statement (or its COMMIT) goes in too, so it costs no round trip of its own. An error in
# one is raised by that next statement (the transaction fails as a whole either way).
# tests/test_postgres.py checks each is still in its repository.
DEFERRED = frozenset({
    "DELETE FROM inbox WHERE id = ?",  # storage/privacy.py, storage/erasure.py
    "DELETE FROM drafts WHERE identity_id = ? AND flow = ?",  # storage/conversations.py
    "INSERT INTO drafts (identity_id, flow, step, data, history, saved_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (identity_id, flow) DO UPDATE SET step = excluded.step,"
    " data = excluded.data, history = excluded.history,"
    " saved_at = excluded.saved_at",  # storage/conversations.py save_draft
    "INSERT INTO conversations (identity_id, flow, step, data, history, seq, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (identity_id) DO UPDATE SET flow = excluded.flow, step = excluded.step,"
    " data = excluded.data, history = excluded.history, seq = excluded.seq,"
    " updated_at = excluded.updated_at",  # storage/conversations.py save
})


class Statement:
    """A translated statement: `text` for psycopg (`%s`), `wire` for libpq (`$n`, the
    values of `:name` placeholders in `names` order)."""

    __slots__ = ("deferred", "names", "ordered", "prepare", "returns_id", "row_class", "text",
                 "wire")

    def __init__(self, text: str, returns_id: bool, ordered: bool = False,
                 deferred: bool = False, portable: str | None = None) -> None:
        self.text = _placeholders(portable) if portable is not None else text
        self.wire, self.names = _numbered(portable if portable is not None else text)
        self.returns_id = returns_id
        self.ordered = ordered
        self.deferred = deferred
        # None: prepared (psycopg: after PREPARE_AFTER runs; the wire: at its second).
        # Never: a statement that is not a query (BEGIN, VACUUM, SET…), a whole-row result.
        self.prepare = False if _WHOLE_ROW.search(text) or not _QUERY.match(text) else None
        # Its rows' class, once seen: a query that names its columns always returns the
        # same ones (a whole-row one may change with a migration: read from each result).
        self.row_class: Any = None


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
            returning = _RETURNING.search(text)
            text = (text[:returning.start()] + "ON CONFLICT DO NOTHING " + text[returning.start():]
                    if returning else text + " ON CONFLICT DO NOTHING")
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    insert = _INSERT_INTO.match(text)
    if insert and not many and insert.group(1).lower() in id_tables \
            and not _RETURNING.search(text):
        text += " RETURNING id"
        returns_id = True
    ordered = bool(insert) and insert.group(1).lower() in ORDERED_TABLES  # type: ignore[union-attr]
    return Statement(text, returns_id, ordered,
                     deferred=sql in DEFERRED and not returns_id and not many, portable=text)


# ---- the connection -----------------------------------------------------------------------

class PgCursor(HeldRows):
    """A statement run when awaited (or entered): its rows, lastrowid and rowcount."""

    __slots__ = ("_conn", "_params", "_sql", "lastrowid", "rowcount")

    def __init__(self, conn: PgConnection | PgReaders, sql: str, params: Parameters) -> None:
        self._conn = conn
        self._sql = sql
        self._params = params
        self._rows = []
        self.lastrowid: int | None = None
        self.rowcount = -1

    async def _run(self) -> PgCursor:
        await self._conn._run(self)
        return self

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._run().__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._run()


class PgLater:
    """A statement sent without waiting (`PgConnection.execute_later`): its rows,
    lastrowid and rowcount once the connection synced."""

    __slots__ = ("_conn", "_cursor", "_slot", "_statement")

    def __init__(self, conn: PgConnection, statement: Statement,
                 cursor: PgCursor | None = None) -> None:
        self._conn = conn
        self._slot: Slot | None = None
        self._statement = statement
        self._cursor = cursor

    def settle(self) -> None:
        assert self._slot is not None
        cursor = PgCursor(self._conn, "", ())
        self._conn._take(self._slot.result, self._statement, cursor)
        self._cursor, self._slot = cursor, None

    async def result(self) -> PgCursor:
        if self._cursor is None:
            await self._conn.sync()
        if self._cursor is None:
            raise RuntimeError("the statement's transaction ended before its result came")
        return self._cursor


_TAKE_ORDER_LOCK_WIRE = f"SELECT pg_advisory_xact_lock({ORDER_LOCK})".encode()
# The pool's statements are the handling's short ones, run thousands of times: a prepared
# one may keep a generic plan (the server's choice) instead of being planned again each
# time (planning cost more than running the inbox claim, the person's standing and the
# outbox checks: bench.throughput_line --postgres, pg_stat_statements). The long reads'
# connection (`reader()`: the summaries, the web pages' figures) plans each with its own
# values, as SQLite does, so a summary for the nation never runs a plan made for a tambon.
POOL_PLANS = "SET plan_cache_mode = auto"
READER_PLANS = "SET plan_cache_mode = force_custom_plan"
PREPARE_AFTER = 5  # psycopg's default: statements run once or twice (migrations) are not


class PgConnection:
    """One psycopg connection in autocommit mode (transactions are explicit BEGIN/COMMIT,
    as on SQLite), offering the methods the repositories use on storage.connection's.

    A connection of the pool (`wire` set, storage/pg_wire.py) sends its statements on libpq
    directly, queued and synced together: a transaction's BEGIN goes with its first
    statement, deferred statements (DEFERRED, `execute_later`) with its next statement or
    its COMMIT, one round trip each time. Any other connection (the reader, the shared
    outbox's, the first one while it migrates) runs each statement on its own through a
    psycopg cursor."""

    def __init__(self, raw: psycopg.AsyncConnection[Any], id_tables: frozenset[str]) -> None:
        self.raw = raw
        self.id_tables = id_tables
        self._statements: dict[tuple[str, bool], Statement] = {}
        self.total_changes = 0
        self.row_factory: Any = None  # accepted and ignored: rows always work by name
        # BEGIN not sent yet: it goes with the transaction's first statement, in one
        # round trip, instead of a round trip of its own.
        self.begin_pending = False
        self.order_held = False  # this transaction holds ORDER_LOCK
        # The pool's connections: one coroutine at a time (PostgresDatabase's pool).
        self.wire: Wire | None = None
        # Deferred statements sent and not synced yet: their results, read once synced.
        self._laters: list[PgLater] = []
        # A transaction's first statement when it is a deferred one, not sent yet: if the
        # COMMIT comes next, it runs alone, without BEGIN and COMMIT (one statement is a
        # transaction of its own), else it goes first, after BEGIN (`_send_held`).
        self._held: tuple[Statement, Parameters, PgLater | None] | None = None
        # A wire answers one sync at a time: statements of reads gathered at once
        # (handlers/summaries.py) queue here instead of meeting on it.
        self._statement_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str, plans: str = POOL_PLANS,
                   id_tables: frozenset[str] | None = None) -> PgConnection:
        # Prepared statements (bench.throughput_line --postgres): a statement run
        # PREPARE_AFTER times (on the wire: from its second) is parsed once and then only
        # bound and executed: the server's CPU per handled update down by a third, the wall
        # time per statement ~40%. How each is planned: `plans` (POOL_PLANS, READER_PLANS).
        raw = await psycopg.AsyncConnection.connect(url, autocommit=True,
                                                    prepare_threshold=PREPARE_AFTER)
        raw.prepared_max = PREPARED_MAX
        _configure_adapters(raw)
        raw.row_factory = _row_factory
        async with raw.pipeline():  # one round trip
            await raw.execute("SET TIME ZONE 'UTC'")
            await raw.execute("SET DateStyle = 'ISO, YMD'")
            await raw.execute(plans)
        conn = cls(raw, id_tables or frozenset())
        if id_tables is None:  # known from the pool's first connection (after migrations)
            await conn.refresh_id_tables()
        return conn

    def join_pool(self) -> None:
        """From now on statements go on the wire (storage/pg_wire.py)."""
        if self.wire is None:
            self.wire = Wire(self.raw)

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken or (self.wire is not None and self.wire.broken)

    @property
    def sent_unsynced(self) -> bool:
        """Statements sent that the server's answers are not read for yet."""
        return self.wire is not None and self.wire.pending

    async def refresh_id_tables(self) -> None:
        """Which tables have an identity `id` (an INSERT into them returns it)."""
        rows = await self.execute_fetchall(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'id'"
            " AND is_identity = 'YES' AND table_schema = current_schema()")
        self.id_tables = frozenset(str(r[0]) for r in rows)
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

    def _order_lock_due(self, statement: Statement) -> bool:
        """Whether ORDER_LOCK goes before this statement (an INSERT into an ordered table,
        in a transaction that does not hold it yet)."""
        if not statement.ordered or self.order_held or not self.in_transaction:
            return False
        self.order_held = True
        return True

    # ---- the wire (the pool's connections) ----------------------------------------------

    def _send(self, statement: Statement, params: Parameters) -> Slot:
        """Queue a statement on the wire, after BEGIN and ORDER_LOCK when they are due."""
        assert self.wire is not None
        begin, lock = self.begin_pending, self._order_lock_due(statement)
        self.begin_pending = False
        if begin:
            self.wire.send(b"BEGIN", None, prepare=False)
        if lock:
            self.wire.send(_TAKE_ORDER_LOCK_WIRE, None, prepare=True)
        if statement.names is not None:
            named: Any = params
            params = [named[name] for name in statement.names]
        return self.wire.send(statement.wire, params or None,
                              prepare=statement.prepare is not False)

    async def _sync(self) -> None:
        """Everything queued: sent, answered, the deferred statements' results settled."""
        assert self.wire is not None
        await self.wire.sync()
        laters, self._laters = self._laters, []
        for later in laters:
            later.settle()

    def _defer(self, statement: Statement, params: Parameters,
               later: PgLater | None) -> None:
        """A statement not waited for (DEFERRED, `execute_later`): held when it is the
        transaction's first, else queued on the wire."""
        if self.begin_pending and self._held is None and not self.sent_unsynced \
                and not statement.ordered:
            self._held = (statement, params, later)
            return
        self._send_held()
        self._send_deferred(statement, params, later)

    def _send_held(self) -> None:
        """The held first statement, sent after BEGIN: more statements follow it."""
        if self._held is not None:
            held, self._held = self._held, None
            self._send_deferred(*held)

    def _send_deferred(self, statement: Statement, params: Parameters,
                       later: PgLater | None) -> None:
        slot = self._send(statement, params)
        if later is not None:  # its result, read when the wire is synced
            later._slot = slot
            self._laters.append(later)

    async def _run_held_alone(self) -> None:
        """The transaction is its held statement only: it runs on its own, in autocommit
        (the inbox's INSERT of a batch of updates: one statement instead of three)."""
        assert self._held is not None
        (statement, params, later), self._held = self._held, None
        self.begin_pending = False
        slot = self._send(statement, params)
        if later is not None:
            later._slot = slot
            self._laters.append(later)
        await self._sync()

    async def discard_deferred(self) -> None:
        """Forget what was queued, its statements' errors ignored (before a ROLLBACK)."""
        self._laters = []
        self._held = None
        if self.sent_unsynced:
            assert self.wire is not None
            with contextlib.suppress(Exception):
                await self.wire.sync()

    def _take(self, result: Any, statement: Statement, cursor: PgCursor) -> None:
        """A finished statement's rows, rowcount and lastrowid, from libpq's result."""
        assert self.wire is not None
        if result is None:
            raise psycopg.OperationalError("the statement's result did not come")
        rows: list[Any] = []
        if result.status == ExecStatus.TUPLES_OK:
            tx = self.wire.transformer
            tx.set_pgresult(result)
            row_class = statement.row_class
            if row_class is None:
                row_class = _row_class_of(result)
                if statement.prepare is None:
                    statement.row_class = row_class
            rows = tx.load_rows(0, result.ntuples, row_class)
        count = result.command_tuples
        self._fill(cursor, statement, rows, count if count is not None else -1,
                   (result.command_status or b"").decode())

    def _fill(self, cursor: PgCursor, statement: Statement, rows: list[Any], rowcount: int,
              status: str) -> None:
        """What a finished statement tells its caller: rows, rowcount, lastrowid."""
        cursor.rowcount = rowcount
        if rowcount > 0 and status.startswith(_CHANGES):
            self.total_changes += rowcount
        if statement.returns_id:
            cursor.lastrowid = rows[0][0] if rows else None
            rows = []
        cursor._rows = rows

    # ---- psycopg cursors (every other connection) ---------------------------------------

    async def _take_result(self, raw: psycopg.AsyncCursor[Any], statement: Statement,
                           cursor: PgCursor) -> None:
        """A finished statement's rows, rowcount and lastrowid, from psycopg's cursor."""
        result = raw.pgresult
        rows = await raw.fetchall() if result is not None and \
            result.status == ExecStatus.TUPLES_OK else []
        self._fill(cursor, statement, rows, raw.rowcount, raw.statusmessage or "")

    # ---- what the repositories call -----------------------------------------------------

    async def _run(self, cursor: PgCursor) -> None:
        statement = self._statement(cursor._sql)
        if self.wire is None:
            cur = self.raw.cursor()
            await cur.execute(statement.text, cursor._params or (),  # type: ignore[arg-type]
                              prepare=statement.prepare)
            await self._take_result(cur, statement, cursor)
            return
        if statement.deferred and self.in_transaction:
            self._defer(statement, cursor._params, None)
            return  # rowcount -1, no rows: nobody looks
        async with self._statement_lock:  # reads gathered on one connection take turns
            if self._held is not None:
                if cursor._sql == "COMMIT" and self.begin_pending:
                    await self._run_held_alone()
                    return
                self._send_held()
            slot = self._send(statement, cursor._params)
            await self._sync()
            self._take(slot.result, statement, cursor)

    def execute(self, sql: str, parameters: Parameters = ()) -> PgCursor:
        return PgCursor(self, sql, parameters)

    async def execute_later(self, sql: str, parameters: Parameters = ()) -> PgLater:
        """Send a statement inside a transaction without waiting: it goes with the next
        statement (or the COMMIT) in one round trip; its result is there from then on
        (`PgLater.result`, which syncs first if nothing did yet). Outside a transaction it
        runs at once."""
        statement = self._statement(sql)
        if self.wire is None or not self.in_transaction:
            return PgLater(self, statement, await self.execute(sql, parameters))
        later = PgLater(self, statement)
        self._defer(statement, parameters, later)
        return later

    async def sync(self) -> None:
        """Every statement sent and not waited for: done, their errors raised."""
        self._send_held()
        if self.sent_unsynced:
            await self._sync()

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
        cursor.rowcount = 0
        if not rows:
            return cursor
        if self.wire is None:
            cur = self.raw.cursor()
            await cur.executemany(statement.text, rows)  # type: ignore[arg-type]
            cursor.rowcount = cur.rowcount
            self.total_changes += max(cur.rowcount, 0)
            return cursor
        await self.sync()  # statements sent before it first, their errors raised
        slots = [self._send(statement, row) for row in rows]
        await self._sync()
        for slot in slots:
            counted = PgCursor(self, sql, ())
            self._take(slot.result, statement, counted)
            cursor.rowcount += max(counted.rowcount, 0)
        return cursor

    async def close(self) -> None:
        if self.wire is not None:
            self.wire.detach()
        await self.raw.close()


# ---- the long reads' connections ---------------------------------------------------------

READERS = 3  # connections for long reads: a summary's reads, gathered, run on this many cores


class PgReaders:
    """`reader()` on PostgreSQL: up to READERS connections of their own (psycopg cursors,
    each statement planned with its values: READER_PLANS), offering the read methods of a
    connection; each statement runs on an idle one, so independent reads awaited together
    (a summary's, handlers/summaries.py) run at once, each on a core of the server. Each
    statement sees what was committed before it began (autocommit, READ COMMITTED), as on
    one connection: nothing here holds a snapshot or a session setting across statements.
    A connection that broke is closed and the next statement opens another."""

    def __init__(self, url: str, id_tables: frozenset[str] | None, size: int = READERS
                 ) -> None:
        self.url, self.id_tables = url, id_tables
        self._idle: list[PgConnection] = []
        self._open: set[PgConnection] = set()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def _acquire(self) -> PgConnection:
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.broken:
                    return conn
                self._open.discard(conn)
                await _close_quietly(conn)
            if self._closed:
                raise RuntimeError("database is not open")
            conn = await PgConnection.open(self.url, READER_PLANS, id_tables=self.id_tables)
            self.id_tables = conn.id_tables
            self._open.add(conn)
            return conn
        except BaseException:
            self._slots.release()
            raise

    async def _release(self, conn: PgConnection) -> None:
        if conn.broken or self._closed or conn.in_transaction:
            self._open.discard(conn)
            await _close_quietly(conn)
        else:
            self._idle.append(conn)
        self._slots.release()

    async def _run(self, cursor: PgCursor) -> None:
        conn = await self._acquire()
        try:
            await conn._run(cursor)
        finally:
            await self._release(conn)

    def execute(self, sql: str, parameters: Parameters = ()) -> PgCursor:
        return PgCursor(self, sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        return await (await self.execute(sql, parameters)).fetchall()

    async def fetchall_in_thread(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        return await self.execute_fetchall(sql, parameters)

    async def close(self) -> None:
        self._closed = True
        left, self._idle = [*self._open], []
        self._open.clear()
        for conn in left:
            await _close_quietly(conn)


# ---- the database -------------------------------------------------------------------------

POOL_SIZE = 4  # connections for transactions and reads (bench.throughput_line --postgres)
CLOSE_GRACE_SECONDS = 5.0  # close() waits this long for transactions under way


class PostgresDatabase:
    """storage.db.Database's interface on PostgreSQL: a small pool of connections
    (`POOL_SIZE`), each transaction and each read on one of its own, so different people's
    transactions run at once; and one more connection for long reads (`reader()`).

    On SQLite one writer runs one transaction at a time. Here several do, and what the
    code above relies on still holds:
    - a transaction is all or nothing and returns once committed; `read()` sees what was
      committed before it (autocommit, READ COMMITTED: each statement sees every commit
      made before it started). A read of several statements may see a commit made between
      two of them; so may any read while another instance writes (several instances on
      one PostgreSQL already run transactions at once: the repositories serve that);
    - one person's updates are handled one at a time (bot/intake.py: one task per person,
      or the person's claim across instances), so one conversation never has two
      transactions at once; two people's never block each other unless they write the
      same rows (then the second waits for the first's COMMIT, as across instances);
    - ids of outbox rows commit in id order (`ORDERED_TABLES`): a transaction's first
      INSERT into the outbox takes ORDER_LOCK (a transaction-scoped advisory lock, sent in
      the same round trip), held until its COMMIT, so transactions that queue messages
      commit one after another from their first queued message on, across instances too.
      What depends on it: a chat's messages are sent in id order, and the engine hands a
      reply to the sender without reading it back when the reply's INSERT finds
      nothing earlier pending for the chat (handlers/engine.py `_enqueue`,
      bot/outbox_sender.py `wake(chats, ready)`). Without the lock a transaction B could
      queue message 101 to a chat, find nothing pending before it, commit and send it,
      while A, which queued 100 to the same chat (a notification) before B, had not
      committed yet: 100 would then go after 101. With it, B's INSERT waits for A's
      COMMIT, and B's INSERT, then run, sees 100 pending before its row. A transaction's
      work before its first queued message (claiming the update, loading and saving the
      conversation, the domain rows) still runs at once with the others; the engine
      queues last (the per-province data versions' upserts, deferred to the COMMIT,
      storage/area_versions.py, run inside the lock too: one small row each, a wait there
      holds up every transaction that queues). A transaction that holds the lock and then
      waits for a row another transaction holds, while that one waits for the lock, is a
      deadlock: the server
      ends one of them after deadlock_timeout (an error; intake tries the update again);
    - `data_version()` is the server's next transaction id (any connection sees it);
    - `compact()` runs VACUUM FULL on a pooled connection: each table's rewrite waits
      for, and then holds up, the transactions using that table;
    - migrations run in `open()` on the first connection, before any other is opened.
    A connection that broke (a server restart, a failover) or was left inside a
    transaction (a caller cancelled mid-statement) is closed instead of reused; the next
    transaction gets a new one. `close()` waits up to CLOSE_GRACE_SECONDS for
    transactions under way, then closes every connection."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.path = url  # what logs and messages show: the URL (its password left out)
        self.pool_size = pool_size
        self._first: PgConnection | None = None  # migrations ran on it; `conn`
        self._idle: list[PgConnection] = []
        self._busy: set[PgConnection] = set()
        self._slots = asyncio.Semaphore(pool_size)
        self._released = asyncio.Event()  # a busy connection came back (close() waits)
        self._reader: PgReaders | None = None
        self._closing = False

    async def open(self) -> PostgresDatabase:
        from storage.migrations.postgres import migrate

        self._closing = False
        self._first = await PgConnection.open(self.url)
        await migrate(self._first)
        self._first.join_pool()
        self._idle.append(self._first)
        return self

    async def close(self) -> None:
        import time

        self._closing = True
        deadline = time.monotonic() + CLOSE_GRACE_SECONDS
        while self._busy and time.monotonic() < deadline:
            self._released.clear()
            try:
                await asyncio.wait_for(self._released.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        left = [*self._idle, *self._busy]
        self._idle, self._busy = [], set()
        readers, self._reader, self._first = self._reader, None, None
        for conn in left:
            await _close_quietly(conn)
        if readers is not None:
            await readers.close()

    async def __aenter__(self) -> PostgresDatabase:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def conn(self) -> PgConnection:
        """The first connection (tests and tools: a statement outside any transaction)."""
        if self._first is None:
            raise RuntimeError("database is not open")
        return self._first

    async def _acquire(self) -> PgConnection:
        if self._first is None or self._closing:
            raise RuntimeError("database is not open")
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.broken:
                    break
                await _close_quietly(conn)
            else:
                if self._first is None or self._closing:
                    raise RuntimeError("database is not open")
                conn = await self._new_pooled()
        except BaseException:
            self._slots.release()
            raise
        self._busy.add(conn)
        return conn

    async def _new_pooled(self) -> PgConnection:
        assert self._first is not None
        conn = await PgConnection.open(self.url, id_tables=self._first.id_tables)
        conn.join_pool()  # only one transaction or read at a time uses it
        return conn

    async def warm(self) -> None:
        """Open the whole pool now, its connections at once (a bot starting on a backlog
        does not open them one by one while the first people wait)."""
        missing = self.pool_size - len(self._idle) - len(self._busy)
        if missing <= 0 or self._first is None or self._closing:
            return
        opened = await asyncio.gather(*(self._new_pooled() for _ in range(missing)),
                                      return_exceptions=True)
        for conn in opened:
            if isinstance(conn, PgConnection):
                if len(self._idle) + len(self._busy) < self.pool_size and not self._closing:
                    self._idle.append(conn)
                else:
                    await _close_quietly(conn)
            else:  # the transactions open their own when they need one
                import logging

                logging.getLogger(__name__).warning(
                    "PostgreSQL: a pool connection could not be opened at start: %s", conn)

    async def _release(self, conn: PgConnection) -> None:
        self._busy.discard(conn)
        reusable = not (conn.broken or conn.begin_pending or conn.sent_unsynced
                        or conn._held is not None or self._closing) and \
            conn.raw.info.transaction_status == TransactionStatus.IDLE
        conn.order_held = False
        conn._laters = []
        # Never more than the pool's size kept (a transaction's own and `warm`'s may
        # have been opened at the same time).
        if reusable and len(self._idle) + len(self._busy) < self.pool_size:
            self._idle.append(conn)
        elif reusable:
            await _close_quietly(conn)
        else:
            if not self._closing:
                import logging

                logging.getLogger(__name__).warning(
                    "PostgreSQL connection dropped from the pool (broken or left in a"
                    " transaction): the next one is new")
            await _close_quietly(conn)
        self._slots.release()
        self._released.set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        conn = await self._acquire()
        try:
            conn.begin_pending = True  # sent with the first statement
            try:
                yield conn
            except BaseException:
                await conn.discard_deferred()
                if conn.begin_pending:  # nothing was sent
                    conn.begin_pending = False
                elif not conn.broken:
                    await conn.execute("ROLLBACK")
                raise
            else:
                if conn.begin_pending and conn._held is None:  # empty: nothing to commit
                    conn.begin_pending = False
                else:
                    try:
                        await conn.execute("COMMIT")  # with any deferred statements
                    except BaseException:
                        await conn.discard_deferred()
                        if not conn.broken:
                            with contextlib.suppress(psycopg.Error):
                                await conn.execute("ROLLBACK")
                        raise
        finally:
            await self._release(conn)

    async def writable(self, timeout: float = 1.0) -> bool:
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
        the planner's statistics come from what remains. VACUUM runs outside a transaction,
        on a pooled connection, each table locked (ACCESS EXCLUSIVE) for as long as its
        rewrite: transactions using it wait meanwhile. Needs the tables' owner (the user
        that migrated). What it cannot reach: WAL segments until they are recycled, WAL
        archives, replicas' WAL, and dumps (README, Personal data). True (nothing is left
        waiting, as SQLite's WAL can be)."""
        async with self.read() as conn:
            if tables is None:
                rows = await conn.execute_fetchall(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                    " current_schema() AND table_type = 'BASE TABLE'")
                tables = [str(r[0]) for r in rows]
            for table in tables:
                await conn.execute('VACUUM (FULL, ANALYZE) "{}"'.format(table.replace('"', '""')))
        return True

    async def reader(self) -> PgReaders:
        if self._reader is None:
            self._reader = PgReaders(self.url, self._first.id_tables if self._first else None)
        return self._reader

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PgConnection]:
        """Reads outside a transaction, on a pooled connection: they see what was committed."""
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._release(conn)

    async def data_version(self) -> int:
        async with (await self.reader()).execute("PRAGMA data_version") as cur:
            row = await cur.fetchone()
        return int(row[0])


async def _close_quietly(conn: PgConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.close()
