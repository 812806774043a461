"""The plan periods a summary offers, through the console with a fixed clock: after a
village closes its period by lessons learned the period just ended can be chosen and shows
its numbers; the current period is the one in force today by its dates (a period closed
early stays current until its last day); any past period can be chosen by its dates; a
tambon's periods span its villages' periods."""

from __future__ import annotations

from datetime import UTC, date, datetime

from storage import plans, problems
from storage.db import Database
from tests.conftest import Harness

V1, V2 = "35010101", "35010102"
VILLAGE_1 = "📊 หมู่ที่ 1 บ้านโนนสูง ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร"


def bangkok(year: int, month: int, day: int) -> datetime:
    """10:00 in Bangkok on that day."""
    return datetime(year, month, day, 3, 0, tzinfo=UTC)


async def _problem(db: Database, village: str, households: int, when: datetime) -> None:
    async with db.transaction() as conn:
        await problems.insert(
            conn, village_code=village, category="water", description="บ่อน้ำตื้นแห้งทั้งหมู่บ้าน",
            households=households, severity=3, photo_ref=None, photo_platform_id=None,
            latitude=None, longitude=None, reporter_id=1, now=when)


async def _plan(db: Database, village: str, start: date, end: date, *, closed: bool = False,
                items: int = 0, done_on: datetime | None = None) -> int:
    """A plan with `items` open items; with `done_on`, one more item done that day with its
    outcome confirmed (solved, 12 households helped)."""
    async with db.transaction() as conn:
        plan = await plans.create_plan(conn, village_code=village, period_start=start,
                                       period_end=end, person_id=1, now=bangkok(2024, 1, 1))
        for n in range(items + (1 if done_on else 0)):
            item = await plans.add_item(
                conn, plan_id=plan, village_code=village, title=f"ขุดลอกสระที่ {n + 1}",
                approach="self_reliance", partner="", budget_needed=0, own_money=0,
                own_labour="แรงงาน 10 คน", start_on=start, end_on=end,
                responsible="ผู้ใหญ่บ้าน", problem_ids=[], person_id=1,
                now=bangkok(2024, 1, 1))
            if done_on and n == items:
                found = await plans.get_item(conn, item)
                assert found is not None
                await plans.add_progress(conn, item=found, status="done", percent=100,
                                         note="เสร็จ", photo_ref=None, photo_platform_id=None,
                                         stalled_reason=None, reporter_id=1, now=done_on)
                await plans.confirm_outcome(conn, item, "yes", 12, done_on)
        if closed:
            await plans.close_plan(conn, plan, bangkok(2024, 1, 1))
    return plan


async def _close_by_lessons(console: Harness, next_end: str) -> None:
    """The village committee (person 1) records lessons and closes the period, carrying
    unfinished items over."""
    await console.start("1")
    out = await console.type("สรุปบทเรียน")
    assert "อะไรที่ทำแล้วได้ผลดี" in out, out
    await console.type("ชาวบ้านร่วมแรงขุดลอกสระได้เร็ว")
    await console.type("ของบจากหน่วยงานช้า")
    out = await console.type("ยื่นขอสนับสนุนให้เร็วขึ้น")
    assert "จะปิดรอบแผนนี้แล้วเปิดแผนรอบใหม่" in out, out
    await console.type("ปิดรอบ ยกงานค้างไป")
    out = await console.type(next_end)
    assert "ตรวจสอบก่อนบันทึก" in out, out
    out = await console.type("✅ บันทึก")
    assert "บันทึกสรุปบทเรียนแล้ว" in out, out


def _buttons(out: str) -> list[str]:
    return [line.split("] ", 1)[1] for line in out.splitlines() if line.strip().startswith("[")]


async def test_after_closing_the_period_the_summary_offers_it_with_its_numbers(
        console: Harness) -> None:
    console.clock.set(bangkok(2024, 12, 20))
    old = await _plan(console.db, V1, date(2024, 7, 1), date(2024, 12, 31), items=2,
                      done_on=bangkok(2024, 11, 15))
    await _problem(console.db, V1, 45, bangkok(2024, 9, 5))
    await _problem(console.db, V1, 30, bangkok(2024, 12, 20))
    console.clock.set(bangkok(2025, 1, 2))  # the period has ended; lessons close it
    await _close_by_lessons(console, "30 มิ.ย. 68")
    assert await console.scalar("SELECT status FROM plans WHERE id = ?", old) == "closed"

    out = await console.type("สรุปผล")
    assert "• รอบแผนปัจจุบัน: 1 ม.ค. 2568 – 30 มิ.ย. 2568" in out
    assert "• รอบแผนที่เพิ่งจบ: 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out
    assert "รอบแผนที่เพิ่งจบ" in _buttons(out)
    assert "รอบแผนก่อนหน้า" not in _buttons(out)  # the only past period is the one just ended

    out = await console.type("รอบแผนที่เพิ่งจบ")
    assert f"{VILLAGE_1} · 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out
    assert "ปัญหา 2 เรื่อง เดือดร้อน 75 ครัวเรือน" in out
    assert "รายการในแผน 3 รายการ" in out  # the old plan's items, not zeros
    assert "รายการที่เสร็จ 1 รายการ ยืนยันผลแล้ว 1 รายการ" in out

    # The current period: the new plan, in force since 1 Jan, with the items carried over.
    await console.type("🗓 เปลี่ยนช่วงเวลา")
    out = await console.type("รอบแผนปัจจุบัน")
    assert f"{VILLAGE_1} · 1 ม.ค. 2568 – 30 มิ.ย. 2568" in out
    assert "ปัญหา 0 เรื่อง" in out and "รายการในแผน 2 รายการ" in out


