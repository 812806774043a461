"""Group chats linked to an area to receive its notifications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection
from storage.timestamps import to_db


@dataclass(frozen=True)
class LinkedGroup:
    channel: str
    chat_id: str
    area_code: str


async def link(conn: Connection, channel: str, chat_id: str, area_code: str,
               person_id: int, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO notification_groups (channel, chat_id, area_code, linked_by, linked_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, chat_id, area_code)"
        " DO UPDATE SET active = 1, linked_by = excluded.linked_by,"
        " linked_at = excluded.linked_at",
        (channel, chat_id, area_code, person_id, to_db(now)),
    )


async def unlink(conn: Connection, channel: str, chat_id: str) -> int:
    cur = await conn.execute(
        "UPDATE notification_groups SET active = 0"
        " WHERE channel = ? AND chat_id = ? AND active = 1",
        (channel, chat_id))
    return cur.rowcount


_OF_AREA = ("SELECT channel, chat_id, area_code FROM notification_groups"
            " WHERE area_code = ? AND active = 1 ORDER BY channel, chat_id")


async def of_area(conn: Connection, area_code: str) -> list[LinkedGroup]:
    return await (await of_area_later(conn, area_code))()


async def of_area_later(conn: Connection, area_code: str
                        ) -> Callable[[], Awaitable[list[LinkedGroup]]]:
    """`of_area`, sent now and read later: on a server engine it goes with the next
    statement instead of a round trip of its own."""
    later = await conn.execute_later(_OF_AREA, (area_code,))

    async def linked() -> list[LinkedGroup]:
        return [LinkedGroup(r[0], r[1], r[2]) for r in await (await later.result()).fetchall()]
    return linked


async def deactivate_chat(conn: Connection, channel: str, chat_id: str) -> None:
    await conn.execute(
        "UPDATE notification_groups SET active = 0 WHERE channel = ? AND chat_id = ?",
        (channel, chat_id))
