"""The village crisis plan through the console channel: a plan for a period, items of each
approach typed as a village leader types them, edits, withdrawal; what is stored, what
the audit log says, what the core team is told. Then random input at every step."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers.clock import FixedClock
from handlers.flows.plan import FLOW
from storage import plans, problems
from tests.conftest import START, Harness
from tests.fuzz import answers, conversation, navigates, presses_save, put_in_step, throw

VILLAGE = "35010101"
# Typed in full: turn.label_key keeps the emoji's variation selector (U+FE0F, a mark), so
# "เสร็จแล้ว" alone does not match the shared "✔️ เสร็จแล้ว" button.
DONE = "✔️ เสร็จแล้ว"


async def _problems(console: Harness) -> None:
    """Two problem reports of the village, and one of the next village (never offered)."""
    async with console.db.transaction() as conn:
        for village, category in ((VILLAGE, "water"), (VILLAGE, "debt"), ("35010102", "health")):
            await problems.insert(conn, village_code=village, category=category,
                                  description="x" * 10, households=10, severity=2,
                                  photo_ref=None, photo_platform_id=None, latitude=None,
                                  longitude=None, reporter_id=1, now=START)


async def _open_plan(console: Harness) -> str:
    await console.start("1")
    out = await console.type("เมนู")
    assert "แผนของหมู่บ้าน" in out
    out = await console.type("แผนของหมู่บ้าน")
    assert "ยังไม่มีแผนแก้ไขปัญหาวิกฤติที่เปิดอยู่" in out
    out = await console.type("จัดทำแผนรอบใหม่")
    assert "แผนรอบนี้เริ่มวันที่เท่าไร" in out
    out = await console.type("1 ก.พ. 68")
    assert "แผนรอบนี้สิ้นสุดวันที่เท่าไร" in out
    out = await console.type("๓๑/๑/๒๕๖๘")  # before the start: refused, asked again
    assert "อยู่ก่อน 1 ก.พ. 2568" in out
    assert "สิ้นสุดวันที่เท่าไร" in out
    out = await console.type("๓๐/๔/๒๕๖๘")
    assert "รอบ 1 ก.พ. 2568 – 30 เม.ย. 2568" in out
    out = await console.type("เปิดแผนรอบนี้")
    assert "เปิดแผนของหมู่บ้านแล้ว" in out
    assert "ยังไม่มีรายการในแผน" in out
    return out


async def _add_item(console: Harness, *, title: str, approach: str, partner: str | None,
                    budget: str, own_money: str, labour: str, problem: str | None = None
                    ) -> str:
    out = await console.type("เพิ่มรายการ")
    assert "รายการนี้คืออะไร" in out
    out = await console.type(title)
    if "แก้ปัญหาข้อไหน" in out:
        assert "#1 ภัยแล้ง/น้ำ" in out and "#2 หนี้สินครัวเรือน" in out
        assert "#3" not in out  # another village's report
        if problem:
            out = await console.type(problem)
            assert "✅ " + problem in out  # ticked, asked again
        out = await console.type(DONE)
    assert "ใช้แนวทางไหน" in out
    out = await console.type(approach)
    if partner is not None:
        assert ("ร่วมมือกับใคร" in out) or ("ขอรับการสนับสนุนจากใคร" in out)
        out = await console.type(partner)
    assert "ต้องใช้งบประมาณเท่าไร" in out
    out = await console.type(budget)
    assert "สมทบเองเป็นเงินเท่าไร" in out
    assert "ไม่มีเงินสมทบ" in out  # the zero button
    out = await console.type(own_money)
    assert "สมทบแรงงาน" in out
    out = await console.type(labour)
    assert "เริ่มทำวันที่เท่าไร" in out
    out = await console.type("1 ก.พ. 68")
    assert "เสร็จวันที่เท่าไร" in out
    out = await console.type("15/1/2568")  # before the start: refused, asked again
    assert "อยู่ก่อน 1 ก.พ. 2568" in out
    assert "เสร็จวันที่เท่าไร" in out
    out = await console.type("๓๐/๔/๒๕๖๘")
    assert "ใครเป็นผู้รับผิดชอบ" in out
    out = await console.type("นายสมชาย ใจกล้า")
    assert "ตรวจสอบรายการใหม่ก่อนบันทึก" in out
    assert "ช่วงเวลา: 1 ก.พ. 2568 – 30 เม.ย. 2568" in out
    return out


async def _three_items(console: Harness) -> None:
    await _problems(console)
    await _open_plan(console)
    out = await _add_item(console, title="ขุดลอกคลองส่งน้ำ", approach="พึ่งตนเอง", partner=None,
                          budget="สามหมื่นห้า", own_money="ไม่มีเงินสมทบ",
                          labour="แรงงาน 20 คน 3 วัน", problem="#1 ภัยแล้ง/น้ำ")
    assert "แนวทาง: พึ่งตนเอง" in out
    assert "แก้ปัญหา: #1 ภัยแล้ง/น้ำ" in out
    assert "งบประมาณที่ต้องใช้: 35,000 บาท" in out
    assert "สมทบเองเป็นเงิน: 0 บาท" in out
    assert "สมทบเองเป็นแรงงาน: แรงงาน 20 คน 3 วัน" in out
    assert "แก้ผู้ร่วมมือ" not in out  # no partner for self-reliance

    # Edit the budget from the confirmation screen: back to it, the rest kept.
    out = await console.type("แก้งบประมาณ")
    assert "ต้องใช้งบประมาณเท่าไร" in out
    out = await console.type("๔๐,๐๐๐ บาท")
    assert "ตรวจสอบรายการใหม่ก่อนบันทึก" in out
    assert "งบประมาณที่ต้องใช้: 40,000 บาท" in out
    assert "ขุดลอกคลองส่งน้ำ" in out and "นายสมชาย ใจกล้า" in out
    out = await console.type("✅ บันทึก")
    assert "บันทึกรายการ #1 ในแผนแล้ว" in out
    assert "#1 ขุดลอกคลองส่งน้ำ · พึ่งตนเอง · ยังไม่เริ่ม · 0% · ถึง 30 เม.ย. 2568" in out

    out = await _add_item(console, title="ปรับปรุงถนนเข้าหมู่บ้าน",
                          approach="ร่วมมือกับหมู่บ้าน ตำบล หรือหน่วยงาน", partner="อบต.",
                          budget="๑๒,๕๐๐", own_money="5000", labour="ข้าม")
    assert "แนวทาง: ร่วมมือกับ อบต." in out
    assert "งบประมาณที่ต้องใช้: 12,500 บาท" in out
    assert "สมทบเองเป็นเงิน: 5,000 บาท" in out
    assert "สมทบเองเป็นแรงงาน: ไม่มี" in out
    assert "แก้ปัญหา: ไม่ระบุ" in out
    out = await console.type("บันทึก")
    assert "บันทึกรายการ #2 ในแผนแล้ว" in out

    out = await _add_item(console, title="สร้างฝายชะลอน้ำ",
                          approach="ขอรับการสนับสนุนจากหน่วยงาน", partner="อบต.",
                          budget="2.5 ล้าน", own_money="สองหมื่น", labour="ช่วยขนหิน 30 คน",
                          problem="#1 ภัยแล้ง/น้ำ")
    assert "แนวทาง: ขอรับการสนับสนุนจาก อบต." in out
    assert "งบประมาณที่ต้องใช้: 2,500,000 บาท" in out
    assert "สมทบเองเป็นเงิน: 20,000 บาท" in out
    out = await console.type("บันทึก")
    assert "บันทึกรายการ #3 ในแผนแล้ว" in out
    assert "#2 ปรับปรุงถนนเข้าหมู่บ้าน · ร่วมมือกับ อบต. · ยังไม่เริ่ม" in out
    assert "#3 สร้างฝายชะลอน้ำ · ขอรับการสนับสนุนจาก อบต." in out


async def _rows(console: Harness, sql: str, *params: object) -> list[tuple]:  # type: ignore[type-arg]
    async with console.db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_plan_with_an_item_of_each_approach(console: Harness) -> None:
    await _three_items(console)

    assert await _rows(console, "SELECT village_code, period_start, period_end, status"
                                " FROM plans") == [(VILLAGE, "2025-02-01", "2025-04-30", "open")]
    assert await _rows(
        console, "SELECT id, approach, partner, budget_needed, own_money, own_labour, start_on,"
                 " end_on, responsible, status FROM plan_items ORDER BY id") == [
        (1, "self_reliance", "", 40_000, 0, "แรงงาน 20 คน 3 วัน", "2025-02-01", "2025-04-30",
         "นายสมชาย ใจกล้า", "not_started"),
        (2, "cooperation", "อบต.", 12_500, 5_000, "", "2025-02-01", "2025-04-30",
         "นายสมชาย ใจกล้า", "not_started"),
        (3, "external_support", "อบต.", 2_500_000, 20_000, "ช่วยขนหิน 30 คน", "2025-02-01",
         "2025-04-30", "นายสมชาย ใจกล้า", "not_started"),
    ]
    assert await _rows(console, "SELECT item_id, problem_id FROM plan_item_problems"
                                " ORDER BY item_id") == [(1, 1), (3, 1)]
    assert await _rows(console, "SELECT action, entity, entity_id, to_state, person_id"
                                " FROM audit_log WHERE action LIKE 'plan%' ORDER BY id") == [
        ("plan.create", "plan", "1", "open", 1),
        ("plan_item.add", "plan_item", "1", "not_started", 1),
        ("plan_item.add", "plan_item", "2", "not_started", 1),
        ("plan_item.add", "plan_item", "3", "not_started", 1),
    ]

    out = await console.type("กลับเมนูหลัก")
    assert "ต้องการทำอะไรต่อ" in out
    assert "ทำต่อ" not in out  # no draft left behind

    out = await console.type("/as 2")
    assert "เปิดแผนแก้ไขปัญหาวิกฤติ" in out
    assert "รอบ 1 ก.พ. 2568 – 30 เม.ย. 2568" in out
    assert "รายการใหม่ในแผน ผ#1" in out and "แนวทาง: พึ่งตนเอง" in out
    assert "งบประมาณ: 40,000 บาท · สมทบเอง: 0 บาท" in out
    assert "รายการใหม่ในแผน ผ#2" in out and "แนวทาง: ร่วมมือกับ อบต." in out
    assert "รายการใหม่ในแผน ผ#3" in out and "ขอรับการสนับสนุนจาก อบต." in out
    assert "2,500,000 บาท" in out
    assert "หมู่ที่ 1 บ้านโนนสูง" in out
    assert "โดย: สมศรี" in out
    # Nobody else is told: not the TAO, not the district.
    for chat in ("demo-tao", "demo-district", "demo-viewer"):
        assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = ?", chat) == 0


async def test_edit_an_item_later(console: Harness) -> None:
    await _three_items(console)
    async with console.db.transaction() as conn:
        await conn.execute("UPDATE people SET language = 'en' WHERE id = 2")

    out = await console.type("แก้ไขรายการ")
    assert "แก้ไขรายการไหน" in out
    out = await console.type("#2 ปรับปรุงถนนเข้าหมู่บ้าน")
    assert "แก้ไขรายการ #2" in out
    assert "แนวทาง: ร่วมมือกับ อบต." in out and "งบประมาณที่ต้องใช้: 12,500 บาท" in out
    assert "แก้ผู้ร่วมมือ/ผู้สนับสนุน" in out

    # A new approach asks its own partner question, then comes back.
    out = await console.type("แก้แนวทาง")
    out = await console.type("ขอรับการสนับสนุนจากหน่วยงาน")
    assert "ขอรับการสนับสนุนจากใคร" in out
    out = await console.type("อำเภอ")
    assert "แนวทาง: ขอรับการสนับสนุนจาก อำเภอ" in out
    # A start moved past the end asks the end again.
    out = await console.type("แก้วันเริ่ม")
    out = await console.type("1 มิ.ย. 68")
    assert "วันเริ่มใหม่อยู่หลังวันสิ้นสุดเดิม" in out
    assert "เสร็จวันที่เท่าไร" in out
    out = await console.type("30 มิ.ย. 68")
    assert "ช่วงเวลา: 1 มิ.ย. 2568 – 30 มิ.ย. 2568" in out
    out = await console.type("แก้ปัญหาที่แก้")
    out = await console.type("#2 หนี้สินครัวเรือน")
    out = await console.type(DONE)
    assert "แก้ปัญหา: #2 หนี้สินครัวเรือน" in out
    out = await console.type("บันทึก")
    assert "บันทึกการแก้ไขรายการ #2 แล้ว" in out
    assert ("#2 ปรับปรุงถนนเข้าหมู่บ้าน · ขอรับการสนับสนุนจาก อำเภอ · ยังไม่เริ่ม · 0% ·"
            " ถึง 30 มิ.ย. 2568") in out

    assert await _rows(console, "SELECT approach, partner, start_on, end_on, budget_needed"
                                " FROM plan_items WHERE id = 2") == [
        ("external_support", "อำเภอ", "2025-06-01", "2025-06-30", 12_500)]
    assert await _rows(console, "SELECT problem_id FROM plan_item_problems"
                                " WHERE item_id = 2") == [(2,)]
    detail, states = (await _rows(
        console, "SELECT detail, from_state || '>' || to_state FROM audit_log"
                 " WHERE action = 'plan_item.edit' AND entity_id = '2'"))[0]
    assert states == "not_started>not_started"
    assert json.loads(detail) == {
        "approach": {"from": "cooperation", "to": "external_support"},
        "partner": {"from": "อบต.", "to": "อำเภอ"},
        "start_on": {"from": "2025-02-01", "to": "2025-06-01"},
        "end_on": {"from": "2025-04-30", "to": "2025-06-30"},
        "problem_ids": {"from": [], "to": [2]},
    }

    # Editing without changing anything saves nothing.
    await console.type("แก้ไขรายการ")
    await console.type("#1 ขุดลอกคลองส่งน้ำ")
    out = await console.type("บันทึก")
    assert "ไม่มีอะไรเปลี่ยน" in out
    assert await console.scalar("SELECT COUNT(*) FROM audit_log"
                                " WHERE action = 'plan_item.edit'") == 1

    # The core team member reads English: the changes are told in English.
    out = await console.type("/as 2")
    assert "Plan item I#2 edited" in out
    assert "approach: cooperation → external support" in out
    assert "partner: อบต. → อำเภอ" in out
    assert "start: 1 Feb B.E. 2568 → 1 Jun B.E. 2568" in out
    assert "problems answered: not given → #2" in out


async def test_back_past_a_needed_answer_asks_it_again(console: Harness) -> None:
    await _three_items(console)
    await console.type("แก้ไขรายการ")
    await console.type("#1 ขุดลอกคลองส่งน้ำ")
    await console.type("แก้วันเริ่ม")
    out = await console.type("1 มิ.ย. 68")
    assert "เสร็จวันที่เท่าไร" in out
    out = await console.type("ย้อนกลับ")
    assert "เริ่มทำวันที่เท่าไร" in out
    out = await console.type("ย้อนกลับ")  # to the confirmation screen, without an end date
    assert "เสร็จวันที่เท่าไร" in out and "ตรวจสอบก่อนบันทึก" not in out
    out = await console.type("30 มิ.ย. 68")
    assert "ช่วงเวลา: 1 มิ.ย. 2568 – 30 มิ.ย. 2568" in out


async def test_approach_changed_to_self_reliance_drops_the_partner(console: Harness) -> None:
    await _three_items(console)
    await console.type("แก้ไขรายการ")
    await console.type("#3 สร้างฝายชะลอน้ำ")
    await console.type("แก้แนวทาง")
    out = await console.type("พึ่งตนเอง")
    assert "แนวทาง: พึ่งตนเอง" in out
    assert "แก้ผู้ร่วมมือ" not in out
    await console.type("บันทึก")
    assert await _rows(console, "SELECT approach, partner FROM plan_items WHERE id = 3") == [
        ("self_reliance", "")]


async def test_withdraw_an_item_with_a_reason(console: Harness) -> None:
    await _three_items(console)
    out = await console.type("ถอนรายการ")
    assert "ถอนรายการไหนออกจากแผน" in out
    out = await console.type("#2 ปรับปรุงถนนเข้าหมู่บ้าน")
    assert 'ถอนรายการ "ปรับปรุงถนนเข้าหมู่บ้าน" เพราะอะไร' in out
    out = await console.type("ก")  # too short: explained, asked again
    assert "สั้นเกินไป" in out and "เพราะอะไร" in out
    out = await console.type("อบต. ทำถนนให้แล้วในงบปีนี้")
    assert "ยืนยันถอนรายการ #2 ปรับปรุงถนนเข้าหมู่บ้าน" in out
    assert "เหตุผล: อบต. ทำถนนให้แล้วในงบปีนี้" in out
    out = await console.type("ยืนยันถอนรายการ")
    assert "ถอนรายการ #2 ออกจากแผนแล้ว" in out
    assert "#2 ปรับปรุงถนน" not in out  # no longer in the plan shown
    assert "#1 ขุดลอกคลองส่งน้ำ" in out

    assert await _rows(console, "SELECT status, withdrawn_reason FROM plan_items"
                                " WHERE id = 2") == [("withdrawn", "อบต. ทำถนนให้แล้วในงบปีนี้")]
    assert await _rows(console, "SELECT from_state, to_state, reason FROM audit_log"
                                " WHERE action = 'plan_item.withdraw'") == [
        ("not_started", "withdrawn", "อบต. ทำถนนให้แล้วในงบปีนี้")]
    out = await console.type("/as 2")
    assert "ถอนรายการออกจากแผน ผ#2" in out
    assert "เหตุผล: อบต. ทำถนนให้แล้วในงบปีนี้" in out


async def test_overdue_items_are_marked(console: Harness, clock: FixedClock) -> None:
    await _three_items(console)
    await console.type("กลับเมนูหลัก")
    clock.advance(timedelta(days=120))  # 10 May 2568: every item ended on 30 Apr
    await console.type("เมนู")
    out = await console.type("แผนของหมู่บ้าน")
    assert "#1 ขุดลอกคลองส่งน้ำ · พึ่งตนเอง · ยังไม่เริ่ม · 0% · ถึง 30 เม.ย. 2568 ⚠️ เลยกำหนด" in out
    assert out.count("เลยกำหนด") == 3


async def test_only_the_village_committee_has_the_plan(console: Harness) -> None:
    await console.start("2")
    out = await console.type("เมนู")
    assert "แผนของหมู่บ้าน" not in out
    out = await console.type("แผนของหมู่บ้าน")  # typed anyway: just the menu again
    assert "เลือกสิ่งที่ต้องการทำ" in out
    assert await console.scalar("SELECT COUNT(*) FROM plans") == 0


async def test_leaving_mid_item_keeps_a_draft_but_not_at_home(console: Harness) -> None:
    await _open_plan(console)
    out = await console.type("เมนู")  # at the home screen: nothing to keep
    assert "เก็บร่าง" not in out and "ทำต่อ" not in out
    await console.type("แผนของหมู่บ้าน")
    await console.type("เพิ่มรายการ")
    await console.type("ซ่อมประปาหมู่บ้าน")
    out = await console.type("เมนู")
    assert "เก็บร่างไว้ให้แล้ว" in out
    out = await console.type("ทำต่อ: แผนของหมู่บ้าน")
    assert "ใช้แนวทางไหน" in out  # no problem reports: straight to the approach


# --- random input at every step ----------------------------------------------------------------

FULL_DRAFT = {"_village": VILLAGE, "task": "add", "title": "ขุดลอกคลอง",
              "problem_ids": ["1"], "approach": "cooperation", "partner": "อบต.",
              "budget_needed": 35_000, "own_money": 0, "own_labour": "", "start_on": "2025-02-01",
              "end_on": "2025-04-30", "responsible": "นายสมชาย", "period_start": "2025-02-01",
              "period_end": "2025-04-30", "item_id": 1, "withdraw_reason": "ไม่จำเป็นแล้ว"}
EVERYTHING = set(FULL_DRAFT)
OWN_FIELDS: dict[str, set[str]] = {
    "home": EVERYTHING, "village": {"_village"},
    "pick_edit": EVERYTHING - {"_village", "task"}, "pick_withdraw": {"item_id", "title"},
    "period_start": {"period_start", "period_end"}, "period_end": {"period_end"},
    "approach": {"approach", "partner"}, "start_on": {"start_on", "end_on"},
    "plan_confirm": set(), "item_confirm": set(), "withdraw_confirm": set(),
}




async def _seed_plan(console: Harness) -> None:
    await _problems(console)
    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(conn, village_code=VILLAGE, period_start=START.date(),
                                          period_end=START.date(), person_id=1, now=START)
        await plans.add_item(conn, plan_id=plan_id, village_code=VILLAGE, title="ขุดลอกคลอง",
                             approach="cooperation", partner="อบต.", budget_needed=35_000,
                             own_money=0, own_labour="", start_on=START.date(),
                             end_on=START.date(), responsible="นายสมชาย", problem_ids=[1],
                             person_id=1, now=START)


async def _snapshot(console: Harness) -> list[tuple]:  # type: ignore[type-arg]
    return [*await _rows(console, "SELECT * FROM plans"),
            *await _rows(console, "SELECT * FROM plan_items"),
            *await _rows(console, "SELECT * FROM plan_item_problems"),
            *await _rows(console, "SELECT action FROM audit_log WHERE action LIKE 'plan%'")]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(step=st.sampled_from(sorted(FLOW.steps)), answer=answers())
@example(step="title", answer={"text": "/start"})
@example(step="title", answer={"text": "\u200bยกเลิก"})
@example(step="title", answer={"text": "/cancel"})
@example(step="title", answer={"text": "/start ABCD2345"})
async def test_random_input_at_every_step(console: Harness, step: str, answer: dict) -> None:  # type: ignore[type-arg]
    if navigates(answer) or presses_save(answer):
        return
    if console.chat.active is None:
        await console.start("1")
        await _seed_plan(console)
        await console.type("เมนู")
    before = await _snapshot(console)
    await put_in_step(console.db, "plan", step, FULL_DRAFT)
    await throw(console, answer)

    flow, now_at, data = await conversation(console.db)
    if flow is None:  # only "back to the main menu" at home ends the flow
        assert step == "home"
    else:
        assert flow == "plan"
        assert now_at in FLOW.steps
        for key, value in FULL_DRAFT.items():
            if key not in OWN_FIELDS.get(step, {step}):
                assert data.get(key) == value, (step, key)
    assert await _snapshot(console) == before  # nothing saved
