"""Crisis problem reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class Problem:
    id: int
    village_code: str
    category: str
    description: str
    households: int
    severity: int
    photo_ref: str | None
    latitude: float | None
    longitude: float | None
    reporter_id: int
    created_at: datetime
    review_status: str


_COLUMNS = ("id, village_code, category, description, households, severity, photo_ref,"
            " latitude, longitude, reporter_id, created_at, review_status")


def _problem(r: Row) -> Problem:
    return Problem(r["id"], r["village_code"], r["category"], r["description"], r["households"],
                   r["severity"], r["photo_ref"], r["latitude"], r["longitude"], r["reporter_id"],
                   from_db(r["created_at"]), r["review_status"])


async def insert(conn: Connection, *, village_code: str, category: str,
                 description: str, households: int, severity: int, photo_ref: str | None,
                 photo_platform_id: str | None, latitude: float | None,
                 longitude: float | None, reporter_id: int, now: datetime) -> int:
    cur = await conn.execute(
        "INSERT INTO problems (village_code, category, description, households, severity,"
        " photo_ref, photo_platform_id, latitude, longitude, reporter_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (village_code, category, description, households, severity, photo_ref,
         photo_platform_id, latitude,
         longitude, reporter_id, to_db(now)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def get(conn: Connection, problem_id: int) -> Problem | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM problems WHERE id = ?", (problem_id,)) as cur:
        row = await cur.fetchone()
    return _problem(row) if row else None


async def of_villages(conn: Connection, village_codes: list[str], limit: int = 10
                      ) -> list[Problem]:
    marks = ",".join("?" * len(village_codes))
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM problems WHERE village_code IN ({marks})"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (*village_codes, limit),
    ) as cur:
        return [_problem(r) for r in await cur.fetchall()]


async def under_area(conn: Connection, area_code: str, limit: int = 10
                     ) -> list[Problem]:
    """The latest problems of villages inside an administrative area (DOPA code prefix)."""
    prefix = "" if area_code == "TH" else area_code
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM problems WHERE village_code >= ? AND village_code < ?"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (prefix, prefix + "\uffff", limit),
    ) as cur:
        return [_problem(r) for r in await cur.fetchall()]


async def correct(conn: Connection, problem_id: int, *, category: str, description: str,
                  households: int, severity: int, photo_ref: str | None,
                  photo_platform_id: str | None, latitude: float | None,
                  longitude: float | None) -> None:
    """The village's correction of a report returned to it (storage.reviews.new_version
    then makes it the next version, waiting for review)."""
    await conn.execute(
        "UPDATE problems SET category = ?, description = ?, households = ?, severity = ?,"
        " photo_ref = ?, photo_platform_id = ?, latitude = ?, longitude = ? WHERE id = ?",
        (category, description, households, severity, photo_ref, photo_platform_id, latitude,
         longitude, problem_id))
