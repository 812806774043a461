"""Where each identity's conversation stands, and the drafts kept when one is left."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.catalogue import is_postgres
from storage.connection import Connection
from storage.inbox import CLAIM, Claim
from storage.people import Grant, Identity, Person
from storage.timestamps import from_db, to_db


@dataclass
class Conversation:
    identity_id: int
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    seq: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Draft:
    flow: str
    step: str
    data: dict[str, Any]
    history: list[str]
    saved_at: datetime


async def load(conn: Connection, identity_id: int) -> Conversation:
    async with conn.execute(
        "SELECT flow, step, data, history, seq, updated_at FROM conversations"
        " WHERE identity_id = ?", (identity_id,)
    ) as cur:
        r = await cur.fetchone()
    if r is None:
        return Conversation(identity_id)
    return Conversation(identity_id, r["flow"], r["step"], json.loads(r["data"]),
                        json.loads(r["history"]), r["seq"], from_db(r["updated_at"]))


@dataclass(frozen=True)
class Standing:
    """Who sent an update and where their conversation stands: what every update reads."""

    identity: Identity
    person: Person | None
    grants: list[Grant]
    convo: Conversation
    drafts: list[Draft]  # the newest first, as drafts_of gives them


# A row per grant (`part` 0), then a row per draft (`part` 1): every update reads both
# (the menu shows the drafts), one statement instead of two, a round trip less.
_STANDING_COLUMNS = ("part, id, chat_id, person_id, active, pid, display_name, language,"
                     " role, area_code, convo, flow, step, data, history, seq, updated_at, gid,"
                     " d_flow, d_step, d_data, d_history, d_saved_at")
_STANDING = (
    "SELECT 0 AS part, i.id, i.chat_id, i.person_id, i.active, p.id AS pid, p.display_name,"
    " p.language, g.role, g.area_code, c.identity_id AS convo, c.flow, c.step, c.data,"
    " c.history, c.seq, c.updated_at, g.id AS gid, NULL AS d_flow, NULL AS d_step,"
    " NULL AS d_data, NULL AS d_history, NULL AS d_saved_at"
    " FROM identities i LEFT JOIN people p ON p.id = i.person_id"
    " LEFT JOIN conversations c ON c.identity_id = i.id"
    " LEFT JOIN role_grants g ON g.person_id = p.id"
    " WHERE i.channel = ? AND i.platform_user_id = ?"
    " UNION ALL SELECT 1, i.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, d.flow, d.step, d.data, d.history, d.saved_at"
    " FROM identities i JOIN drafts d ON d.identity_id = i.id"
    " WHERE i.channel = ? AND i.platform_user_id = ?")
_STANDING_ORDER = " ORDER BY part, gid, d_saved_at DESC"
# The same with the inbox claim run first, in one statement (PostgreSQL: an UPDATE in a
# WITH; one row even for someone unknown, whose columns are then NULL).
_CLAIMING_STANDING = (
    f"WITH claimed AS ({CLAIM} RETURNING 1)"
    f" SELECT (SELECT count(*) FROM claimed) AS took, {_STANDING_COLUMNS} FROM (SELECT 1) AS one"
    f" LEFT JOIN ({_STANDING}) AS s ON TRUE{_STANDING_ORDER}")


async def standing(conn: Connection, channel: str, platform_user_id: str,
                   claim: Claim | None = None) -> Standing | None:
    """The identity of a platform user with its person, their role grants (in the order
    granted), the conversation and the drafts, in one statement (a row per grant, then a
    row per draft); None for someone unknown, whose identity is to be created first
    (people.ensure_identity). A `claim` of the update goes with it: inside the statement
    on PostgreSQL, before it on SQLite (where a statement costs no round trip)."""
    if claim is not None and is_postgres(conn):
        rows = await conn.execute_fetchall(
            _CLAIMING_STANDING, (*claim.params, *([channel, platform_user_id] * 2)))
        claim.ran(bool(rows[0]["took"]))  # someone unknown: one row, `part` NULL
    else:
        if claim is not None:
            await claim.send()
        rows = await conn.execute_fetchall(_STANDING + _STANDING_ORDER,
                                           (channel, platform_user_id) * 2)
    drafts = [Draft(d["d_flow"], d["d_step"], json.loads(d["d_data"]),
                    json.loads(d["d_history"]), from_db(d["d_saved_at"]))
              for d in rows if d["part"] == 1]
    rows = [r for r in rows if r["part"] == 0]
    if not rows:
        return None
    r = rows[0]
    identity = Identity(r["id"], channel, platform_user_id, r["chat_id"], r["person_id"],
                        bool(r["active"]))
    person = (Person(r["pid"], r["display_name"], r["language"])
              if r["pid"] is not None else None)
    grants = [Grant(g["role"], g["area_code"]) for g in rows if g["role"] is not None]
    convo = (Conversation(identity.id) if r["convo"] is None else
             Conversation(identity.id, r["flow"], r["step"], json.loads(r["data"]),
                          json.loads(r["history"]), r["seq"], from_db(r["updated_at"])))
    return Standing(identity, person, grants, convo, drafts)


async def save(conn: Connection, convo: Conversation, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO conversations (identity_id, flow, step, data, history, seq, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (identity_id) DO UPDATE SET flow = excluded.flow, step = excluded.step,"
        " data = excluded.data, history = excluded.history, seq = excluded.seq,"
        " updated_at = excluded.updated_at",
        (convo.identity_id, convo.flow, convo.step, json.dumps(convo.data, ensure_ascii=False),
         json.dumps(convo.history), convo.seq, to_db(now)),
    )


async def idle_since(conn: Connection, before: datetime, limit: int = 1000) -> list[int]:
    """Identities whose conversation is inside a flow and untouched since `before`."""
    async with conn.execute(
        "SELECT identity_id FROM conversations WHERE flow IS NOT NULL AND updated_at < ?"
        " ORDER BY identity_id LIMIT ?",
        (to_db(before), limit),
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


async def save_draft(conn: Connection, identity_id: int, draft: Draft) -> None:
    await conn.execute(
        "INSERT INTO drafts (identity_id, flow, step, data, history, saved_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (identity_id, flow) DO UPDATE SET step = excluded.step,"
        " data = excluded.data, history = excluded.history, saved_at = excluded.saved_at",
        (identity_id, draft.flow, draft.step, json.dumps(draft.data, ensure_ascii=False),
         json.dumps(draft.history), to_db(draft.saved_at)),
    )


async def drafts_of(conn: Connection, identity_id: int) -> list[Draft]:
    async with conn.execute(
        "SELECT flow, step, data, history, saved_at FROM drafts WHERE identity_id = ?"
        " ORDER BY saved_at DESC", (identity_id,)
    ) as cur:
        return [Draft(r["flow"], r["step"], json.loads(r["data"]), json.loads(r["history"]),
                      from_db(r["saved_at"])) for r in await cur.fetchall()]


async def delete_draft(conn: Connection, identity_id: int, flow: str) -> None:
    await conn.execute("DELETE FROM drafts WHERE identity_id = ? AND flow = ?",
                       (identity_id, flow))
