"""conversations.standing: what every update reads about its sender (identity, person, role
grants, conversation) in one statement, the same as reading each on its own."""

from __future__ import annotations

from handlers.clock import FixedClock
from storage import conversations, people
from storage.conversations import Conversation
from storage.db import Database


async def _separately(db: Database, channel: str, user: str) -> tuple[object, ...]:
    async with db.read() as conn:
        identity = await people.identity(conn, channel, user)
        assert identity is not None
        person = await people.person(conn, identity.person_id) if identity.person_id else None
        grants = await people.grants_of(conn, person.id) if person else []
        return identity, person, grants, await conversations.load(conn, identity.id)


async def _together(db: Database, channel: str, user: str) -> tuple[object, ...]:
    async with db.read() as conn:
        found = await conversations.standing(conn, channel, user)
    assert found is not None
    return found.identity, found.person, found.grants, found.convo


async def test_standing_reads_what_each_read_gives(seeded: Database, clock: FixedClock) -> None:
    now = clock.now()
    async with seeded.transaction() as conn:
        async with conn.execute("SELECT code FROM areas ORDER BY code LIMIT 3") as cur:
            codes = [r[0] for r in await cur.fetchall()]
        stranger = await people.ensure_identity(conn, "line", "U-stranger", "U-stranger", now)
        member = await people.ensure_identity(conn, "line", "U-member", "U-member", now)
        person_id = await people.create_person(conn, "สมศรี", "th", now)
        await people.link_identity(conn, member.id, person_id)
        for role, code in (("core_team", codes[2]), ("viewer", codes[0]),
                           ("district", codes[1])):
            await people.add_grant(conn, person_id, people.Grant(role, code), None, now)
        await conversations.save(conn, Conversation(member.id, "problem_report", "category",
                                                    {"ชื่อ": "ถนน"}, ["start"], 4), now)
        lone = await people.ensure_identity(conn, "line", "U-lone", "U-lone", now)
        await people.link_identity(conn, lone.id, await people.create_person(conn, "x", "en",
                                                                             now))
    assert stranger.person_id is None
    for user in ("U-stranger", "U-member", "U-lone"):
        assert await _together(seeded, "line", user) == await _separately(seeded, "line", user)
    _, person, grants, convo = await _together(seeded, "line", "U-member")
    assert person is not None and [g.role for g in grants] == ["core_team", "viewer", "district"]
    assert isinstance(convo, Conversation) and convo.seq == 4 and convo.data == {"ชื่อ": "ถนน"}
    async with seeded.read() as conn:
        assert await conversations.standing(conn, "line", "U-nobody") is None
        assert await conversations.standing(conn, "telegram", "U-member") is None
