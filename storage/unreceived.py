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
# village committee, the tambon otherwise). Portable SQL: the detail's JSON is read here.
_UNRECEIVED_ROWS = f"""
    SELECT a.at, a.entity_id, a.detail FROM audit_log a
    WHERE a.entity = '{ENTITY}' AND a.action = '{UNRECEIVED}'
    ORDER BY a.entity_id, a.at, a.id
"""
_RECEIVER = ("SELECT 1 FROM role_grants g JOIN identities i ON i.person_id = g.person_id"
             " AND i.active = 1 WHERE g.role = ? AND g.area_code = ? LIMIT 1")


def _area_of(role: str, tambon_code: str, detail: dict[str, object]) -> str:
    if role == "district":
        return tambon_code[:4]
    if role == "village_committee":
        return str(detail.get("village"))
    return tambon_code


async def outstanding(conn: Connection) -> list[Unreceived]:
    """Every submission still without anyone to receive it, meant for a role the district
    is told about; by tambon, oldest first."""
    rows = await conn.fetchall_in_thread(_UNRECEIVED_ROWS)
    found: list[Unreceived] = []
    reachable: dict[tuple[str, str], bool] = {}
    for at, tambon_code, text in rows:
        detail = json.loads(text or "{}")
        roles = tuple(detail.get("roles") or ())
        if not roles or not set(roles) <= set(REPORTED_ROLES):
            continue
        received = False
        for role in roles:
            key = (role, _area_of(role, tambon_code, detail))
            if key not in reachable:
                async with conn.execute(_RECEIVER, key) as cur:
                    reachable[key] = await cur.fetchone() is not None
            received = received or reachable[key]
        if not received:
            found.append(Unreceived(from_db(at), tambon_code, str(detail.get("kind")),
                                    int(detail["id"]), roles))
    return found


async def reported_on(conn: Connection, day: date) -> set[str]:
    """The tambons already reported on `day` (Bangkok date)."""
    async with conn.execute(
        f"SELECT entity_id, detail FROM audit_log WHERE entity = '{ENTITY}'"
        f" AND action = '{REPORTED}'"
    ) as cur:
        return {r[0] for r in await cur.fetchall()
                if json.loads(r[1] or "{}").get("day") == day.isoformat()}


async def mark_reported(conn: Connection, *, now: datetime, day: date, tambon_code: str,
                        to: str, count: int) -> None:
    """`tambon_code`'s outstanding submissions were reported on `day`, to the district
    committee (`to` = "district") or, with nobody there, in the log ("log")."""
    await audit.record(conn, now=now, person_id=None, action=REPORTED, entity=ENTITY,
                       entity_id=tambon_code, to_state=to,
                       detail={"day": day.isoformat(), "count": count})
