"""Recording a community forum through the console channel, as a village leader types it,
and random input at every step of the flow."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.flows.forum import FLOW, group_keys
from storage import forums, problems
from storage.db import Database
from tests.conftest import START, Harness
from tests.fuzz import answers, conversation, is_navigation, put_in_step, throw

DEMO_VILLAGE = "35010101"
QUESTION_DATE = "จัดเวทีประชาคมวันไหน"
QUESTION_PARTICIPANTS = "มีผู้เข้าร่วมเวทีกี่คน"
QUESTION_GROUPS = "มีกลุ่มไหนมาร่วมเวทีบ้าง"
QUESTION_PROBLEMS = "ในเวทีคุยปัญหาไหนบ้าง"
QUESTION_NOTES = "บันทึกสั้น ๆ ว่าเวทีตกลงอะไรกันบ้าง"
QUESTION_PHOTO = "ส่งรูปถ่ายบรรยากาศเวที"
SUMMARY = "ตรวจสอบก่อนบันทึก"


async def _report(db: Database, village: str, category: str, description: str) -> int:
    async with db.transaction() as conn:
        return await problems.insert(
            conn, village_code=village, category=category, description=description,
            households=10, severity=2, photo_ref=None, photo_platform_id=None, latitude=None,
            longitude=None, reporter_id=1, now=START)


async def test_forum_with_groups_problems_and_edit_reaches_core_team(console: Harness) -> None:
    water = await _report(console.db, DEMO_VILLAGE, "water", "บ่อน้ำตื้นแห้ง")
    debt = await _report(console.db, DEMO_VILLAGE, "debt", "หนี้นอกระบบ")
    elsewhere = await _report(console.db, "35010102", "health", "ไข้เลือดออก")
    await console.start("1")

    out = await console.type("เมนู")
    assert "บันทึกเวทีประชาคม" in out
    out = await console.type("บันทึกเวทีประชาคม")
    assert QUESTION_DATE in out

    out = await console.type("6 ก.พ. 68")  # after today (10 Jan 2025)
    assert "6 ก.พ. 2568 ยังมาไม่ถึง" in out and "ไม่เกินวันนี้ (10 ม.ค. 2568)" in out
    assert QUESTION_DATE in out  # the same question again

    out = await console.type("5 ม.ค. 68")  # Buddhist-Era short year
    assert QUESTION_PARTICIPANTS in out

    out = await console.type("หลายคนมาก")
    assert "ไม่เข้าใจจำนวน" in out
    assert QUESTION_PARTICIPANTS in out
    out = await console.type("0")
    assert "ระหว่าง 1 ถึง 10,000" in out
    out = await console.type("สี่สิบ")
    assert QUESTION_GROUPS in out
    assert "อสม." in out and "พระ/วัด" in out

    out = await console.type("อสม.")  # typing a label ticks it
    assert "✅ อสม." in out
    out = await console.type("ผู้สูงอายุ/ผู้อาวุโส")
    assert "✅ ผู้สูงอายุ/ผู้อาวุโส" in out
    out = await console.type("ผู้สูงอายุ/ผู้อาวุโส")  # pressed again: unticked
    assert "✅ ผู้สูงอายุ/ผู้อาวุโส" not in out
    assert "✅ อสม." in out
    out = await console.type("กลุ่มผู้ใช้น้ำ")  # not a button: an "other" group
    assert "อื่น ๆ ที่พิมพ์ไว้: กลุ่มผู้ใช้น้ำ" in out
    out = await console.type("เสร็จแล้ว")
    assert QUESTION_PROBLEMS in out
    assert f"#{water} ภัยแล้ง/น้ำ" in out
    assert f"#{debt} หนี้สินครัวเรือน" in out
    assert f"#{elsewhere} " not in out  # another village's report

    out = await console.type(f"#{water} ภัยแล้ง/น้ำ")
    assert f"✅ #{water} ภัยแล้ง/น้ำ" in out
    out = await console.type("เสร็จแล้ว")
    assert QUESTION_NOTES in out

    out = await console.type("ตกลงขุดลอกสระน้ำสาธารณะร่วมกัน")
    assert QUESTION_PHOTO in out
    out = await console.type("/photo media/forum.jpg")
    assert SUMMARY in out
    assert "วันที่จัดเวที: 5 ม.ค. 2568" in out
    assert "ผู้เข้าร่วม: 40 คน" in out
    assert "กลุ่มที่มาร่วม: อสม., กลุ่มผู้ใช้น้ำ" in out
    assert f"ปัญหาที่คุยกัน: #{water} ภัยแล้ง/น้ำ" in out
    assert "รูปถ่าย: มี" in out

    # Edit two fields from the confirmation screen; the rest is kept.
    out = await console.type("แก้จำนวนผู้เข้าร่วม")
    assert QUESTION_PARTICIPANTS in out
    out = await console.type("๔๕")
    assert SUMMARY in out and "ผู้เข้าร่วม: 45 คน" in out
    out = await console.type("แก้กลุ่มที่มาร่วม")
    assert "✅ อสม." in out
    await console.type("กลุ่มแม่บ้าน/สตรี")
    out = await console.type("เสร็จแล้ว")
    assert SUMMARY in out
    assert "กลุ่มที่มาร่วม: อสม., กลุ่มแม่บ้าน/สตรี, กลุ่มผู้ใช้น้ำ" in out
    assert "ตกลงขุดลอกสระน้ำ" in out

    out = await console.type("✅ บันทึก")
    assert "บันทึกเวทีประชาคมแล้ว เลขที่ #1" in out
    assert "มีข้อความใหม่ 1 ข้อความถึง ประเสริฐ" in out

    row = await console.scalar(
        "SELECT village_code || '|' || held_on || '|' || participants || '|' || groups_present"
        " || '|' || other_groups || '|' || notes || '|' || photo_ref FROM forums WHERE id = 1")
    assert row == (f"{DEMO_VILLAGE}|2025-01-05|45|" + json.dumps(["health_volunteers", "women"])
                   + "|กลุ่มผู้ใช้น้ำ|ตกลงขุดลอกสระน้ำสาธารณะร่วมกัน|media/forum.jpg")
    assert await console.scalar("SELECT group_concat(problem_id) FROM forum_problems"
                                " WHERE forum_id = 1") == str(water)
    assert await console.scalar(
        "SELECT person_id || '|' || entity || '|' || entity_id || '|' || to_state FROM audit_log"
        " WHERE action = 'forum.record'") == "1|forum|1|new"

    # The core team is told; the TAO is not.
    out = await console.type("/as 2")
    assert "บันทึกเวทีประชาคมใหม่ ว#1" in out
    assert "หมู่ที่ 1 บ้านโนนสูง" in out
    assert "จัดเมื่อ 5 ม.ค. 2568" in out
    assert "ผู้เข้าร่วม 45 คน" in out
    assert "คุยปัญหา 1 เรื่อง" in out
    assert "ผู้บันทึก: สมศรี" in out
    assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-tao'") == 0


async def test_thai_digit_date_and_no_reports_skips_the_problems(console: Harness) -> None:
    await console.start("1")
    await console.type("บันทึกเวทีประชาคม")
    out = await console.type("๕/๑/๒๕๖๘")
    assert QUESTION_PARTICIPANTS in out
    await console.type("120")
    out = await console.type("เสร็จแล้ว")  # nothing ticked yet
    assert "อย่างน้อย 1 ข้อ" in out
    assert QUESTION_GROUPS in out
    await console.type("กรรมการหมู่บ้าน")
    out = await console.type("เสร็จแล้ว")
    assert QUESTION_NOTES in out  # the village has no reports: no problems question
    assert QUESTION_PROBLEMS not in out
    await console.type("ข้าม")
    out = await console.type("ข้าม")
    assert SUMMARY in out
    assert "ปัญหาที่คุยกัน: ไม่มี" in out
    assert "แก้ปัญหาที่คุยกัน" not in out
    out = await console.type("✅ บันทึก")
    assert "บันทึกเวทีประชาคมแล้ว เลขที่ #1" in out
    assert await console.scalar("SELECT held_on || '|' || participants || '|' || notes"
                                " || '|' || coalesce(photo_ref, '-') FROM forums") == (
        "2025-01-05|120||-")
    assert await console.scalar("SELECT COUNT(*) FROM forum_problems") == 0


async def test_future_date_and_non_number_refused_and_nothing_saved(console: Harness) -> None:
    await console.start("1")
    await console.type("บันทึกเวทีประชาคม")
    for bad in ("พรุ่งนี้", "1/1/2570", "เมื่อวานซืนมั้ง", "🙏"):
        out = await console.type(bad)
        assert QUESTION_DATE in out, bad
    out = await console.type("วันนี้")
    assert QUESTION_PARTICIPANTS in out
    for bad in ("ประมาณยี่สิบกว่า", "-5", "10001", "2.5"):
        out = await console.type(bad)
        assert QUESTION_PARTICIPANTS in out, bad
    out = await console.type("ยกเลิก")
    assert "ยกเลิกแล้ว" in out
    assert await console.scalar("SELECT COUNT(*) FROM forums") == 0
    assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-core'") == 0


async def test_only_village_committee_sees_the_forum(console: Harness) -> None:
    await console.start("2")
    out = await console.type("เมนู")
    assert "บันทึกเวทีประชาคม" not in out
    out = await console.type("บันทึกเวทีประชาคม")  # typed anyway
    assert QUESTION_DATE not in out


async def test_repository_lists_latest_first(seeded: Database) -> None:
    async with seeded.transaction() as conn:
        water = await problems.insert(
            conn, village_code=DEMO_VILLAGE, category="water", description="บ่อแห้ง",
            households=5, severity=1, photo_ref=None, photo_platform_id=None, latitude=None,
            longitude=None, reporter_id=1, now=START)
        older = await forums.insert(
            conn, village_code=DEMO_VILLAGE, held_on=date(2024, 12, 1), participants=30,
            groups_present=["elders"], other_groups="", notes="", photo_ref=None,
            photo_platform_id=None, problem_ids=[], reporter_id=1, now=START)
        newer = await forums.insert(
            conn, village_code=DEMO_VILLAGE, held_on=date(2025, 1, 5), participants=50,
            groups_present=["youth", "school"], other_groups="x", notes="n", photo_ref=None,
            photo_platform_id=None, problem_ids=[water, water], reporter_id=1, now=START)
        assert [f.id for f in await forums.of_village(conn, DEMO_VILLAGE)] == [newer, older]
        assert await forums.of_village(conn, "35010102") == []
        assert await forums.problems_of(conn, newer) == [water]
        assert await forums.problems_of(conn, older) == []
        got = await forums.get(conn, newer)
        assert got is not None and got.groups_present == ("youth", "school")
        assert got.held_on == date(2025, 1, 5) and got.participants == 50
        assert await forums.get(conn, 999) is None


def test_groups_are_data_and_fit_the_buttons() -> None:
    keys = group_keys()
    assert "health_volunteers" in keys and "ngo" in keys
    assert 1 <= len(keys) <= 12


# --- random input at every step ---------------------------------------------------------------

FULL_DRAFT = {"village": DEMO_VILLAGE, "held_on": "2025-01-05", "participants": 40,
              "groups": ["elders"], "other_groups": "กลุ่มผู้ใช้น้ำ", "problems": ["1"],
              "notes": "ตกลงขุดลอกสระ", "photo": None, "photo_id": None}
OWN_FIELDS = {"village": {"village", "problems"}, "held_on": {"held_on"},
              "participants": {"participants"}, "groups": {"groups", "other_groups"},
              "problems": {"problems"}, "notes": {"notes"}, "photo": {"photo", "photo_id"},
              "confirm": set()}




FUZZ_VALUES = ["elders", "farmers", "35010101", "35010102", "edit:groups", "edit:problems"]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(step=st.sampled_from(sorted(OWN_FIELDS)), answer=answers(payload_values=FUZZ_VALUES))
async def test_random_input_at_every_step(console: Harness, step: str, answer: dict) -> None:  # type: ignore[type-arg]
    if is_navigation(answer):
        return
    if console.chat.active is None:
        await _report(console.db, DEMO_VILLAGE, "water", "บ่อน้ำตื้นแห้ง")  # problem #1
        await console.start("1")
        await console.type("เมนู")
    await put_in_step(console.db, "forum", step, FULL_DRAFT)
    await throw(console, answer)

    flow, now_at, data = await conversation(console.db)
    assert flow == "forum"
    assert now_at in FLOW.steps
    for key, value in FULL_DRAFT.items():
        if key not in OWN_FIELDS[step]:
            assert data.get(key) == value, (step, key)
    assert await console.scalar("SELECT COUNT(*) FROM forums") == 0
