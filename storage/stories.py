"""Success stories: confirmed outcomes the core team proposed and the village consented
to publish (migration 0016).

A story is public only while its status is `published`; every public read goes through
`published_stories` / `published_story`, which select on that status. What is published
is the snapshot taken at consent (title, outcome, households helped, what worked, photo):
later edits of the plan item or lessons change nothing public."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.connection import Connection, Row
from storage.summaries import prefix_range
from storage.timestamps import from_db, to_db

PROPOSED, PUBLISHED, DECLINED, WITHDRAWN = "proposed", "published", "declined", "withdrawn"
PROPOSABLE_OUTCOMES = ("yes", "partly")  # "did not solve it" is no success to celebrate
NATION_CODE = "TH"


@dataclass(frozen=True)
class Story:
    id: int
    item_id: int
    village_code: str
    category: str
    status: str
    proposed_by: int
    title: str
    approach: str
    outcome: str
    households_helped: int
    what_worked: str
    photo_ref: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class PublishedStory:
    """A published story as public pages show it: no person, only areas and the snapshot.
    `photo_path` is the site path of its photo (served only while published), or None."""

    id: int
    village_code: str
    village_th: str
    village_en: str
    village_no: int | None
    tambon_code: str
    tambon_th: str
    tambon_en: str
    district_th: str
    district_en: str
    province_th: str
    province_en: str
    category: str
    title: str
    approach: str
    outcome: str
    households_helped: int
    what_worked: str
    has_photo: bool
    published_at: datetime

    @property
    def photo_path(self) -> str | None:
        return f"/stories/{self.id}/photo" if self.has_photo else None

    @property
    def path(self) -> str:
        return f"/stories/{self.id}"


@dataclass(frozen=True)
class Candidate:
    """A confirmed outcome of a village in the core team's tambon, with its story if any."""

    item_id: int
    village_code: str
    title: str
    outcome: str
    households_helped: int
    story_id: int | None
    story_status: str | None


_COLUMNS = ("id, item_id, village_code, category, status, proposed_by, title, approach,"
            " outcome, households_helped, what_worked, photo_ref, published_at")


def _story(r: Row) -> Story:
    return Story(r["id"], r["item_id"], r["village_code"], r["category"], r["status"],
                 r["proposed_by"], r["title"], r["approach"], r["outcome"],
                 r["households_helped"], r["what_worked"], r["photo_ref"],
                 from_db(r["published_at"]) if r["published_at"] else None)


async def get(conn: Connection, story_id: int) -> Story | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM stories WHERE id = ?", (story_id,)) as cur:
        row = await cur.fetchone()
    return _story(row) if row else None


async def of_item(conn: Connection, item_id: int) -> Story | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM stories WHERE item_id = ?",
                            (item_id,)) as cur:
        row = await cur.fetchone()
    return _story(row) if row else None


async def item_category(conn: Connection, item_id: int) -> str:
    """The category of the item's first linked problem ('other' without one)."""
    async with conn.execute(
        "SELECT p.category FROM plan_item_problems ip JOIN problems p ON p.id = ip.problem_id"
        " WHERE ip.item_id = ? ORDER BY p.id LIMIT 1", (item_id,)
    ) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row else "other"


