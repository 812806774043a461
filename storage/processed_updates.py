"""Platform update ids already handled: the same update delivered twice is handled once.

An update stored in the inbox is claimed there (storage/inbox.py `claim`: its handled row is
its key); this table holds the keys of updates handled without the inbox (the console, a
direct call) and those older code claimed here. `prune` forgets both after the window."""

from __future__ import annotations

from datetime import datetime

from storage import inbox
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


async def prune(conn: Connection, before: datetime, limit: int) -> int:
    """Forget up to `limit` update keys handled before `before`, oldest first, here and
    in the inbox (its handled rows); returns how many. Keys are kept for the dedupe window
    only: platforms redeliver within minutes or hours, while a Telegram update id is
    chosen afresh after a week without updates."""
    rows = await conn.fetchall_in_thread(
        "DELETE FROM processed_updates WHERE (channel, update_id) IN"
        " (SELECT channel, update_id FROM processed_updates WHERE processed_at < ?"
        "  ORDER BY processed_at LIMIT ?) RETURNING 1", (to_db(before), limit))
    if len(rows) < limit:
        return len(rows) + await inbox.prune_handled(conn, before, limit - len(rows))
    return len(rows)
