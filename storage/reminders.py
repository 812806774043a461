"""Reminder schedules, per-tambon switches, personal pauses, broadcasts, and the
recipient queries the reminders are planned from."""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.connection import Connection
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class Schedule:
    kind: str
    hour: int
    minute: int
    weekday: int | None
    day_of_month: int | None
    enabled: bool
    params: dict[str, Any]
    next_run_at: datetime | None


@dataclass(frozen=True)
class Recipient:
    """One chat of one person who should get a reminder about `area_code`."""

    person_id: int
    language: str
    identity_id: int
    channel: str
    chat_id: str
    area_code: str


async def schedules(conn: Connection) -> list[Schedule]:
    async with conn.execute(
        "SELECT kind, hour, minute, weekday, day_of_month, enabled, params, next_run_at"
        " FROM schedules ORDER BY kind"
    ) as cur:
        return [Schedule(r[0], r[1], r[2], r[3], r[4], bool(r[5]), json.loads(r[6]),
                         from_db(r[7]) if r[7] else None) for r in await cur.fetchall()]


# Kinds added after migration 0005 seeded the table: (kind, hour, minute, params). Each
# is added once, at the scheduler's start, and is then kept (and changed) like the rest.
ADDED_SCHEDULES: tuple[tuple[str, int, int, dict[str, Any]], ...] = (
    ("unreceived_digest", 8, 0, {}),
)


async def ensure_schedules(conn: Connection) -> None:
    """Add the kinds a database from before them lacks; an existing row is left as is."""
    await conn.executemany(
        "INSERT OR IGNORE INTO schedules (kind, hour, minute, params) VALUES (?, ?, ?, ?)",
        [(kind, hour, minute, json.dumps(params)) for kind, hour, minute, params
         in ADDED_SCHEDULES])


async def set_next_run(conn: Connection, kind: str, next_run_at: datetime,
                       last_run_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE schedules SET next_run_at = ?, last_run_at = COALESCE(?, last_run_at)"
        " WHERE kind = ?",
        (to_db(next_run_at), to_db(last_run_at) if last_run_at else None, kind))


async def update_schedule(conn: Connection, kind: str, *, hour: int, minute: int,
                          enabled: bool = True) -> None:
    """Change when a kind fires; its next run is computed again."""
    await conn.execute(
        "UPDATE schedules SET hour = ?, minute = ?, enabled = ?, next_run_at = NULL"
        " WHERE kind = ?", (hour, minute, int(enabled), kind))


async def set_tambon_switch(conn: Connection, tambon_code: str, kind: str,
                            enabled: bool, person_id: int | None, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO tambon_reminders (tambon_code, kind, enabled, updated_by, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tambon_code, kind) DO UPDATE SET"
        " enabled = excluded.enabled, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
        (tambon_code, kind, int(enabled), person_id, to_db(now)))


async def tambon_switches(conn: Connection, tambon_code: str) -> dict[str, bool]:
    async with conn.execute(
        "SELECT kind, enabled FROM tambon_reminders WHERE tambon_code = ?", (tambon_code,)
    ) as cur:
        return {r[0]: bool(r[1]) for r in await cur.fetchall()}


@dataclass(frozen=True)
class TambonTime:
    """A tambon's own time for a kind of reminder (Bangkok); weekdays None: the kind's days."""

    tambon_code: str
    kind: str
    hour: int
    minute: int
    weekdays: tuple[int, ...] | None
    next_run_at: datetime | None


def _weekdays(text: str | None) -> tuple[int, ...] | None:
    return tuple(int(d) for d in text.split(",")) if text else None


async def tambon_times(conn: Connection, tambon_code: str | None = None) -> list[TambonTime]:
    """Every tambon's own reminder times, or one tambon's."""
    sql = ("SELECT tambon_code, kind, hour, minute, weekdays, next_run_at"
           " FROM tambon_reminder_times")
    args: tuple[Any, ...] = ()
    if tambon_code is not None:
        sql, args = sql + " WHERE tambon_code = ?", (tambon_code,)
    async with conn.execute(sql + " ORDER BY tambon_code, kind", args) as cur:
        return [TambonTime(r[0], r[1], r[2], r[3], _weekdays(r[4]),
                           from_db(r[5]) if r[5] else None) for r in await cur.fetchall()]


async def set_tambon_time(conn: Connection, tambon_code: str, kind: str, *, hour: int,
                          minute: int, weekdays: tuple[int, ...] | None,
                          next_run_at: datetime | None, person_id: int | None,
                          now: datetime) -> None:
    days = ",".join(str(d) for d in sorted(set(weekdays))) if weekdays else None
    await conn.execute(
        "INSERT INTO tambon_reminder_times (tambon_code, kind, hour, minute, weekdays,"
        " next_run_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (tambon_code, kind) DO UPDATE SET hour = excluded.hour,"
        " minute = excluded.minute, weekdays = excluded.weekdays,"
        " next_run_at = excluded.next_run_at, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
        (tambon_code, kind, hour, minute, days,
         to_db(next_run_at) if next_run_at else None, person_id, to_db(now)))


async def clear_tambon_time(conn: Connection, tambon_code: str, kind: str) -> None:
    """Back to the kind's default time."""
    await conn.execute("DELETE FROM tambon_reminder_times WHERE tambon_code = ? AND kind = ?",
                       (tambon_code, kind))