async def propose(conn: Connection, *, item_id: int, village_code: str, category: str,
                  person_id: int, now: datetime) -> int | None:
    """The core team's proposal: a new story waiting for the village's consent (a declined
    or withdrawn one is asked again). None when it is already proposed or published."""
    async with conn.execute(
        "INSERT INTO stories (item_id, village_code, category, proposed_by, proposed_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (item_id) DO UPDATE SET status = 'proposed',"
        " proposed_by = excluded.proposed_by, proposed_at = excluded.proposed_at,"
        " category = excluded.category, updated_at = excluded.updated_at"
        " WHERE stories.status IN ('declined', 'withdrawn') RETURNING id",
        (item_id, village_code, category, person_id, to_db(now), to_db(now))
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else None


async def _consent(conn: Connection, story_id: int, person_id: int, decision: str,
                   photo_ref: str | None, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO story_consents (story_id, person_id, decision, photo_ref, at)"
        " VALUES (?, ?, ?, ?, ?)", (story_id, person_id, decision, photo_ref, to_db(now)))


async def publish(conn: Connection, story_id: int, *, person_id: int, title: str,
                  approach: str, outcome: str, households_helped: int, what_worked: str,
                  photo_ref: str | None, now: datetime) -> bool:
    """The village's consent: the snapshot is stored and the story is public. False when
    the story is no longer waiting for consent."""
    cur = await conn.execute(
        "UPDATE stories SET status = 'published', title = ?, approach = ?, outcome = ?,"
        " households_helped = ?, what_worked = ?, photo_ref = ?, published_at = ?,"
        " updated_at = ? WHERE id = ? AND status = 'proposed'",
        (title, approach, outcome, households_helped, what_worked, photo_ref, to_db(now),
         to_db(now), story_id))
    if cur.rowcount == 0:
        return False
    await _consent(conn, story_id, person_id, "given", photo_ref, now)
    return True


async def decline(conn: Connection, story_id: int, *, person_id: int, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE stories SET status = 'declined', updated_at = ? WHERE id = ?"
        " AND status = 'proposed'", (to_db(now), story_id))
    if cur.rowcount == 0:
        return False
    await _consent(conn, story_id, person_id, "declined", None, now)
    return True


async def withdraw(conn: Connection, story_id: int, *, person_id: int, now: datetime) -> bool:
    """Consent withdrawn: off every public page and the feed at once; the snapshot is
    cleared (what is not published is not kept)."""
    cur = await conn.execute(
        "UPDATE stories SET status = 'withdrawn', title = '', what_worked = '',"
        " photo_ref = NULL, published_at = NULL, updated_at = ?"
        " WHERE id = ? AND status = 'published'", (to_db(now), story_id))
    if cur.rowcount == 0:
        return False
    await _consent(conn, story_id, person_id, "withdrawn", None, now)
    return True


async def of_villages(conn: Connection, village_codes: list[str], status: str
                      ) -> list[Story]:
    if not village_codes:
        return []
    marks = ", ".join("?" for _ in village_codes)
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM stories WHERE status = ? AND village_code IN ({marks})"
        " ORDER BY updated_at DESC, id DESC", (status, *village_codes)
    ) as cur:
        return [_story(r) for r in await cur.fetchall()]


async def candidates(conn: Connection, tambon_code: str, limit: int = 20) -> list[Candidate]:
    """The tambon's confirmed outcomes that solved the problem or partly did, the latest
    first, with their story's status (None: never proposed)."""
    lo, hi = prefix_range(tambon_code)
    marks = ", ".join("?" for _ in PROPOSABLE_OUTCOMES)
    async with conn.execute(
        "SELECT i.id, i.village_code, i.title, i.outcome_solved, i.households_helped,"
        " s.id, s.status FROM plan_items i LEFT JOIN stories s ON s.item_id = i.id"
        f" WHERE i.village_code >= ? AND i.village_code < ? AND i.status = 'done'"
        f" AND i.outcome_solved IN ({marks})"
        " ORDER BY i.outcome_confirmed_at DESC, i.id DESC LIMIT ?",
        (lo, hi, *PROPOSABLE_OUTCOMES, limit)
    ) as cur:
        return [Candidate(r[0], r[1], r[2], r[3], r[4] or 0, r[5], r[6])
                for r in await cur.fetchall()]


_PUBLIC_FROM = (
    " FROM stories s"
    " JOIN areas v ON v.code = s.village_code"
    " JOIN areas t ON t.code = v.parent_code"
    " JOIN areas d ON d.code = t.parent_code"
    " JOIN areas p ON p.code = d.parent_code"
    " WHERE s.status = 'published'")
