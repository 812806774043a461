"""Progress on plan items through the console channel: in progress with a note and a
photo, stalled with a reason, done with the village's confirmation of the outcome; what is
stored, what the audit log says, what the core team is told. Then random input at every
step."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers.flows.progress import FLOW
from storage import plans
from tests.conftest import START, Harness
from tests.fuzz import answers, conversation, navigates, presses_save, put_in_step, throw

VILLAGE = "35010101"
ITEMS = (("ขุดลอกคลองส่งน้ำ", "self_reliance", ""),
         ("ปรับปรุงถนนเข้าหมู่บ้าน", "cooperation", "อบต."),
         ("สร้างฝายชะลอน้ำ", "external_support", "อบต."))


async def _seed_plan(console: Harness, village: str = VILLAGE) -> None:
    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(conn, village_code=village,
                                          period_start=date(2025, 1, 1),
                                          period_end=date(2025, 6, 30), person_id=1, now=START)
        for title, approach, partner in ITEMS:
            await plans.add_item(conn, plan_id=plan_id, village_code=village, title=title,
                                 approach=approach, partner=partner, budget_needed=10_000,
                                 own_money=0, own_labour="", start_on=date(2025, 1, 1),
                                 end_on=date(2025, 3, 31), responsible="นายสมชาย",
                                 problem_ids=[], person_id=1, now=START)


async def _rows(console: Harness, sql: str, *params: object) -> list[tuple]:  # type: ignore[type-arg]
    async with console.db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def _pick(console: Harness, item: str) -> str:
    await console.start("1")
    out = await console.type("เมนู")
    assert "รายงานความคืบหน้า" in out
    out = await console.type("รายงานความคืบหน้า")
    assert "รายงานความคืบหน้าของรายการไหน" in out
    out = await console.type(item)
    assert "สถานะล่าสุดเป็นอย่างไร" in out
    return out


async def test_in_progress_with_a_note_and_a_photo(console: Harness) -> None:
    await _seed_plan(console)
    await console.start("1")
    await console.type("เมนู")
    out = await console.type("รายงานความคืบหน้า")
    assert "#1 ขุดลอกคลองส่งน้ำ · 0%" in out and "#3 สร้างฝายชะลอน้ำ · 0%" in out
    out = await console.type("#1 ขุดลอกคลองส่งน้ำ · 0%")
    assert "(ตอนนี้: ยังไม่เริ่ม 0%)" in out
    out = await console.type("กำลังดำเนินการ")
    assert "กี่เปอร์เซ็นต์" in out
    for bad, explanation in (("150", "ระหว่าง 0 ถึง 100"), ("ครึ่ง ๆ", "0.5 ไม่ใช่จำนวนเต็ม"),
                             ("", "ไม่เข้าใจจำนวน")):
        out = await console.type(bad)
        assert explanation in out and "กี่เปอร์เซ็นต์" in out, bad
    out = await console.type("๔๐%")
    assert "บันทึกเพิ่มไหม" in out
    out = await console.type("ขุดลอกไปแล้ว 200 เมตร จาก 500 เมตร")
    assert "ส่งรูปถ่ายความคืบหน้า" in out
    out = await console.type("/photo media/canal.jpg")
    assert "ตรวจสอบก่อนบันทึก" in out
    assert "สถานะ: ยังไม่เริ่ม → กำลังดำเนินการ" in out
    assert "ความคืบหน้า: 40%" in out
    assert "บันทึก: ขุดลอกไปแล้ว 200 เมตร จาก 500 เมตร" in out
    assert "รูปถ่าย: มี" in out
    assert "แก้เปอร์เซ็นต์" in out and "แก้ผลลัพธ์" not in out
    out = await console.type("✅ บันทึก")
    assert "บันทึกความคืบหน้าของรายการ #1 แล้ว" in out

    assert await _rows(console, "SELECT status, percent, stalled_reason FROM plan_items"
                                " WHERE id = 1") == [("in_progress", 40, None)]
    assert await _rows(console, "SELECT item_id, village_code, status, percent, note, photo_ref,"
                                " reporter_id FROM progress_updates") == [
        (1, VILLAGE, "in_progress", 40, "ขุดลอกไปแล้ว 200 เมตร จาก 500 เมตร",
         "media/canal.jpg", 1)]
    row = (await _rows(console, "SELECT from_state, to_state, reason, detail, person_id"
                                " FROM audit_log WHERE action = 'plan_item.progress'"))[0]
    assert row[:3] == ("not_started", "in_progress", None) and row[4] == 1
    assert json.loads(row[3]) == {"progress_id": 1, "percent_from": 0, "percent": 40}

    out = await console.type("/as 2")
    assert "ความคืบหน้า ผ#1" in out
    assert "ขุดลอกคลองส่งน้ำ (พึ่งตนเอง)" in out
    assert "สถานะ: กำลังดำเนินการ · 40%" in out
    assert "บันทึก: ขุดลอกไปแล้ว 200 เมตร" in out
    assert "ผู้รายงาน: สมศรี" in out


async def test_stalled_with_a_reason(console: Harness) -> None:
    await _seed_plan(console)
    await _pick(console, "#2 ปรับปรุงถนนเข้าหมู่บ้าน · 0%")
    out = await console.type("ติดขัด")
    assert "ติดขัดเพราะอะไร" in out
    out = await console.type("ฝนตกหนัก รถเข้าพื้นที่ไม่ได้")
    assert "กี่เปอร์เซ็นต์" in out
    out = await console.type("30 %")  # typed with the sign
    assert "บันทึกเพิ่มไหม" in out
    await console.type("ข้าม")
    out = await console.type("ข้าม")
    assert "สถานะ: ยังไม่เริ่ม → ติดขัด" in out
    assert "ติดขัดเพราะ: ฝนตกหนัก รถเข้าพื้นที่ไม่ได้" in out
    assert "บันทึก: ไม่มี" in out and "รูปถ่าย: ไม่มี" in out
    assert "แก้เหตุที่ติดขัด" in out
    out = await console.type("บันทึก")
    assert "บันทึกความคืบหน้าของรายการ #2 แล้ว" in out

    assert await _rows(console, "SELECT status, percent, stalled_reason FROM plan_items"
                                " WHERE id = 2") == [("stalled", 30, "ฝนตกหนัก รถเข้าพื้นที่ไม่ได้")]
    assert await _rows(console, "SELECT from_state, to_state, reason FROM audit_log"
                                " WHERE action = 'plan_item.progress'") == [
        ("not_started", "stalled", "ฝนตกหนัก รถเข้าพื้นที่ไม่ได้")]
    out = await console.type("/as 2")
    assert "⚠️ รายการติดขัด ผ#2" in out
    assert "ติดขัดเพราะ: ฝนตกหนัก รถเข้าพื้นที่ไม่ได้" in out
    assert "ร่วมมือกับ อบต." in out


async def test_done_with_the_outcome_confirmed(console: Harness) -> None:
    await _seed_plan(console)
    await _pick(console, "#3 สร้างฝายชะลอน้ำ · 0%")
    out = await console.type("เสร็จแล้ว")
    assert "บันทึกเพิ่มไหม" in out  # done is 100%: no percent asked
    await console.type("สร้างฝายเสร็จ 2 จุด")
    out = await console.type("ข้าม")
    assert "แก้ปัญหาได้ไหม" in out
    out = await console.type("แก้ปัญหาได้")
    assert "ช่วยได้กี่ครัวเรือน" in out
    out = await console.type("สี่สิบห้า")
    assert "สถานะ: ยังไม่เริ่ม → เสร็จแล้ว" in out
    assert "ความคืบหน้า: 100%" in out
    assert "ผลลัพธ์: แก้ปัญหาได้ · ช่วยได้ 45 ครัวเรือน" in out
    assert "แก้เปอร์เซ็นต์" not in out
    out = await console.type("บันทึก")
    assert "บันทึกความคืบหน้าของรายการ #3 แล้ว" in out

    assert await _rows(console, "SELECT status, percent, outcome_solved, households_helped,"
                                " outcome_confirmed_at IS NOT NULL FROM plan_items"
                                " WHERE id = 3") == [("done", 100, "yes", 45, 1)]
    row = (await _rows(console, "SELECT from_state, to_state, detail FROM audit_log"
                                " WHERE action = 'plan_item.progress'"))[0]
    assert row[:2] == ("not_started", "done")
    assert json.loads(row[2]) == {"progress_id": 1, "percent_from": 0, "percent": 100,
                                  "outcome": "yes", "households_helped": 45}

    # A done item is no longer offered.
    out = await console.type("รายงานความคืบหน้า")
    assert "#3 สร้างฝาย" not in out and "#1 ขุดลอกคลองส่งน้ำ" in out

    out = await console.type("/as 2")
    assert "✅ รายการเสร็จแล้ว ผ#3" in out
    assert "ผลลัพธ์: แก้ปัญหาได้ · ช่วยได้ 45 ครัวเรือน" in out
    assert "ขอรับการสนับสนุนจาก อบต." in out


async def test_changing_the_status_on_the_confirmation_screen_asks_what_it_needs(
        console: Harness) -> None:
    await _seed_plan(console)
    await _pick(console, "#1 ขุดลอกคลองส่งน้ำ · 0%")
    await console.type("กำลังดำเนินการ")
    await console.type("60")
    await console.type("ข้าม")
    out = await console.type("ข้าม")
    assert "ความคืบหน้า: 60%" in out
    out = await console.type("แก้สถานะ")
    out = await console.type("ติดขัด")
    assert "ติดขัดเพราะอะไร" in out
    out = await console.type("ขาดแรงงาน")
    assert "กี่เปอร์เซ็นต์" in out  # a new status asks its percent again
    out = await console.type("55")
    assert "สถานะ: ยังไม่เริ่ม → ติดขัด" in out and "ติดขัดเพราะ: ขาดแรงงาน" in out
    assert "ความคืบหน้า: 55%" in out
    out = await console.type("แก้สถานะ")
    out = await console.type("เสร็จแล้ว")
    assert "แก้ปัญหาได้ไหม" in out
    out = await console.type("ได้บางส่วน")
    out = await console.type("0")
    assert "ความคืบหน้า: 100%" in out and "ผลลัพธ์: ได้บางส่วน · ช่วยได้ 0 ครัวเรือน" in out
    assert "ติดขัดเพราะ" not in out
    await console.type("บันทึก")
    assert await _rows(console, "SELECT status, percent, stalled_reason, outcome_solved,"
                                " households_helped FROM plan_items WHERE id = 1") == [
        ("done", 100, None, "partly", 0)]


async def test_back_past_a_needed_answer_asks_it_again(console: Harness) -> None:
    await _seed_plan(console)
    await _pick(console, "#1 ขุดลอกคลองส่งน้ำ · 0%")
    for answer in ("กำลังดำเนินการ", "60", "ข้าม", "ข้าม", "แก้สถานะ", "ติดขัด"):
        out = await console.type(answer)
    assert "ติดขัดเพราะอะไร" in out
    out = await console.type("ย้อนกลับ")
    assert "สถานะล่าสุดเป็นอย่างไร" in out
    out = await console.type("ย้อนกลับ")  # to the confirmation screen, without a reason
    assert "ติดขัดเพราะอะไร" in out and "ตรวจสอบก่อนบันทึก" not in out
    await console.type("ขาดแรงงาน")
    out = await console.type("50%")
    assert "ติดขัดเพราะ: ขาดแรงงาน" in out and "ความคืบหน้า: 50%" in out


async def test_no_open_items_is_said_politely(console: Harness) -> None:
    await _seed_plan(console, village="35010102")  # another village's plan
    await console.start("1")
    await console.type("เมนู")
    out = await console.type("รายงานความคืบหน้า")
    assert "ยังไม่มีรายการในแผนที่ต้องรายงานความคืบหน้า" in out
    assert "ต้องการทำอะไรต่อ" in out  # back at the menu
    assert await console.scalar("SELECT COUNT(*) FROM progress_updates") == 0


# --- random input at every step ----------------------------------------------------------------

FULL_DRAFT = {"_village": VILLAGE, "item_id": 1, "title": "ขุดลอกคลองส่งน้ำ",
              "old_status": "not_started", "old_percent": 0, "status": "stalled",
              "stalled_reason": "ฝนตก", "percent": 40, "note": "", "photo": None,
              "photo_id": None}
DEPENDENT = {"stalled_reason", "percent", "outcome", "households"}
OWN_FIELDS: dict[str, set[str]] = {
    "village": {"_village"}, "item": set(FULL_DRAFT) - {"_village"},
    "status": {"status", *DEPENDENT}, "photo": {"photo", "photo_id"}, "confirm": set(),
}




async def _snapshot(console: Harness) -> list[tuple]:  # type: ignore[type-arg]
    return [*await _rows(console, "SELECT * FROM plan_items"),
            *await _rows(console, "SELECT * FROM progress_updates"),
            *await _rows(console, "SELECT action FROM audit_log WHERE action LIKE 'plan%'")]


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(step=st.sampled_from(sorted(FLOW.steps)), answer=answers())
@example(step="note", answer={"text": "/start"})
@example(step="note", answer={"text": "\u200bยกเลิก"})
@example(step="note", answer={"text": "/cancel"})
@example(step="note", answer={"text": "/start ABCD2345"})
async def test_random_input_at_every_step(console: Harness, step: str, answer: dict) -> None:  # type: ignore[type-arg]
    if navigates(answer) or presses_save(answer):
        return
    if console.chat.active is None:
        await console.start("1")
        await _seed_plan(console)
        await console.type("เมนู")
    before = await _snapshot(console)
    await put_in_step(console.db, "progress", step, FULL_DRAFT)
    await throw(console, answer)

    flow, now_at, data = await conversation(console.db)
    assert flow == "progress"
    assert now_at in FLOW.steps
    for key, value in FULL_DRAFT.items():
        if key not in OWN_FIELDS.get(step, {step}):
            assert data.get(key) == value, (step, key)
    assert await _snapshot(console) == before  # nothing saved
