"""The inbox: updates stored before the platform was told they arrived, until handled.

Locking story, in one place:
- `store` runs in its own short write transaction, before the 200 / the next offset
  (requests arriving together share it: a group commit); a redelivery of an update
  still pending is ignored (UNIQUE (channel, update_key)).
- One person's rows are handled one at a time, oldest first (by person_key and id), and
  `claim` is what makes it so: it takes a row only when no older row of the same person
  is still pending (else it raises `OlderUpdateWaiting`, and the caller handles that
  row first). Each process handles the rows it stores, kept in memory in the same order,
  and the rows pending at its start (`pending`). SQLite: that process is the only one
  (one bot per SQLite file, `storage/instance_lock.py`). PostgreSQL, several instances:
  consecutive updates of one person may be stored by different instances; the second
  one's claim waits, by that rule, for the first's handling to commit (READ COMMITTED:
  the claim sees every commit made before it started, and an older row whose handling
  has not committed yet still counts as pending). An instance whose claim was refused
  reads the person's rows from here (`pending_of`) and handles them in order, whichever
  instance stored them; two instances handling the same row are one claim and one
  duplicate (the row's own UPDATE waits for the other's commit, then finds it handled).
  Rows nobody took up (their instance died) are found by `waiting_people`.
- The handling transaction claims the row (`claim`: pending -> handled, its body emptied)
  in the same transaction that writes its effects: a crash before the commit leaves the
  row pending (handled again at start), after it leaves it handled. A handled row stays
  for the dedupe window as the update's key (a redelivery meanwhile is not stored again:
  UNIQUE (channel, update_key)); housekeeping deletes it after the window
  (`prune_handled`). Keys that older code claimed in processed_updates instead (it
  deleted the row) still count: `claim` refuses an update found there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection, Later, Row
from storage.timestamps import from_db, to_db


class OlderUpdateWaiting(Exception):
    """`claim` refused a row: an older row of the same person is still pending (stored
    by another instance, or being handled there). Nothing was written; handle the
    person's pending rows in order (`pending_of`), this one among them."""


@dataclass(frozen=True)
class NewUpdate:
    update_key: str
    person_key: str
    body: str


@dataclass(frozen=True)
class StoredUpdate:
    id: int
    channel: str
    update_key: str
    person_key: str
    body: str
    received_at: datetime
    attempts: int


async def store(conn: Connection, channel: str, updates: list[NewUpdate],
                now: datetime) -> list[int | None]:
    """Store updates; for each, its row id, or None when it is stored and pending already."""
    return (await (await store_later(conn, [(channel, updates)], now)).ids())[0]


STORE_ROWS = 16  # updates an INSERT stores at most (a statement for each count up to it)


class Stored:
    """Updates stored without waiting for the INSERTs' answers (`store_later`)."""

    def __init__(self, batches: list[tuple[str, list[NewUpdate]]], laters: list[Later]
                 ) -> None:
        self._batches, self._laters = batches, laters

    async def ids(self) -> list[list[int | None]]:
        """For each request's updates, each one's row id, or None when it was stored
        already (pending or handled: its key is kept), or came twice in this batch."""
        new: dict[tuple[str, str], int] = {}
        for later in self._laters:
            cur = await later.result()
            new.update({(r[1], r[2]): r[0] for r in await cur.fetchall()})
        return [[new.pop((channel, u.update_key), None) for u in updates]
                for channel, updates in self._batches]


async def store_later(conn: Connection, batches: list[tuple[str, list[NewUpdate]]],
                      now: datetime) -> Stored:
    """`store` for several requests' updates ((channel, updates) each) in as few INSERTs
    as `STORE_ROWS` allows, sent with the transaction's COMMIT: on a server engine one
    round trip in all, and one statement alone when it is the transaction's only one.
    Ids are read from the `Stored` after it."""
    rows = [(channel, u.update_key, u.person_key, u.body, to_db(now))
            for channel, updates in batches for u in updates]
    laters = []
    for start in range(0, len(rows), STORE_ROWS):
        chunk = rows[start:start + STORE_ROWS]
        laters.append(await conn.execute_later(
            "INSERT OR IGNORE INTO inbox (channel, update_key, person_key, body, received_at)"
            " VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
            + " RETURNING id, channel, update_key",
            tuple(value for row in chunk for value in row)))
    return Stored(batches, laters)


def _stored(row: Row) -> StoredUpdate:
    return StoredUpdate(row["id"], row["channel"], row["update_key"], row["person_key"],
                        row["body"], from_db(row["received_at"]), row["attempts"])


_COLUMNS = "id, channel, update_key, person_key, body, received_at, attempts"


async def pending(conn: Connection) -> list[StoredUpdate]:
    """Every stored update waiting to be handled, oldest first (read once, at start)."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM inbox WHERE status = 'pending' ORDER BY id"
    ) as cur:
        return [_stored(r) for r in await cur.fetchall()]


async def pending_of(conn: Connection, person_key: str, limit: int) -> list[StoredUpdate]:
    """One person's stored updates waiting to be handled, oldest first (index
    `inbox_pending`)."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM inbox WHERE person_key = ? AND status = 'pending'"
        " ORDER BY id LIMIT ?", (person_key, limit)
    ) as cur:
        return [_stored(r) for r in await cur.fetchall()]


