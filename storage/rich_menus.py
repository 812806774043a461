"""The LINE rich menus installed, by menu key (a role, or 'default'): migration 0012."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection
from storage.timestamps import to_db


async def replace_all(conn: Connection, menus: dict[str, str], now: datetime) -> list[str]:
    """Keep these rich menu ids (menu key -> id) instead of the ones stored before; returns
    the ids they replace (to be deleted at LINE)."""
    async with conn.execute("SELECT rich_menu_id FROM line_rich_menus") as cur:
        old = [r[0] for r in await cur.fetchall()]
    await conn.execute("DELETE FROM line_rich_menus")
    await conn.executemany(
        "INSERT INTO line_rich_menus (menu_key, rich_menu_id, installed_at) VALUES (?, ?, ?)",
        [(key, menu_id, to_db(now)) for key, menu_id in menus.items()])
    return [menu_id for menu_id in old if menu_id not in menus.values()]


async def get(conn: Connection, menu_key: str) -> str | None:
    async with conn.execute("SELECT rich_menu_id FROM line_rich_menus WHERE menu_key = ?",
                            (menu_key,)) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def all_menus(conn: Connection) -> dict[str, str]:
    async with conn.execute("SELECT menu_key, rich_menu_id FROM line_rich_menus"
                            " ORDER BY menu_key") as cur:
        return {r[0]: r[1] for r in await cur.fetchall()}


async def joined_line_people(conn: Connection) -> list[int]:
    """Everyone with an active LINE identity and at least one role (to link again when the
    menus are installed anew)."""
    async with conn.execute(
        "SELECT DISTINCT i.person_id FROM identities i"
        " JOIN role_grants g ON g.person_id = i.person_id"
        " WHERE i.channel = 'line' AND i.active = 1 ORDER BY i.person_id"
    ) as cur:
        return [int(r[0]) for r in await cur.fetchall()]
