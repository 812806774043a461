"""Personal data (PDPA B.E. 2562): the privacy notices given at joining, everything stored
about one person (their copy, s.30/s.31), erasure requests (s.33), and what the daily
housekeeping deletes once its retention passes.

Where a person's data lives is listed once, in `PERSON_COLUMNS` (the tables with a column
pointing at people) and `IDENTITY_COLUMNS` (the tables hanging on a chat identity):
tests/test_privacy_retention.py checks, on both engines, that every such column of the
schema (its foreign keys, storage/catalogue.py) is listed, so a table added later cannot
be left out of anyone's copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.connection import AnyConnection, Connection
from storage.timestamps import to_db

# (table, column): the rows whose column holds the person's id, in the order of the copy.
PERSON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("people", "id"),
    ("identities", "person_id"),
    ("role_grants", "person_id"),
    ("notice_acceptances", "person_id"),
    ("erasure_requests", "person_id"),
    ("reminder_pauses", "person_id"),
    ("problems", "reporter_id"),
    ("forums", "reporter_id"),
    ("plans", "created_by"),
    ("plan_items", "created_by"),
    ("progress_updates", "reporter_id"),
    ("support_requests", "created_by"),
    ("support_requests", "decided_by"),
    ("support_request_events", "person_id"),
    ("lessons", "created_by"),
    ("reviews", "reviewer_id"),
    ("review_replies", "person_id"),
    ("broadcasts", "sender_id"),
    ("invites", "issued_by"),
    ("tambon_settings", "updated_by"),
    ("tambon_reminders", "updated_by"),
    ("tambon_reminder_times", "updated_by"),
    ("notification_groups", "linked_by"),
    ("stories", "proposed_by"),
    ("story_consents", "person_id"),
    ("sign_in_links", "person_id"),
    ("web_sessions", "person_id"),
    ("outbox", "person_id"),
    ("audit_log", "person_id"),
)
# (table, column): the rows whose column holds one of the person's identities.
IDENTITY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("conversations", "identity_id"),
    ("drafts", "identity_id"),
    ("invite_attempts", "identity_id"),
)
# Never in anyone's copy: secrets (hashes of sign-in tokens) and delivery plumbing.
OMITTED_COLUMNS = frozenset({"token_hash", "retry_key", "reply_token", "dedupe_key"})
# Photos: the tables whose rows carry a file of the media folder in `photo_ref`, and the
# column saying when the row was made (what retention counts from).
PHOTO_TABLES: tuple[tuple[str, str, str], ...] = (
    ("problems", "reporter_id", "created_at"),
    ("forums", "reporter_id", "created_at"),
    ("progress_updates", "reporter_id", "created_at"),
)
PHOTO_REFERENCES: tuple[str, ...] = ("problems", "forums", "progress_updates", "stories",
                                     "story_consents")
# Audit rows whose detail other parts read back (the unreceived notice, erasures): kept.
AUDIT_DETAIL_KEPT = ("notification.unreceived", "unreceived.reported", "person.erase")
BLANK_BODY = json.dumps({"text": ""})


# ----------------------------------------------------------------------------- notices


async def record_notice(conn: Connection, *, identity_id: int, person_id: int | None,
                        version: str, channel: str, now: datetime) -> int:
    rows = await conn.execute_fetchall(
        "INSERT INTO notice_acceptances (identity_id, person_id, version, channel, accepted_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (identity_id, person_id, version, channel, to_db(now)))
    return int(rows[0][0])


async def link_notice(conn: Connection, notice_id: int, person_id: int) -> None:
    await conn.execute("UPDATE notice_acceptances SET person_id = ? WHERE id = ?",
                       (person_id, notice_id))


async def notice_given(conn: Connection, *, identity_id: int, person_id: int | None,
                       version: str) -> bool:
    """Whether this person (or, before they exist, this chat identity) was given the
    notice of `version`."""
    async with conn.execute(
        "SELECT 1 FROM notice_acceptances WHERE version = ? AND (identity_id = ?"
        " OR person_id = ?) LIMIT 1", (version, identity_id, person_id)) as cur:
        return await cur.fetchone() is not None


# ----------------------------------------------------------------------------- the copy


async def _rows(conn: AnyConnection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    async with conn.execute(sql, params) as cur:
        rows = await cur.fetchall()
    return [{k: _value(row[k]) for k in row.keys() if k not in OMITTED_COLUMNS}  # noqa: SIM118 (a Row iterates values)
            for row in rows]


def _value(value: Any) -> Any:
    """JSON stored as text (conversation data, outbox bodies, audit detail) as JSON."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def person_data(conn: AnyConnection, person_id: int) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about one person, table by table ("table" or "table.column"
    when the person appears in two columns of it). Empty tables are left out."""
    found: dict[str, list[dict[str, Any]]] = {}
    tables = [t for t, _ in PERSON_COLUMNS]
    for table, column in PERSON_COLUMNS:
        rows = await _rows(conn, f"SELECT * FROM {table} WHERE {column} = ? ORDER BY 1",
                           (person_id,))
        if rows:
            found[f"{table}.{column}" if tables.count(table) > 1 else table] = rows
    identity_ids = [r["id"] for r in found.get("identities", [])]
    for table, column in IDENTITY_COLUMNS:
        rows = []
        for identity_id in identity_ids:
            rows += await _rows(conn, f"SELECT * FROM {table} WHERE {column} = ?",
                                (identity_id,))
        if rows:
            found[table] = rows
    return found


# ----------------------------------------------------------------------------- erasure requests


@dataclass(frozen=True)
class ErasureRequest:
    id: int
    person_id: int
    channel: str
    requested_at: str
    status: str


async def request_erasure(conn: Connection, person_id: int, channel: str,
                          now: datetime) -> tuple[int, bool]:
    """(the request's id, whether it is new): a second request while one is open is the
    same request."""
    async with conn.execute("SELECT id FROM erasure_requests WHERE person_id = ? AND"
                            " status = 'requested'", (person_id,)) as cur:
        row = await cur.fetchone()
    if row is not None:
        return int(row[0]), False
    rows = await conn.execute_fetchall(
        "INSERT INTO erasure_requests (person_id, channel, requested_at) VALUES (?, ?, ?)"
        " RETURNING id", (person_id, channel, to_db(now)))
    return int(rows[0][0]), True


async def erasure_requests(conn: Connection, status: str = "requested"
                           ) -> list[ErasureRequest]:
    async with conn.execute(
        "SELECT id, person_id, channel, requested_at, status FROM erasure_requests"
        " WHERE status = ? ORDER BY id", (status,)) as cur:
        return [ErasureRequest(r[0], r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]


async def close_requests(conn: Connection, person_id: int, now: datetime) -> int:
    cur = await conn.execute(
        "UPDATE erasure_requests SET status = 'done', done_at = ? WHERE person_id = ?"
        " AND status = 'requested'", (to_db(now), person_id))
    return cur.rowcount


# ----------------------------------------------------------------------------- retention


_DUE = {
    "inactive_identities":
        "SELECT i.id FROM identities i LEFT JOIN conversations c ON c.identity_id = i.id"
        " WHERE (i.active = 0 OR i.person_id IS NULL)"
        " AND COALESCE(c.updated_at, i.created_at) < ? ORDER BY i.id LIMIT ?",
    "failed_outbox": "SELECT id FROM outbox WHERE status = 'failed' AND created_at < ?"
                     " AND payload <> ? ORDER BY created_at LIMIT ?",
    "announcements": "SELECT id FROM outbox WHERE status = 'sent' AND batch IS NOT NULL"
                     " AND created_at < ? AND payload <> ? ORDER BY created_at LIMIT ?",
    "failed_inbox": "SELECT id FROM inbox WHERE status = 'failed' AND received_at < ?"
                    " ORDER BY received_at LIMIT ?",
    "audit_details": "SELECT id FROM audit_log WHERE detail IS NOT NULL AND at < ?"
                     f" AND action NOT IN ({', '.join('?' * len(AUDIT_DETAIL_KEPT))})"
                     " ORDER BY at LIMIT ?",
}


def _due_params(kind: str, before: datetime, limit: int) -> tuple[object, ...]:
    if kind in ("failed_outbox", "announcements"):
        return (to_db(before), BLANK_BODY, limit)
    if kind == "audit_details":
        return (to_db(before), *AUDIT_DETAIL_KEPT, limit)
    return (to_db(before), limit)


async def _due(conn: AnyConnection, kind: str, before: datetime, limit: int) -> list[int]:
    async with conn.execute(_DUE[kind], _due_params(kind, before, limit)) as cur:
        return [r[0] for r in await cur.fetchall()]


async def photos_due(conn: AnyConnection, before: datetime) -> bool:
    for table, _, made in PHOTO_TABLES:
        async with conn.execute(f"SELECT 1 FROM {table} WHERE photo_ref IS NOT NULL"
                                f" AND {made} < ? LIMIT 1", (to_db(before),)) as cur:
            if await cur.fetchone() is not None:
                return True
    return False


# What each retention step deletes or empties: checked on a read first, so a run with
# nothing to do takes no write transaction.
RETENTION_KINDS = {"inactive_identities": ("inactive_identities",),
                   "outbox_bodies": ("failed_outbox", "announcements"),
                   "failed_inbox": ("failed_inbox",), "audit_details": ("audit_details",)}


async def due(conn: AnyConnection, step: str, before: datetime) -> bool:
    for kind in RETENTION_KINDS[step]:
        if await _due(conn, kind, before, 1):
            return True
    return False


async def prune_inactive_identities(conn: Connection, before: datetime, limit: int) -> int:
    """Forget up to `limit` chat identities nobody can use any more: never joined, or
    the bot can no longer write to them (blocked, left), with no message since `before`.
    Their conversations, drafts and code attempts go with them; a joined person keeps
    their person row and submissions (they join again with a new code)."""
    ids = await _due(conn, "inactive_identities", before, limit)
    for identity_id in ids:
        await forget_identity(conn, identity_id)
    return len(ids)


async def forget_identity(conn: Connection, identity_id: int) -> None:
    for table, column in IDENTITY_COLUMNS:
        await conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (identity_id,))
    await conn.execute("UPDATE notice_acceptances SET identity_id = NULL WHERE identity_id = ?",
                       (identity_id,))
    await conn.execute("DELETE FROM identities WHERE id = ?", (identity_id,))


async def blank_old_outbox_bodies(conn: Connection, before: datetime, limit: int) -> int:
    """The text of up to `limit` outbox rows kept past `before` (failed ones, whose
    reason stays, and an announcement's, which its delivery report counts) emptied."""
    ids = await _due(conn, "failed_outbox", before, limit)
    ids += await _due(conn, "announcements", before, limit - len(ids)) if len(ids) < limit else []
    if ids:
        marks = ", ".join("?" * len(ids))
        await conn.execute(f"UPDATE outbox SET payload = ? WHERE id IN ({marks})",
                           (BLANK_BODY, *ids))
    return len(ids)


async def prune_failed_inbox(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` stored updates that could not be handled, received before
    `before` (their bodies are the platform's update: names, ids, texts)."""
    ids = await _due(conn, "failed_inbox", before, limit)
    for inbox_id in ids:
        await conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))
    return len(ids)


async def clear_audit_detail(conn: Connection, before: datetime, limit: int) -> int:
    """The detail (earlier values of corrected submissions, ...) of up to `limit` audit
    rows written before `before` removed; who did what, when, from which state to which
    and why stays."""
    ids = await _due(conn, "audit_details", before, limit)
    if ids:
        marks = ", ".join("?" * len(ids))
        await conn.execute(f"UPDATE audit_log SET detail = NULL WHERE id IN ({marks})", ids)
    return len(ids)


async def clear_old_photos(conn: Connection, before: datetime, limit: int
                           ) -> tuple[int, list[str]]:
    """Up to `limit` photos of submissions made before `before` taken off them; returns
    how many, and their files (relative to the media folder) that nothing references any
    more, for the caller to delete once this commits."""
    cleared: list[str] = []
    for table, _, made in PHOTO_TABLES:
        left = limit - len(cleared)
        if left <= 0:
            break
        rows = await conn.execute_fetchall(
            f"SELECT id, photo_ref FROM {table} WHERE photo_ref IS NOT NULL AND {made} < ?"
            " ORDER BY id LIMIT ?", (to_db(before), left))
        for row_id, ref in rows:
            await conn.execute(f"UPDATE {table} SET photo_ref = NULL, photo_platform_id = NULL"
                               " WHERE id = ?", (row_id,))
            cleared.append(ref)
    return len(cleared), [ref for ref in dict.fromkeys(cleared)
                          if not await photo_referenced(conn, ref)]


async def photo_referenced(conn: Connection, ref: str) -> bool:
    for table in PHOTO_REFERENCES:
        async with conn.execute(f"SELECT 1 FROM {table} WHERE photo_ref = ? LIMIT 1",
                                (ref,)) as cur:
            if await cur.fetchone() is not None:
                return True
    return False
