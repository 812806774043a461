"""Statements sent on libpq directly (psycopg's `pq` layer), for storage/engine_postgres.py.

psycopg's cursors cost ~60 µs of Python a statement here, pipelined or not; sending the
same statements through `psycopg.pq` (libpq, psycopg's C binding) with psycopg's own
Transformer for the values costs well under half that (`bench/pg_driver.py`, the README's
PostgreSQL: Driver). The connection stays in libpq's pipeline mode for its whole life:
statements are queued (`send`, no round trip) and a `sync` sends them all with a Sync and
reads every result; values go and come through psycopg's adapters (the engine's untyped
dumpers and its loaders), errors are psycopg's own classes
(`psycopg.errors.error_from_result`).

A query (the engine says which may be: `prepare`) is prepared the first time it is sent on
this connection and then only bound and executed; it is known by its text and its values'
types, as psycopg's prepared statements are, at most PREPARED_MAX of them (the least used
is deallocated, and prepared again if it comes back).

One coroutine at a time: only the pool's connections have a wire, each used by one
transaction or read at a time. A `sync` cut off (cancelled: the server is asked to stop the
statement; a broken socket) leaves results unread: the wire is `broken` from then on and
the pool closes the connection instead of reusing it."""

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
        self._count = 0
        # What each queued command's result is for: a statement's slot, the key of a
        # PREPARE (forgotten unless it succeeds), None for a DEALLOCATE.
        self._slots: list[Slot | Key | None] = []
        self.pgconn.nonblocking = 1
        self.pgconn.enter_pipeline_mode()

    @property
    def pending(self) -> bool:
        return bool(self._slots)

    def send(self, text: bytes, params: Sequence[Any] | None, prepare: bool) -> Slot:
        """Queue one statement (`$n` placeholders) with its values; its result is in the
        returned slot once synced."""
        values: Sequence[Any] | None = None
        types: tuple[int, ...] = ()
        formats: Sequence[pq.Format] | None = None
        if params:
            tx = self.transformer
            values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
            types, formats = tuple(tx.types or ()), tx.formats
        if prepare:
            key = (text, types)
            name = self._names.get(key)
            if name is None:
                name = self._prepare(key)
            else:
                self._names.move_to_end(key)
            self.pgconn.send_query_prepared(name, values, formats)
        else:
            self.pgconn.send_query_params(text, values, types or None, formats)
        slot = Slot()
        self._slots.append(slot)
        return slot

    def _prepare(self, key: Key) -> bytes:
        if len(self._names) >= PREPARED_MAX:
            _, old = self._names.popitem(last=False)
            self.pgconn.send_query_params(b"DEALLOCATE " + old, None)
            self._slots.append(None)
        self._count += 1
        name = b"w%d" % self._count
        self.pgconn.send_prepare(name, key[0], key[1] or None)
        self._slots.append(key)
        self._names[key] = name
        return name

    async def sync(self) -> None:
        """Send what is queued with a Sync and read every result into its slot; the first
        error among them is raised (the statements after it were not run)."""
        if not self._slots:
            return
        slots, self._slots = self._slots, []
        pgconn = self.pgconn
        try:
            pgconn.pipeline_sync()
            await self._flush()
            error: psycopg.Error | None = None
            for slot in slots:
                result = await self._next_result()
                if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                    error = errors.error_from_result(result, encoding=self.encoding)
                if isinstance(slot, Slot):
                    slot.result = result
                elif slot is not None and result.status != pq.ExecStatus.COMMAND_OK:
                    self._names.pop(slot, None)  # not prepared (it failed, or was skipped)
                await self._end_of_command()
            done = await self._next_result()
            if done.status != pq.ExecStatus.PIPELINE_SYNC:
                raise psycopg.OperationalError(f"unexpected result {done.status!r}")
        except BaseException as exc:
            self.broken = True
            if isinstance(exc, asyncio.CancelledError):
                # The statement running stops on the server too (a pg_sleep, a lock
                # wait), not when it next writes to the closed socket.
                with contextlib.suppress(Exception):
                    await self.raw.cancel_safe(timeout=CANCEL_SECONDS)
            raise
        if error is not None:
            if isinstance(error, errors.InvalidSqlStatementName):
                self._names.clear()  # DEALLOCATE ALL ran, or a PREPARE went missing
            raise error

    async def _flush(self) -> None:
        while self.pgconn.flush() != 0:
            await self._wait(writable=True)

    async def _next_result(self) -> pq.abc.PGresult:
        pgconn = self.pgconn
        nulls = 0
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                result = pgconn.get_result()
                if result is not None:
                    return result
                nulls += 1  # the NULL between two commands' results, once
                if nulls > 1:
                    raise psycopg.OperationalError("a result was expected and none came")
                continue
            await self._wait(writable=False)

    async def _end_of_command(self) -> None:
        """The NULL that follows a command's result (after a PIPELINE_SYNC there is none)."""
        pgconn = self.pgconn
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                if pgconn.get_result() is None:
                    return
                continue  # a command with more than one result: the first one counts
            await self._wait(writable=False)

    async def _wait(self, *, writable: bool) -> None:
        loop = asyncio.get_running_loop()
        fd = self.pgconn.socket
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)
        if writable:
            loop.add_writer(fd, wake)
        else:
            loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            if writable:
                loop.remove_writer(fd)
            else:
                loop.remove_reader(fd)