async def test_a_period_closed_early_stays_current_until_its_last_day(console: Harness) -> None:
    console.clock.set(bangkok(2024, 12, 20))
    await _plan(console.db, V1, date(2024, 7, 1), date(2024, 12, 31), items=1)
    await _problem(console.db, V1, 45, bangkok(2024, 11, 5))
    await _close_by_lessons(console, "30 มิ.ย. 68")  # the next period starts on 1 Jan

    out = await console.type("สรุปผล")
    assert "• รอบแผนปัจจุบัน: 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out  # not the new, empty one
    assert "รอบแผนที่เพิ่งจบ" not in out  # nothing has ended by its dates yet
    out = await console.type("รอบแผนปัจจุบัน")
    assert "· 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out
    assert "ปัญหา 1 เรื่อง เดือดร้อน 45 ครัวเรือน" in out
    await console.type("✔️ เสร็จแล้ว")

    console.clock.set(bangkok(2025, 1, 1))  # the new period is in force from its first day
    out = await console.type("สรุปผล")
    assert "• รอบแผนปัจจุบัน: 1 ม.ค. 2568 – 30 มิ.ย. 2568" in out
    assert "• รอบแผนที่เพิ่งจบ: 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out


async def test_a_past_period_is_chosen_by_its_dates(console: Harness) -> None:
    await _plan(console.db, V1, date(2024, 1, 1), date(2024, 6, 30), closed=True)
    await _plan(console.db, V1, date(2024, 7, 1), date(2024, 12, 31), closed=True)
    await _plan(console.db, V1, date(2025, 1, 1), date(2025, 6, 30))
    await _problem(console.db, V1, 10, bangkok(2024, 3, 5))
    await _problem(console.db, V1, 20, bangkok(2024, 9, 5))
    await console.start("1")
    out = await console.type("สรุปผล")
    assert "รอบแผนก่อนหน้า" in _buttons(out)
    out = await console.type("รอบแผนก่อนหน้า")
    assert "ดูรอบแผนไหนครับ" in out
    assert _buttons(out)[:2] == ["1 ก.ค. 2567 – 31 ธ.ค. 2567", "1 ม.ค. 2567 – 30 มิ.ย. 2567"]

    out = await console.type("มีนาคม")  # not one of the periods: explained, asked again
    assert "กรุณาเลือกจากปุ่ม" in out and "ดูรอบแผนไหนครับ" in out
    out = await console.type("1 ม.ค. 2567 – 30 มิ.ย. 2567")
    assert f"{VILLAGE_1} · 1 ม.ค. 2567 – 30 มิ.ย. 2567" in out
    assert "ปัญหา 1 เรื่อง เดือดร้อน 10 ครัวเรือน" in out


async def test_a_tambon_spans_its_villages_periods(console: Harness) -> None:
    # Today 10 Jan 2568. Village 1: Jul-Dec 2567 ended, Jan-Jun 2568 in force; village 2:
    # Apr-Sep 2567 ended, Oct 2567 - Mar 2568 in force; village 3 has no plan.
    await _plan(console.db, V1, date(2024, 7, 1), date(2024, 12, 31), closed=True)
    await _plan(console.db, V1, date(2025, 1, 1), date(2025, 6, 30))
    await _plan(console.db, V2, date(2024, 4, 1), date(2024, 9, 30), closed=True)
    await _plan(console.db, V2, date(2024, 10, 1), date(2025, 3, 31))
    await _problem(console.db, V2, 7, bangkok(2024, 5, 2))
    await console.start("2")  # the tambon core team
    out = await console.type("สรุปผล")
    assert "• รอบแผนปัจจุบัน: 1 ต.ค. 2567 – 30 มิ.ย. 2568 (2 หมู่บ้าน)" in out
    assert "• รอบแผนที่เพิ่งจบ: 1 เม.ย. 2567 – 31 ธ.ค. 2567 (2 หมู่บ้าน)" in out
    out = await console.type("รอบแผนก่อนหน้า")
    assert _buttons(out)[:2] == ["1 ก.ค. 2567 – 31 ธ.ค. 2567 (1 หมู่บ้าน)",
                                 "1 เม.ย. 2567 – 30 ก.ย. 2567 (1 หมู่บ้าน)"]
    out = await console.type("1 เม.ย. 2567 – 30 ก.ย. 2567 (1 หมู่บ้าน)")
    assert "📊 ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร · 1 เม.ย. 2567 – 30 ก.ย. 2567" in out
    assert "ปัญหา 1 เรื่อง เดือดร้อน 7 ครัวเรือน" in out

    await console.type("🗓 เปลี่ยนช่วงเวลา")
    out = await console.type("รอบแผนปัจจุบัน")
    assert "📊 ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร · 1 ต.ค. 2567 – 30 มิ.ย. 2568" in out


async def test_without_a_plan_in_force_the_current_period_says_so(console: Harness) -> None:
    await console.start("1")
    out = await console.type("สรุปผล")
    assert "• รอบแผน" not in out and "รอบแผนที่เพิ่งจบ" not in out
    out = await console.type("รอบแผนปัจจุบัน")
    assert "วันนี้ยังไม่มีแผนของหมู่บ้านที่อยู่ในรอบ" in out and "ดูช่วงเวลาไหนครับ" in out
