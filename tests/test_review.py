"""The core team's review inbox and the village's answers, through the console channel."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.flows.review_answer import FLOW as ANSWER_FLOW
from handlers.flows.review_inbox import FLOW as INBOX_FLOW
from handlers.messages import Incoming, Location
from handlers.submissions import is_blank_or_skip
from storage import areas, people, plans, reviews
from storage.db import Database
from storage.people import Grant
from storage.timestamps import to_db
from tests.conftest import START, Harness
from tests.fuzz import navigates

VILLAGE = "35010101"
OTHER_TAMBON = "350102"
OTHER_VILLAGE = "35010201"
SAMSRI, PRASERT = 1, 2  # the demo village committee member and core team member


def at(day: int, hour: int = 3) -> datetime:
    return datetime(2025, 1, day, hour, 0, tzinfo=UTC)


async def seed_cycle(db: Database) -> dict[str, int]:
    """A plan with three items (one stalled, one overdue, one on time), a progress update on
    the stalled one, a forum, a lesson; and a problem in another tambon."""
    ids: dict[str, int] = {}
    async with db.transaction() as conn:
        plan = await plans.create_plan(conn, village_code=VILLAGE, period_start=date(2024, 12, 1),
                                       period_end=date(2025, 3, 31), person_id=SAMSRI, now=at(1))
        common = dict(plan_id=plan, village_code=VILLAGE, partner="", own_labour="",
                      responsible="ผู้ใหญ่บ้าน", problem_ids=[], person_id=SAMSRI)
        ids["stalled"] = await plans.add_item(
            conn, **common, title="ขุดลอกฝาย", approach="self_reliance", budget_needed=0,
            own_money=5000, start_on=date(2024, 12, 15), end_on=date(2025, 3, 31), now=at(2),
            status="in_progress", percent=40)
        ids["overdue"] = await plans.add_item(
            conn, **common, title="ซ่อมถนนเข้าหมู่บ้าน", approach="external_support",
            budget_needed=250000, own_money=20000, start_on=date(2024, 12, 1),
            end_on=date(2025, 1, 5), now=at(4))
        ids["on_time"] = await plans.add_item(
            conn, **{**common, "partner": "กศน.อำเภอ"}, title="อบรมอาชีพทำขนม",
            approach="cooperation", budget_needed=12500, own_money=0,
            start_on=date(2025, 1, 15), end_on=date(2025, 2, 28), now=at(5))
        item = await plans.get_item(conn, ids["stalled"])
        assert item is not None
        ids["progress"] = await plans.add_progress(
            conn, item=item, status="stalled", percent=40, note="รถขุดเสีย", photo_ref=None,
            photo_platform_id=None, stalled_reason="รอเครื่องจักรจาก อบต.", reporter_id=SAMSRI,
            now=at(6))
        cur = await conn.execute(
            "INSERT INTO forums (village_code, held_on, participants, groups_present,"
            " other_groups, notes, reporter_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (VILLAGE, "2025-01-03", 35, json.dumps(["elders", "women"]), "ชมรมกีฬา",
             "คุยเรื่องน้ำแล้ง", SAMSRI, to_db(at(3))))
        ids["forum"] = cur.lastrowid or 0
        cur = await conn.execute(
            "INSERT INTO lessons (plan_id, village_code, what_worked, what_did_not, next_steps,"
            " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (plan, VILLAGE, "ชาวบ้านร่วมแรงกันดีมาก", "งบมาช้า", "ขอทุนล่วงหน้า", SAMSRI,
             to_db(at(7))))
        ids["lesson"] = cur.lastrowid or 0
        await areas.add_village(conn, OTHER_TAMBON, 1, "บ้านทดสอบ", "Ban Thotsop")
        cur = await conn.execute(
            "INSERT INTO problems (village_code, category, description, households, severity,"
            " reporter_id, created_at) VALUES (?, 'debt', 'หนี้นอกระบบในหมู่บ้านอื่น', 9, 2, ?, ?)",
            (OTHER_VILLAGE, SAMSRI, to_db(at(8))))
        ids["other_problem"] = cur.lastrowid or 0
        other = await people.create_person(conn, "สมชาย แกนตำบลอื่น", "th", at(1))
        identity = await people.ensure_identity(conn, "console", "demo-other", "demo-other",
                                                at(1))
        await people.link_identity(conn, identity.id, other)
        await people.add_grant(conn, other, Grant("core_team", OTHER_TAMBON), None, at(1))
        ids["other_core"] = other
    return ids


async def report_problem(console: Harness) -> None:
    await console.type("เมนู")
    await console.type("รายงานปัญหา")
    await console.type("ภัยแล้ง/น้ำ")
    await console.type("บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้")
    await console.type("45")
    await console.type("3")
    await console.type("ข้าม")
    await console.type("ข้าม")
    out = await console.type("✅ บันทึก")
    assert "เลขที่ #1" in out


def order_of(out: str, *labels: str) -> list[int]:
    positions = [out.find(label) for label in labels]
    assert -1 not in positions, [lb for lb, p in zip(labels, positions, strict=True) if p < 0]
    return positions


async def test_inbox_review_comment_and_answer_round_trip(console: Harness) -> None:
    await console.start("1")
    await report_problem(console)
    ids = await seed_cycle(console.db)

    out = await console.type("/as 2")
    assert "รายงานปัญหาใหม่ ป#1" in out
    out = await console.type("เมนู")
    assert "ตรวจรายงานจากหมู่บ้าน" in out
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    assert "รอตรวจ 7 รายการ" in out
    # The most severe first (the serious problem and the stalled item with its progress,
    # oldest first), then overdue, then the rest oldest first; ids unique across kinds.
    positions = order_of(
        out, f"⚠️ ผ#{ids['stalled']} แผน: ขุดลอกฝาย (หมู่ 1)",
        f"⚠️ ค#{ids['progress']} ความคืบหน้า: ขุดลอกฝาย 40% (หมู่ 1)",
        "ป#1 ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)",
        f"⏰ ผ#{ids['overdue']} แผน: ซ่อมถนนเข้าหมู่บ้าน (หมู่ 1)",
        f"ว#{ids['forum']} เวที: 3 ม.ค. 2568 (หมู่ 1)",
        f"ผ#{ids['on_time']} แผน: อบรมอาชีพทำขนม (หมู่ 1)",
        f"บ#{ids['lesson']} บทเรียน: ชาวบ้านร่วมแรงกันดีมาก (หมู่ 1)")
    assert positions == sorted(positions)
    assert "หนี้นอกระบบ" not in out and "หนี้สิน" not in out  # another tambon's problem

    # Approve the item on time: full detail first, with amounts and Buddhist-Era dates.
    out = await console.type(f"ผ#{ids['on_time']} แผน: อบรมอาชีพทำขนม (หมู่ 1)")
    for shown in ("แผน ผ#3 · หมู่ที่ 1 บ้านโนนสูง", "เรื่อง: อบรมอาชีพทำขนม",
                  "แนวทาง: ร่วมมือกับหมู่บ้าน ตำบล หรือหน่วยงาน", "ร่วมกับ/ขอจาก: กศน.อำเภอ",
                  "งบประมาณที่ต้องการ: 12,500 บาท", "ช่วงเวลา: 15 ม.ค. 2568 – 28 ก.พ. 2568",
                  "ผู้รับผิดชอบ: ผู้ใหญ่บ้าน", "สถานะ: ยังไม่เริ่ม", "ผลการตรวจรายการนี้?",
                  "✅ ผ่าน", "⚠️ ต้องแก้ไข/ติดตาม", "↩️ ส่งกลับแก้ไข"):
        assert shown in out, shown
    out = await console.type("✅ ผ่าน")
    assert "ถ้าไม่มี กด \"ข้าม\"" in out
    out = await console.type("ข้าม")
    assert "ตรวจสอบก่อนส่งผลการตรวจ" in out and "ผลการตรวจ: ผ่านการตรวจ" in out
    out = await console.type("✅ ส่งผลการตรวจ")
    assert "บันทึกผลการตรวจ ผ#3 แผน: อบรมอาชีพทำขนม" in out
    assert "รอตรวจ 6 รายการ" in out  # back to the inbox, without the approved item
    assert "อบรมอาชีพทำขนม (หมู่ 1)" not in out.split("รอตรวจ 6 รายการ")[1]

    # Return the overdue item: the comment is required.
    out = await console.type(f"⏰ ผ#{ids['overdue']} แผน: ซ่อมถนนเข้าหมู่บ้าน (หมู่ 1)")
    assert "⏰ เลยกำหนดเสร็จ (5 ม.ค. 2568)" in out
    assert "งบประมาณที่ต้องการ: 250,000 บาท" in out
    out = await console.type("↩️ ส่งกลับแก้ไข")
    assert "จำเป็นต้องมี" in out
    for refused in ("", "ข้าม", "   ", "..."):
        out = await console.type(refused)
        assert "ต้องมีความเห็นถึงหมู่บ้าน" in out and "จำเป็นต้องมี" in out, refused
    out = await console.type("ขอให้แยกงบค่าวัสดุกับค่าแรง และแก้วันเสร็จให้ตรงความจริง")
    assert "ผลการตรวจ: ส่งกลับแก้ไข" in out
    out = await console.type("✅ ส่งผลการตรวจ")
    assert "รอตรวจ 5 รายการ" in out
    assert "มีข้อความใหม่ 2 ข้อความถึง สมศรี" in out

    assert await console.scalar("SELECT review_status FROM plan_items WHERE id = ?",
                                ids["on_time"]) == "approved"
    assert await console.scalar("SELECT review_status FROM plan_items WHERE id = ?",
                                ids["overdue"]) == "returned"
    async with console.db.read() as conn:
        recorded = await conn.execute_fetchall(
            "SELECT from_state || '>' || to_state || '|' || COALESCE(reason, '')"
            " FROM audit_log WHERE action = 'review.record' ORDER BY id")
    assert ";".join(r[0] for r in recorded) == (
        "new>approved|;new>returned|ขอให้แยกงบค่าวัสดุกับค่าแรง และแก้วันเสร็จให้ตรงความจริง")

    # The village receives the comment and answers it.
    out = await console.type("/as 1")
    assert "ความเห็นจากกลุ่มแกนระดับตำบล" in out
    assert f"ผ#{ids['overdue']} แผน: ซ่อมถนนเข้าหมู่บ้าน · ยังไม่เริ่ม (หมู่ที่ 1 บ้านโนนสูง" in out
    assert "ผลการตรวจ: ส่งกลับแก้ไข" in out and "ขอให้แยกงบค่าวัสดุ" in out
    assert "กลุ่มแกนระดับตำบลตรวจแล้ว: ผ่าน" in out  # the approval is told too
    await console.type("เมนู")  # the menu item may be one tap further ("more"): typed here
    out = await console.type("ความเห็นที่รอคำตอบ")
    assert "รอคำตอบ 1 เรื่อง" in out
    assert f"↩️ ผ#{ids['overdue']} แผน: ซ่อมถนนเข้าหมู่บ้าน (หมู่ 1)" in out
    out = await console.type("1")
    assert "ความเห็น: ขอให้แยกงบค่าวัสดุ" in out and "พิมพ์คำตอบของหมู่บ้าน" in out
    out = await console.type("ข้าม")
    assert "กรุณาพิมพ์คำตอบถึงกลุ่มแกนระดับตำบล" in out
    out = await console.type("แยกงบแล้ว ค่าวัสดุ 180,000 ค่าแรงชาวบ้านช่วยกัน เลื่อนเสร็จเป็น มี.ค.")
    assert "ตรวจสอบก่อนส่งคำตอบ" in out
    out = await console.type("✅ ส่งคำตอบ")
    assert "ส่งคำตอบถึงกลุ่มแกนระดับตำบลแล้ว" in out
    assert "ตอบครบทุกความเห็นแล้ว" in out

    # The core team receives the answer attached to the same item.
    out = await console.type("/as 2")
    assert f"💬 ตอบกลับเรื่อง ผ#{ids['overdue']} แผน: ซ่อมถนนเข้าหมู่บ้าน" in out
    assert "ความเห็น (ส่งกลับแก้ไข): ขอให้แยกงบค่าวัสดุ" in out
    assert "คำตอบ: แยกงบแล้ว" in out and "จาก: สมศรี" in out
    assert await console.scalar(
        "SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-core' AND payload LIKE '%ตอบกลับ%'"
    ) == 1  # the reviewer is also the tambon's core team: told once
    assert await console.scalar(
        "SELECT from_state || '>' || to_state FROM audit_log WHERE action = 'review.answer'"
        " AND entity = 'plan_item' AND entity_id = ?", str(ids["overdue"])) == "returned>answered"
    async with console.db.read() as conn:
        thread = await reviews.thread(conn, "plan_item", ids["overdue"])
    assert [(r.verdict, [x.text[:9] for x in r.replies]) for r in thread] == [
        ("returned", ["แยกงบแล้ว"])]

    # Edited by the village, the item comes back as new: the thread shows comment and answer.
    async with console.db.transaction() as conn:
        await plans.set_review_status(conn, "plan_items", ids["overdue"], "new")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    out = await console.type(f"⏰ ผ#{ids['overdue']} แผน: ซ่อมถนนเข้าหมู่บ้าน (หมู่ 1)")
    thread_text = out.split("ความเห็นก่อนหน้า:")[1]
    assert thread_text.index("ขอให้แยกงบค่าวัสดุ") < thread_text.index("↳")
    assert "สมศรี ใจดี (กรรมการหมู่ 1) ตอบ: แยกงบแล้ว" in thread_text


async def test_core_team_of_another_tambon_sees_nothing_here(console: Harness) -> None:
    ids = await seed_cycle(console.db)
    await console.start("other")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    assert "รอตรวจ 1 รายการ" in out
    assert f"ป#{ids['other_problem']} ปัญหา: หนี้สินครัวเรือน (หมู่ 1)" in out
    assert "ขุดลอกฝาย" not in out and "เวที" not in out

    # A forged button for an item of tambon 350101 is refused, and nothing is written.
    seq = await console.scalar(
        "SELECT seq FROM conversations WHERE identity_id ="
        " (SELECT id FROM identities WHERE platform_user_id = 'demo-other')")
    await console.engine.handle(Incoming(
        channel="console", user_id="demo-other", chat_id="demo-other", update_id="forged",
        payload=f"s{seq}:plan_item:{ids['overdue']}"))
    await console.sender.deliver_due("console", "demo-other")
    out = console.take()
    assert "ไม่มีสิทธิ์ตรวจรายการนี้" in out
    assert "ซ่อมถนน" not in out
    assert await console.scalar("SELECT COUNT(*) FROM reviews") == 0


async def test_core_team_of_two_tambons_sees_both_named(console: Harness) -> None:
    ids = await seed_cycle(console.db)
    async with console.db.transaction() as conn:
        await people.add_grant(conn, PRASERT, Grant("core_team", OTHER_TAMBON), None, at(9))
    await console.start("2")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    assert "รอตรวจ 7 รายการ" in out
    assert f"ป#{ids['other_problem']} ปัญหา: หนี้สินครัวเรือน (หมู่ 1 ต." in out
    assert f"ว#{ids['forum']} เวที: 3 ม.ค. 2568 (หมู่ 1 ต.ในเมือง)" in out


async def test_reviewed_meanwhile_by_someone_else_is_not_reviewed_twice(
        console: Harness) -> None:
    ids = await seed_cycle(console.db)
    await console.start("2")
    await console.type("ตรวจรายงานจากหมู่บ้าน")
    await console.type(f"ว#{ids['forum']} เวที: 3 ม.ค. 2568 (หมู่ 1)")
    await console.type("✅ ผ่าน")
    await console.type("ข้าม")
    async with console.db.transaction() as conn:
        await reviews.record_review(conn, entity="forum", entity_id=ids["forum"],
                                    village_code=VILLAGE, reviewer_id=PRASERT,
                                    verdict="returned", comment="ขอรายชื่อผู้เข้าร่วม", now=at(9))
    out = await console.type("✅ ส่งผลการตรวจ")
    assert "รายการนี้มีผู้ตรวจไปแล้ว (ส่งกลับแก้ไข)" in out
    assert "รอตรวจ 5 รายการ" in out
    assert await console.scalar("SELECT COUNT(*) FROM reviews") == 1


async def test_needs_attention_needs_a_comment_even_after_changing_the_verdict(
        console: Harness) -> None:
    ids = await seed_cycle(console.db)
    await console.start("2")
    await console.type("ตรวจรายงานจากหมู่บ้าน")
    out = await console.type(f"บ#{ids['lesson']} บทเรียน: ชาวบ้านร่วมแรงกันดีมาก (หมู่ 1)")
    assert "ช่วงของแผน: 1 ธ.ค. 2567 – 31 มี.ค. 2568" in out
    assert "สิ่งที่ไม่ได้ผล: งบมาช้า" in out and "จะทำอะไรต่อ: ขอทุนล่วงหน้า" in out
    await console.type("✅ ผ่าน")
    out = await console.type("ข้าม")
    assert "ความเห็น: -" in out
    out = await console.type("แก้ผลการตรวจ")
    out = await console.type("⚠️ ต้องแก้ไข/ติดตาม")
    assert "จำเป็นต้องมี" in out  # straight to the comment, not back to the summary
    out = await console.type("ควรบอกว่างบมาช้ากี่เดือน")
    assert "ผลการตรวจ: ต้องแก้ไข/ติดตาม" in out and "ความเห็น: ควรบอกว่างบมาช้ากี่เดือน" in out
    await console.type("✅ ส่งผลการตรวจ")
    assert await console.scalar("SELECT verdict || '|' || comment FROM reviews") == (
        "needs_attention|ควรบอกว่างบมาช้ากี่เดือน")
    assert await console.scalar("SELECT review_status FROM lessons") == "needs_attention"


async def test_details_of_problem_forum_and_progress(console: Harness) -> None:
    ids = await seed_cycle(console.db)
    async with console.db.transaction() as conn:
        await conn.execute("INSERT INTO forum_problems (forum_id, problem_id) VALUES (?, ?)",
                           (ids["forum"], ids["other_problem"]))
    await console.start("2")
    await console.type("ตรวจรายงานจากหมู่บ้าน")
    out = await console.type(f"ว#{ids['forum']} เวที: 3 ม.ค. 2568 (หมู่ 1)")
    for shown in ("วันที่จัดเวที: 3 ม.ค. 2568", "ผู้เข้าร่วม: 35 คน",
                  "กลุ่มที่มาร่วม: ผู้สูงอายุ/ผู้อาวุโส, กลุ่มแม่บ้าน/สตรี, ชมรมกีฬา",
                  f"ปัญหาที่เกี่ยวข้อง: ป#{ids['other_problem']} หนี้สินครัวเรือน",
                  "บันทึก: คุยเรื่องน้ำแล้ง"):
        assert shown in out, shown
    await console.type("ย้อนกลับ")
    out = await console.type(f"⚠️ ค#{ids['progress']} ความคืบหน้า: ขุดลอกฝาย 40% (หมู่ 1)")
    for shown in ("⚠️ ติดขัด", f"รายการในแผน: #{ids['stalled']} ขุดลอกฝาย", "สถานะ: ติดขัด",
                  "ความคืบหน้า: 40%", "เหตุที่ติดขัด: รอเครื่องจักรจาก อบต.",
                  "หมายเหตุ: รถขุดเสีย"):
        assert shown in out, shown


async def test_more_than_twenty_shows_twenty_with_a_count(console: Harness) -> None:
    async with console.db.transaction() as conn:
        for n in range(25):
            await conn.execute(
                "INSERT INTO problems (village_code, category, description, households,"
                " severity, reporter_id, created_at) VALUES (?, 'food', ?, 3, 1, 1, ?)",
                (VILLAGE, f"ขาดอาหาร {n}", to_db(START - timedelta(hours=25 - n))))
    await console.start("2")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    assert "รอตรวจ 25 รายการ" in out and "แสดง 20 รายการแรกจากทั้งหมด 25 รายการ" in out
    assert "[20] ป#20 ปัญหา" in out and "[21]" not in out


async def test_only_the_core_team_reviews_and_only_villages_answer(console: Harness) -> None:
    await seed_cycle(console.db)
    await console.start("1")
    out = await console.type("เมนู")
    assert "ตรวจรายงานจากหมู่บ้าน" not in out
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")  # not in this person's menu: the menu
    assert "ผลการตรวจรายการนี้" not in out and "รอตรวจ" not in out
    out = await console.type("ความเห็นที่รอคำตอบ")
    assert "ยังไม่มีความเห็นจากกลุ่มแกนระดับตำบลที่รอคำตอบ" in out
    out = await console.type("/as 3")  # the TAO
    out = await console.type("เมนู")
    assert "ตรวจรายงานจากหมู่บ้าน" not in out and "ความเห็นที่รอคำตอบ" not in out


async def test_english_reader_gets_the_comment_in_english(console: Harness) -> None:
    ids = await seed_cycle(console.db)
    async with console.db.transaction() as conn:
        await people.set_language(conn, SAMSRI, "en")
    await console.start("2")
    await console.type("ตรวจรายงานจากหมู่บ้าน")
    await console.type(f"⚠️ ผ#{ids['stalled']} แผน: ขุดลอกฝาย (หมู่ 1)")
    await console.type("⚠️ ต้องแก้ไข/ติดตาม")
    await console.type("ขอแผนสำรองถ้าเครื่องจักรไม่มา")
    await console.type("✅ ส่งผลการตรวจ")
    out = await console.type("/as 1")
    assert "Comment from the tambon core team" in out
    assert f"I#{ids['stalled']} Plan: ขุดลอกฝาย · stalled (Village No. 1 Ban Non Sung" in out
    assert "Verdict: needs attention" in out and "ขอแผนสำรองถ้าเครื่องจักรไม่มา" in out


# --- the repository --------------------------------------------------------------------------

async def test_inbox_skips_reviewed_and_withdrawn_and_open_reviews_close(
        console: Harness) -> None:
    ids = await seed_cycle(console.db)
    today = date(2025, 1, 10)
    async with console.db.transaction() as conn:
        await plans.withdraw_item(conn, ids["on_time"], "ซ้ำกับโครงการอำเภอ", at(9))
        first = await reviews.record_review(
            conn, entity="plan_item", entity_id=ids["stalled"], village_code=VILLAGE,
            reviewer_id=PRASERT, verdict="returned", comment="ขอแผนสำรอง", now=at(9))
        found = await reviews.inbox(conn, "350101", today)
        assert [(s.entity, s.stalled, s.overdue) for s in found] == [
            ("progress", True, False), ("plan_item", False, True), ("forum", False, False),
            ("lesson", False, False)]
        assert [r.id for r in await reviews.reviews_for_village(conn, VILLAGE)] == [first]
        # Edited and reviewed again: the old comment no longer waits for an answer.
        await plans.set_review_status(conn, "plan_items", ids["stalled"], "new")
        await reviews.record_review(
            conn, entity="plan_item", entity_id=ids["stalled"], village_code=VILLAGE,
            reviewer_id=PRASERT, verdict="approved", comment="", now=at(10))
        assert await reviews.reviews_for_village(conn, VILLAGE) == []
        assert len(await reviews.reviews_for_village(conn, VILLAGE, only_open=False)) == 2
        assert [s.entity for s in await reviews.inbox(conn, OTHER_TAMBON, today)] == ["problem"]


# --- random input at every step ----------------------------------------------------------------

_fuzz_ids = itertools.count()
THAI_PIECES = [*"กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮะาิีึืุูเแโใไ่้๊๋็์ ๐๑๒๓๔๕๖๗๘๙0123456789.,/-:#",
               "ข้าม", "ผ่าน", "ส่งกลับ", "plan_item:1", "problem:", "🙏", "\u200b", "\n",
               "'; DROP TABLE reviews;--"]
thaiish = st.lists(st.sampled_from(THAI_PIECES), max_size=30).map("".join)
BUTTON_VALUES = ["approved", "needs_attention", "returned", "back", "skip", "save",
                 "edit:verdict", "edit:comment", "edit:answer", "plan_item:1", "plan_item:3",
                 "progress:1", "forum:1", "lesson:1", "problem:1", "1", "2", "ratio:1"]
current_buttons = st.sampled_from(BUTTON_VALUES).map(lambda v: {"payload": f"s50:{v}"})
answers = st.one_of(
    st.builds(lambda t: {"text": t}, st.text(max_size=300)),
    st.builds(lambda t: {"text": t}, thaiish),
    st.builds(lambda n: {"text": "x" * n}, st.integers(0, 12_000)),
    st.builds(lambda p: {"payload": p}, st.text(max_size=80)),
    st.builds(lambda s, v: {"payload": f"s{s}:{v}"}, st.integers(-3, 100),
              st.one_of(st.text(max_size=20), thaiish,
                        st.sampled_from(["approved", "returned", "back", "skip", "edit:comment",
                                         "edit:nowhere", "plan_item:99999999999999999999",
                                         "lesson:-1", "forum:1", "1", "0", "²"]))),
    # Buttons of the current question (its number is 50 below), valid or not, often.
    current_buttons, current_buttons, current_buttons,
    st.builds(lambda p: {"photo": p}, st.text(min_size=1, max_size=50)),
    st.builds(lambda a, b: {"location": Location(a, b)},
              st.floats(allow_nan=False), st.floats(allow_nan=False)),
    st.just({"unsupported": "sticker"}),
)
FUZZ_SETTINGS = settings(max_examples=200, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])
_seeded: dict[int, dict[str, int]] = {}


async def _fuzz_setup(console: Harness, persona: str) -> dict[str, int]:
    """Seed once per test (hypothesis keeps the fixture between examples)."""
    key = id(console)
    if key not in _seeded:
        ids = await seed_cycle(console.db)
        async with console.db.transaction() as conn:
            ids["review"] = await reviews.record_review(
                conn, entity="plan_item", entity_id=ids["overdue"], village_code=VILLAGE,
                reviewer_id=PRASERT, verdict="returned", comment="ขอรายละเอียดงบ", now=at(9))
        await console.start(persona)
        await console.type("เมนู")
        _seeded[key] = ids
    return _seeded[key]


async def _throw(console: Harness, user: str, flow: str, step: str, draft: dict[str, Any],
                 answer: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    async with console.db.transaction() as conn:
        await conn.execute(
            "UPDATE conversations SET flow = ?, step = ?, data = ?, seq = 50,"
            " updated_at = '2025-01-10T03:00:00.000000+00:00', history = '[]'"
            " WHERE identity_id = (SELECT id FROM identities WHERE platform_user_id = ?)",
            (flow, step, json.dumps(draft, ensure_ascii=False), user))
    update = Incoming(channel="console", user_id=user, chat_id=user,
                      update_id=f"fuzz-{next(_fuzz_ids)}", **answer)
    await console.engine.handle(update)  # must not raise
    assert await console.sender.deliver_due("console", user) >= 1  # always answered
    console.take()
    async with console.db.read() as conn, conn.execute(
            "SELECT flow, step, data FROM conversations c JOIN identities i"
            " ON i.id = c.identity_id WHERE i.platform_user_id = ?", (user,)) as cur:
        row = await cur.fetchone()
    return row[0], row[1], json.loads(row[2])


INBOX_OWN = {"inbox": {"entity", "entity_id", "verdict", "comment"}, "verdict": {"verdict"},
             "comment": {"comment"}, "confirm": set()}


@FUZZ_SETTINGS
@given(step=st.sampled_from(sorted(INBOX_OWN)), answer=answers)
async def test_random_input_at_every_inbox_step(console: Harness, step: str,
                                                answer: dict[str, Any]) -> None:
    if navigates(answer):  # the engine leaves the question: not an answer
        return
    ids = await _fuzz_setup(console, "2")
    async with console.db.transaction() as conn:
        await plans.set_review_status(conn, "plan_items", ids["on_time"], "new")
    draft = {"entity": "plan_item", "entity_id": ids["on_time"], "verdict": "returned",
             "comment": "ขอรายละเอียดเพิ่ม"}
    before = await console.scalar("SELECT COUNT(*) FROM reviews")

    flow, now_at, data = await _throw(console, "demo-core", "review_inbox", step, draft, answer)

    saved = await console.scalar("SELECT COUNT(*) FROM reviews") != before
    assert not saved or step == "confirm"
    assert flow in ("review_inbox", None)
    if flow:
        assert now_at in INBOX_FLOW.steps
    if flow and not saved:
        for key, value in draft.items():
            if key not in INBOX_OWN[step]:
                assert data.get(key) == value, (step, key)
    if step == "comment" and data.get("comment") != draft["comment"]:
        assert is_blank_or_skip(data["comment"]) is False  # a required comment stays real


ANSWER_OWN = {"pick": {"review_id", "answer"}, "answer": {"answer"}, "confirm": set()}


@FUZZ_SETTINGS
@given(step=st.sampled_from(sorted(ANSWER_OWN)), answer=answers)
async def test_random_input_at_every_answer_step(console: Harness, step: str,
                                                 answer: dict[str, Any]) -> None:
    if navigates(answer):  # the engine leaves the question: not an answer
        return
    ids = await _fuzz_setup(console, "1")
    draft = {"review_id": ids["review"], "answer": "แยกงบแล้วครับ"}
    before = await console.scalar("SELECT COUNT(*) FROM review_replies")

    flow, now_at, data = await _throw(console, "demo-village", "review_answer", step, draft,
                                      answer)

    saved = await console.scalar("SELECT COUNT(*) FROM review_replies") != before
    assert not saved or step == "confirm"
    assert flow in ("review_answer", None)
    if flow:
        assert now_at in ANSWER_FLOW.steps
    if flow and not saved:
        for key, value in draft.items():
            if key not in ANSWER_OWN[step]:
                assert data.get(key) == value, (step, key)
    assert await console.scalar("SELECT COUNT(*) FROM reviews") == 1  # villages never review
