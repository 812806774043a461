"""Community forums (village meetings) and the problems discussed at each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class Forum:
    id: int
    village_code: str
    held_on: date
    participants: int
    groups_present: tuple[str, ...]
    other_groups: str
    notes: str
    photo_ref: str | None
    photo_platform_id: str | None
    reporter_id: int
    created_at: datetime
    review_status: str


_COLUMNS = ("id, village_code, held_on, participants, groups_present, other_groups, notes,"
            " photo_ref, photo_platform_id, reporter_id, created_at, review_status")


def _forum(r: Row) -> Forum:
    return Forum(r["id"], r["village_code"], date.fromisoformat(r["held_on"]), r["participants"],
                 tuple(json.loads(r["groups_present"])), r["other_groups"], r["notes"],
                 r["photo_ref"], r["photo_platform_id"], r["reporter_id"],
                 from_db(r["created_at"]), r["review_status"])


async def insert(conn: Connection, *, village_code: str, held_on: date,
                 participants: int, groups_present: list[str], other_groups: str, notes: str,
                 photo_ref: str | None, photo_platform_id: str | None, problem_ids: list[int],
                 reporter_id: int, now: datetime) -> int:
    """The forum and the problems discussed at it."""
    cur = await conn.execute(
        "INSERT INTO forums (village_code, held_on, participants, groups_present, other_groups,"
        " notes, photo_ref, photo_platform_id, reporter_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (village_code, held_on.isoformat(), participants, json.dumps(list(groups_present)),
         other_groups, notes, photo_ref, photo_platform_id, reporter_id, to_db(now)),
    )
    forum_id = cur.lastrowid
    assert forum_id is not None
    await conn.executemany(
        "INSERT OR IGNORE INTO forum_problems (forum_id, problem_id) VALUES (?, ?)",
        [(forum_id, p) for p in problem_ids])
    return forum_id


async def get(conn: Connection, forum_id: int) -> Forum | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM forums WHERE id = ?", (forum_id,)) as cur:
        row = await cur.fetchone()
    return _forum(row) if row else None


async def of_village(conn: Connection, village_code: str, limit: int = 20
                     ) -> list[Forum]:
    """The village's forums, the latest held first."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM forums WHERE village_code = ?"
        " ORDER BY held_on DESC, id DESC LIMIT ?", (village_code, limit)
    ) as cur:
        return [_forum(r) for r in await cur.fetchall()]


async def problems_of(conn: Connection, forum_id: int) -> list[int]:
    """The ids of the problems discussed at the forum."""
    async with conn.execute(
        "SELECT problem_id FROM forum_problems WHERE forum_id = ? ORDER BY problem_id",
        (forum_id,)
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


async def correct(conn: Connection, forum_id: int, *, held_on: date, participants: int,
                  groups_present: list[str], other_groups: str, notes: str,
                  photo_ref: str | None, photo_platform_id: str | None,
                  problem_ids: list[int]) -> None:
    """The village's correction of a forum record returned to it, with the problems
    discussed (storage.reviews.new_version then makes it the next version)."""
    await conn.execute(
        "UPDATE forums SET held_on = ?, participants = ?, groups_present = ?,"
        " other_groups = ?, notes = ?, photo_ref = ?, photo_platform_id = ? WHERE id = ?",
        (held_on.isoformat(), participants, json.dumps(list(groups_present)), other_groups,
         notes, photo_ref, photo_platform_id, forum_id))
    await conn.execute("DELETE FROM forum_problems WHERE forum_id = ?", (forum_id,))
    await conn.executemany(
        "INSERT OR IGNORE INTO forum_problems (forum_id, problem_id) VALUES (?, ?)",
        [(forum_id, p) for p in problem_ids])
