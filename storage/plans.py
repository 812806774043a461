"""Village crisis plans, their items (one of three approaches each) and progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from storage.connection import Connection, Row
from storage.timestamps import to_db

APPROACHES = ("self_reliance", "cooperation", "external_support")
ITEM_STATUSES = ("not_started", "in_progress", "done", "stalled", "withdrawn")
OPEN_STATUSES = ("not_started", "in_progress", "stalled")
OUTCOMES = ("yes", "partly", "no")


@dataclass(frozen=True)
class Plan:
    id: int
    village_code: str
    period_start: date
    period_end: date
    status: str
    previous_id: int | None
    review_status: str


@dataclass(frozen=True)
class PlanItem:
    id: int
    plan_id: int
    village_code: str
    title: str
    approach: str
    partner: str
    budget_needed: int
    own_money: int
    own_labour: str
    start_on: date
    end_on: date
    responsible: str
    status: str
    percent: int
    stalled_reason: str | None
    withdrawn_reason: str | None
    outcome_solved: str | None
    households_helped: int | None
    carried_from: int | None
    review_status: str
    problem_ids: tuple[int, ...] = ()

    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, today: date) -> bool:
        return self.is_open() and self.end_on < today


_PLAN = ("SELECT id, village_code, period_start, period_end, status, previous_id, review_status"
         " FROM plans")
_ITEM_COLUMNS = ("id, plan_id, village_code, title, approach, partner, budget_needed, own_money,"
                 " own_labour, start_on, end_on, responsible, status, percent, stalled_reason,"
                 " withdrawn_reason, outcome_solved, households_helped, carried_from,"
                 " review_status")
_EDITABLE_ITEM_FIELDS = frozenset({"title", "approach", "partner", "budget_needed", "own_money",
                                   "own_labour", "start_on", "end_on", "responsible"})


def _plan(r: Row) -> Plan:
    return Plan(r["id"], r["village_code"], date.fromisoformat(r["period_start"]),
                date.fromisoformat(r["period_end"]), r["status"], r["previous_id"],
                r["review_status"])


def _item(r: Row, problem_ids: tuple[int, ...]) -> PlanItem:
    return PlanItem(r["id"], r["plan_id"], r["village_code"], r["title"], r["approach"],
                    r["partner"], r["budget_needed"], r["own_money"], r["own_labour"],
                    date.fromisoformat(r["start_on"]), date.fromisoformat(r["end_on"]),
                    r["responsible"], r["status"], r["percent"], r["stalled_reason"],
                    r["withdrawn_reason"], r["outcome_solved"], r["households_helped"],
                    r["carried_from"], r["review_status"], problem_ids)


# --- plans ------------------------------------------------------------------------------------

async def open_plan(conn: Connection, village_code: str) -> Plan | None:
    async with conn.execute(f"{_PLAN} WHERE village_code = ? AND status = 'open'",
                            (village_code,)) as cur:
        row = await cur.fetchone()
    return _plan(row) if row else None


async def get_plan(conn: Connection, plan_id: int) -> Plan | None:
    async with conn.execute(f"{_PLAN} WHERE id = ?", (plan_id,)) as cur:
        row = await cur.fetchone()
    return _plan(row) if row else None


async def plans_of_village(conn: Connection, village_code: str) -> list[Plan]:
    async with conn.execute(f"{_PLAN} WHERE village_code = ? ORDER BY period_start, id",
                            (village_code,)) as cur:
        return [_plan(r) for r in await cur.fetchall()]


async def create_plan(conn: Connection, *, village_code: str, period_start: date,
                      period_end: date, person_id: int, now: datetime,
                      previous_id: int | None = None) -> int:
    cur = await conn.execute(
        "INSERT INTO plans (village_code, period_start, period_end, previous_id, created_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (village_code, period_start.isoformat(), period_end.isoformat(), previous_id, person_id,
         to_db(now)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def close_plan(conn: Connection, plan_id: int, now: datetime) -> None:
    await conn.execute("UPDATE plans SET status = 'closed', closed_at = ? WHERE id = ?",
                       (to_db(now), plan_id))


# --- items ------------------------------------------------------------------------------------

async def _problem_ids(conn: Connection, item_ids: list[int]
                       ) -> dict[int, tuple[int, ...]]:
    if not item_ids:
        return {}
    marks = ",".join("?" * len(item_ids))
    found: dict[int, list[int]] = {}
    async with conn.execute(
        f"SELECT item_id, problem_id FROM plan_item_problems WHERE item_id IN ({marks})"
        " ORDER BY problem_id", item_ids
    ) as cur:
        for item_id, problem_id in await cur.fetchall():
            found.setdefault(item_id, []).append(problem_id)
    return {k: tuple(v) for k, v in found.items()}


async def _items(conn: Connection, where: str, params: tuple[Any, ...]
                 ) -> list[PlanItem]:
    async with conn.execute(f"SELECT {_ITEM_COLUMNS} FROM plan_items WHERE {where}",
                            params) as cur:
        rows = await cur.fetchall()
    problems = await _problem_ids(conn, [r["id"] for r in rows])
    return [_item(r, problems.get(r["id"], ())) for r in rows]


async def get_item(conn: Connection, item_id: int) -> PlanItem | None:
    found = await _items(conn, "id = ?", (item_id,))
    return found[0] if found else None


async def items_of_plan(conn: Connection, plan_id: int,
                        include_withdrawn: bool = False) -> list[PlanItem]:
    where = "plan_id = ?" + ("" if include_withdrawn else " AND status != 'withdrawn'")
    return await _items(conn, where + " ORDER BY id", (plan_id,))


async def open_items_of_village(conn: Connection, village_code: str
                                ) -> list[PlanItem]:
    """Items of the village's open plan that are not done or withdrawn."""
    return await _items(
        conn,
        "village_code = ? AND status IN ('not_started', 'in_progress', 'stalled')"
        " AND plan_id IN (SELECT id FROM plans WHERE village_code = ? AND status = 'open')"
        " ORDER BY id",
        (village_code, village_code))


