"""Support requests from a village to its TAO and on to the district, with their history.

A request is held by one level at a time: the TAO of its tambon while it is `submitted`,
the district once it is `forwarded`. Only the holder may decide it, and only once: every
transition checks the status it starts from in the same UPDATE that changes it, inside
the caller's transaction, so a request decided meanwhile raises `AlreadyDecided`.
Every change writes an event row; `level` on an event is where the request stands
after it.

A returned request can be corrected by the village and sent again (`resubmit`): the same
row, its next version, waiting again at the desk that returned it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db

TAMBON, DISTRICT = "tambon", "district"
SUBMITTED, FORWARDED, FUNDED, RETURNED = "submitted", "forwarded", "funded", "returned"
# (level, status) of a request waiting in a queue, by the level that holds it.
PENDING = {TAMBON: SUBMITTED, DISTRICT: FORWARDED}
AUTO_NOTE_PREFIX = "auto: above threshold "


class NotReturned(Exception):
    """The request is no longer returned to the village (sent again, or never returned)."""

    def __init__(self, request_id: int, status: str) -> None:
        super().__init__(f"support request {request_id} is {status}, not returned")
        self.request_id = request_id
        self.status = status


class AlreadyDecided(Exception):
    """The request is no longer waiting in the queue of the level that tried to decide it."""

    def __init__(self, request_id: int, status: str, level: str) -> None:
        super().__init__(f"support request {request_id} is {status} at {level}")
        self.request_id = request_id
        self.status = status
        self.level = level


@dataclass(frozen=True)
class SupportRequest:
    id: int
    item_id: int
    village_code: str
    amount_requested: int
    purpose: str
    level: str
    status: str
    amount_granted: int | None
    decided_by: int | None
    decided_at: datetime | None
    reason: str | None
    tao_note: str | None
    created_by: int
    created_at: datetime
    updated_at: datetime
    version: int = 1  # 2 and more: corrected by the village after a return

    def pending_at(self, level: str) -> bool:
        """Waiting for a decision in `level`'s queue."""
        return self.level == level and PENDING.get(level) == self.status


@dataclass(frozen=True)
class Event:
    id: int
    request_id: int
    at: datetime
    person_id: int | None
    from_status: str | None
    to_status: str
    level: str
    amount: int | None
    note: str | None

    def auto_threshold(self) -> int | None:
        """The threshold an automatic forward was made for, None for any other event."""
        return auto_threshold(self.note) if self.to_status == FORWARDED else None


_COLUMNS = ("id, item_id, village_code, amount_requested, purpose, level, status,"
            " amount_granted, decided_by, decided_at, reason, tao_note, created_by, created_at,"
            " updated_at, version")


def _request(r: Row) -> SupportRequest:
    return SupportRequest(
        r["id"], r["item_id"], r["village_code"], r["amount_requested"], r["purpose"],
        r["level"], r["status"], r["amount_granted"], r["decided_by"],
        from_db(r["decided_at"]) if r["decided_at"] else None, r["reason"], r["tao_note"],
        r["created_by"], from_db(r["created_at"]), from_db(r["updated_at"]), r["version"])


def _event(r: Row) -> Event:
    return Event(r["id"], r["request_id"], from_db(r["at"]), r["person_id"], r["from_status"],
                 r["to_status"], r["level"], r["amount"], r["note"])


def auto_note(threshold: int) -> str:
    """The note of an automatic forward (data, not text for people: see auto_threshold)."""
    return f"{AUTO_NOTE_PREFIX}{threshold}"


def auto_threshold(note: str | None) -> int | None:
    """The threshold in an automatic forward's note; None for a note a person wrote."""
    if not note or not note.startswith(AUTO_NOTE_PREFIX):
        return None
    digits = note.removeprefix(AUTO_NOTE_PREFIX)
    return int(digits) if digits.isdigit() else None


async def _add_event(conn: Connection, request_id: int, *, now: datetime,
                     person_id: int | None, from_status: str | None, to_status: str,
                     level: str, amount: int | None = None, note: str | None = None) -> None:
    await conn.execute(
        "INSERT INTO support_request_events (request_id, at, person_id, from_status, to_status,"
        " level, amount, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (request_id, to_db(now), person_id, from_status, to_status, level, amount, note))


# --- creating and deciding -----------------------------------------------------------------

async def create(conn: Connection, *, item_id: int, village_code: str, amount: int,
                 purpose: str, person_id: int, now: datetime) -> int:
    """A new request in the queue of the village's TAO."""
    if amount <= 0:
        raise ValueError("a support request asks for a positive amount")
    cur = await conn.execute(
        "INSERT INTO support_requests (item_id, village_code, amount_requested, purpose, level,"
        " status, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (item_id, village_code, amount, purpose, TAMBON, SUBMITTED, person_id, to_db(now),
         to_db(now)))
    assert cur.lastrowid is not None
    await _add_event(conn, cur.lastrowid, now=now, person_id=person_id, from_status=None,
                     to_status=SUBMITTED, level=TAMBON, amount=amount, note=purpose)
    return cur.lastrowid


async def _claim(conn: Connection, request_id: int, level: str, assignments: str,
                 params: tuple[object, ...]) -> SupportRequest:
    """Apply `assignments` only if the request still waits in `level`'s queue; the request
    as it was before. Raises AlreadyDecided (and changes nothing) otherwise."""
    before = await get(conn, request_id)
    if before is None:
        raise LookupError(f"no support request {request_id}")
    cur = await conn.execute(
        f"UPDATE support_requests SET {assignments} WHERE id = ? AND level = ? AND status = ?",
        (*params, request_id, level, PENDING[level]))
    if cur.rowcount != 1:
        raise AlreadyDecided(request_id, before.status, before.level)
    return before


