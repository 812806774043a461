"""Invite codes: single-use (unless told otherwise), expiring, and the throttle on guesses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class Invite:
    id: int
    code: str
    role: str
    area_code: str
    issued_by: int | None
    expires_at: datetime
    max_uses: int
    uses: int


async def create(conn: Connection, code: str, role: str, area_code: str,
                 issued_by: int | None, expires_at: datetime, max_uses: int,
                 now: datetime) -> Invite:
    cur = await conn.execute(
        "INSERT INTO invites (code, role, area_code, issued_by, created_at, expires_at, max_uses)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (code, role, area_code, issued_by, to_db(now), to_db(expires_at), max_uses),
    )
    assert cur.lastrowid is not None
    return Invite(cur.lastrowid, code, role, area_code, issued_by, expires_at, max_uses, 0)


async def find(conn: Connection, code: str) -> Invite | None:
    async with conn.execute(
        "SELECT id, code, role, area_code, issued_by, expires_at, max_uses, uses"
        " FROM invites WHERE code = ?", (code,)
    ) as cur:
        r = await cur.fetchone()
    if r is None:
        return None
    return Invite(r["id"], r["code"], r["role"], r["area_code"], r["issued_by"],
                  from_db(r["expires_at"]), r["max_uses"], r["uses"])


async def use(conn: Connection, invite_id: int) -> None:
    await conn.execute("UPDATE invites SET uses = uses + 1 WHERE id = ?", (invite_id,))


async def record_attempt(conn: Connection, identity_id: int, success: bool,
                         now: datetime) -> None:
    await conn.execute(
        "INSERT INTO invite_attempts (identity_id, attempted_at, success) VALUES (?, ?, ?)",
        (identity_id, to_db(now), int(success)),
    )


async def failed_attempts_since(conn: Connection, identity_id: int,
                                since: datetime) -> int:
    async with conn.execute(
        "SELECT COUNT(*) FROM invite_attempts"
        " WHERE identity_id = ? AND success = 0 AND attempted_at >= ?",
        (identity_id, to_db(since)),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def prune_attempts(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` invite attempts made before `before`, oldest first; returns
    how many. The throttle looks back only THROTTLE_WINDOW (handlers.invites)."""
    rows = await conn.fetchall_in_thread(
        "DELETE FROM invite_attempts WHERE id IN (SELECT id FROM invite_attempts"
        " WHERE attempted_at < ? ORDER BY attempted_at LIMIT ?) RETURNING id",
        (to_db(before), limit))
    return len(rows)
