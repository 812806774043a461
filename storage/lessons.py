"""Lessons learned at the end of (or during) a village plan's period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class Lesson:
    id: int
    plan_id: int
    village_code: str
    what_worked: str
    what_did_not: str
    next_steps: str
    created_by: int
    created_at: datetime
    review_status: str


_COLUMNS = ("id, plan_id, village_code, what_worked, what_did_not, next_steps, created_by,"
            " created_at, review_status")


def _lesson(r: Row) -> Lesson:
    return Lesson(r["id"], r["plan_id"], r["village_code"], r["what_worked"], r["what_did_not"],
                  r["next_steps"], r["created_by"], from_db(r["created_at"]), r["review_status"])


async def insert(conn: Connection, *, plan_id: int, village_code: str,
                 what_worked: str, what_did_not: str, next_steps: str, person_id: int,
                 now: datetime) -> int:
    cur = await conn.execute(
        "INSERT INTO lessons (plan_id, village_code, what_worked, what_did_not, next_steps,"
        " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (plan_id, village_code, what_worked, what_did_not, next_steps, person_id, to_db(now)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def of_village(conn: Connection, village_code: str, limit: int = 20
                     ) -> list[Lesson]:
    """The village's lessons, the latest first."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM lessons WHERE village_code = ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?", (village_code, limit)
    ) as cur:
        return [_lesson(r) for r in await cur.fetchall()]


async def of_plan(conn: Connection, plan_id: int) -> list[Lesson]:
    """The lessons drawn for one plan, in the order they were recorded."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM lessons WHERE plan_id = ? ORDER BY created_at, id", (plan_id,)
    ) as cur:
        return [_lesson(r) for r in await cur.fetchall()]


async def correct(conn: Connection, lesson_id: int, *, what_worked: str, what_did_not: str,
                  next_steps: str) -> None:
    """The village's correction of lessons returned to it (storage.reviews.new_version then
    makes it the next version, waiting for review)."""
    await conn.execute(
        "UPDATE lessons SET what_worked = ?, what_did_not = ?, next_steps = ? WHERE id = ?",
        (what_worked, what_did_not, next_steps, lesson_id))