async def fund(conn: Connection, request_id: int, *, level: str, amount: int,
               person_id: int, now: datetime) -> SupportRequest:
    """Fund the request (in full or in part) from `level`'s queue."""
    current = await get(conn, request_id)
    if current is not None and not 0 < amount <= current.amount_requested:
        raise ValueError(f"granted amount {amount} outside 1..{current.amount_requested}")
    before = await _claim(
        conn, request_id, level,
        "status = ?, amount_granted = ?, decided_by = ?, decided_at = ?, updated_at = ?",
        (FUNDED, amount, person_id, to_db(now), to_db(now)))
    await _add_event(conn, request_id, now=now, person_id=person_id,
                     from_status=before.status, to_status=FUNDED, level=level, amount=amount)
    return before


async def forward(conn: Connection, request_id: int, *, note: str,
                  person_id: int | None, now: datetime) -> SupportRequest:
    """Send the request from the TAO's queue to the district's (person None: automatic)."""
    before = await _claim(conn, request_id, TAMBON,
                          "level = ?, status = ?, tao_note = ?, updated_at = ?",
                          (DISTRICT, FORWARDED, note or None, to_db(now)))
    await _add_event(conn, request_id, now=now, person_id=person_id, from_status=before.status,
                     to_status=FORWARDED, level=DISTRICT, note=note or None)
    return before


async def return_(conn: Connection, request_id: int, *, level: str, reason: str,
                  person_id: int, now: datetime) -> SupportRequest:
    """Give the request back to the village from `level`'s queue; a reason is required."""
    if not reason.strip():
        raise ValueError("a returned request needs a reason")
    before = await _claim(
        conn, request_id, level,
        "status = ?, reason = ?, decided_by = ?, decided_at = ?, updated_at = ?",
        (RETURNED, reason, person_id, to_db(now), to_db(now)))
    await _add_event(conn, request_id, now=now, person_id=person_id,
                     from_status=before.status, to_status=RETURNED, level=level, note=reason)
    return before


async def resubmit(conn: Connection, request_id: int, *, item_id: int, amount: int,
                   purpose: str, person_id: int, now: datetime) -> SupportRequest:
    """The village's correction of a returned request: the same row with the corrected
    fields, its next version, waiting again at the level that returned it (the TAO's queue,
    or the district's). The decision it was returned with is cleared (kept in the events).
    Returns the request as it was before; raises NotReturned (and changes nothing) when it
    is no longer returned."""
    if amount <= 0:
        raise ValueError("a support request asks for a positive amount")
    before = await get(conn, request_id)
    if before is None:
        raise LookupError(f"no support request {request_id}")
    pending = PENDING[before.level]
    cur = await conn.execute(
        "UPDATE support_requests SET item_id = ?, amount_requested = ?, purpose = ?,"
        " status = ?, amount_granted = NULL, decided_by = NULL, decided_at = NULL,"
        " reason = NULL, version = version + 1, updated_at = ?"
        " WHERE id = ? AND status = ? AND version = ?",
        (item_id, amount, purpose, pending, to_db(now), request_id, RETURNED, before.version))
    if cur.rowcount != 1:
        raise NotReturned(request_id, before.status)
    await _add_event(conn, request_id, now=now, person_id=person_id, from_status=RETURNED,
                     to_status=pending, level=before.level, amount=amount, note=purpose)
    return before


# --- reading ----------------------------------------------------------------------------------

async def get(conn: Connection, request_id: int) -> SupportRequest | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM support_requests WHERE id = ?",
                            (request_id,)) as cur:
        row = await cur.fetchone()
    return _request(row) if row else None


async def row(conn: Connection, request_id: int) -> dict[str, Any] | None:
    """Every stored field of a request, as the audit log keeps a version of it."""
    async with conn.execute("SELECT * FROM support_requests WHERE id = ?",
                            (request_id,)) as cur:
        found = await cur.fetchone()
    return dict(found) if found else None


async def of_village(conn: Connection, village_code: str) -> list[SupportRequest]:
    """The village's requests, latest first."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM support_requests WHERE village_code = ?"
        " ORDER BY created_at DESC, id DESC", (village_code,)
    ) as cur:
        return [_request(r) for r in await cur.fetchall()]


async def history(conn: Connection, request_id: int) -> list[Event]:
    async with conn.execute(
        "SELECT id, request_id, at, person_id, from_status, to_status, level, amount, note"
        " FROM support_request_events WHERE request_id = ? ORDER BY id", (request_id,)
    ) as cur:
        return [_event(r) for r in await cur.fetchall()]


async def _queue(conn: Connection, level: str, area_code: str
                 ) -> list[SupportRequest]:
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM support_requests WHERE level = ? AND status = ?"
        " AND substr(village_code, 1, ?) = ? ORDER BY created_at, id",
        (level, PENDING[level], len(area_code), area_code)
    ) as cur:
        return [_request(r) for r in await cur.fetchall()]


async def queue_for_tambon(conn: Connection, tambon_code: str
                           ) -> list[SupportRequest]:
    """Requests waiting for the TAO of the tambon, oldest first."""
    return await _queue(conn, TAMBON, tambon_code)


async def queue_for_district(conn: Connection, district_code: str
                             ) -> list[SupportRequest]:
    """Requests forwarded to the district from any of its tambons, oldest first."""
    return await _queue(conn, DISTRICT, district_code)
