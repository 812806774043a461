"""Erasing one person (PDPA s.33), as `cercap-bot people erase PERSON_ID` does it.

What goes: the person's name (everywhere it was written: their row, free texts of any
table, queued and sent messages, conversation data, the audit log's detail), their chat
identities with their conversations and drafts, every message to or from their chats
(outbox, stored updates), the photos they sent, their roles, sign-in links and sessions,
reminder pause. What stays: the village's submissions (reports, forums, plans, progress,
requests, reviews, lessons) as the village committee's records, pointing at the person's
row, which now carries a generic name ("a former committee member", by the role held),
so every summary number is the same before and after. The audit log keeps one row of
the erasure (who, when, why, how much of each).

The name's whole text is replaced, and so is each word of it of at least
`MIN_NAME_PART` characters that is not a title (Mr, Mrs, ...: `privacy.name_titles`).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from storage import audit, catalogue, privacy
from storage.connection import Connection
from storage.db import Database, is_server_database
from storage.timestamps import to_db

if TYPE_CHECKING:
    from storage.engine_postgres import PostgresDatabase

MIN_NAME_PART = 3
ESCAPE = "ESCAPE '\\'"  # LIKE's escape character, the backslash (`_like`), on both engines
# Tables whose text is not about people, or that are handled one by one below.
NOT_SWEPT = frozenset({"people", "identities", "areas", "schedules", "line_rich_menus",
                       "processed_updates"})
SUBMISSIONS: tuple[tuple[str, str], ...] = (
    ("problems", "reporter_id"), ("forums", "reporter_id"), ("plans", "created_by"),
    ("plan_items", "created_by"), ("progress_updates", "reporter_id"),
    ("support_requests", "created_by"), ("lessons", "created_by"),
    ("reviews", "reviewer_id"), ("review_replies", "person_id"))
PHOTO_KEY = re.compile(r"^[a-z]+/[A-Za-z0-9_-]{1,100}\.jpg$")  # bot/media_files.save_photo


class UnknownPerson(ValueError):
    pass


@dataclass
class ErasurePlan:
    person_id: int
    name: str
    erased_before: str | None
    replacement: str
    terms: list[str]  # the name and its parts, longest first
    identities: list[tuple[int, str, str, str]]  # (id, channel, platform user id, chat id)
    roles: list[tuple[str, str]]
    photos: list[str]
    texts: dict[str, int] = field(default_factory=dict)  # "table.column": rows changed
    messages: int = 0  # outbox rows to or about the person
    stored_updates: int = 0
    conversations: int = 0
    drafts: int = 0
    sessions: int = 0
    kept: dict[str, int] = field(default_factory=dict)  # submissions kept, by table

    @property
    def platform_ids(self) -> list[str]:
        return list(dict.fromkeys(x for _, _, user, chat in self.identities
                                  for x in (user, chat)))


def name_terms(name: str, titles: set[str]) -> list[str]:
    """The texts replaced: the whole name and its words, longest first."""
    name = " ".join(name.split())
    if not name:
        return []
    parts = [p for p in name.split(" ") if len(p) >= MIN_NAME_PART and p not in titles
             and any(ch.isalpha() for ch in p)]
    return sorted(dict.fromkeys([name, *parts]), key=len, reverse=True)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def tables(conn: Connection) -> list[str]:
    """Every table of the schema (the engine's catalogue: storage/catalogue.py)."""
    return await catalogue.tables(conn)


async def columns(conn: Connection, table: str) -> list[str]:
    return await catalogue.columns(conn, table)


async def _count(conn: Connection, sql: str, params: tuple[object, ...]) -> int:
    rows = await conn.execute_fetchall(sql, params)
    return int(rows[0][0]) if rows else 0


async def plan(conn: Connection, person_id: int, *, replacement_for: dict[str, str],
               titles: set[str]) -> ErasurePlan:
    """What erasing `person_id` will do, counted, without changing anything.
    `replacement_for`: the generic name by role (key "" for none)."""
    found = await conn.execute_fetchall(
        "SELECT display_name, erased_at FROM people WHERE id = ?", (person_id,))
    if not found:
        raise UnknownPerson(f"no person {person_id}")
    name, erased_at = found[0][0] or "", found[0][1]
    identities = [(r[0], r[1], r[2], r[3]) for r in await conn.execute_fetchall(
        "SELECT id, channel, platform_user_id, chat_id FROM identities WHERE person_id = ?"
        " ORDER BY id", (person_id,))]
    roles = [(r[0], r[1]) for r in await conn.execute_fetchall(
        "SELECT role, area_code FROM role_grants WHERE person_id = ? ORDER BY id",
        (person_id,))]
    replacement = next((replacement_for[r] for r, _ in roles if r in replacement_for),
                       replacement_for[""])
    result = ErasurePlan(person_id, name, erased_at, replacement,
                         name_terms(name, titles) if name != replacement else [],
                         identities, roles, await _photos(conn, person_id, identities))
    for table in await tables(conn):
        if table in NOT_SWEPT:
            continue
        for column in await catalogue.text_columns(conn, table):
            changed = await _matching(conn, table, column, result.terms)
            if changed:
                result.texts[f"{table}.{column}"] = changed
    chats = [(channel, chat) for _, channel, _, chat in identities]
    result.messages = await _count(conn, *_outbox_filter(person_id, chats, "SELECT COUNT(*)"))
    result.stored_updates = len(await _stored_updates(conn, result.platform_ids))
    ids = [i for i, *_ in identities]
    for attribute, table in (("conversations", "conversations"), ("drafts", "drafts")):
        setattr(result, attribute, sum([await _count(
            conn, f"SELECT COUNT(*) FROM {table} WHERE identity_id = ?", (i,)) for i in ids]))
    result.sessions = (await _count(conn, "SELECT COUNT(*) FROM web_sessions WHERE person_id = ?",
                                    (person_id,))
                       + await _count(conn, "SELECT COUNT(*) FROM sign_in_links"
                                      " WHERE person_id = ?", (person_id,)))
    for table, column in SUBMISSIONS:
        kept = await _count(conn, f"SELECT COUNT(*) FROM {table} WHERE {column} = ?",
                            (person_id,))
        if kept:
            result.kept[table] = kept
    return result


async def _matching(conn: Connection, table: str, column: str, terms: list[str]) -> int:
    if not terms:
        return 0
    where = " OR ".join(f'"{column}" LIKE ? {ESCAPE}' for _ in terms)
    return await _count(conn, f'SELECT COUNT(*) FROM "{table}" WHERE {where}',
                        tuple(_like(t) for t in terms))


def _outbox_filter(person_id: int, chats: list[tuple[str, str]], head: str
                   ) -> tuple[str, tuple[object, ...]]:
    where = ["person_id = ?"] + ["(channel = ? AND chat_id = ?)" for _ in chats]
    params: list[object] = [person_id]
    for channel, chat in chats:
        params += [channel, chat]
    return f"{head} FROM outbox WHERE {' OR '.join(where)}", tuple(params)


async def _stored_updates(conn: Connection, platform_ids: list[str]) -> list[int]:
    found: list[int] = []
    for platform_id in platform_ids:
        rows = await conn.execute_fetchall(
            f"SELECT id FROM inbox WHERE person_key LIKE ? {ESCAPE} OR body LIKE ? {ESCAPE}",
            (_like(platform_id), _like(platform_id)))
        found += [r[0] for r in rows]
    return list(dict.fromkeys(found))


async def _photos(conn: Connection, person_id: int,
                  identities: list[tuple[int, str, str, str]]) -> list[str]:
    """The photos the person sent: on their submissions, and in their open
    conversations and drafts (not sent yet)."""
    refs: list[str] = []
    for table, column, _ in privacy.PHOTO_TABLES:
        rows = await conn.execute_fetchall(
            f"SELECT photo_ref FROM {table} WHERE {column} = ? AND photo_ref IS NOT NULL",
            (person_id,))
        refs += [r[0] for r in rows]
    for identity_id, *_ in identities:
        for table in ("conversations", "drafts"):
            for (data,) in await conn.execute_fetchall(
                    f"SELECT data FROM {table} WHERE identity_id = ?", (identity_id,)):
                refs += _photo_keys(data)
    return list(dict.fromkeys(refs))


def _photo_keys(text: str) -> list[str]:
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str) and PHOTO_KEY.match(value):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    with contextlib.suppress(ValueError):
        walk(json.loads(text or "{}"))
    return found