async def add_item(conn: Connection, *, plan_id: int, village_code: str, title: str,
                   approach: str, partner: str, budget_needed: int, own_money: int,
                   own_labour: str, start_on: date, end_on: date, responsible: str,
                   problem_ids: list[int], person_id: int, now: datetime,
                   carried_from: int | None = None, status: str = "not_started",
                   percent: int = 0, stalled_reason: str | None = None) -> int:
    if approach not in APPROACHES:
        raise ValueError(f"unknown approach {approach!r}")
    cur = await conn.execute(
        "INSERT INTO plan_items (plan_id, village_code, title, approach, partner, budget_needed,"
        " own_money, own_labour, start_on, end_on, responsible, status, percent, stalled_reason,"
        " carried_from, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (plan_id, village_code, title, approach, partner, budget_needed, own_money, own_labour,
         start_on.isoformat(), end_on.isoformat(), responsible, status, percent,
         stalled_reason if status == "stalled" else None, carried_from, person_id, to_db(now),
         to_db(now)),
    )
    assert cur.lastrowid is not None
    await set_item_problems(conn, cur.lastrowid, problem_ids)
    return cur.lastrowid


async def set_item_problems(conn: Connection, item_id: int,
                            problem_ids: list[int]) -> None:
    await conn.execute("DELETE FROM plan_item_problems WHERE item_id = ?", (item_id,))
    await conn.executemany(
        "INSERT OR IGNORE INTO plan_item_problems (item_id, problem_id) VALUES (?, ?)",
        [(item_id, p) for p in problem_ids])


async def update_item(conn: Connection, item_id: int, fields: dict[str, Any],
                      now: datetime) -> None:
    """Change what the village may edit of an item (title, approach, partner, amounts,
    dates, responsible person)."""
    unknown = set(fields) - _EDITABLE_ITEM_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    values = {k: v.isoformat() if isinstance(v, date) else v for k, v in fields.items()}
    assignments = ", ".join(f"{k} = ?" for k in values)
    await conn.execute(f"UPDATE plan_items SET {assignments}, updated_at = ? WHERE id = ?",
                       (*values.values(), to_db(now), item_id))


