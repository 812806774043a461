"""Errors that say what is wrong and how to answer, specific to the step, through the
console channel as a village leader would meet them: each explanation is followed by the
same question again, and what was entered before is kept.

- typed text or a number where buttons are expected says to tap a button (or, where the
  buttons are numbered, which numbers there are);
- a day the month does not have ("31 ก.พ.") says so; a future date where only past ones
  are allowed (and a past one where only future ones are) says so, and the date hints
  never offer "พรุ่งนี้" where only past dates are allowed (nor "เมื่อวาน" for the future);
- "ไม่มี / ไม่ / no / none / - / ข้าม / skip" leaves out every optional question;
- "เปิดการเตือน" is not offered while reminders are on (nor the pause already in force);
- a mistyped "other" forum group can be removed.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from typing import Any

import pytest

from handlers.flows import FLOWS
from handlers.messages import Incoming
from handlers.steps import OPTIONAL_QUESTIONS
from storage import people, plans, problems, support_requests
from tests.conftest import START, Harness

VILLAGE = "35010101"
VILLAGE_ID = 1
QUESTION_DATE = "จัดเวทีประชาคมวันไหนครับ"
QUESTION_PARTICIPANTS = "มีผู้เข้าร่วมเวทีกี่คน"
QUESTION_GROUPS = "มีกลุ่มไหนมาร่วมเวทีบ้าง"
QUESTION_NOTES = "บันทึกสั้น ๆ ว่าเวทีตกลงอะไรกันบ้าง"
QUESTION_PHOTO = "ส่งรูปถ่ายบรรยากาศเวที"
QUESTION_REMINDERS = "ต้องการทำอะไรครับ"
QUESTION_PLAN_END = "แผนรอบนี้สิ้นสุดวันที่เท่าไร"
SUMMARY = "ตรวจสอบก่อนบันทึก"
_ids = itertools.count()


def after(out: str, explanation: str) -> str:
    """What follows the explanation: the question asked again comes after it."""
    assert explanation in out, out
    return out.split(explanation, 1)[1]


async def _to_forum_date(console: Harness) -> None:
    await console.start("1")
    out = await console.type("บันทึกเวทีประชาคม")
    assert QUESTION_DATE in out


# --- buttons expected ---------------------------------------------------------------------------

async def test_a_number_or_text_where_buttons_are_expected(console: Harness) -> None:
    await console.start("1")
    out = await console.type("ตั้งค่าการเตือน")
    assert QUESTION_REMINDERS in out
    buttons = out.count("   [")

    out = await console.type("17")  # no button 17 in the console's numbered list
    rest = after(out, f"ไม่มีปุ่มหมายเลข 17 ครับ กรุณาเลือกจากปุ่ม โดยพิมพ์หมายเลข 1 ถึง {buttons}")
    assert QUESTION_REMINDERS in rest and "[1] หยุด 1 สัปดาห์" in rest

    out = await console.type("หยุดสองอาทิตย์")
    rest = after(out, "\"หยุดสองอาทิตย์\" ไม่ตรงกับปุ่มไหนเลยครับ")
    assert f"พิมพ์หมายเลขหน้าปุ่ม (1 ถึง {buttons})" in out
    assert QUESTION_REMINDERS in rest

    out = await console.type("หยุด 1 สัปดาห์")  # the label typed is still an answer
    assert "หยุดไว้ถึง 17 ม.ค. 2568" in out


async def test_where_buttons_are_not_numbered_typing_their_text_is_explained(
        console: Harness) -> None:
    """On LINE and Telegram nothing is numbered: a number typed is not a button, and the
    explanation says to tap one or type its text."""
    async with console.db.transaction() as conn:
        identity = await people.ensure_identity(conn, "line", "U-somsri", "U-somsri", START)
        await people.link_identity(conn, identity.id, VILLAGE_ID)

    async def send(text: str) -> str:
        await console.engine.handle(Incoming(channel="line", user_id="U-somsri",
                                             chat_id="U-somsri",
                                             update_id=f"line-{next(_ids)}", text=text))
        async with console.db.transaction() as conn:
            cur = await conn.execute("SELECT payload FROM outbox WHERE chat_id = 'U-somsri'"
                                     " AND status = 'pending' ORDER BY id")
            rows = await cur.fetchall()
            await conn.execute("UPDATE outbox SET status = 'sent' WHERE chat_id = 'U-somsri'")
        return "\n".join(json.loads(row[0])["text"] for row in rows)

    out = await send("ตั้งค่าการเตือน")
    assert QUESTION_REMINDERS in out
    out = await send("2")
    rest = after(out, "คำถามนี้ตอบด้วยตัวเลขไม่ได้ครับ กรุณาเลือกจากปุ่มด้านล่าง")
    assert "หมายเลข" not in out  # LINE shows no numbers: none are offered
    assert QUESTION_REMINDERS in rest
    out = await send("หยุดนานๆ")
    rest = after(out, "\"หยุดนานๆ\" ไม่ตรงกับปุ่มไหนเลยครับ กรุณาเลือกจากปุ่มด้านล่าง"
                      " หรือพิมพ์ข้อความให้ตรงกับปุ่มครับ")
    assert QUESTION_REMINDERS in rest


async def test_a_number_at_a_multi_select_is_not_an_other_group(console: Harness) -> None:
    await _to_forum_date(console)
    await console.type("5 ม.ค. 68")
    out = await console.type("40")
    assert QUESTION_GROUPS in out
    out = await console.type("99")
    rest = after(out, "ไม่มีปุ่มหมายเลข 99 ครับ")
    assert QUESTION_GROUPS in rest
    assert "อื่น ๆ ที่พิมพ์ไว้" not in out  # not kept as a group named "99"


# --- dates ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "explanation"), [
    ("31 ก.พ.", "เดือนกุมภาพันธ์ 2568 มีถึงวันที่ 28 ไม่มีวันที่ 31 กรุณาพิมพ์วันที่ใหม่ครับ"),
    ("30 ก.พ. 2567", "เดือนกุมภาพันธ์ 2567 มีถึงวันที่ 29 ไม่มีวันที่ 30"),  # a leap year
    ("29 ก.พ. 2566", "ปี 2566 เดือนกุมภาพันธ์มีแค่ 28 วัน ไม่มีวันที่ 29"),  # not one
    ("32 ม.ค.", "เดือนมกราคม 2568 มีถึงวันที่ 31 ไม่มีวันที่ 32"),
    ("31 เม.ย. 67", "เดือนเมษายน 2567 มีถึงวันที่ 30 ไม่มีวันที่ 31"),
    ("๓๑/๙/๒๕๖๗", "เดือนกันยายน 2567 มีถึงวันที่ 30 ไม่มีวันที่ 31"),
    ("1/13/2567", "ไม่มีเดือนที่ 13 ครับ"),
    ("1/3/256", "ปีต้องเป็นตัวเลข 4 หลัก เช่น 2568 หรือ 2 หลัก เช่น 68"),
    ("พรุ่งนี้", "11 ม.ค. 2568 ยังมาไม่ถึงครับ ข้อนี้ต้องเป็นวันที่ผ่านมาแล้ว"
                 " ไม่เกินวันนี้ (10 ม.ค. 2568)"),
    ("1/1/2570", "1 ม.ค. 2570 ยังมาไม่ถึงครับ"),
    ("เมื่อวานซืนมั้ง", "ไม่เข้าใจวันที่ครับ"),
])
async def test_a_date_the_question_cannot_take_says_why(console: Harness, typed: str,
                                                        explanation: str) -> None:
    await _to_forum_date(console)
    out = await console.type(typed)
    rest = after(out, explanation)
    assert QUESTION_DATE in rest  # the same question again
    assert "พรุ่งนี้" not in out.replace(typed, "")  # only past dates: never offered
    out = await console.type("5 ม.ค. 68")
    assert QUESTION_PARTICIPANTS in out


async def test_date_hints_offer_only_words_that_fit(console: Harness) -> None:
    await _to_forum_date(console)  # a forum was held: today or before
    out = await console.type("ไม่แน่ใจ")
    assert "ไม่เข้าใจวันที่ครับ" in out and "เมื่อวาน" in out and "พรุ่งนี้" not in out
    out = await console.type("ช่วยเหลือ")
    assert "เมื่อวาน" in out and "พรุ่งนี้" not in out and QUESTION_DATE in out
    out = await console.type("เมื่อวาน")  # and what the hint offers works
    assert QUESTION_PARTICIPANTS in out

    out = await console.type("ยกเลิก")
    out = await console.type("แผนของหมู่บ้าน")
    out = await console.type("จัดทำแผนรอบใหม่")
    out = await console.type("1 ม.ค. 68")
    assert QUESTION_PLAN_END in out  # the end of a plan being opened: today or later
    out = await console.type("ไม่แน่ใจ")
    assert "ไม่เข้าใจวันที่ครับ" in out and "พรุ่งนี้" in out and "เมื่อวาน" not in out
    out = await console.type("ช่วยเหลือ")
    assert "พรุ่งนี้" in out and "เมื่อวาน" not in out and QUESTION_PLAN_END in out


async def test_a_past_date_where_a_future_one_is_needed_says_so(console: Harness) -> None:
    await console.start("1")
    await console.type("แผนของหมู่บ้าน")
    await console.type("จัดทำแผนรอบใหม่")
    out = await console.type("1 ม.ค. 68")
    assert QUESTION_PLAN_END in out
    out = await console.type("5 ม.ค. 68")  # after the start, but already past
    rest = after(out, "5 ม.ค. 2568 ผ่านมาแล้วครับ ข้อนี้ต้องเป็นวันนี้ (10 ม.ค. 2568)"
                      " หรือวันข้างหน้า")
    assert QUESTION_PLAN_END in rest
    out = await console.type("31 เม.ย. 68")
    rest = after(out, "เดือนเมษายน 2568 มีถึงวันที่ 30 ไม่มีวันที่ 31")
    assert QUESTION_PLAN_END in rest
    out = await console.type("30 เม.ย. 68")
    assert "รอบ 1 ม.ค. 2568 – 30 เม.ย. 2568" in out  # the start typed before is kept


async def test_a_summary_cannot_start_in_the_future(console: Harness) -> None:
    await console.start("5")
    await console.type("สรุปผล")
    out = await console.type("กำหนดเอง")
    assert "เริ่มวันที่" in out
    out = await console.type("1 มี.ค. 68")
    rest = after(out, "1 มี.ค. 2568 ยังมาไม่ถึงครับ")
    assert "เริ่มวันที่" in rest
    out = await console.type("1/1/2568")
    assert "ถึงวันที่" in out


# --- numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "explanation"), [
    ("ห้าสิบกว่า", "ไม่เข้าใจจำนวนครับ ขอเป็นตัวเลขจำนวนเดียว ถ้าไม่รู้แน่ชัด ใส่จำนวนโดยประมาณ"),
    ("40 คน 12 หลังคาเรือน", "มีตัวเลขมากกว่าหนึ่งจำนวนครับ กรุณาพิมพ์ตัวเลขเพียงจำนวนเดียว"),
    ("30-40", "มีตัวเลขมากกว่าหนึ่งจำนวนครับ"),
    ("2.5", "2.5 ไม่ใช่จำนวนเต็มครับ"),
    ("หลายคน", "ขอเป็นตัวเลขจำนวนเดียว"),
    ("🙏", "ไม่เข้าใจจำนวนครับ กรุณาพิมพ์เป็นตัวเลข"),
])
async def test_a_number_the_question_cannot_take_says_why(console: Harness, typed: str,
                                                          explanation: str) -> None:
    await _to_forum_date(console)
    await console.type("5 ม.ค. 68")
    out = await console.type(typed)
    rest = after(out, explanation)
    assert QUESTION_PARTICIPANTS in rest
    out = await console.type("สี่สิบ")
    assert QUESTION_GROUPS in out


# --- what was entered is kept; "other" can be removed; "none" skips ------------------------------

async def test_errors_on_the_way_keep_every_earlier_answer(console: Harness) -> None:
    await _to_forum_date(console)
    for typed in ("31 ก.พ.", "พรุ่งนี้"):
        assert QUESTION_DATE in after(await console.type(typed), "ครับ")
    out = await console.type("5 ม.ค. 68")
    assert QUESTION_PARTICIPANTS in out
    assert QUESTION_PARTICIPANTS in after(await console.type("ห้าสิบกว่า"), "ไม่เข้าใจจำนวน")
    out = await console.type("45")
    assert QUESTION_GROUPS in out

    out = await console.type("ไม่มี")  # at least one group is needed here
    rest = after(out, "กรุณาเลือกอย่างน้อย 1 ข้อ")
    assert QUESTION_GROUPS in rest
    out = await console.type("อสม.")
    assert "✅ อสม." in out
    out = await console.type("กลุ่มผู้ใช้นำ")  # a typo, kept as "other"
    assert "อื่น ๆ ที่พิมพ์ไว้: กลุ่มผู้ใช้นำ" in out
    assert "🗑 ลบที่พิมพ์ไว้" in out
    out = await console.type("🗑 ลบที่พิมพ์ไว้")
    assert "กลุ่มผู้ใช้นำ" not in out and QUESTION_GROUPS in out
    assert "✅ อสม." in out  # the ticks stay
    assert "🗑 ลบที่พิมพ์ไว้" not in out  # nothing typed to remove any more
    out = await console.type("กลุ่มผู้ใช้น้ำ")
    assert "อื่น ๆ ที่พิมพ์ไว้: กลุ่มผู้ใช้น้ำ" in out
    out = await console.type("✔️ เสร็จแล้ว")
    assert QUESTION_NOTES in out  # no reports in the village: no problems to pick

    out = await console.type("-")
    assert QUESTION_PHOTO in out
    out = await console.type("ไม่มีครับ")  # refused before: only "ข้าม" worked
    assert SUMMARY in out
    assert "วันที่จัดเวที: 5 ม.ค. 2568" in out
    assert "ผู้เข้าร่วม: 45 คน" in out
    assert "กลุ่มที่มาร่วม: อสม., กลุ่มผู้ใช้น้ำ" in out
    assert "บันทึก: ไม่มี" in out and "รูปถ่าย: ไม่มี" in out
    out = await console.type("✅ บันทึก")
    assert "บันทึกเวทีประชาคมแล้ว" in out
    assert await console.scalar(
        "SELECT held_on || '|' || participants || '|' || groups_present || '|' || other_groups"
        " || '|' || notes || '|' || coalesce(photo_ref, '-') FROM forums") == (
        "2025-01-05|45|" + json.dumps(["health_volunteers"]) + "|กลุ่มผู้ใช้น้ำ||-")


async def _put(console: Harness, user: str, flow: str, step: str, data: dict[str, Any]) -> None:
    """Put a person's conversation on a step, as if they had answered up to it."""
    async with console.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO conversations (identity_id, flow, step, data, history, seq, updated_at)"
            " SELECT id, ?, ?, ?, '[]', 50, ? FROM identities WHERE platform_user_id = ?"
            " ON CONFLICT (identity_id) DO UPDATE SET flow = excluded.flow,"
            " step = excluded.step, data = excluded.data, history = '[]', seq = 50,"
            " updated_at = excluded.updated_at",
            (flow, step, json.dumps(data, ensure_ascii=False),
             console.clock.now().isoformat(timespec="microseconds"), user))