async def waiting_people(conn: Connection, received_before: datetime,
                         limit: int = 500) -> list[str]:
    """The people with a stored update waiting since before `received_before`."""
    async with conn.execute(
        "SELECT DISTINCT person_key FROM inbox WHERE status = 'pending'"
        " AND received_at < ? LIMIT ?", (to_db(received_before), limit)
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


# The older rows are looked for by the person's key and the id as values (the row's own
# columns made PostgreSQL's cached plan read every pending row, not index inbox_pending).
# Parameters: `Claim.params`.
CLAIM = (
    "UPDATE inbox SET status = 'handled', handled_at = ?, body = '' WHERE id = ?"
    " AND status = 'pending' AND NOT EXISTS (SELECT 1 FROM inbox o"
    " WHERE o.person_key = (SELECT k.person_key FROM inbox k WHERE k.id = ?)"
    " AND o.status = 'pending' AND o.id < ?)"
    " AND NOT EXISTS (SELECT 1 FROM processed_updates p"
    " WHERE p.channel = inbox.channel AND p.update_id = inbox.update_key)")


class Claim:
    """A claim not waited for (`claim_later`): `taken` tells, as `claim` does. Sent with
    the transaction's next statement, or made part of it: on PostgreSQL the read of who
    sent the update (storage.conversations.standing) runs it as its own first step, one
    statement for both (`CLAIM` in a WITH; the read gives back whether it took the row)."""

    def __init__(self, conn: Connection, inbox_id: int, now: datetime) -> None:
        self._conn, self._inbox_id, self._now = conn, inbox_id, now
        self._later: Later | None = None
        self._took: bool | None = None  # what a statement that ran it said

    @property
    def params(self) -> tuple[str, int, int, int]:
        return (to_db(self._now), self._inbox_id, self._inbox_id, self._inbox_id)

    async def send(self) -> None:
        """Sent on its own (not waited for), unless it went already."""
        if self._later is None and self._took is None:
            self._later = await self._conn.execute_later(CLAIM, self.params)

    def ran(self, took: bool) -> None:
        """It ran inside another statement, which says whether it took the row."""
        self._took = took

    async def taken(self) -> bool:
        if self._took is None:
            await self.send()
            assert self._later is not None
            self._took = (await self._later.result()).rowcount == 1
        if self._took:
            return True
        # Why not: handled already (here or by another instance), older code's key, or an
        # older row of the person pending when the UPDATE looked (it may be handled by
        # now: this row is then tried again, not taken for handled).
        async with self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM processed_updates p WHERE p.channel = i.channel"
            " AND p.update_id = i.update_key) FROM inbox i WHERE i.id = ?"
            " AND i.status = 'pending'", (self._inbox_id,)
        ) as found:
            row = await found.fetchone()
        if row is not None and not row[0]:
            raise OlderUpdateWaiting(self._inbox_id)
        await mark_handled(self._conn, self._inbox_id, self._now)
        return False


def claim_later(conn: Connection, inbox_id: int, now: datetime) -> Claim:
    """`claim`, not sent yet: it goes with the transaction's next statement, or inside it
    (`Claim`); what it did is known from `Claim.taken`."""
    return Claim(conn, inbox_id, now)


async def claim(conn: Connection, inbox_id: int, now: datetime) -> bool:
    """True when this pending row is now handled, by the caller's transaction (which
    writes its effects); False when it was handled before: by another instance, or by
    older code that claimed its key in processed_updates (the row is then marked handled,
    so it never waits again). Raises OlderUpdateWaiting when an older row of the same
    person is still pending (the module's docstring: one person's rows in order)."""
    return await claim_later(conn, inbox_id, now).taken()


async def mark_handled(conn: Connection, inbox_id: int, now: datetime) -> None:
    """A stored update done with, whatever was done (or nothing: an event type the bot
    ignores): kept as its key for the dedupe window."""
    await conn.execute(
        "UPDATE inbox SET status = 'handled', handled_at = ?, body = '' WHERE id = ?"
        " AND status = 'pending'", (to_db(now), inbox_id))


async def prune_handled(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` rows handled before `before`, oldest first (index
    `inbox_handled`); returns how many."""
    rows = await conn.fetchall_in_thread(
        "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE status = 'handled'"
        " AND handled_at < ? ORDER BY handled_at LIMIT ?) RETURNING 1",
        (to_db(before), limit))
    return len(rows)


# Every update key handled and not yet forgotten (for checks and tests): claimed in the
# inbox, or in processed_updates (updates handled without the inbox, older code).
HANDLED_KEYS = ("SELECT channel, update_key AS update_id FROM inbox WHERE status = 'handled'"
                " UNION ALL SELECT channel, update_id FROM processed_updates")


async def mark_failed(conn: Connection, inbox_id: int, attempts: int, error: str) -> None:
    await conn.execute(
        "UPDATE inbox SET status = 'failed', attempts = ?, last_error = ? WHERE id = ?",
        (attempts, error[:500], inbox_id))


async def backlog(conn: Connection) -> tuple[int, datetime | None]:
    """How many stored updates wait to be handled, and since when the oldest."""
    async with conn.execute(
        "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE status = 'pending'"
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]), from_db(row[1]) if row[1] else None
