"""Per-tambon settings: the amount above which a support request goes to the district."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection
from storage.timestamps import to_db

DEFAULT_AUTO_FORWARD_THRESHOLD = 500_000  # baht


async def threshold(conn: Connection, tambon_code: str) -> int:
    """Requests asking for more than this go straight to the district."""
    async with conn.execute(
        "SELECT auto_forward_threshold FROM tambon_settings WHERE tambon_code = ?",
        (tambon_code,)
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else DEFAULT_AUTO_FORWARD_THRESHOLD


async def set_threshold(conn: Connection, tambon_code: str, amount: int, *,
                        person_id: int | None, now: datetime) -> None:
    if amount <= 0:
        raise ValueError("the threshold is a positive amount")
    await conn.execute(
        "INSERT INTO tambon_settings (tambon_code, auto_forward_threshold, updated_by,"
        " updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (tambon_code) DO UPDATE SET auto_forward_threshold = excluded"
        ".auto_forward_threshold, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
        (tambon_code, amount, person_id, to_db(now)))