async def erase(conn: Connection, erasure: ErasurePlan, *, now: datetime, by: str,
                reason: str | None) -> list[str]:
    """Carry out `erasure` (inside one transaction); returns the photo files (relative to
    the media folder) nothing references any more, to delete once this commits."""
    person_id = erasure.person_id
    for ref in erasure.photos:
        for table in privacy.PHOTO_REFERENCES:
            cols = await columns(conn, table)
            extra = ", photo_platform_id = NULL" if "photo_platform_id" in cols else ""
            await conn.execute(f"UPDATE {table} SET photo_ref = NULL{extra} WHERE photo_ref = ?",
                               (ref,))
    for table_column in erasure.texts:
        table, column = table_column.split(".")
        for term in erasure.terms:
            await conn.execute(
                f'UPDATE "{table}" SET "{column}" = REPLACE("{column}", ?, ?)'
                f' WHERE "{column}" LIKE ? {ESCAPE}',
                (term, erasure.replacement, _like(term)))
    chats = [(channel, chat) for _, channel, _, chat in erasure.identities]
    await conn.execute(*_outbox_filter(person_id, chats, "DELETE"))
    for update_id in await _stored_updates(conn, erasure.platform_ids):
        await conn.execute("DELETE FROM inbox WHERE id = ?", (update_id,))
    for identity_id, *_ in erasure.identities:
        await privacy.forget_identity(conn, identity_id)
    await conn.execute("DELETE FROM web_sessions WHERE person_id = ?", (person_id,))
    await conn.execute("DELETE FROM sign_in_links WHERE person_id = ?", (person_id,))
    await conn.execute("DELETE FROM reminder_pauses WHERE person_id = ?", (person_id,))
    await conn.execute("DELETE FROM role_grants WHERE person_id = ?", (person_id,))
    await conn.execute("UPDATE people SET display_name = ?, erased_at = ? WHERE id = ?",
                       (erasure.replacement, to_db(now), person_id))
    await privacy.close_requests(conn, person_id, now)
    await audit.record(conn, now=now, person_id=None, action="person.erase",
                       entity="person", entity_id=person_id, to_state="erased",
                       reason=reason, detail={
                           "by": by, "identities": len(erasure.identities),
                           "roles": [f"{r}:{a}" for r, a in erasure.roles],
                           "photos": len(erasure.photos), "texts": erasure.texts,
                           "messages": erasure.messages,
                           "stored_updates": erasure.stored_updates,
                           "conversations": erasure.conversations, "drafts": erasure.drafts,
                           "sessions": erasure.sessions, "kept": erasure.kept})
    return [ref for ref in erasure.photos if not await privacy.photo_referenced(conn, ref)]


