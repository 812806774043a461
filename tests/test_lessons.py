"""Lessons learned for the village's open plan through the console channel: closing the
period with and without carrying unfinished items over, keeping it open, no plan at all;
and random input at every step of the flow."""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.flows.lessons import FLOW
from storage import lessons, plans, problems
from storage.db import Database
from tests.conftest import START, Harness
from tests.fuzz import answers, conversation, is_navigation, put_in_step, throw

DEMO_VILLAGE = "35010101"
QUESTION_WORKED = "อะไรที่ทำแล้วได้ผลดี"
QUESTION_DID_NOT = "อะไรที่ทำแล้วยังไม่ได้ผล"
QUESTION_NEXT = "รอบต่อไปควรทำอะไรต่อ"
QUESTION_CLOSE = "จะปิดรอบแผนนี้แล้วเปิดแผนรอบใหม่"
QUESTION_END = "แผนรอบใหม่เริ่ม 1 ม.ค. 2568 จะสิ้นสุดวันไหน"
SUMMARY = "ตรวจสอบก่อนบันทึก"


async def _plan_with_items(db: Database, *, village: str = DEMO_VILLAGE,
                           statuses: tuple[str, ...] = ("not_started", "in_progress", "done",
                                                        "stalled", "withdrawn")
                           ) -> tuple[int, dict[str, int], int]:
    """An open plan for Jul–Dec 2024 with one item in each status; (plan, items, problem)."""
    async with db.transaction() as conn:
        problem = await problems.insert(
            conn, village_code=village, category="water", description="บ่อน้ำแห้ง",
            households=30, severity=3, photo_ref=None, photo_platform_id=None, latitude=None,
            longitude=None, reporter_id=1, now=START)
        plan = await plans.create_plan(conn, village_code=village,
                                       period_start=date(2024, 7, 1),
                                       period_end=date(2024, 12, 31), person_id=1, now=START)
        items = {}
        for n, status in enumerate(statuses):
            items[status] = await plans.add_item(
                conn, plan_id=plan, village_code=village, title=f"งานที่ {n} ({status})",
                approach="external_support" if n % 2 else "self_reliance",
                partner="อบต." if n % 2 else "", budget_needed=10_000 * n, own_money=500 * n,
                own_labour="แรงงาน 10 คน", start_on=date(2024, 8, 1),
                end_on=date(2024, 11, 30), responsible="ผู้ใหญ่บ้าน",
                problem_ids=[problem], person_id=1, now=START, status=status,
                percent={"in_progress": 40, "done": 100, "stalled": 20}.get(status, 0))
    return plan, items, problem


async def _answer_the_three_questions(console: Harness) -> str:
    await console.start("1")
    out = await console.type("สรุปบทเรียน")
    assert QUESTION_WORKED in out
    await console.type("ชาวบ้านร่วมแรงขุดลอกสระได้เร็ว")
    out = await console.type("ของบจากหน่วยงานช้า")
    assert QUESTION_NEXT in out
    out = await console.type("ยื่นขอสนับสนุนให้เร็วขึ้น")
    assert QUESTION_CLOSE in out
    return out


