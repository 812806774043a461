"""Drafts are safe: starting a flow that has a draft asks "continue / start afresh" instead
of overwriting it, and a draft with nothing the person entered is not kept."""

from __future__ import annotations

import json
from datetime import timedelta

from handlers.clock import FixedClock
from tests.conftest import Harness

RESUME, RESTART, HOME = "▶️ ทำต่อ", "🆕 เริ่มใหม่", "🏠 เมนูหลัก"


async def drafts(console: Harness) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    async with console.db.read() as conn, conn.execute(
            "SELECT flow, step, data FROM drafts ORDER BY flow") as cur:
        return [(r[0], r[1], json.loads(r[2])) for r in await cur.fetchall()]


async def leave_a_report_draft(console: Harness) -> None:
    """A report with its category and description, left at the households question."""
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("ไข้เลือดออกระบาดในหมู่บ้าน")
    out = await console.type("เมนู")
    assert "เก็บร่างไว้ให้แล้ว" in out and "ทำต่อ: รายงานปัญหา" in out


async def finish(console: Harness, *answers: str) -> str:
    out = ""
    for answer in (*answers, "ปานกลาง", "ข้าม", "✅ บันทึก"):
        out = await console.type(answer)
    assert "บันทึกรายงานปัญหาแล้ว" in out
    return out


async def test_starting_a_flow_with_a_draft_asks_first(console: Harness) -> None:
    await leave_a_report_draft(console)
    out = await console.type("รายงานปัญหา")
    assert 'มีร่าง "รายงานปัญหา" ที่ทำค้างไว้' in out and "10 ม.ค. 2568" in out
    assert RESUME in out and RESTART in out
    assert "ปัญหาเรื่องอะไร" not in out  # nothing started yet
    assert len(await drafts(console)) == 1  # and nothing overwritten


async def test_continue_resumes_the_draft_where_it_was(console: Harness) -> None:
    await leave_a_report_draft(console)
    await console.type("รายงานปัญหา")
    out = await console.type(RESUME)
    assert "ทำต่อจากร่าง: รายงานปัญหา" in out and "กี่ครัวเรือน" in out
    out = await finish(console, "12")
    assert "ทำต่อ: รายงานปัญหา" not in out  # the menu after it offers no draft to continue
    assert await console.scalar("SELECT description FROM problems") == \
        "ไข้เลือดออกระบาดในหมู่บ้าน"
    assert await drafts(console) == []


async def test_start_afresh_deletes_the_draft_and_begins_again(console: Harness) -> None:
    await leave_a_report_draft(console)
    await console.type("รายงานปัญหา")
    out = await console.type("เริ่มใหม่")  # the button's word, typed
    assert "ลบร่างเดิมแล้ว" in out and "ปัญหาเรื่องอะไร" in out
    assert await drafts(console) == []
    await console.type("อาหาร/ความอดอยาก")
    await console.type("เด็กเล็กขาดอาหารกลางวัน")
    await finish(console, "8")
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 1
    assert await console.scalar("SELECT description FROM problems") == \
        "เด็กเล็กขาดอาหารกลางวัน"


async def test_the_draft_question_can_be_left_with_the_draft_kept(console: Harness) -> None:
    await leave_a_report_draft(console)
    await console.type("รายงานปัญหา")
    out = await console.type(HOME)
    assert "ทำต่อ: รายงานปัญหา" in out
    assert [flow for flow, _, _ in await drafts(console)] == ["problem_report"]


async def test_what_was_typed_at_the_menu_is_used_when_starting_afresh(
        console: Harness) -> None:
    await leave_a_report_draft(console)
    out = await console.type("น้ำท่วมหมู่บ้านหนักมาก นาข้าวเสียหายทั้งทุ่ง")
    assert 'มีร่าง "รายงานปัญหา"' in out
    out = await console.type(RESTART)
    assert "ลบร่างเดิมแล้ว" in out
    async with console.db.read() as conn, conn.execute(
            "SELECT data FROM conversations") as cur:
        data = json.loads((await cur.fetchone())[0])
    assert data.get("description") == "น้ำท่วมหมู่บ้านหนักมาก นาข้าวเสียหายทั้งทุ่ง"


async def test_back_at_the_first_question_leaves_no_draft(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")  # the village is filled in: one village only
    out = await console.type("ย้อนกลับ")
    assert "เก็บร่าง" not in out and "ทำต่อ" not in out
    out = await console.type("แผนของหมู่บ้าน")
    out = await console.type("เมนู")
    assert "เก็บร่าง" not in out and "ทำต่อ" not in out
    assert await drafts(console) == []


async def test_answers_given_then_taken_back_are_still_a_draft(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("ย้อนกลับ")  # back at the category question, its answer kept
    out = await console.type("ย้อนกลับ")
    assert "เก็บร่างไว้ให้แล้ว" in out and "ทำต่อ: รายงานปัญหา" in out
    assert (await drafts(console))[0][2]["category"] == "health"


async def test_an_idle_flow_with_nothing_entered_keeps_no_draft(
        console: Harness, clock: FixedClock) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    clock.advance(timedelta(hours=25))
    assert await console.engine.close_idle_conversations() == 1
    await console.sender.deliver_due("console", "demo-village")
    out = console.take()
    assert "ไม่มีการตอบกลับนานเกิน 24 ชั่วโมง" in out and "ร่าง" not in out
    assert await drafts(console) == []


async def test_two_drafts_two_flows_both_kept(console: Harness) -> None:
    await leave_a_report_draft(console)
    await console.type("บันทึกเวทีประชาคม")
    out = await console.type("วันนี้")
    out = await console.type("เมนู")
    assert "เก็บร่างไว้ให้แล้ว" in out
    shown = out.rsplit("🤖", 1)[-1]
    assert shown.count("ทำต่อ:") == 1  # the newest on the first screen
    more = await console.type("เพิ่มเติม")
    assert "ทำต่อ:" in more  # the older one under "more"
    assert sorted(flow for flow, _, _ in await drafts(console)) == ["forum", "problem_report"]