_PUBLIC = (
    "SELECT s.id, s.village_code, v.name_th, v.name_en, v.village_no, t.code, t.name_th,"
    " t.name_en, d.name_th, d.name_en, p.name_th, p.name_en, s.category, s.title, s.approach,"
    " s.outcome, s.households_helped, s.what_worked, s.photo_ref, s.published_at"
    + _PUBLIC_FROM)


def _published(r: Any) -> PublishedStory:
    return PublishedStory(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                          r[11], r[12], r[13], r[14], r[15], r[16], r[17], r[18] is not None,
                          from_db(r[19]))


async def _area_condition(conn: Connection, area_code: str) -> tuple[str, list[Any]]:
    """The SQL condition on s.village_code selecting the villages of `area_code`."""
    if area_code in ("", NATION_CODE):
        return "", []
    async with conn.execute("SELECT level FROM areas WHERE code = ?", (area_code,)) as cur:
        row = await cur.fetchone()
    if row is not None and row[0] == "nation":
        return "", []
    if row is not None and row[0] == "network":
        return (" AND p.parent_code = ?", [area_code])
    lo, hi = prefix_range(area_code)
    return " AND s.village_code >= ? AND s.village_code < ?", [lo, hi]


async def published_stories(conn: Connection, area_code: str, limit: int = 20, *,
                            category: str | None = None) -> list[PublishedStory]:
    """The published stories of the villages in `area_code` (a DOPA code, a learning
    network, or the nation 'TH'), the latest first (for the Results Monitor, the feed and
    the learning exchange)."""
    where, params = await _area_condition(conn, area_code)
    if category is not None:
        where += " AND s.category = ?"
        params.append(category)
    async with conn.execute(
        f"{_PUBLIC}{where} ORDER BY s.published_at DESC, s.id DESC LIMIT ?", (*params, limit)
    ) as cur:
        return [_published(r) for r in await cur.fetchall()]


async def published_story(conn: Connection, story_id: int) -> PublishedStory | None:
    async with conn.execute(f"{_PUBLIC} AND s.id = ?", (story_id,)) as cur:
        row = await cur.fetchone()
    return _published(row) if row else None


async def published_photo(conn: Connection, story_id: int) -> str | None:
    """The media path of a published story's chosen photo (None when unpublished)."""
    async with conn.execute(
        "SELECT photo_ref FROM stories WHERE id = ? AND status = 'published'", (story_id,)
    ) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row and row[0] else None


async def published_categories(conn: Connection, area_code: str) -> list[tuple[str, int]]:
    """(category, published stories) in the area, the most first."""
    where, params = await _area_condition(conn, area_code)
    async with conn.execute(f"SELECT s.category, COUNT(*){_PUBLIC_FROM}{where}"
                            " GROUP BY s.category ORDER BY COUNT(*) DESC, s.category",
                            params) as cur:
        return [(str(r[0]), int(r[1])) for r in await cur.fetchall()]


async def feed_updated(conn: Connection) -> datetime | None:
    """When the board last changed (a story published or withdrawn), for the feed."""
    async with conn.execute(
        "SELECT MAX(updated_at) FROM stories WHERE status IN ('published', 'withdrawn')"
    ) as cur:
        row = await cur.fetchone()
    return from_db(row[0]) if row and row[0] else None


async def photos_of_item(conn: Connection, item_id: int) -> list[str]:
    """The photos the village sent with the item's progress updates, the latest first
    (each once): what it may choose from to publish."""
    async with conn.execute(
        "SELECT photo_ref FROM progress_updates WHERE item_id = ? AND photo_ref IS NOT NULL"
        " ORDER BY created_at DESC, id DESC", (item_id,)
    ) as cur:
        return list(dict.fromkeys(str(r[0]) for r in await cur.fetchall()))
