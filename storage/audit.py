"""The audit log: who changed what, when, from which state to which, and why."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.connection import Connection
from storage.timestamps import to_db


async def record(conn: Connection, *, now: datetime, person_id: int | None,
                 action: str, entity: str | None = None, entity_id: str | int | None = None,
                 from_state: str | None = None, to_state: str | None = None,
                 reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
    # Nobody reads what the INSERT returns: a server engine sends it with the next
    # statement, no round trip of its own (its error, if any, fails the transaction there).
    await conn.execute_later(
        "INSERT INTO audit_log (at, person_id, action, entity, entity_id, from_state, to_state,"
        " reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (to_db(now), person_id, action, entity, None if entity_id is None else str(entity_id),
         from_state, to_state, reason,
         json.dumps(detail, ensure_ascii=False) if detail is not None else None),
    )


async def correction(conn: Connection, entity: str, entity_id: str | int, version: int
                     ) -> dict[str, Any] | None:
    """The detail of the correction (action `<entity>.correct`) that made `version` of
    an entity: {"version": the one before, "new_version", "old": its fields, "new": ...}."""
    async with conn.execute(
        "SELECT detail FROM audit_log WHERE entity = ? AND entity_id = ? AND action = ?"
        " ORDER BY id DESC", (entity, str(entity_id), f"{entity}.correct")) as cur:
        rows = await cur.fetchall()
    for row in rows:
        detail = json.loads(row[0] or "{}")
        if isinstance(detail, dict) and detail.get("new_version") == version:
            return detail
    return None