async def withdraw_item(conn: Connection, item_id: int, reason: str,
                        now: datetime) -> None:
    await conn.execute(
        "UPDATE plan_items SET status = 'withdrawn', withdrawn_reason = ?, updated_at = ?"
        " WHERE id = ?", (reason, to_db(now), item_id))


async def set_review_status(conn: Connection, table: str, row_id: int,
                            status: str) -> None:
    if table not in ("problems", "forums", "plans", "plan_items", "progress_updates", "lessons"):
        raise ValueError(f"no review status on {table}")
    await conn.execute(f"UPDATE {table} SET review_status = ? WHERE id = ?", (status, row_id))


# --- progress ---------------------------------------------------------------------------------

async def add_progress(conn: Connection, *, item: PlanItem, status: str, percent: int,
                       note: str, photo_ref: str | None, photo_platform_id: str | None,
                       stalled_reason: str | None, reporter_id: int, now: datetime) -> int:
    """Record a progress update and carry its status and percent onto the item."""
    if status not in ITEM_STATUSES or status == "withdrawn":
        raise ValueError(f"not a progress status: {status!r}")
    cur = await conn.execute(
        "INSERT INTO progress_updates (item_id, village_code, status, percent, note, photo_ref,"
        " photo_platform_id, reporter_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (item.id, item.village_code, status, percent, note, photo_ref, photo_platform_id,
         reporter_id, to_db(now)),
    )
    await conn.execute(
        "UPDATE plan_items SET status = ?, percent = ?, stalled_reason = ?, updated_at = ?"
        " WHERE id = ?",
        (status, percent, stalled_reason if status == "stalled" else None, to_db(now), item.id),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def correct_progress(conn: Connection, progress_id: int, *, status: str, percent: int,
                           note: str, photo_ref: str | None, photo_platform_id: str | None,
                           stalled_reason: str | None, now: datetime) -> None:
    """The village's correction of a progress update returned to it; when it is the item's
    latest update, the item's status and percent follow (storage.reviews.new_version then
    makes it the next version)."""
    if status not in ITEM_STATUSES or status == "withdrawn":
        raise ValueError(f"not a progress status: {status!r}")
    await conn.execute(
        "UPDATE progress_updates SET status = ?, percent = ?, note = ?, photo_ref = ?,"
        " photo_platform_id = ? WHERE id = ?",
        (status, percent, note, photo_ref, photo_platform_id, progress_id))
    await conn.execute(
        "UPDATE plan_items SET status = ?, percent = ?, stalled_reason = ?, updated_at = ?"
        " WHERE id = (SELECT item_id FROM progress_updates WHERE id = ?) AND status != 'withdrawn'"
        " AND NOT EXISTS (SELECT 1 FROM progress_updates later WHERE later.item_id ="
        " (SELECT item_id FROM progress_updates WHERE id = ?) AND later.id > ?)",
        (status, percent, stalled_reason if status == "stalled" else None, to_db(now),
         progress_id, progress_id, progress_id))


async def get_progress(conn: Connection, progress_id: int) -> dict[str, Any] | None:
    async with conn.execute(
        "SELECT id, item_id, village_code, status, percent, note, photo_ref,"
        " photo_platform_id, review_status, version FROM progress_updates WHERE id = ?",
        (progress_id,)) as cur:
        row = await cur.fetchone()
    return dict(row) if row else None


async def confirm_outcome(conn: Connection, item_id: int, solved: str,
                          households_helped: int, now: datetime) -> None:
    """The village's confirmation of a done item: this is what counts as a result."""
    if solved not in OUTCOMES:
        raise ValueError(f"not an outcome: {solved!r}")
    await conn.execute(
        "UPDATE plan_items SET outcome_solved = ?, households_helped = ?,"
        " outcome_confirmed_at = ?, updated_at = ? WHERE id = ?",
        (solved, households_helped, to_db(now), to_db(now), item_id))


async def last_progress_at(conn: Connection, village_code: str) -> datetime | None:
    async with conn.execute(
        "SELECT MAX(created_at) FROM progress_updates WHERE village_code = ?", (village_code,)
    ) as cur:
        row = await cur.fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None
