"""Per-tambon reminder times (issue 16): a tambon core team gives a reminder its own days and
time from the chat (Thai digits, typed times, quiet hours refused politely in Thai), and the
scheduler honours it on a moved clock: that tambon at its own time, every other tambon at the
default, nobody twice."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.scheduler import Scheduler
from handlers import reminder_times
from handlers.clock import BANGKOK, FixedClock
from handlers.schedule_time import QuietHours
from storage import areas, people, plans, reminders
from storage.db import Database
from storage.people import Grant
from storage.reminders import Schedule
from tests.conftest import Harness

OTHER_TAMBON = "350102"
VILLAGES = ("35010101", "35010102", "35010201")  # two in the demo tambon, one next door


def bkk(*args: int) -> datetime:
    return datetime(*args, tzinfo=BANGKOK).astimezone(UTC)  # type: ignore[misc]


async def _member_with_open_item(db: Database, village: str, clock: FixedClock) -> None:
    async with db.transaction() as conn:
        if await areas.get(conn, village) is None:
            await areas.add_village(conn, village[:6], int(village[6:]), "บ้านน้ำคำ", "")
        person = await people.create_person(conn, f"member {village}", "th", clock.now())
        identity = await people.ensure_identity(conn, "console", f"m-{village}", f"m-{village}",
                                                clock.now())
        await people.link_identity(conn, identity.id, person)
        await people.add_grant(conn, person, Grant("village_committee", village), None,
                               clock.now())
        plan_id = await plans.create_plan(conn, village_code=village,
                                          period_start=date(2025, 1, 1),
                                          period_end=date(2025, 12, 31), person_id=person,
                                          now=clock.now())
        await plans.add_item(
            conn, plan_id=plan_id, village_code=village, title="ขุดลอกฝาย",
            approach="self_reliance", partner="", budget_needed=0, own_money=0, own_labour="",
            start_on=date(2025, 1, 1), end_on=date(2025, 6, 30), responsible="ผญบ.",
            problem_ids=[], person_id=person, now=clock.now())


async def _roll_call(db: Database) -> list[str]:
    async with db.read() as conn, conn.execute(
            "SELECT chat_id FROM outbox WHERE batch = 'reminder:weekly_progress'"
            " ORDER BY chat_id") as cur:
        return [r[0] for r in await cur.fetchall()]


@pytest.fixture
async def villages(seeded: Database, clock: FixedClock) -> None:
    for village in VILLAGES:
        await _member_with_open_item(seeded, village, clock)


async def _say(console: Harness, *lines: str) -> str:
    out = ""
    for line in lines:
        out = await console.type(line)
    return out


async def test_a_core_team_moves_the_roll_call_and_the_scheduler_follows(
        console: Harness, clock: FixedClock, villages: None) -> None:
    console.engine.settings = console.engine.settings.__class__(
        bot_username="cercap_test_bot", quiet_hours=QuietHours())
    scheduler = Scheduler(console.db, clock, QuietHours())
    assert await scheduler.run_due() == {}  # the first run only sets the default times
    await console.start("2")  # the demo's core team of 350101
    out = await console.type("⏰ วันและเวลาการเตือนของตำบล")
    assert "การเตือนของต.ในเมืองตอนนี้:" in out
    assert "• เตือนรายงานความคืบหน้ารายสัปดาห์: วันจันทร์ 09:00 น." in out
    assert "• สรุปรายงานรอตรวจรายวัน: ทุกวัน 07:30 น." in out
    assert "• เตือนเวทีประชาคมรายเดือน: วันที่ 1 ของทุกเดือน 09:00 น." in out
    out = await console.type("เตือนรายงานความคืบหน้ารายสัปดาห์")
    assert "ในวันไหนของสัปดาห์" in out
    out = await console.type("ศุกร์")
    assert "พิมพ์เวลา เช่น 17:30" in out and "07:00 ถึง 19:59 น." in out
    # In the quiet hours: said why, in Thai, and asked again.
    out = await console.type("๒๑.๓๐")
    assert "เวลา 21:30 น. อยู่ในช่วงงดส่งการเตือนยามค่ำคืน (20:00–07:00 น.)" in out
    assert "กรุณาเลือกเวลาระหว่าง 07:00 ถึง 19:59 น." in out
    assert "พิมพ์เวลา เช่น 17:30" in out
    for bad in ("ห้าโมงเย็น", "25:00", "17:75", "🙂"):
        out = await console.type(bad)
        assert "อ่านเวลานี้ไม่ออกครับ" in out and "พิมพ์เวลา เช่น 17:30" in out, bad
    out = await console.type("๑๗.๐๐ น.")
    assert "บันทึกแล้วครับ เตือนรายงานความคืบหน้ารายสัปดาห์ของต.ในเมือง: วันศุกร์ 17:00 น." in out
    async with console.db.read() as conn:
        [own] = await reminders.tambon_times(conn)
    assert (own.tambon_code, own.kind, own.hour, own.minute, own.weekdays) == (
        "350101", "weekly_progress", 17, 0, (4,))
    assert own.next_run_at == bkk(2025, 1, 10, 17, 0)  # today is Friday 10 Jan 2025
    assert await console.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'reminders.tambon_time'") == 1

    # Friday 17:00: the demo tambon's villages, at their own time; not the one next door.
    clock.set(bkk(2025, 1, 10, 17, 0))
    await scheduler.run_due()
    assert await _roll_call(console.db) == ["demo-village", "m-35010101", "m-35010102"]
    # Monday 09:00, the default: only the tambon next door.
    clock.set(bkk(2025, 1, 13, 9, 0))
    await scheduler.run_due()
    assert await _roll_call(console.db) == ["demo-village", "m-35010101", "m-35010102",
                                            "m-35010201"]
    # Friday again: the demo tambon's next week; nothing twice.
    clock.set(bkk(2025, 1, 17, 17, 0))
    assert (await scheduler.run_due()).get("weekly_progress") == 3
    clock.set(bkk(2025, 1, 17, 17, 1))
    assert (await scheduler.run_due()).get("weekly_progress") is None


async def test_weekdays_of_a_daily_reminder_and_back_to_the_default(
        console: Harness, clock: FixedClock) -> None:
    console.engine.settings = console.engine.settings.__class__(
        bot_username="cercap_test_bot", quiet_hours=QuietHours())
    await console.start("2")
    await _say(console, "⏰ วันและเวลาการเตือนของตำบล")
    out = await console.type("สรุปรายงานรอตรวจรายวัน")
    assert "กดเลือกได้หลายวัน" in out and "✅ เสาร์" in out  # every day ticked now
    await _say(console, "✅ เสาร์", "✅ อาทิตย์")
    out = await console.type("✔️ เสร็จแล้ว")
    assert "พิมพ์เวลา เช่น 17:30" in out and "ใช้ค่าเริ่มต้น (ทุกวัน 07:30 น.)" in out
    out = await console.type("18:15")
    assert ("สรุปรายงานรอตรวจรายวันของต.ในเมือง: วันจันทร์, อังคาร, พุธ, พฤหัสบดี, ศุกร์"
            " 18:15 น.") in out
    async with console.db.read() as conn:
        [own] = await reminders.tambon_times(conn, "350101")
    assert own.weekdays == (0, 1, 2, 3, 4) and (own.hour, own.minute) == (18, 15)
    # No day at all is not an answer.
    await _say(console, "⏰ วันและเวลาการเตือนของตำบล", "สรุปรายงานรอตรวจรายวัน")
    for day in ("✅ จันทร์", "✅ อังคาร", "✅ พุธ", "✅ พฤหัสบดี", "✅ ศุกร์"):
        await console.type(day)
    out = await console.type("✔️ เสร็จแล้ว")
    assert "กดเลือกได้หลายวัน" in out  # asked again
    await console.type("ยกเลิก")
    # Back to the default: the tambon's own time is gone.
    await _say(console, "⏰ วันและเวลาการเตือนของตำบล")
    out = await console.type("เตือนเวทีประชาคมรายเดือน")  # monthly: no days to pick
    assert "กี่โมง" in out
    await console.type("ยกเลิก")
    await _say(console, "⏰ วันและเวลาการเตือนของตำบล", "สรุปรายงานรอตรวจรายวัน",
               "✔️ เสร็จแล้ว")
    out = await console.type("ใช้ค่าเริ่มต้น (ทุกวัน 07:30 น.)")
    assert "กลับไปใช้ค่าเริ่มต้นแล้วครับ สรุปรายงานรอตรวจรายวันของต.ในเมือง: ทุกวัน 07:30 น." in out
    async with console.db.read() as conn:
        assert await reminders.tambon_times(conn) == []


async def test_only_a_core_team_has_it(console: Harness) -> None:
    await console.start("1")  # a village committee member
    out = await console.type("⏰ วันและเวลาการเตือนของตำบล")
    assert "กี่โมง" not in out and "การเตือนของต.ในเมืองตอนนี้" not in out


@pytest.mark.parametrize(("typed", "read"), [
    ("17:30", (17, 30)), ("17.30", (17, 30)), ("๑๗.๓๐", (17, 30)), ("8", (8, 0)),
    ("08:05 น.", (8, 5)), (" 7 . 45 ", (7, 45)), ("9 นาฬิกา", (9, 0)),
    ("24:00", None), ("7:5", None), ("เจ็ดโมง", None), ("", None), ("17:30:00", None),
])
def test_typed_times(typed: str, read: tuple[int, int] | None) -> None:
    assert reminder_times.parse_time(typed) == read


def test_quiet_hours_window() -> None:
    quiet = QuietHours()
    assert reminder_times.allowed_window(quiet) == ("07:00", "19:59")
    assert reminder_times.is_quiet(quiet, 20, 0) and reminder_times.is_quiet(quiet, 6, 59)
    assert not reminder_times.is_quiet(quiet, 7, 0) and not reminder_times.is_quiet(quiet, 19, 59)
    assert reminder_times.allowed_window(QuietHours(quiet.start, quiet.start)) is None


def test_next_run_of_a_tambon_time() -> None:
    daily = Schedule("core_digest", 7, 30, None, None, True, {}, None)
    monthly = Schedule("forum_monthly", 9, 0, None, 1, True, {}, None)
    friday = bkk(2025, 1, 10, 12, 0)
    own = reminders.TambonTime("350101", "core_digest", 18, 15, (0, 2), None)
    assert reminder_times.next_run(daily, own, friday) == bkk(2025, 1, 13, 18, 15)  # Monday
    own = reminders.TambonTime("350101", "forum_monthly", 16, 0, None, None)
    assert reminder_times.next_run(monthly, own, friday) == bkk(2025, 2, 1, 16, 0)
