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