async def leftovers(conn: Connection, needles: list[str]) -> dict[str, int]:
    """Where any of `needles` (a name, a platform id) is still written: "table.column" to
    rows. Empty after an erasure; the people table's own generic name is not searched."""
    found: dict[str, int] = {}
    needles = [n for n in needles if n]
    for table in await tables(conn):
        for column in await catalogue.text_columns(conn, table):
            count = await _matching(conn, table, column, needles)
            if count:
                found[f"{table}.{column}"] = count
    return found


# What erase() writes to besides the free texts (`ErasurePlan.texts`).
WRITTEN: tuple[str, ...] = ("people", "identities", "role_grants", "reminder_pauses",
                            "web_sessions", "sign_in_links", "outbox", "inbox",
                            "notice_acceptances", "erasure_requests", "audit_log",
                            *(t for t, _ in privacy.IDENTITY_COLUMNS),
                            *privacy.PHOTO_REFERENCES)


def touched_tables(erasure: ErasurePlan) -> list[str]:
    """The tables whose files may hold the erased values until they are compacted: those
    `erase` changed rows of, and every table pointing at people (an earlier version of a
    row about the person, corrected before, is still in its file until vacuumed)."""
    return sorted({*WRITTEN, *(t for t, _ in privacy.PERSON_COLUMNS),
                   *(where.split(".")[0] for where in erasure.texts)})


async def compact(db: Database | PostgresDatabase, erasure: ErasurePlan) -> bool:
    """After `erase` has committed: the erased values out of the database's files. SQLite:
    VACUUM of the whole file and the WAL emptied (False when a reader of another connection
    kept it from being emptied; it is at the next checkpoint). PostgreSQL: VACUUM FULL of
    the tables the erasure touched (storage/engine_postgres.py)."""
    if is_server_database(db.path):
        return await db.compact(touched_tables(erasure))  # type: ignore[call-arg]
    return await db.compact()
