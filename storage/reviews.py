"""The core team's reviews of what villages submit, and the villages' replies to them.

Five kinds of submission can be reviewed (problems, forums, plan items, progress updates,
lessons); each table carries a review_status that is 'new' until a verdict is recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from storage import plans
from storage.connection import Connection, Row
from storage.timestamps import from_db, to_db

ENTITIES = ("problem", "forum", "plan_item", "progress", "lesson")
TABLES = {"problem": "problems", "forum": "forums", "plan_item": "plan_items",
          "progress": "progress_updates", "lesson": "lessons"}
VERDICTS = ("approved", "needs_attention", "returned")
OPEN_VERDICTS = ("needs_attention", "returned")
NEW = "new"

# What each kind shows as its headline (raw values, rendered by the handlers), and the
# columns of the plan item behind it (for the stalled and overdue flags).
_COMMON = "SELECT s.id, s.village_code, s.created_at, s.review_status, s.version,"
_SELECT = {
    "problem": f"{_COMMON} s.severity, s.category, s.description, NULL AS item_status,"
               " NULL AS end_on FROM problems s",
    "forum": f"{_COMMON} NULL AS severity, s.held_on, s.participants, NULL AS item_status,"
             " NULL AS end_on FROM forums s",
    "plan_item": f"{_COMMON} NULL AS severity, s.title, s.approach, s.status,"
                 " s.status AS item_status, s.end_on FROM plan_items s",
    "progress": f"{_COMMON} NULL AS severity, s.item_id, i.title, s.status, s.percent,"
                " i.status AS item_status, i.end_on"
                " FROM progress_updates s JOIN plan_items i ON i.id = s.item_id",
    "lesson": f"{_COMMON} NULL AS severity, s.what_worked, NULL AS item_status,"
              " NULL AS end_on FROM lessons s",
}
_HEADLINE = {
    "problem": ("category", "description"),
    "forum": ("held_on", "participants"),
    "plan_item": ("title", "approach", "status"),
    "progress": ("item_id", "title", "status", "percent"),
    "lesson": ("what_worked",),
}
# A withdrawn item is no longer the village's plan: nothing to review.
_INBOX_EXTRA = {"plan_item": " AND s.status != 'withdrawn'"}


@dataclass(frozen=True)
class Submission:
    """One thing a village submitted, as the review inbox lists it."""

    entity: str
    id: int
    village_code: str
    created_at: datetime
    review_status: str
    headline: dict[str, Any]
    stalled: bool = False
    overdue: bool = False
    due: date | None = None  # the end date of the plan item behind it
    version: int = 1  # 2 and more: corrected by the village after a review
    severity: int | None = None  # a problem's (1 minor .. 4 critical)


@dataclass(frozen=True)
class ReviewReply:
    id: int
    review_id: int
    person_id: int
    person_name: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Review:
    id: int
    entity: str
    entity_id: int
    village_code: str
    reviewer_id: int
    reviewer_name: str
    verdict: str
    comment: str
    created_at: datetime
    replies: tuple[ReviewReply, ...] = field(default=())
    version: int = 1  # the version of the submission it judged


def _check_entity(entity: str) -> None:
    if entity not in ENTITIES:
        raise ValueError(f"not a reviewable entity: {entity!r}")


def _submission(entity: str, row: Row, today: date) -> Submission:
    item_status = row["item_status"]
    due = date.fromisoformat(row["end_on"]) if row["end_on"] else None
    open_item = item_status in plans.OPEN_STATUSES
    return Submission(
        entity=entity, id=row["id"], village_code=row["village_code"],
        created_at=from_db(row["created_at"]), review_status=row["review_status"],
        headline={key: row[key] for key in _HEADLINE[entity]},
        stalled=item_status == "stalled",
        overdue=bool(open_item and due and due < today),
        due=due,
        version=row["version"],
        severity=row["severity"],
    )


CRITICAL = 4  # a problem's severity "critical"
STALLED_URGENCY, OVERDUE_URGENCY, USUAL_URGENCY = 3, 2, 1


def urgency(submission: Submission) -> int:
    """How soon it needs the core team, on the problems' severity scale (4 critical .. 1
    minor): a problem by its own severity; a stalled item or its progress as serious, an
    overdue item as moderate, everything else as minor."""
    if submission.severity is not None:
        return int(submission.severity)
    if submission.stalled:
        return STALLED_URGENCY
    return OVERDUE_URGENCY if submission.overdue else USUAL_URGENCY


def priority(submission: Submission) -> tuple[Any, ...]:
    """The inbox order: the most severe first (a critical problem before anything else),
    then the oldest first."""
    return (-urgency(submission), submission.created_at, ENTITIES.index(submission.entity),
            submission.id)


async def inbox(conn: Connection, tambon_code: str, today: date) -> list[Submission]:
    """Everything not yet reviewed from the tambon's villages: the most severe first, then
    the oldest first (`priority`)."""
    found: list[Submission] = []
    for entity in ENTITIES:
        sql = (f"{_SELECT[entity]} WHERE s.review_status = ? AND s.village_code > ?"
               f" AND s.village_code < ?{_INBOX_EXTRA.get(entity, '')}")
        async with conn.execute(sql, (NEW, tambon_code, tambon_code + "\uffff")) as cur:
            found += [_submission(entity, r, today) for r in await cur.fetchall()]
    return sorted(found, key=priority)


async def submission(conn: Connection, entity: str, entity_id: int,
                     today: date) -> Submission | None:
    """One submission, whatever its review status."""
    _check_entity(entity)
    async with conn.execute(f"{_SELECT[entity]} WHERE s.id = ?", (entity_id,)) as cur:
        row = await cur.fetchone()
    return _submission(entity, row, today) if row else None


async def _rows(conn: Connection, sql: str, params: tuple[Any, ...]
                ) -> list[dict[str, Any]]:
    async with conn.execute(sql, params) as cur:
        return [dict(r) for r in await cur.fetchall()]


_PROBLEM_REF = "SELECT p.id, p.category, p.description FROM problems p"


async def details(conn: Connection, entity: str, entity_id: int
                  ) -> dict[str, Any] | None:
    """Every stored field of a submission, with what it refers to (the problems of a forum
    or an item, the item of a progress update, the plan period of a lesson)."""
    _check_entity(entity)
    found = await _rows(conn, f"SELECT * FROM {TABLES[entity]} WHERE id = ?", (entity_id,))
    if not found:
        return None
    row = found[0]
    if entity == "forum":
        row["problems"] = await _rows(
            conn, f"{_PROBLEM_REF} JOIN forum_problems f ON f.problem_id = p.id"
                  " WHERE f.forum_id = ? ORDER BY p.id", (entity_id,))
    elif entity == "plan_item":
        row["problems"] = await _rows(
            conn, f"{_PROBLEM_REF} JOIN plan_item_problems x ON x.problem_id = p.id"
                  " WHERE x.item_id = ? ORDER BY p.id", (entity_id,))
    elif entity == "progress":
        items = await _rows(conn, "SELECT title, status, end_on, stalled_reason FROM plan_items"
                                  " WHERE id = ?", (row["item_id"],))
        row["item"] = items[0] if items else {}
    elif entity == "lesson":
        periods = await _rows(conn, "SELECT period_start, period_end FROM plans WHERE id = ?",
                              (row["plan_id"],))
        row["plan"] = periods[0] if periods else {}
    return row


# --- reviews and replies ------------------------------------------------------------------ ---

async def record_review(conn: Connection, *, entity: str, entity_id: int,
                        village_code: str, reviewer_id: int, verdict: str, comment: str,
                        now: datetime) -> int:
    """Record a verdict and carry it onto the submission's review status."""
    _check_entity(entity)
    if verdict not in VERDICTS:
        raise ValueError(f"not a verdict: {verdict!r}")
    cur = await conn.execute(
        "INSERT INTO reviews (entity, entity_id, village_code, reviewer_id, verdict, comment,"
        f" created_at, version) SELECT ?, ?, ?, ?, ?, ?, ?, version FROM {TABLES[entity]}"
        " WHERE id = ?",
        (entity, entity_id, village_code, reviewer_id, verdict, comment, to_db(now),
         entity_id))
    await plans.set_review_status(conn, TABLES[entity], entity_id, verdict)
    assert cur.lastrowid is not None
    return cur.lastrowid


