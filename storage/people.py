"""People, their channel identities and their role grants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection, Row
from storage.timestamps import to_db


@dataclass(frozen=True)
class Identity:
    id: int
    channel: str
    platform_user_id: str
    chat_id: str
    person_id: int | None
    active: bool


@dataclass(frozen=True)
class Person:
    id: int
    display_name: str
    language: str


@dataclass(frozen=True)
class Grant:
    role: str
    area_code: str


def _identity(row: Row) -> Identity:
    return Identity(row["id"], row["channel"], row["platform_user_id"], row["chat_id"],
                    row["person_id"], bool(row["active"]))


_IDENTITY = "SELECT id, channel, platform_user_id, chat_id, person_id, active FROM identities"


async def identity(conn: Connection, channel: str, platform_user_id: str
                   ) -> Identity | None:
    async with conn.execute(f"{_IDENTITY} WHERE channel = ? AND platform_user_id = ?",
                            (channel, platform_user_id)) as cur:
        row = await cur.fetchone()
    return _identity(row) if row else None


async def identity_by_id(conn: Connection, identity_id: int) -> Identity | None:
    async with conn.execute(f"{_IDENTITY} WHERE id = ?", (identity_id,)) as cur:
        row = await cur.fetchone()
    return _identity(row) if row else None


async def ensure_identity(conn: Connection, channel: str, platform_user_id: str,
                          chat_id: str, now: datetime) -> Identity:
    """The identity for this platform user, created on first contact. A message
    means the person can be reached again, so it is marked active. Read first: nearly
    every message comes from someone known and reachable, and then nothing is written."""
    found = await identity(conn, channel, platform_user_id)
    if found is not None and found.active:
        return found
    await conn.execute(
        "INSERT INTO identities (channel, platform_user_id, chat_id, created_at)"
        " VALUES (?, ?, ?, ?)"
        " ON CONFLICT (channel, platform_user_id) DO UPDATE SET active = 1",
        (channel, platform_user_id, chat_id, to_db(now)),
    )
    found = await identity(conn, channel, platform_user_id)
    assert found is not None
    return found


async def identities_of(conn: Connection, person_id: int) -> list[Identity]:
    async with conn.execute(f"{_IDENTITY} WHERE person_id = ? AND active = 1 ORDER BY id",
                            (person_id,)) as cur:
        return [_identity(r) for r in await cur.fetchall()]


async def set_identity_active(conn: Connection, channel: str, chat_id: str,
                              active: bool) -> None:
    await conn.execute("UPDATE identities SET active = ? WHERE channel = ? AND chat_id = ?",
                       (int(active), channel, chat_id))


async def create_person(conn: Connection, display_name: str, language: str,
                        now: datetime) -> int:
    cur = await conn.execute(
        "INSERT INTO people (display_name, language, created_at) VALUES (?, ?, ?)",
        (display_name, language, to_db(now)),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def link_identity(conn: Connection, identity_id: int, person_id: int) -> None:
    await conn.execute("UPDATE identities SET person_id = ? WHERE id = ?", (person_id, identity_id))


async def person(conn: Connection, person_id: int) -> Person | None:
    async with conn.execute("SELECT id, display_name, language FROM people WHERE id = ?",
                            (person_id,)) as cur:
        row = await cur.fetchone()
    return Person(row["id"], row["display_name"], row["language"]) if row else None


async def set_language(conn: Connection, person_id: int, language: str) -> None:
    await conn.execute("UPDATE people SET language = ? WHERE id = ?", (language, person_id))


async def set_display_name(conn: Connection, person_id: int, name: str) -> None:
    await conn.execute("UPDATE people SET display_name = ? WHERE id = ?", (name, person_id))


async def grants_of(conn: Connection, person_id: int) -> list[Grant]:
    async with conn.execute(
        "SELECT role, area_code FROM role_grants WHERE person_id = ? ORDER BY id", (person_id,)
    ) as cur:
        return [Grant(r["role"], r["area_code"]) for r in await cur.fetchall()]


async def add_grant(conn: Connection, person_id: int, grant: Grant,
                    invite_id: int | None, now: datetime) -> None:
    await conn.execute(
        "INSERT OR IGNORE INTO role_grants (person_id, role, area_code, invite_id, granted_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (person_id, grant.role, grant.area_code, invite_id, to_db(now)),
    )


async def holders_of(conn: Connection, role: str, area_code: str) -> list[int]:
    """People holding `role` exactly on `area_code`."""
    async with conn.execute(
        "SELECT person_id FROM role_grants WHERE role = ? AND area_code = ? ORDER BY person_id",
        (role, area_code),
    ) as cur:
        return [r[0] for r in await cur.fetchall()]


async def reachable(conn: Connection, person_ids: list[int]) -> list[int]:
    """Those of `person_ids` (in order, once each) with a chat the bot can still write
    to: a notification queued for anyone else reaches nobody."""
    wanted = list(dict.fromkeys(person_ids))
    if not wanted:
        return []
    marks = ", ".join("?" * len(wanted))
    async with conn.execute(
        f"SELECT DISTINCT person_id FROM identities WHERE active = 1 AND person_id IN ({marks})",
        wanted,
    ) as cur:
        found = {r[0] for r in await cur.fetchall()}
    return [p for p in wanted if p in found]
