"""Statements sent on libpq directly (psycopg's `pq` layer), for storage/engine_postgres.py.

psycopg's cursors cost ~60 µs of Python a statement here, pipelined or not; sending the
same statements through `psycopg.pq` (libpq, psycopg's C binding) with psycopg's own
Transformer for the values costs well under half that (`bench/pg_driver.py`, the README's
PostgreSQL: Driver). The connection stays in libpq's pipeline mode for its whole life:
statements are queued (`send`, no round trip) and a `sync` sends them all with a Sync and
reads every result; values go and come through psycopg's adapters (the engine's untyped
dumpers and its loaders), errors are psycopg's own classes
(`psycopg.errors.error_from_result`).

A query (the engine says which may be: `prepare`) is prepared the second time it is sent on
this connection and then only bound and executed; it is known by its text and its values'
types, as psycopg's prepared statements are, at most PREPARED_MAX of them (the least used
is deallocated, and prepared again if it comes back; a DEALLOCATE an earlier error skipped
is sent again). A prepared statement a migration elsewhere made stale ("cached plan must
not change result type") breaks the wire: the connection is replaced, its statements with
it.

One coroutine at a time: only the pool's connections have a wire, each used by one
transaction or read at a time. A `sync` cut off (cancelled: the server is asked to stop the
statement; a broken socket) leaves results unread: the wire is `broken` from then on and
the pool closes the connection instead of reusing it; a statement sent while a sync runs
is refused (RuntimeError) rather than given another's results."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

PREPARED_MAX = 256  # the bot's distinct hot statements fit
SEEN_MAX = 4096  # queries remembered as sent once (then forgotten all at once)
CANCEL_SECONDS = 2.0  # a sync cut off asks the server to stop its statement, this long

Key = tuple[bytes, tuple[int, ...]]  # a prepared statement: its text, its values' types


class Slot:
    """Where a statement's result lands when its pipeline is synced."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: pq.abc.PGresult | None = None


