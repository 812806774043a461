"""Say only what happened: a village is told whom its submission reached. Where nobody
can receive it (no tambon core team, no TAO, no district committee on the bot yet) the
submission is kept, the village is told so plainly, the audit log records it, and the
district committee hears of it once a day (the log, when the district has nobody)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime

import pytest

from bot.scheduler import Scheduler
from handlers import reminders as planner
from handlers.clock import BANGKOK
from handlers.schedule_time import QuietHours
from handlers.turn import Listing, Localized, render
from storage import areas, groups, people, plans
from storage.people import Grant
from tests.conftest import Harness

NO_TEAM_TAMBON = "350102"  # ต.น้ำคำใหญ่, อ.เมืองยโสธร: the demo district, nobody in the tambon
NO_TEAM_VILLAGE = "35010201"
OTHER_DISTRICT_TAMBON = "350201"  # ต.ทรายมูล, อ.ทรายมูล: nobody in the tambon or the district
OTHER_DISTRICT_VILLAGE = "35020101"

CLAIMS_CORE_TEAM = "ส่งถึงกลุ่มแกนระดับตำบลแล้ว"
NOBODY = "ยังไม่มีผู้รับเรื่องนี้"
DISTRICT_WILL_HEAR = "ระบบจะแจ้งอำเภอให้ทราบ"
ADMIN_WILL_HEAR = "ระบบจะแจ้งผู้ดูแลระบบให้ทราบ"


def bkk(*args: int) -> datetime:
    return datetime(*args, tzinfo=BANGKOK).astimezone(UTC)  # type: ignore[misc]


async def _person(console: Harness, key: str, name: str, grant: Grant) -> int:
    """Another console identity with one grant, to switch to with /as <key>."""
    now = console.clock.now()
    async with console.db.transaction() as conn:
        person_id = await people.create_person(conn, name, "th", now)
        identity = await people.ensure_identity(conn, "console", f"demo-{key}", f"demo-{key}",
                                                now)
        await people.link_identity(conn, identity.id, person_id)
        await people.add_grant(conn, person_id, grant, None, now)
    await console.chat.load_personas()
    return person_id


async def _village_member(console: Harness, village: str, key: str = "v2") -> int:
    async with console.db.transaction() as conn:
        await areas.add_village(conn, village[:6], int(village[6:]), "บ้านทดลอง", "Ban Test")
    return await _person(console, key, f"กรรมการ {village}", Grant("village_committee", village))


async def _report(console: Harness) -> str:
    """A problem report from the menu to the save button; the screen after saving."""
    for answer in ("รายงานปัญหา", "สุขภาพ", "ไข้เลือดออกระบาดในหมู่บ้าน", "12", "ปานกลาง",
                   "ข้าม", "ข้าม"):
        await console.type(answer)
    return await console.type("บันทึก")


async def _external_item(console: Harness, village: str, person_id: int) -> None:
    now = console.clock.now()
    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(conn, village_code=village,
                                          period_start=date(2025, 1, 1),
                                          period_end=date(2025, 12, 31), person_id=person_id,
                                          now=now)
        await plans.add_item(
            conn, plan_id=plan_id, village_code=village, title="ซ่อมฝายน้ำล้น",
            approach="external_support", partner="อบต.", budget_needed=150_000,
            own_money=20_000, own_labour="", start_on=date(2025, 2, 1),
            end_on=date(2025, 4, 30), responsible="นายสมชาย", problem_ids=[],
            person_id=person_id, now=now)


async def _request(console: Harness, amount: str) -> str:
    await console.type("ขอรับการสนับสนุน")
    await console.type("ซ่อมฝายน้ำล้น (งบ 150,000 บาท)")
    await console.type(amount)
    out = await console.type("ซื้อปูน หิน ทราย ซ่อมฝายที่พัง")
    assert "ตรวจสอบก่อนส่งคำขอ" in out
    return await console.type("📨 ส่งคำขอ")


async def _rows(console: Harness, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with console.db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def _unreceived(console: Harness) -> list[tuple[object, ...]]:
    rows = await _rows(console, "SELECT entity_id, person_id, detail FROM audit_log"
                       " WHERE action = 'notification.unreceived' ORDER BY id")
    return [(tambon, person, {k: v for k, v in json.loads(str(detail)).items()
                              if k in ("kind", "roles", "village")})
            for tambon, person, detail in rows]


async def _notifications_to_others(console: Harness, person_id: int) -> int:
    return int(await console.scalar(  # type: ignore[arg-type]
        "SELECT COUNT(*) FROM outbox WHERE person_id IS NOT ? OR person_id IS NULL",
        person_id))


# --- what the village is told --------------------------------------------------------------------

async def test_a_normal_tambon_still_says_it_reached_the_core_team(console: Harness) -> None:
    await console.start("1")
    out = await _report(console)
    assert "บันทึกรายงานปัญหาแล้ว เลขที่ #1 ส่งถึงกลุ่มแกนระดับตำบลแล้วครับ" in out
    assert "มีข้อความใหม่ 1 ข้อความถึง ประเสริฐ" in out
    assert NOBODY not in out
    assert await _unreceived(console) == []


async def test_a_problem_in_a_tambon_without_core_team_is_kept_and_said_so(
        console: Harness) -> None:
    member = await _village_member(console, NO_TEAM_VILLAGE)
    await console.start("v2")
    out = await _report(console)
    assert "บันทึกรายงานปัญหาแล้ว เลขที่ #1" in out
    assert CLAIMS_CORE_TEAM not in out
    assert NOBODY in out and "ยังไม่มีกลุ่มแกนระดับตำบลที่รับข้อความจากระบบได้" in out
    assert DISTRICT_WILL_HEAR in out  # อ.เมืองยโสธร has a district committee member
    assert "มีข้อความใหม่" not in out  # and truly nobody was sent anything
    assert await _notifications_to_others(console, member) == 0
    # Kept, and the audit log says nobody could receive it.
    assert await _rows(console, "SELECT id, village_code FROM problems") == [
        (1, NO_TEAM_VILLAGE)]
    assert await _unreceived(console) == [
        (NO_TEAM_TAMBON, member, {"kind": "problem", "roles": ["core_team"],
                                  "village": NO_TEAM_VILLAGE})]


async def test_a_core_team_that_blocked_the_bot_does_not_count_as_reached(
        console: Harness) -> None:
    async with console.db.transaction() as conn:
        await people.set_identity_active(conn, "console", "demo-core", False)
    await console.start("1")
    out = await _report(console)
    assert CLAIMS_CORE_TEAM not in out
    assert NOBODY in out and DISTRICT_WILL_HEAR in out
    assert [kind["kind"] for _, _, kind in await _unreceived(console)] == ["problem"]


async def test_a_linked_group_chat_is_named_when_only_it_heard(console: Harness) -> None:
    member = await _village_member(console, NO_TEAM_VILLAGE)
    async with console.db.transaction() as conn:
        await groups.link(conn, "telegram", "-1001", NO_TEAM_TAMBON, member, console.clock.now())
    await console.start("v2")
    out = await _report(console)
    assert "ส่งถึงกลุ่มแชตของตำบลแล้ว แต่ยังไม่มีกลุ่มแกนระดับตำบลที่รับข้อความจากระบบได้ครับ" in out
    assert CLAIMS_CORE_TEAM not in out and NOBODY not in out
    assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = '-1001'") == 1
    assert await _unreceived(console) == []  # a group received it


async def test_a_forum_without_core_team_is_not_said_to_have_reached_it(
        console: Harness) -> None:
    await _village_member(console, NO_TEAM_VILLAGE)
    await console.start("v2")
    await console.type("บันทึกเวทีประชาคม")
    for answer in ("5 ม.ค. 68", "30", "อสม.", "เสร็จแล้ว"):
        out = await console.type(answer)
    for _ in range(3):  # notes, photo (no problems reported to pick from)
        if "ตรวจสอบก่อนบันทึก" in out:
            break
        out = await console.type("ข้าม")
    assert "ตรวจสอบก่อนบันทึก" in out
    out = await console.type("บันทึก")
    assert "บันทึกเวทีประชาคมแล้ว เลขที่ #1" in out
    assert CLAIMS_CORE_TEAM not in out and NOBODY in out
    assert [kind["kind"] for _, _, kind in await _unreceived(console)] == ["forum"]


async def test_a_support_request_in_a_tambon_without_tao_is_kept_and_said_so(
        console: Harness) -> None:
    member = await _village_member(console, NO_TEAM_VILLAGE)
    await _external_item(console, NO_TEAM_VILLAGE, member)
    await console.start("v2")
    out = await _request(console, "100000")
    assert "ถึง อบต. แล้ว" not in out
    assert "บันทึกคำขอ #1 แล้ว" in out
    assert NOBODY in out and "ยังไม่มีเจ้าหน้าที่ อบต./สภาตำบลที่รับข้อความจากระบบได้" in out
    assert DISTRICT_WILL_HEAR in out
    assert 'ติดตามได้ที่เมนู "ติดตามคำขอ"' in out
    assert await _notifications_to_others(console, member) == 0
    assert await _rows(console, "SELECT status, level FROM support_requests") == [
        ("submitted", "tambon")]
    assert await _unreceived(console) == [
        (NO_TEAM_TAMBON, member, {"kind": "support_request", "roles": ["tao"],
                                  "village": NO_TEAM_VILLAGE})]


async def test_above_the_threshold_with_nobody_in_the_district_the_admins_will_hear(
        console: Harness) -> None:
    member = await _village_member(console, OTHER_DISTRICT_VILLAGE)
    await _person(console, "tao9", "อบต. ทรายมูล", Grant("tao", OTHER_DISTRICT_TAMBON))
    await _external_item(console, OTHER_DISTRICT_VILLAGE, member)
    async with console.db.transaction() as conn:
        from storage import tambon_settings

        await tambon_settings.set_threshold(conn, OTHER_DISTRICT_TAMBON, 50_000,
                                            person_id=None, now=console.clock.now())
    await console.start("v2")
    out = await _request(console, "100000")
    # The TAO is let know and named; the district, which must decide, has nobody.
    assert "และแจ้ง อบต. ให้ทราบด้วย" not in out
    assert "ส่งถึง อบต. แล้ว" in out
    assert "ยังไม่มีคณะกรรมการพัฒนาอำเภอที่รับข้อความจากระบบได้" in out
    assert ADMIN_WILL_HEAR in out and DISTRICT_WILL_HEAR not in out
    assert [(t, k["roles"]) for t, _, k in await _unreceived(console)] == [
        (OTHER_DISTRICT_TAMBON, ["district"])]


async def test_a_tao_forwarding_to_a_district_with_nobody_is_told_so(
        console: Harness) -> None:
    member = await _village_member(console, OTHER_DISTRICT_VILLAGE)
    await _person(console, "tao9", "อบต. ทรายมูล", Grant("tao", OTHER_DISTRICT_TAMBON))
    await _external_item(console, OTHER_DISTRICT_VILLAGE, member)
    await console.start("v2")
    out = await _request(console, "100000")
    assert "ส่งคำขอ #1 ถึง อบต. แล้วครับ" in out  # the TAO of ทรายมูล got it
    await console.type("/as tao9")
    await console.type("คำขอรอพิจารณา (อบต.)")
    await console.type("#1 ซ่อมฝายน้ำล้น")
    await console.type("⏩ ส่งต่ออำเภอ")
    await console.type("ข้าม")
    out = await console.type("✅ ยืนยัน")
    assert "ส่งคำขอ #1 ต่อไปอำเภอ" in out
    assert "และอำเภอแล้ว" not in out
    assert "ส่งถึงหมู่บ้านแล้ว" in out
    assert "ยังไม่มีคณะกรรมการพัฒนาอำเภอที่รับข้อความจากระบบได้" in out
    assert ADMIN_WILL_HEAR in out


def test_the_english_twin_says_the_same() -> None:
    missing = Listing((Localized("delivery.role.core_team"),), "list.or")
    text = render("en", "report.saved_to", {"id": 3, "delivery": Localized(
        "delivery.nobody.district", {"missing": missing})})
    assert text == ("Problem report #3 saved, but nobody can receive it yet (no tambon core"
                    " team member can get messages from the bot). The district will be told in"
                    " its daily notice.")
    partly = render("en", "lessons.saved_to", {"id": 1, "outcome": "-", "delivery": Localized(
        "delivery.partly", {"who": Listing((Localized("delivery.to.core_team"),)),
                            "missing": Listing((Localized("delivery.role.tao"),), "list.or")})})
    assert partly.startswith("Lessons learned #1 saved and sent to the tambon core team, but no"
                             " TAO officer can get messages from the bot yet.")


# --- the daily notice ----------------------------------------------------------------------------

async def _queued_notices(console: Harness) -> list[tuple[str, str]]:
    rows = await _rows(console, "SELECT chat_id, payload FROM outbox"
                       " WHERE batch = 'reminder:unreceived_digest' ORDER BY id")
    return [(str(chat), json.loads(str(payload))["text"]) for chat, payload in rows]


async def test_the_district_committee_hears_once_a_day(console: Harness) -> None:
    await _village_member(console, NO_TEAM_VILLAGE)
    await console.start("v2")
    await _report(console)
    await _report(console)
    scheduler = Scheduler(console.db, console.clock, QuietHours())
    assert await scheduler.run_due() == {}  # the first look only sets the times

    console.clock.set(bkk(2025, 1, 11, 8, 0))
    assert (await scheduler.run_due())["unreceived_digest"] == 1
    [(chat, text)] = await _queued_notices(console)
    assert chat == "demo-district"  # ชาญชัย, อ.เมืองยโสธร
    assert "ต.น้ำคำใหญ่: รายงานปัญหา 2 เรื่อง (ตั้งแต่ 10 ม.ค. 2568)" in text
    assert "ยังไม่มีกลุ่มแกนระดับตำบล" in text
    assert "ในเมือง" not in text  # the demo tambon has its core team
    # Run again the same day (a restart, a second process): nothing more.
    assert await scheduler.run_due() == {}
    async with console.db.transaction() as conn:
        assert await planner.plan(conn, "unreceived_digest", console.clock.now(), {},
                                  QuietHours()) == 0
    assert len(await _queued_notices(console)) == 1
    assert await _rows(console, "SELECT entity_id, to_state FROM audit_log"
                       " WHERE action = 'unreceived.reported'") == [(NO_TEAM_TAMBON, "district")]

    # The next day it is still unreceived: told again, once.
    console.clock.set(bkk(2025, 1, 12, 8, 0))
    assert (await scheduler.run_due())["unreceived_digest"] == 1
    # A core team member joins ต.น้ำคำใหญ่: the reports are in their inbox, nothing to tell.
    await _person(console, "core2", "แกนน้ำคำใหญ่", Grant("core_team", NO_TEAM_TAMBON))
    console.clock.set(bkk(2025, 1, 13, 8, 0))
    assert (await scheduler.run_due())["unreceived_digest"] == 0
    assert len(await _queued_notices(console)) == 2


async def test_with_nobody_in_the_district_a_warning_lists_the_tambon(
        console: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await _village_member(console, OTHER_DISTRICT_VILLAGE, key="v3")
    await _village_member(console, NO_TEAM_VILLAGE, key="v2")
    await console.start("v3")
    out = await _report(console)
    assert NOBODY in out and ADMIN_WILL_HEAR in out and DISTRICT_WILL_HEAR not in out
    await console.type("/as v2")
    await _report(console)

    console.clock.set(bkk(2025, 1, 11, 8, 0))
    with caplog.at_level(logging.WARNING, logger="handlers.reminders"):
        async with console.db.transaction() as conn:
            assert await planner.plan(conn, "unreceived_digest", console.clock.now(), {},
                                      QuietHours()) == 1  # อ.เมืองยโสธร's committee
        async with console.db.transaction() as conn:
            assert await planner.plan(conn, "unreceived_digest", console.clock.now(), {},
                                      QuietHours()) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "tambon 350201 (district 3502): problem x1 since 2025-01-10" in warnings[0]
    assert NO_TEAM_TAMBON not in warnings[0]  # its district was told instead
    assert await _rows(console, "SELECT entity_id, to_state FROM audit_log"
                       " WHERE action = 'unreceived.reported' ORDER BY entity_id") == [
        (NO_TEAM_TAMBON, "district"), (OTHER_DISTRICT_TAMBON, "log")]
