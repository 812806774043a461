"""Seeds the demo tambon into an empty database, so anyone can try the bot in a minute."""

from __future__ import annotations

import json
from datetime import datetime
from importlib.resources import files
from typing import Any

from storage import areas, audit, people
from storage.connection import Connection
from storage.people import Grant

CONSOLE = "console"
GUEST_KEY = "guest"  # a console identity with no role, to try joining by invite


def demo_data() -> dict[str, Any]:
    return json.loads(files("storage").joinpath("data/demo.json").read_text("utf-8"))


def console_user_id(key: str) -> str:
    return f"demo-{key}"


async def has_people(conn: Connection) -> bool:
    async with conn.execute("SELECT EXISTS (SELECT 1 FROM people)") as cur:
        row = await cur.fetchone()
    return bool(row and row[0])


def _area_for(role: str, tambon: str, person: dict[str, Any]) -> str:
    if role == "village_committee":
        return areas.village_code(tambon, int(person["village_no"]))
    if role in ("core_team", "tao"):
        return tambon
    if role == "district":
        return tambon[:4]
    return tambon[:2]  # viewer: the province


async def seed(conn: Connection, now: datetime) -> None:
    data = demo_data()
    tambon = data["tambon"]
    for village in data["villages"]:
        await areas.add_village(conn, tambon, village["no"], village["name_th"],
                                village["name_en"])
    for entry in data["people"]:
        person_id = await people.create_person(conn, entry["name"], "th", now)
        user_id = console_user_id(entry["key"])
        identity = await people.ensure_identity(conn, CONSOLE, user_id, user_id, now)
        await people.link_identity(conn, identity.id, person_id)
        await people.add_grant(conn, person_id,
                               Grant(entry["role"], _area_for(entry["role"], tambon, entry)),
                               None, now)
    await audit.record(conn, now=now, person_id=None, action="demo.seed", entity="area",
                       entity_id=tambon)