class Wire:
    def __init__(self, raw: psycopg.AsyncConnection[Any]) -> None:
        self.raw = raw
        self.pgconn = raw.pgconn
        self.transformer = Transformer(raw)
        self.encoding = raw.info.encoding
        self.broken = False
        self._names: OrderedDict[Key, bytes] = OrderedDict()
        self._seen: set[Key] = set()  # queries sent once, unprepared: prepared the next time
        self._stale: list[bytes] = []  # names whose DEALLOCATE did not run: sent again
        self._count = 0
        # What each queued command's result is for: a statement's slot, the key of a
        # PREPARE (forgotten unless it succeeds), the name a DEALLOCATE drops.
        self._slots: list[Slot | Key | bytes] = []
        self._syncing = False
        # The socket stays registered for reading between syncs (registering it for each
        # wait was a third of a round trip's CPU here); `detach` before it closes.
        self._fd = self.pgconn.socket
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readable: asyncio.Future[None] | None = None
        self.pgconn.nonblocking = 1
        self.pgconn.enter_pipeline_mode()

    def detach(self) -> None:
        """Stop watching the socket (before the connection closes)."""
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
            self._loop = None

    @property
    def pending(self) -> bool:
        return bool(self._slots)

    def send(self, text: bytes, params: Sequence[Any] | None, prepare: bool) -> Slot:
        """Queue one statement (`$n` placeholders) with its values; its result is in the
        returned slot once synced."""
        if self._syncing:  # one coroutine at a time: results would go to the wrong slots
            raise RuntimeError("a statement sent while the connection syncs")
        values: Sequence[Any] | None = None
        types: tuple[int, ...] = ()
        formats: Sequence[pq.Format] | None = None
        if params:
            tx = self.transformer
            values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
            types, formats = tuple(tx.types or ()), tx.formats
        name = self._prepared(text, types) if prepare else None
        slot = Slot()
        if name is not None:
            self.pgconn.send_query_prepared(name, values, formats)
        else:
            self.pgconn.send_query_params(text, values, types or None, formats)
        self._slots.append(slot)
        return slot

    def _prepared(self, text: bytes, types: tuple[int, ...]) -> bytes | None:
        """The prepared statement's name for this query, prepared now if it was sent once
        before; None the first time (a query built once, an IN list of one length, is not
        worth a PREPARE nor a place among the PREPARED_MAX)."""
        key = (text, types)
        name = self._names.get(key)
        if name is not None:
            self._names.move_to_end(key)
            return name
        if key not in self._seen:
            if len(self._seen) >= SEEN_MAX:
                self._seen.clear()
            self._seen.add(key)
            return None
        self._seen.discard(key)
        while len(self._names) >= PREPARED_MAX:
            self._stale.append(self._names.popitem(last=False)[1])
        for old in self._stale:
            self.pgconn.send_query_params(b"DEALLOCATE " + old, None)
            self._slots.append(old)
        self._stale = []
        self._count += 1
        name = b"w%d" % self._count
        self.pgconn.send_prepare(name, text, types or None)
        self._slots.append(key)
        self._names[key] = name
        return name

    async def sync(self) -> None:
        """Send what is queued with a Sync and read every result into its slot; the first
        error among them is raised (the statements after it were not run)."""
        if not self._slots:
            return
        if self._syncing:
            raise RuntimeError("the connection syncs already")
        slots, self._slots = self._slots, []
        self._syncing = True
        try:
            error = await self._read(slots)
        except BaseException as exc:
            self.broken = True
            if isinstance(exc, asyncio.CancelledError):
                # The statement running stops on the server too (a pg_sleep, a lock
                # wait), not when it next writes to the closed socket.
                with contextlib.suppress(Exception):
                    await self.raw.cancel_safe(timeout=CANCEL_SECONDS)
            raise
        finally:
            self._syncing = False
        if error is not None:
            if isinstance(error, errors.InvalidSqlStatementName):
                self._names.clear()  # DEALLOCATE ALL ran, or a PREPARE went missing
            elif isinstance(error, errors.FeatureNotSupported):
                # "cached plan must not change result type": a table changed under a
                # prepared statement (another instance migrated). This connection's
                # prepared statements are given up with it: the next one starts clean.
                self.broken = True
            raise error

    async def _read(self, slots: list[Slot | Key | bytes]) -> psycopg.Error | None:
        pgconn = self.pgconn
        pgconn.pipeline_sync()
        await self._flush()
        error: psycopg.Error | None = None
        ok = pq.ExecStatus.COMMAND_OK
        for slot in slots:
            result = await self._next_result()
            failed = result.status == pq.ExecStatus.FATAL_ERROR
            if failed and error is None:
                error = errors.error_from_result(result, encoding=self.encoding)
            if isinstance(slot, Slot):
                slot.result = result
            elif isinstance(slot, bytes):
                if result.status == pq.ExecStatus.PIPELINE_ABORTED:
                    self._stale.append(slot)  # an error before it: dropped next time
            elif result.status != ok:
                self._names.pop(slot, None)  # not prepared (it failed, or was skipped)
            await self._end_of_command()
        done = await self._next_result()
        if done.status != pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.OperationalError(f"unexpected result {done.status!r}")
        return error

    async def _flush(self) -> None:
        """Everything queued, out to the server. While the socket is full the server may be
        waiting for us to read its results: read them meanwhile (libpq's advice)."""
        while self.pgconn.flush() != 0:
            await self._wait_full_socket()
            self.pgconn.consume_input()

    async def _parsed(self) -> None:
        """Until a whole result (or the NULL after one) is in libpq's buffer: the socket
        is read only when what was read already holds none (one recv for a pipeline's
        results that came together, not two for each)."""
        pgconn = self.pgconn
        while pgconn.is_busy():
            pgconn.consume_input()
            if pgconn.is_busy():
                await self._wait_readable()

    async def _next_result(self) -> pq.abc.PGresult:
        nulls = 0
        while True:
            await self._parsed()
            result = self.pgconn.get_result()
            if result is not None:
                return result
            nulls += 1  # the NULL between two commands' results, once
            if nulls > 1:
                raise psycopg.OperationalError("a result was expected and none came")

    async def _end_of_command(self) -> None:
        """The NULL that follows a command's result (after a PIPELINE_SYNC there is none)."""
        while True:
            await self._parsed()
            if self.pgconn.get_result() is None:
                return
            # a command with more than one result: the first one counts

    def _on_readable(self) -> None:
        ready = self._readable
        if ready is not None and not ready.done():
            ready.set_result(None)
        elif ready is None:
            self.detach()  # nobody waits (a notice, the server going away): not spun on

    async def _wait_readable(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.detach()
            loop.add_reader(self._fd, self._on_readable)
            self._loop = loop
        self._readable = ready = loop.create_future()
        try:
            await ready
        finally:
            self._readable = None

    async def _wait_full_socket(self) -> None:
        """Until the full socket takes more, or the server's results can be read."""
        self.detach()  # add_reader below takes the socket over while it is full
        loop = asyncio.get_running_loop()
        fd = self.pgconn.socket
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)
        loop.add_reader(fd, wake)
        loop.add_writer(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
            loop.remove_writer(fd)