async def test_close_with_carry_over_opens_next_plan(console: Harness) -> None:
    old, items, problem = await _plan_with_items(console.db)
    await console.start("1")
    await console.type("เมนู")
    out = await console.type("เพิ่มเติม")  # lessons are one tap away, under "more"
    assert "สรุปบทเรียน" in out
    out = await console.type("สรุปบทเรียน")
    assert "แผนรอบ 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out  # Buddhist Era
    assert "รายการในแผน 4 รายการ: เสร็จแล้ว 1 · ยังไม่เสร็จ 3" in out  # withdrawn not counted
    assert QUESTION_WORKED in out

    out = await console.type("ดี")  # too short: same question
    assert "สั้นเกินไป" in out and QUESTION_WORKED in out
    out = await console.type("ชาวบ้านร่วมแรงขุดลอกสระได้เร็ว")
    assert QUESTION_DID_NOT in out
    out = await console.type("ของบจากหน่วยงานช้า")
    assert QUESTION_NEXT in out
    out = await console.type("ยื่นขอสนับสนุนให้เร็วขึ้น")
    assert QUESTION_CLOSE in out
    assert "เริ่ม 1 ม.ค. 2568" in out
    assert "ปิดรอบ ยกงานค้างไป: รายการที่ยังไม่เสร็จ 3 รายการ" in out
    assert "[1] ปิดรอบ ยกงานค้างไป" in out and "[3] ยังไม่ปิดรอบ" in out

    out = await console.type("ปิดรอบ ยกงานค้างไป")
    assert QUESTION_END in out
    out = await console.type("31 ธ.ค. 67")  # the old period's last day: too early
    assert "ต้องไม่ก่อนวันเริ่มแผนรอบใหม่ (1 ม.ค. 2568)" in out
    assert QUESTION_END in out
    out = await console.type("ไม่รู้สิ")
    assert "ไม่เข้าใจวันที่" in out and QUESTION_END in out
    out = await console.type("30 มิ.ย. 68")
    assert SUMMARY in out
    assert "แผนรอบ: 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out
    assert "เปิดแผนรอบใหม่ 1 ม.ค. 2568 – 30 มิ.ย. 2568 ยกรายการที่ยังไม่เสร็จไป 3 รายการ" in out

    out = await console.type("แก้สิ่งที่ได้ผล")
    assert QUESTION_WORKED in out
    out = await console.type("ชาวบ้านร่วมแรงขุดลอกสระเสร็จใน 2 สัปดาห์")
    assert SUMMARY in out
    assert "สิ่งที่ได้ผล: ชาวบ้านร่วมแรงขุดลอกสระเสร็จใน 2 สัปดาห์" in out
    assert "สิ่งที่จะทำต่อ: ยื่นขอสนับสนุนให้เร็วขึ้น" in out

    out = await console.type("✅ บันทึก")
    assert "บันทึกสรุปบทเรียนแล้ว เลขที่ #1" in out
    assert "เปิดแผนรอบใหม่ 1 ม.ค. 2568 – 30 มิ.ย. 2568 ยกรายการที่ยังไม่เสร็จไป 3 รายการ" in out

    async with console.db.read() as conn:
        closed = await plans.get_plan(conn, old)
        new = await plans.open_plan(conn, DEMO_VILLAGE)
        assert closed is not None and closed.status == "closed"
        assert new is not None and new.id != old and new.previous_id == old
        assert (new.period_start, new.period_end) == (date(2025, 1, 1), date(2025, 6, 30))
        carried = await plans.items_of_plan(conn, new.id, include_withdrawn=True)
        saved = await lessons.of_plan(conn, old)
        old_items = {i.id: i for i in await plans.items_of_plan(conn, old, True)}
    assert sorted(i.carried_from for i in carried) == sorted(
        [items["not_started"], items["in_progress"], items["stalled"]])
    for item in carried:
        source = old_items[item.carried_from]  # type: ignore[index]
        assert (item.title, item.approach, item.partner, item.budget_needed, item.own_money,
                item.own_labour, item.start_on, item.end_on, item.responsible, item.status,
                item.percent) == (
            source.title, source.approach, source.partner, source.budget_needed,
            source.own_money, source.own_labour, source.start_on, source.end_on,
            source.responsible, source.status, source.percent)
        assert item.problem_ids == (problem,)
    assert items["done"] not in {i.carried_from for i in carried}
    assert items["withdrawn"] not in {i.carried_from for i in carried}
    assert [(s.what_worked, s.what_did_not, s.next_steps) for s in saved] == [
        ("ชาวบ้านร่วมแรงขุดลอกสระเสร็จใน 2 สัปดาห์", "ของบจากหน่วยงานช้า",
         "ยื่นขอสนับสนุนให้เร็วขึ้น")]

    for action, count in (("lessons.record", 1), ("plan.close", 1), ("plan.open", 1),
                          ("plan_item.carry_over", 3)):
        assert await console.scalar("SELECT COUNT(*) FROM audit_log WHERE action = ?",
                                    action) == count, action
    assert await console.scalar(
        "SELECT from_state || '>' || to_state FROM audit_log WHERE action = 'plan.close'"
        " AND entity_id = ?", str(old)) == "open>closed"

    # The core team and the TAO are both told.
    for persona in ("2", "3"):
        out = await console.type(f"/as {persona}")
        assert "สรุปบทเรียนใหม่ บ#1" in out, persona
        assert "หมู่ที่ 1 บ้านโนนสูง" in out
        assert "แผนรอบ 1 ก.ค. 2567 – 31 ธ.ค. 2567" in out
        assert "ยกรายการที่ยังไม่เสร็จไป 3 รายการ" in out
        assert "ผู้บันทึก: สมศรี" in out


