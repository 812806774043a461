"""Web sign-in: one-time links sent in the chat, and the sessions they open.

Only SHA-256 hashes of the tokens are stored. A link is used at most once: its use is one
UPDATE that matches only an unused, unexpired row (two requests racing with one link open
one session between them)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.connection import Connection
from storage.timestamps import to_db

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=8)
TOKEN_BYTES = 32
UNKNOWN, USED, EXPIRED, VALID = "unknown", "used", "expired", "valid"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Session:
    id: int
    person_id: int
    expires_at: str


async def create_link(conn: Connection, person_id: int, now: datetime,
                      ttl: timedelta = LINK_TTL) -> str:
    """A new link's token (shown once, in the chat); its hash is stored."""
    token = new_token()
    await conn.execute(
        "INSERT INTO sign_in_links (token_hash, person_id, created_at, expires_at)"
        " VALUES (?, ?, ?, ?)", (token_hash(token), person_id, to_db(now), to_db(now + ttl)))
    return token


async def link_state(conn: Connection, token: str, now: datetime) -> str:
    """What the link is, without using it: valid, used, expired or unknown."""
    async with conn.execute(
        "SELECT expires_at, used_at FROM sign_in_links WHERE token_hash = ?",
        (token_hash(token),)
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return UNKNOWN
    if row["used_at"] is not None:
        return USED
    return VALID if row["expires_at"] > to_db(now) else EXPIRED


async def use_link(conn: Connection, token: str, now: datetime,
                   ttl: timedelta = SESSION_TTL) -> tuple[str, int] | None:
    """Use the link once: (the new session's token, person id), or None when it is unknown,
    used or expired."""
    async with conn.execute(
        "UPDATE sign_in_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
        " AND expires_at > ? RETURNING id, person_id",
        (to_db(now), token_hash(token), to_db(now))
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    session = new_token()
    await conn.execute(
        "INSERT INTO web_sessions (token_hash, person_id, link_id, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash(session), row["person_id"], row["id"], to_db(now), to_db(now + ttl)))
    return session, int(row["person_id"])


async def session(conn: Connection, token: str, now: datetime) -> Session | None:
    """The open session this cookie's token names, if it has not ended or expired."""
    async with conn.execute(
        "SELECT id, person_id, expires_at FROM web_sessions WHERE token_hash = ?"
        " AND ended_at IS NULL AND expires_at > ?", (token_hash(token), to_db(now))
    ) as cur:
        row = await cur.fetchone()
    return Session(row["id"], row["person_id"], row["expires_at"]) if row else None


async def end_session(conn: Connection, token: str, now: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE web_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
        (to_db(now), token_hash(token)))
    return cur.rowcount > 0


# --- what the signed-in pages read (bot/web/signed_in.py; permissions are checked there) ----

NATION_CODE = "TH"
ACTIVITY_TABLES = ("problems", "forums", "plan_items", "progress_updates", "lessons",
                   "support_requests")


async def _villages_of(conn: Connection, area_code: str, column: str
                       ) -> tuple[str, list[object]]:
    """The SQL condition on `column` (a village code) for the villages of `area_code`."""
    from storage.summaries import prefix_range

    async with conn.execute("SELECT level FROM areas WHERE code = ?", (area_code,)) as cur:
        row = await cur.fetchone()
    level = row[0] if row else None
    if level == "nation" or area_code == NATION_CODE:
        return "1 = 1", []
    if level == "network":
        return (f"substr({column}, 1, 2) IN (SELECT code FROM areas WHERE parent_code = ?"
                " AND level = 'province')", [area_code])
    lo, hi = prefix_range(area_code)
    return f"{column} >= ? AND {column} < ?", [lo, hi]


@dataclass(frozen=True)
class VillageActivity:
    code: str
    name_th: str
    name_en: str
    village_no: int | None
    last_at: str | None  # the latest submission of any kind (UTC ISO), None: never


async def village_activity(conn: Connection, area_code: str, limit: int
                           ) -> tuple[list[VillageActivity], int]:
    """The area's villages (by code, at most `limit`) with their last activity, and how
    many villages the area has in all."""
    where, params = await _villages_of(conn, area_code, "v.code")
    latest = ", ".join(f"(SELECT MAX(created_at) FROM {table} WHERE village_code = v.code)"
                       for table in ACTIVITY_TABLES)
    async with conn.execute(
        f"SELECT v.code, v.name_th, v.name_en, v.village_no, {latest} FROM areas v"
        f" WHERE v.level = 'village' AND {where} ORDER BY v.code LIMIT ?", (*params, limit)
    ) as cur:
        rows = await cur.fetchall()
    async with conn.execute(
        f"SELECT COUNT(*) FROM areas v WHERE v.level = 'village' AND {where}", params
    ) as cur:
        total = (await cur.fetchone())[0]
    found = [VillageActivity(r[0], r[1], r[2], r[3],
                             max((x for x in tuple(r)[4:] if x), default=None)) for r in rows]
    return found, int(total)


@dataclass(frozen=True)
class SubmissionRow:
    entity: str  # problem, forum, progress
    id: int
    village_code: str
    created_at: str
    text: str  # the description, the notes, the progress note
    detail: str  # the category, the participants, the item's title
    number: int  # households, participants, percent
    photo_ref: str | None
    review_status: str


async def recent_submissions(conn: Connection, area_code: str, limit: int
                             ) -> list[SubmissionRow]:
    """The area's latest problems, forums and progress updates, the newest first."""
    parts, params = [], []
    for alias, select in (
        ("p", "SELECT 'problem', p.id, p.village_code, p.created_at, p.description, p.category,"
              " p.households, p.photo_ref, p.review_status FROM problems p WHERE {w}"),
        ("f", "SELECT 'forum', f.id, f.village_code, f.created_at, f.notes, '', f.participants,"
              " f.photo_ref, f.review_status FROM forums f WHERE {w}"),
        ("u", "SELECT 'progress', u.id, u.village_code, u.created_at, u.note, i.title,"
              " u.percent, u.photo_ref, u.review_status FROM progress_updates u"
              " JOIN plan_items i ON i.id = u.item_id WHERE {w}"),
    ):
        where, more = await _villages_of(conn, area_code, f"{alias}.village_code")
        parts.append(select.format(w=where))
        params += more
    async with conn.execute(" UNION ALL ".join(parts) + " ORDER BY 4 DESC, 2 DESC LIMIT ?",
                            (*params, limit)) as cur:
        return [SubmissionRow(*tuple(r)) for r in await cur.fetchall()]


async def support_requests_under(conn: Connection, area_code: str, limit: int
                                 ) -> list[int]:
    """The ids of the area's support requests, the latest first."""
    where, params = await _villages_of(conn, area_code, "village_code")
    async with conn.execute(
        f"SELECT id FROM support_requests WHERE {where} ORDER BY created_at DESC, id DESC"
        " LIMIT ?", (*params, limit)
    ) as cur:
        return [int(r[0]) for r in await cur.fetchall()]