async def set_tambon_next_run(conn: Connection, tambon_code: str, kind: str,
                              next_run_at: datetime, last_run_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE tambon_reminder_times SET next_run_at = ?,"
        " last_run_at = COALESCE(?, last_run_at) WHERE tambon_code = ? AND kind = ?",
        (to_db(next_run_at), to_db(last_run_at) if last_run_at else None, tambon_code, kind))


async def pause(conn: Connection, person_id: int, until: datetime | None,
                now: datetime) -> None:
    await conn.execute(
        "INSERT INTO reminder_pauses (person_id, paused_until, paused_at) VALUES (?, ?, ?)"
        " ON CONFLICT (person_id) DO UPDATE SET paused_until = excluded.paused_until,"
        " paused_at = excluded.paused_at",
        (person_id, to_db(until) if until else None, to_db(now)))


async def resume(conn: Connection, person_id: int) -> None:
    await conn.execute("DELETE FROM reminder_pauses WHERE person_id = ?", (person_id,))


async def paused_until(conn: Connection, person_id: int) -> tuple[bool, datetime | None]:
    async with conn.execute("SELECT paused_until FROM reminder_pauses WHERE person_id = ?",
                            (person_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return False, None
    return True, from_db(row[0]) if row[0] else None


# The people who hold `role` on an area, their reachable chats, unless they paused
# reminders or their tambon switched this kind off. `{areas}` is a SELECT of area codes.
_RECIPIENTS = """
    SELECT g.person_id, p.language, i.id, i.channel, i.chat_id, g.area_code
    FROM role_grants g
    JOIN people p ON p.id = g.person_id
    JOIN identities i ON i.person_id = g.person_id AND i.active = 1
    WHERE g.role = :role AND g.area_code IN ({areas})
      AND (:everyone OR NOT EXISTS (SELECT 1 FROM reminder_pauses rp
                      WHERE rp.person_id = g.person_id
                      AND (rp.paused_until IS NULL OR rp.paused_until > :now)))
      AND NOT EXISTS (SELECT 1 FROM tambon_reminders tr WHERE tr.kind = :kind
                      AND tr.enabled = 0 AND tr.tambon_code = substr(g.area_code, 1, 6))
      {timing}
    ORDER BY g.area_code, g.person_id, i.id
"""

# Which tambons a planning run is for (set by handlers.reminders.plan around a planner):
# the kind's default time is for every tambon without a time of its own; a tambon's own
# time is for that tambon only. People above the tambon (district) keep the default time.
_OWN_TIME = ("EXISTS (SELECT 1 FROM tambon_reminder_times trt WHERE trt.kind = :kind"
             " AND trt.tambon_code = substr(g.area_code, 1, 6))")
TIMING_TAMBON: ContextVar[str | None] = ContextVar("reminder_timing_tambon", default=None)


def _timing() -> tuple[str, dict[str, Any]]:
    tambon = TIMING_TAMBON.get()
    if tambon is None:
        return f"AND NOT {_OWN_TIME}", {}
    return "AND substr(g.area_code, 1, 6) = :timing_tambon", {"timing_tambon": tambon}


async def recipients(conn: Connection, *, role: str, areas_sql: str,
                     params: dict[str, Any], kind: str, now: datetime,
                     honour_pauses: bool = True) -> list[Recipient]:
    """`honour_pauses=False` for an announcement: a pause is for reminders only."""
    timing, timing_params = _timing()
    sql = _RECIPIENTS.format(areas=areas_sql, timing=timing)
    rows = await conn.fetchall_in_thread(sql, {**params, **timing_params, "role": role,
                                               "kind": kind,
                                               "now": to_db(now),
                                               "everyone": int(not honour_pauses)})
    return [Recipient(*r) for r in rows]


async def create_broadcast(conn: Connection, *, tambon_code: str, sender_id: int,
                           text: str, recipients: int, now: datetime) -> int:
    cur = await conn.execute(
        "INSERT INTO broadcasts (tambon_code, sender_id, text, recipients, created_at)"
        " VALUES (?, ?, ?, ?, ?)", (tambon_code, sender_id, text, recipients, to_db(now)))
    assert cur.lastrowid is not None
    return cur.lastrowid


@dataclass(frozen=True)
class BroadcastReport:
    id: int
    text: str
    created_at: datetime
    sent: int
    failed: int
    pending: int


async def broadcast_reports(conn: Connection, sender_id: int, limit: int = 5
                            ) -> list[BroadcastReport]:
    async with conn.execute(
        "SELECT b.id, b.text, b.created_at,"
        " COUNT(o.id) FILTER (WHERE o.status = 'sent'),"
        " COUNT(o.id) FILTER (WHERE o.status = 'failed'),"
        " COUNT(o.id) FILTER (WHERE o.status = 'pending')"
        " FROM broadcasts b LEFT JOIN outbox o ON o.batch = 'broadcast:' || b.id"
        " WHERE b.sender_id = ? GROUP BY b.id ORDER BY b.id DESC LIMIT ?",
        (sender_id, limit),
    ) as cur:
        return [BroadcastReport(r[0], r[1], from_db(r[2]), r[3], r[4], r[5])
                for r in await cur.fetchall()]