async def add_reply(conn: Connection, *, review_id: int, person_id: int, text: str,
                    now: datetime) -> int:
    cur = await conn.execute(
        "INSERT INTO review_replies (review_id, person_id, text, created_at)"
        " VALUES (?, ?, ?, ?)", (review_id, person_id, text, to_db(now)))
    assert cur.lastrowid is not None
    return cur.lastrowid


_REVIEW = ("SELECT r.id, r.entity, r.entity_id, r.village_code, r.reviewer_id,"
           " COALESCE(p.display_name, '') AS reviewer_name, r.verdict, r.comment, r.created_at,"
           " r.version"
           " FROM reviews r LEFT JOIN people p ON p.id = r.reviewer_id")


async def _with_replies(conn: Connection, rows: list[Row]) -> list[Review]:
    ids = [r["id"] for r in rows]
    replies: dict[int, list[ReviewReply]] = {}
    if ids:
        marks = ",".join("?" * len(ids))
        async with conn.execute(
            "SELECT x.id, x.review_id, x.person_id, COALESCE(p.display_name, '') AS name,"
            " x.text, x.created_at FROM review_replies x LEFT JOIN people p ON p.id = x.person_id"
            f" WHERE x.review_id IN ({marks}) ORDER BY x.id", ids) as cur:
            for r in await cur.fetchall():
                replies.setdefault(r["review_id"], []).append(ReviewReply(
                    r["id"], r["review_id"], r["person_id"], r["name"], r["text"],
                    from_db(r["created_at"])))
    return [Review(r["id"], r["entity"], r["entity_id"], r["village_code"], r["reviewer_id"],
                   r["reviewer_name"], r["verdict"], r["comment"], from_db(r["created_at"]),
                   tuple(replies.get(r["id"], ())), r["version"]) for r in rows]


