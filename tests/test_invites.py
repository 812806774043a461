"""Joining by invite: wrong, expired, reused, throttled, out of scope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers import invites
from handlers.clock import FixedClock
from handlers.permissions import PermissionDenied, Role
from storage import areas, people
from storage.db import Database
from storage.people import Grant
from tests.conftest import Harness

VILLAGE_2 = "35010102"
OTHER_TAMBON_VILLAGE = "35010201"


async def _admin_invite(db: Database, clock: FixedClock, role: Role, area: str,
                        ttl: timedelta = invites.DEFAULT_TTL) -> str:
    async with db.transaction() as conn:
        invite = await invites.issue(conn, issuer_id=None, issuer_grants=[], role=role,
                                     area_code=area, now=clock.now(), ttl=ttl,
                                     is_admin_cli=True)
    return invite.code


async def test_newcomer_joins_with_a_code_and_gets_the_role(console: Harness,
                                                            clock: FixedClock) -> None:
    code = await _admin_invite(console.db, clock, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    await console.start("6")  # the guest
    out = await console.type("สวัสดีครับ")
    assert "รหัสเชิญ" in out
    out = await console.type(code.lower())  # case does not matter
    assert "ชื่อ-นามสกุล" in out
    out = await console.type("บุญมี ศรีสุข")
    assert "ยินดีต้อนรับ บุญมี ศรีสุข" in out
    assert "กรรมการหมู่บ้าน หมู่ที่ 2 บ้านหนองบัว" in out
    assert "[1] รายงานปัญหา" in out
    assert await console.scalar(
        "SELECT g.role || '@' || g.area_code FROM role_grants g JOIN people p"
        " ON p.id = g.person_id WHERE p.display_name = 'บุญมี ศรีสุข'"
    ) == f"village_committee@{VILLAGE_2}"


async def test_start_deep_link_joins(console: Harness, clock: FixedClock) -> None:
    code = await _admin_invite(console.db, clock, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    await console.start("6")
    out = await console.type(f"/start {code}")
    assert "ชื่อ-นามสกุล" in out


async def test_a_member_opening_a_deep_link_gets_the_new_role(console: Harness,
                                                                clock: FixedClock) -> None:
    """Someone who has joined already opens a link (`/start CODE`) for a second role: the
    role is added and the menu follows, without asking the name again."""
    code = await _admin_invite(console.db, clock, Role.CORE_TEAM, "350101")
    await console.start("1")  # a village committee member of the demo
    out = await console.type(f"/start {code}")
    assert "ยินดีต้อนรับ" in out and "ชื่อ-นามสกุล" not in out
    assert "[1]" in out  # the menu, ready for the next thing
    assert console.chat.active is not None
    assert await console.scalar(
        "SELECT COUNT(*) FROM role_grants g JOIN identities i ON i.person_id = g.person_id"
        " WHERE i.platform_user_id = ? AND g.role = 'core_team'", console.chat.active.user_id) == 1


async def test_wrong_expired_and_reused_codes_are_refused(console: Harness,
                                                          clock: FixedClock) -> None:
    expired = await _admin_invite(console.db, clock, Role.VILLAGE_COMMITTEE, VILLAGE_2,
                                  ttl=timedelta(hours=1))
    used = await _admin_invite(console.db, clock, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    await console.start("6")
    await console.type("สวัสดี")
    out = await console.type("ABCDEFGHJK")
    assert "ไม่พบรหัสเชิญนี้" in out
    clock.advance(timedelta(hours=2))
    out = await console.type(expired)
    assert "หมดอายุ" in out

    await console.type(used)
    await console.type("คนแรก ที่ใช้รหัส")
    # A second newcomer tries the same code.
    async with console.db.transaction() as conn:
        await people.ensure_identity(conn, "console", "second", "second", clock.now())
    from handlers.messages import Incoming

    await console.engine.handle(Incoming(channel="console", user_id="second", chat_id="second",
                                         update_id="s1", text=used))
    assert await console.scalar(
        "SELECT COUNT(*) FROM outbox WHERE chat_id = 'second' AND payload LIKE '%ถูกใช้ไปแล้ว%'"
    ) == 1
    assert await console.scalar("SELECT uses FROM invites WHERE code = ?", used) == 1


async def test_guessing_is_throttled_after_five_wrong_tries(console: Harness,
                                                            clock: FixedClock) -> None:
    good = await _admin_invite(console.db, clock, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    await console.start("6")
    await console.type("สวัสดี")
    for guess in ("AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC", "DDDDDDDDDD", "EEEEEEEEEE"):
        assert "ไม่พบรหัสเชิญนี้" in await console.type(guess)
    out = await console.type(good)  # even the right code waits out the hour
    assert "ผิดหลายครั้งเกินไป" in out
    clock.advance(timedelta(minutes=61))
    out = await console.type(good)
    assert "ชื่อ-นามสกุล" in out


async def test_core_team_invites_only_inside_its_tambon(console: Harness,
                                                         clock: FixedClock) -> None:
    await console.start("2")  # core team of tambon 350101
    out = await console.type("ออกรหัสเชิญ")
    assert "หมู่ที่ 3 บ้านดอนแดง" in out
    out = await console.type("หมู่ที่ 3 บ้านดอนแดง")
    assert "รหัสเชิญ:" in out
    assert "https://t.me/cercap_test_bot?start=" in out
    assert "หมดอายุ 17 ม.ค. 2568" in out

    async with console.db.transaction() as conn:
        await areas.add_village(conn, "350102", 1, "บ้านนอกเขต")
        core_grants = [Grant(Role.CORE_TEAM, "350101")]
        with pytest.raises(PermissionDenied):
            await invites.issue(conn, issuer_id=None, issuer_grants=core_grants,
                                role=Role.VILLAGE_COMMITTEE, area_code=OTHER_TAMBON_VILLAGE,
                                now=clock.now())
        with pytest.raises(PermissionDenied):  # nor a role above its own
            await invites.issue(conn, issuer_id=None, issuer_grants=core_grants,
                                role=Role.TAO, area_code="350101", now=clock.now())


async def test_forged_button_for_another_tambon_is_refused(console: Harness) -> None:
    async with console.db.transaction() as conn:
        await areas.add_village(conn, "350102", 1, "บ้านนอกเขต")
    await console.start("2")
    await console.type("ออกรหัสเชิญ")
    seq = await console.scalar(
        "SELECT c.seq FROM conversations c JOIN identities i ON i.id = c.identity_id"
        " WHERE i.platform_user_id = 'demo-core'")
    from handlers.messages import Incoming

    await console.engine.handle(Incoming(
        channel="console", user_id="demo-core", chat_id="demo-core", update_id="forged",
        payload=f"s{seq}:{OTHER_TAMBON_VILLAGE}"))
    await console.sender.deliver_due("console", "demo-core")
    assert "ออกรหัสเชิญให้พื้นที่นี้ไม่ได้" in console.take()
    assert await console.scalar("SELECT COUNT(*) FROM invites") == 0


async def test_district_invites_core_team_and_tao(console: Harness) -> None:
    await console.start("4")
    out = await console.type("ออกรหัสเชิญ")
    assert "กลุ่มแกนระดับตำบล" in out and "อบต." in out
    await console.type("เจ้าหน้าที่ อบต./สภาตำบล")
    out = await console.type("ต.ในเมือง")
    assert "รหัสเชิญ:" in out
    assert await console.scalar("SELECT role || '@' || area_code FROM invites") == "tao@350101"


async def test_village_committee_cannot_issue_invites(console: Harness) -> None:
    await console.start("1")
    out = await console.type("เมนู")
    assert "ออกรหัสเชิญ" not in out
