"""Platform update ids already handled: the same update delivered twice is handled once."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection
from storage.timestamps import to_db


async def claim(conn: Connection, channel: str, update_id: str, now: datetime) -> bool:
    """True the first time this (channel, update id) is seen; call inside the handling
    transaction so the claim and the handling commit or roll back together."""
    cur = await conn.execute(
        "INSERT OR IGNORE INTO processed_updates (channel, update_id, processed_at)"
        " VALUES (?, ?, ?)",
        (channel, update_id, to_db(now)),
    )
    return cur.rowcount == 1