async def _reviews(conn: Connection, where: str, params: tuple[Any, ...]
                   ) -> list[Review]:
    async with conn.execute(f"{_REVIEW} WHERE {where} ORDER BY r.id", params) as cur:
        rows = list(await cur.fetchall())
    return await _with_replies(conn, rows)


async def get_review(conn: Connection, review_id: int) -> Review | None:
    found = await _reviews(conn, "r.id = ?", (review_id,))
    return found[0] if found else None


async def thread(conn: Connection, entity: str, entity_id: int) -> list[Review]:
    """Every review of one submission, oldest first, each with its replies."""
    _check_entity(entity)
    return await _reviews(conn, "r.entity = ? AND r.entity_id = ?", (entity, entity_id))


async def reviews_for_village(conn: Connection, village_code: str,
                              only_open: bool = True) -> list[Review]:
    """The village's reviews; with `only_open`, those still waiting for its answer: a
    comment asking for something (needs attention, returned), not answered yet, not
    overtaken by a later review of the same submission, and not corrected since (the
    submission is at the version the review judged)."""
    where = "r.village_code = ?"
    if only_open:
        where += (
            f" AND r.verdict IN ({','.join('?' * len(OPEN_VERDICTS))})"
            " AND NOT EXISTS (SELECT 1 FROM review_replies x WHERE x.review_id = r.id)"
            " AND NOT EXISTS (SELECT 1 FROM reviews later WHERE later.entity = r.entity"
            " AND later.entity_id = r.entity_id AND later.id > r.id)"
            f" AND r.version >= {_CURRENT_VERSION}")
        return await _reviews(conn, where, (village_code, *OPEN_VERDICTS))
    return await _reviews(conn, where, (village_code,))


# --- corrections: a returned submission edited by the village comes back as a new version ---

_CURRENT_VERSION = "COALESCE(CASE r.entity " + " ".join(
    f"WHEN '{entity}' THEN (SELECT v.version FROM {table} v WHERE v.id = r.entity_id)"
    for entity, table in TABLES.items()) + " END, 1)"


async def new_version(conn: Connection, entity: str, entity_id: int) -> int:
    """The submission, edited by the village, goes back to the core team: its version
    number goes up and it waits for review again. Returns the new version."""
    _check_entity(entity)
    table = TABLES[entity]
    await conn.execute(f"UPDATE {table} SET version = version + 1, review_status = ?"
                       " WHERE id = ?", (NEW, entity_id))
    async with conn.execute(f"SELECT version FROM {table} WHERE id = ?", (entity_id,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def correction(conn: Connection, entity: str, entity_id: int, version: int
                     ) -> dict[str, Any] | None:
    """What the correction that made `version` of a submission changed, from the audit
    log: {"version": the one before, "old": its fields, "new": the fields sent again}."""
    _check_entity(entity)
    async with conn.execute(
        "SELECT detail FROM audit_log WHERE entity = ? AND entity_id = ? AND action = ?"
        " ORDER BY id DESC", (entity, str(entity_id), f"{entity}.correct")) as cur:
        rows = await cur.fetchall()
    for row in rows:
        detail = json.loads(row[0] or "{}")
        if detail.get("new_version") == version:
            return dict(detail)
    return None