async def test_close_without_carry_starts_an_empty_plan(console: Harness) -> None:
    old, _, _ = await _plan_with_items(console.db)
    await _answer_the_three_questions(console)
    out = await console.type("ปิดรอบ ไม่ยกงานไป")
    assert QUESTION_END in out
    out = await console.type("๓๑/๑๒/๒๕๖๘")
    assert "เปิดแผนรอบใหม่ 1 ม.ค. 2568 – 31 ธ.ค. 2568 ไม่ยกรายการไป" in out
    out = await console.type("✅ บันทึก")
    assert "ไม่ได้ยกรายการไป" in out
    async with console.db.read() as conn:
        new = await plans.open_plan(conn, DEMO_VILLAGE)
        assert new is not None and new.previous_id == old
        assert new.period_end == date(2025, 12, 31)
        assert await plans.items_of_plan(conn, new.id, include_withdrawn=True) == []
    assert await console.scalar("SELECT status FROM plans WHERE id = ?", old) == "closed"
    assert await console.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'plan_item.carry_over'") == 0


async def test_keep_open_records_lessons_only_and_can_change_mind(console: Harness) -> None:
    old, _, _ = await _plan_with_items(console.db)
    await _answer_the_three_questions(console)
    out = await console.type("ยังไม่ปิดรอบ")
    assert SUMMARY in out
    assert "ยังไม่ปิดรอบ (บันทึกบทเรียนอย่างเดียว)" in out
    assert "แก้วันสิ้นสุดรอบใหม่" not in out

    # Changing one's mind from the confirmation screen asks the end date first.
    out = await console.type("แก้การปิดรอบ")
    assert QUESTION_CLOSE in out
    out = await console.type("ปิดรอบ ยกงานค้างไป")
    assert QUESTION_END in out
    out = await console.type("30/6/2568")
    assert SUMMARY in out and "ยกรายการที่ยังไม่เสร็จไป 3 รายการ" in out
    out = await console.type("แก้การปิดรอบ")
    out = await console.type("ยังไม่ปิดรอบ")
    assert SUMMARY in out and "ยังไม่ปิดรอบ" in out

    out = await console.type("✅ บันทึก")
    assert "บันทึกสรุปบทเรียนแล้ว เลขที่ #1" in out
    assert "แผนรอบนี้ยังเปิดอยู่" in out
    async with console.db.read() as conn:
        still = await plans.open_plan(conn, DEMO_VILLAGE)
        assert still is not None and still.id == old
        assert len(await lessons.of_village(conn, DEMO_VILLAGE)) == 1
    assert await console.scalar("SELECT COUNT(*) FROM plans") == 1
    assert await console.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('plan.close', 'plan.open')") == 0
    assert await console.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'lessons.record'") == 1


async def test_no_carry_option_when_everything_is_done(console: Harness) -> None:
    await _plan_with_items(console.db, statuses=("done", "withdrawn"))
    out = await _answer_the_three_questions(console)
    assert "ปิดรอบ ไม่ยกงานไป" in out
    assert "ปิดรอบ ยกงานค้างไป" not in out  # neither a button nor explained
    out = await console.type("ปิดรอบ ยกงานค้างไป")  # typed anyway
    assert "กรุณาเลือกจากปุ่ม" in out and QUESTION_CLOSE in out


