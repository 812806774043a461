"""Submissions nobody could receive: written to the audit log when they happen, read
back by the daily notice to the district.

A village's submission is meant for people holding a role (the tambon core team, the
TAO, the district committee). When none of them has a chat the bot can write to, the
submission is still kept, and one audit row says so: entity "tambon" (the tambon's
code), action `UNRECEIVED`, with the submission and the roles that were missing in its
detail. Such a submission is outstanding for as long as nobody holds one of those roles
with a reachable chat. The daily notice records, per tambon and day, that it was
reported (action `REPORTED`), so a second run on the same day reports nothing again.
Both kinds of row sit under the audit log's (entity, entity_id) index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from storage import audit
from storage.connection import Connection
from storage.timestamps import from_db

UNRECEIVED = "notification.unreceived"
REPORTED = "unreceived.reported"
ENTITY = "tambon"

# The roles whose absence the district is told of: it appoints the core team and the
# TAO officers, and is itself the district committee. A village committee missing is
# the core team's to fix (it issues village invites), so it is logged, not reported.
REPORTED_ROLES = ("core_team", "tao", "district")


@dataclass(frozen=True)
class Unreceived:
    at: datetime
    tambon_code: str
    kind: str  # what was submitted: problem, forum, plan, plan_item, progress, ...
    entity_id: int
    roles: tuple[str, ...]  # whom it was meant for; nobody of them could receive it


async def record(conn: Connection, *, now: datetime, person_id: int | None,
                 village_code: str, kind: str, entity_id: int, roles: list[str],
                 event: str | None = None) -> None:
    """A submission (`kind` #`entity_id`) that nobody holding `roles` could receive."""
    detail: dict[str, object] = {"kind": kind, "id": entity_id, "village": village_code,
                                 "roles": roles}
    if event:
        detail["event"] = event
    await audit.record(conn, now=now, person_id=person_id, action=UNRECEIVED, entity=ENTITY,
                       entity_id=village_code[:6], to_state="unreceived", detail=detail)


# Outstanding: none of the roles it was meant for has, today, a holder with an active
# chat on the area that role covers (the district for "district", the village for a
# village committee, the tambon otherwise).
_OUTSTANDING = f"""
    SELECT a.at, a.entity_id, json_extract(a.detail, '$.kind'), json_extract(a.detail, '$.id'),
           json_extract(a.detail, '$.roles')
    FROM audit_log a
    WHERE a.entity = '{ENTITY}' AND a.action = '{UNRECEIVED}'
      AND NOT EXISTS (
        SELECT 1 FROM json_each(a.detail, '$.roles') r
        JOIN role_grants g ON g.role = r.value AND g.area_code = CASE r.value
            WHEN 'district' THEN substr(a.entity_id, 1, 4)
            WHEN 'village_committee' THEN json_extract(a.detail, '$.village')
            ELSE a.entity_id END
        JOIN identities i ON i.person_id = g.person_id AND i.active = 1)
    ORDER BY a.entity_id, a.at, a.id
"""


async def outstanding(conn: Connection) -> list[Unreceived]:
    """Every submission still without anyone to receive it, meant for a role the district
    is told about; by tambon, oldest first."""
    rows = await conn.fetchall_in_thread(_OUTSTANDING)
    found = [Unreceived(from_db(r[0]), r[1], r[2], int(r[3]), tuple(json.loads(r[4])))
             for r in rows]
    return [u for u in found if u.roles and set(u.roles) <= set(REPORTED_ROLES)]


async def reported_on(conn: Connection, day: date) -> set[str]:
    """The tambons already reported on `day` (Bangkok date)."""
    async with conn.execute(
        f"SELECT entity_id FROM audit_log WHERE entity = '{ENTITY}' AND action = '{REPORTED}'"
        " AND json_extract(detail, '$.day') = ?", (day.isoformat(),)
    ) as cur:
        return {r[0] for r in await cur.fetchall()}


async def mark_reported(conn: Connection, *, now: datetime, day: date, tambon_code: str,
                        to: str, count: int) -> None:
    """`tambon_code`'s outstanding submissions were reported on `day`, to the district
    committee (`to` = "district") or, with nobody there, in the log ("log")."""
    await audit.record(conn, now=now, person_id=None, action=REPORTED, entity=ENTITY,
                       entity_id=tambon_code, to_state=to,
                       detail={"day": day.isoformat(), "count": count})