async def _conversation(console: Harness, user: str) -> tuple[str | None, str | None,
                                                               dict[str, Any]]:
    async with console.db.read() as conn, conn.execute(
            "SELECT flow, step, data FROM conversations c JOIN identities i"
            " ON i.id = c.identity_id WHERE i.platform_user_id = ?", (user,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return row[0], row[1], json.loads(row[2])


async def _seed(console: Harness) -> None:
    """A reported problem (#1), an open plan with an item (#1) and a support request (#1)
    waiting for the TAO."""
    async with console.db.transaction() as conn:
        await problems.insert(conn, village_code=VILLAGE, category="water",
                              description="บ่อน้ำตื้นแห้ง", households=45, severity=3,
                              photo_ref=None, photo_platform_id=None, latitude=None,
                              longitude=None, reporter_id=VILLAGE_ID, now=START)
        plan = await plans.create_plan(conn, village_code=VILLAGE, period_start=date(2025, 1, 1),
                                       period_end=date(2025, 12, 31), person_id=VILLAGE_ID,
                                       now=START)
        item = await plans.add_item(
            conn, plan_id=plan, village_code=VILLAGE, title="ซ่อมฝาย",
            approach="external_support", partner="อบต.", budget_needed=150_000,
            own_money=20_000, own_labour="", start_on=date(2025, 2, 1),
            end_on=date(2025, 4, 30), responsible="นายสมชาย", problem_ids=[1],
            person_id=VILLAGE_ID, now=START)
        await support_requests.create(conn, item_id=item, village_code=VILLAGE,
                                      amount=125_000, purpose="ซื้อปูน", person_id=VILLAGE_ID,
                                      now=START)


REPORT = {"village": VILLAGE, "category": "water", "description": "บ่อน้ำแห้ง ไม่มีน้ำใช้",
          "households": 45, "severity": 3, "photo": "old.jpg", "photo_id": None,
          "location": [15.79, 104.14], "_suggested": "water"}
FORUM = {"village": VILLAGE, "held_on": "2025-01-05", "participants": 40, "groups": ["elders"],
         "other_groups": "", "problems": [], "notes": "ตกลงขุดลอกสระ", "photo": "old.jpg",
         "photo_id": None}
PLAN = {"_village": VILLAGE, "task": "add", "title": "ขุดลอกคลอง", "problem_ids": [],
        "approach": "cooperation", "partner": "อบต.", "budget_needed": 35_000,
        "own_money": 5_000, "own_labour": "แรงงาน 5 คน", "start_on": "2025-02-01",
        "end_on": "2025-04-30", "responsible": "นายสมชาย"}
PROGRESS = {"_village": VILLAGE, "item_id": 1, "title": "ซ่อมฝาย", "old_status": "not_started",
            "old_percent": 0, "status": "in_progress", "percent": 40, "note": "เทปูนแล้ว",
            "photo": "old.jpg", "photo_id": None}
REVIEW = {"entity": "problem", "entity_id": 1, "verdict": "approved", "comment": "ดีมาก"}
TAO = {"request": 1, "asked": 125_000, "decision": "forward", "amount": 0,
       "note": "เกินกำลัง", "reason": ""}
# question key -> (who, flow, step, draft, what is typed, the field, its value once left out)
SKIPS: dict[str, tuple[str, str, str, dict[str, Any], str, str, Any]] = {
    "report.ask_photo": ("demo-village", "problem_report", "photo", REPORT, "ไม่มี", "photo",
                         None),
    "report.ask_location": ("demo-village", "problem_report", "location", REPORT, "no",
                            "location", None),
    # the report's own step for a photo and a location at once (handlers/flows/problem_report)
    "report.ask_attachments": ("demo-village", "problem_report", "attachments",
                               {**REPORT, "photo": None, "location": None}, "ไม่มีครับ",
                               "location", None),
    "forum.ask_problems": ("demo-village", "forum", "problems", FORUM, "ไม่มีครับ",
                           "problems", []),
    "forum.ask_notes": ("demo-village", "forum", "notes", FORUM, "-", "notes", ""),
    "forum.ask_photo": ("demo-village", "forum", "photo", FORUM, "ไม่มีรูป", "photo", None),
    "plan.ask_problems": ("demo-village", "plan", "problem_ids", PLAN, "none", "problem_ids",
                          []),
    "plan.ask_budget": ("demo-village", "plan", "budget_needed", PLAN, "ไม่มี",
                        "budget_needed", 0),
    "plan.ask_own_money": ("demo-village", "plan", "own_money", PLAN, "ไม่มีค่ะ", "own_money",
                           0),
    "plan.ask_own_labour": ("demo-village", "plan", "own_labour", PLAN, "ไม่", "own_labour",
                            ""),
    "progress.ask_note": ("demo-village", "progress", "note", PROGRESS, "Skip", "note", ""),
    "progress.ask_photo": ("demo-village", "progress", "photo", PROGRESS, "ไม่มีภาพ", "photo",
                           None),
    "review.ask_comment_optional": ("demo-core", "review_inbox", "comment", REVIEW, "ไม่มี",
                                    "comment", ""),
    "support.ask_forward_note": ("demo-tao", "tao_queue", "note", TAO, "ไม่มีครับ", "note",
                                 ""),
    "reminders.tambon_ask": ("demo-core", "tambon_reminders", "kinds",
                             {"tambons": ["350101"], "on": []}, "ไม่มี", "on", []),
}


def test_every_optional_question_is_covered() -> None:
    """Each question that may be left out (steps.OPTIONAL_QUESTIONS, filled as the flows are
    built) has a case below; a new optional question needs one."""
    missing = sorted(set(OPTIONAL_QUESTIONS) - set(SKIPS))
    assert missing == [], (f"optional questions without a case in SKIPS of "
                           f"tests/test_step_errors.py: {missing}")
    for key, (_, flow, step, *_rest) in SKIPS.items():
        assert step in FLOWS[flow].steps, (key, flow, step)


@pytest.mark.parametrize("question", sorted(SKIPS))
async def test_none_leaves_out_every_optional_question(console: Harness, question: str) -> None:
    user, flow, step, draft, typed, field, left_out = SKIPS[question]
    await _seed(console)
    await console.start({"demo-village": "1", "demo-core": "2", "demo-tao": "3"}[user])
    await _put(console, user, flow, step, draft)
    out = await console.type(typed)

    assert "กรุณา" not in out.split("\n")[0], out  # no refusal, no explanation
    now_flow, now_step, data = await _conversation(console, user)
    assert now_step != step, out  # not asked again: gone on
    if now_flow is not None:
        assert data[field] == left_out
        for key, value in draft.items():  # nothing else entered is lost
            if key not in (field, f"{field}_id") and not key.startswith("_"):
                assert data.get(key) == value, key
    else:  # the last question of its flow: saved as left out
        assert "เปิดการเตือน 0 แบบในตำบล" in out


async def test_none_with_something_ticked_is_explained(console: Harness) -> None:
    await console.start("2")
    out = await console.type("การเตือนของตำบล")
    assert "✅ เตือนเวทีประชาคมรายเดือน" in out
    out = await console.type("ไม่มี")
    rest = after(out, "เลือกไว้แล้วบางข้อ ถ้าไม่มีข้อไหนเลย กดข้อที่มี ✅ อีกครั้งเพื่อเอาออก")
    assert "เลือกการเตือนที่เปิดใช้ในตำบล" in rest and "✅ เตือนเวทีประชาคมรายเดือน" in rest


# --- reminders: only what can be done now is offered --------------------------------------------

async def test_reminders_offer_only_what_changes_something(console: Harness) -> None:
    await console.start("1")
    out = await console.type("ตั้งค่าการเตือน")
    assert "การเตือนของคุณ: เปิดอยู่" in out
    assert "เปิดการเตือน" not in out  # already on
    out = await console.type("เปิดการเตือน")  # typed anyway
    rest = after(out, "การเตือนของคุณเปิดอยู่แล้วครับ")
    assert QUESTION_REMINDERS in rest

    out = await console.type("หยุดจนกว่าจะเปิดใหม่")
    assert "หยุดไว้จนกว่าจะเปิดใหม่" in out
    out = await console.type("ตั้งค่าการเตือน")
    assert "[1] เปิดการเตือน" in out
    assert "] หยุดจนกว่าจะเปิดใหม่" not in out  # the pause already in force
    assert "] หยุด 1 สัปดาห์" in out  # a shorter one may replace it
    out = await console.type("หยุดจนกว่าจะเปิดใหม่")
    rest = after(out, "การเตือนของคุณหยุดไว้จนกว่าจะเปิดใหม่อยู่แล้วครับ")
    assert QUESTION_REMINDERS in rest
    out = await console.type("เปิดการเตือน")
    assert "การเตือนของคุณ: เปิดอยู่" in out
    assert await console.scalar("SELECT COUNT(*) FROM reminder_pauses") == 0