async def test_no_open_plan_is_said_politely(console: Harness) -> None:
    await _plan_with_items(console.db, village="35010102")  # another village's plan
    await console.start("1")
    out = await console.type("สรุปบทเรียน")
    assert "ยังไม่มีแผนแก้ไขปัญหาวิกฤติที่เปิดอยู่" in out
    assert QUESTION_WORKED not in out
    assert "ต้องการทำอะไรต่อครับ" in out and "🏠 เมนูหลัก" in out  # what next
    assert await console.scalar("SELECT COUNT(*) FROM lessons") == 0


async def test_plan_closed_meanwhile_saves_nothing(console: Harness) -> None:
    old, _, _ = await _plan_with_items(console.db)
    await _answer_the_three_questions(console)
    await console.type("ยังไม่ปิดรอบ")
    async with console.db.transaction() as conn:
        await plans.close_plan(conn, old, START)
    out = await console.type("✅ บันทึก")
    assert "แผนของหมู่บ้านเพิ่งถูกเปลี่ยน" in out
    assert await console.scalar("SELECT COUNT(*) FROM lessons") == 0


async def test_repository_lists(seeded: Database) -> None:
    async with seeded.transaction() as conn:
        plan = await plans.create_plan(conn, village_code=DEMO_VILLAGE,
                                       period_start=date(2024, 7, 1),
                                       period_end=date(2024, 12, 31), person_id=1, now=START)
        first = await lessons.insert(conn, plan_id=plan, village_code=DEMO_VILLAGE,
                                     what_worked="a", what_did_not="b", next_steps="c",
                                     person_id=1, now=START)
        second = await lessons.insert(conn, plan_id=plan, village_code=DEMO_VILLAGE,
                                      what_worked="d", what_did_not="e", next_steps="f",
                                      person_id=1, now=START)
        assert [x.id for x in await lessons.of_plan(conn, plan)] == [first, second]
        assert [x.id for x in await lessons.of_village(conn, DEMO_VILLAGE)] == [second, first]
        assert await lessons.of_village(conn, "35010102") == []


# --- random input at every step ---------------------------------------------------------------

FULL_DRAFT = {"village": DEMO_VILLAGE, "plan_id": 1, "plan_start": "2024-07-01",
              "plan_end": "2024-12-31", "worked": "ร่วมแรงกันดี", "did_not_work": "งบช้า",
              "next_steps": "ขอทุนให้เร็วขึ้น", "close": "carry", "next_end": "2025-06-30"}
OWN_FIELDS = {"village": {"village"}, "worked": {"worked"}, "did_not_work": {"did_not_work"},
              "next_steps": {"next_steps"}, "close": {"close", "next_end"},
              "next_end": {"next_end"}, "confirm": set()}




FUZZ_VALUES = ["carry", "close", "keep", "35010101", "edit:closing"]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(step=st.sampled_from(sorted(OWN_FIELDS)), answer=answers(payload_values=FUZZ_VALUES))
async def test_random_input_at_every_step(console: Harness, step: str, answer: dict) -> None:  # type: ignore[type-arg]
    if is_navigation(answer):
        return
    if console.chat.active is None:
        plan, _, _ = await _plan_with_items(console.db)
        assert plan == FULL_DRAFT["plan_id"]
        await console.start("1")
        await console.type("เมนู")
    await put_in_step(console.db, "lessons", step, FULL_DRAFT)
    await throw(console, answer)

    flow, now_at, data = await conversation(console.db)
    assert flow == "lessons"
    assert now_at in FLOW.steps
    for key, value in FULL_DRAFT.items():
        if key not in OWN_FIELDS[step]:
            assert data.get(key) == value, (step, key)
    assert data.get("close") in ("carry", "close", "keep")
    assert await console.scalar("SELECT COUNT(*) FROM lessons") == 0
    assert await console.scalar("SELECT COUNT(*) FROM plans WHERE status = 'open'") == 1


async def test_english_reader_gets_english(console: Harness) -> None:
    await _plan_with_items(console.db)
    async with console.db.transaction() as conn:
        await conn.execute("UPDATE people SET language = 'en' WHERE id = 1")
    await console.start("1")
    out = await console.type("Lessons learned")
    assert "Lessons learned for the plan 1 " in out
    assert "What worked well?" in out
