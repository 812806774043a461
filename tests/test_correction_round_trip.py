"""Returned means correctable: a submission the core team returns for correction opens,
from the notification's button, on its own confirmation screen with every field editable;
the corrected one goes back to the reviewer as a new version, the old one kept in the
audit log and shown to the reviewer as a diff. Through the console channel."""

from __future__ import annotations

import json
from datetime import date

from handlers.messages import Incoming
from storage import forums, people, plans, problems, reviews
from storage.people import Grant
from tests.conftest import Harness

VILLAGE = "35010101"
OTHER_VILLAGE = "35010102"
SAMSRI, PRASERT = 1, 2  # the demo village committee member and core team member


async def _problem(console: Harness, households: int = 45) -> int:
    async with console.db.transaction() as conn:
        return await problems.insert(
            conn, village_code=VILLAGE, category="water",
            description="บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้", households=households, severity=3,
            photo_ref=None, photo_platform_id=None, latitude=None, longitude=None,
            reporter_id=SAMSRI, now=console.clock.now())


async def _return(console: Harness, label: str, comment: str) -> str:
    """The core team (person 2) returns the submission listed as `label`."""
    await console.type("/as 2")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    assert label in out, out
    out = await console.type(label)
    assert "ผลการตรวจรายการนี้?" in out
    await console.type("↩️ ส่งกลับแก้ไข")
    await console.type(comment)
    return await console.type("✅ ส่งผลการตรวจ")


async def _rows(console: Harness, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with console.db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_returned_problem_is_corrected_and_comes_back_with_the_diff(
        console: Harness) -> None:
    problem_id = await _problem(console)
    await console.start("2")
    await _return(console, f"ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)",
                  "ขอตัวเลขครัวเรือนจากการสำรวจล่าสุดครับ")

    # The village is told, with the next action as buttons.
    out = await console.type("/as 1")
    assert "ความเห็นจากกลุ่มแกนระดับตำบล" in out and "ผลการตรวจ: ส่งกลับแก้ไข" in out
    assert "[1] ✏️ แก้ไขแล้วส่งใหม่" in out and "[2] 💬 ตอบความเห็น" in out

    # The button opens the same confirmation screen, with the stored values and edit buttons.
    out = await console.type("1")
    assert "แก้ไขตามความเห็นของกลุ่มแกนระดับตำบล" in out
    assert "ขอตัวเลขครัวเรือนจากการสำรวจล่าสุดครับ" in out  # the reviewer's comment
    assert "ตรวจสอบก่อนบันทึก" in out and "ครัวเรือนที่เดือดร้อน: 45" in out
    assert "แก้จำนวนครัวเรือน" in out and "✅ บันทึก" in out
    out = await console.type("แก้จำนวนครัวเรือน")
    assert "กี่ครัวเรือน" in out
    out = await console.type("หกสิบ")
    assert "ครัวเรือนที่เดือดร้อน: 60" in out and "ตรวจสอบก่อนบันทึก" in out
    out = await console.type("✅ บันทึก")
    assert f"ส่งฉบับแก้ไข ป#{problem_id} (ฉบับที่ 2) ถึงกลุ่มแกนระดับตำบลแล้วครับ" in out

    # Stored as the same row, its next version, waiting for review again.
    assert await _rows(console, "SELECT id, households, version, review_status FROM problems"
                       ) == [(problem_id, 60, 2, "new")]
    # The old version is kept whole in the audit log.
    (detail,) = (json.loads(str(row[0])) for row in await _rows(
        console, "SELECT detail FROM audit_log WHERE action = 'problem.correct'"
        " AND entity = 'problem' AND entity_id = ?", str(problem_id)))
    assert detail["version"] == 1 and detail["new_version"] == 2
    assert detail["old"]["households"] == 45 and detail["old"]["review_status"] == "returned"
    assert detail["old"]["description"] == "บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้"
    assert detail["new"]["households"] == 60
    # The comment no longer waits for an answer: the correction answered it.
    async with console.db.read() as conn:
        assert await reviews.reviews_for_village(conn, VILLAGE) == []

    # The core team is told, with the diff, and sees it again in the inbox as pending.
    out = await console.type("/as 2")
    assert f"หมู่บ้านแก้ไขแล้วส่งใหม่: ป#{problem_id}" in out
    assert "ครัวเรือนที่เดือดร้อน: 45 → 60" in out and "[1] 🔎 ตรวจรายการนี้" in out
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    assert "รอตรวจ 1 รายการ" in out and f"✏️ ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)" in out
    out = await console.type(f"✏️ ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)")
    assert "✏️ ฉบับที่ 2 แก้จากฉบับที่ 1:" in out
    assert "ครัวเรือนที่เดือดร้อน: 45 → 60" in out
    assert "ครัวเรือนที่เดือดร้อน: 60" in out  # the current values above the diff
    assert "รายละเอียด: บ่อน้ำตื้นแห้ง" in out.split("ฉบับที่ 2 แก้จาก")[0]
    assert "รายละเอียด" not in out.split("ฉบับที่ 2 แก้จาก")[1].split("ความเห็นก่อนหน้า")[0]
    assert "ขอตัวเลขครัวเรือนจากการสำรวจล่าสุดครับ" in out  # the earlier comment, in the thread
    await console.type("✅ ผ่าน")
    await console.type("ข้าม")
    await console.type("✅ ส่งผลการตรวจ")
    assert await _rows(console, "SELECT verdict, version FROM reviews ORDER BY id") == [
        ("returned", 1), ("approved", 2)]


async def test_saving_without_changing_anything_is_not_a_new_version(console: Harness) -> None:
    problem_id = await _problem(console)
    await console.start("2")
    await _return(console, f"ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)", "ขอรูปถ่ายด้วยครับ")
    await console.type("/as 1")
    await console.type("1")  # ✏️ แก้ไขแล้วส่งใหม่
    out = await console.type("✅ บันทึก")
    assert "ยังไม่ได้แก้ช่องใดเลยครับ" in out and "ตรวจสอบก่อนบันทึก" in out
    assert await _rows(console, "SELECT version, review_status FROM problems") == [
        (1, "returned")]
    assert await _rows(console, "SELECT COUNT(*) FROM audit_log WHERE action LIKE '%.correct'"
                       ) == [(0,)]


async def test_a_returned_plan_item_is_corrected_in_the_plan_flow(console: Harness) -> None:
    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(
            conn, village_code=VILLAGE, period_start=date(2025, 1, 1),
            period_end=date(2025, 6, 30), person_id=SAMSRI, now=console.clock.now())
        item_id = await plans.add_item(
            conn, plan_id=plan_id, village_code=VILLAGE, title="ซ่อมถนนเข้าหมู่บ้าน",
            approach="external_support", partner="อบต.", budget_needed=250_000,
            own_money=20_000, own_labour="", start_on=date(2025, 2, 1),
            end_on=date(2025, 3, 31), responsible="ผู้ใหญ่บ้าน", problem_ids=[],
            person_id=SAMSRI, now=console.clock.now())
    await console.start("2")
    await _return(console, f"ผ#{item_id} แผน: ซ่อมถนนเข้าหมู่บ้าน (หมู่ 1)",
                  "งบสูงไป ขอแยกค่าวัสดุครับ")
    await console.type("/as 1")
    out = await console.type("1")  # ✏️ แก้ไขแล้วส่งใหม่
    assert "แก้ไขตามความเห็นของกลุ่มแกนระดับตำบล" in out and "งบสูงไป" in out
    assert "250,000" in out
    await console.type("แก้งบประมาณ")
    out = await console.type("180000")
    assert "180,000" in out
    out = await console.type("✅ บันทึก")
    assert f"ส่งฉบับแก้ไข ผ#{item_id} (ฉบับที่ 2)" in out
    assert await _rows(console, "SELECT budget_needed, version, review_status FROM plan_items"
                       ) == [(180_000, 2, "new")]
    out = await console.type("/as 2")
    assert "งบประมาณที่ต้องการ: 250,000 บาท → 180,000 บาท" in out
    out = await console.type("1")  # the notification's button: this item, not the inbox list
    assert "รอตรวจ" not in out
    assert "✏️ ฉบับที่ 2 แก้จากฉบับที่ 1:" in out
    assert "งบประมาณที่ต้องการ: 250,000 บาท → 180,000 บาท" in out


async def test_a_returned_forum_is_corrected(console: Harness) -> None:
    async with console.db.transaction() as conn:
        forum_id = await forums.insert(
            conn, village_code=VILLAGE, held_on=date(2025, 1, 5), participants=35,
            groups_present=["elders"], other_groups="", notes="คุยเรื่องน้ำ", photo_ref=None,
            photo_platform_id=None, problem_ids=[], reporter_id=SAMSRI,
            now=console.clock.now())
    await console.start("2")
    await _return(console, f"ว#{forum_id} เวที: 5 ม.ค. 2568 (หมู่ 1)", "จำนวนคนไม่ตรงกับรายชื่อ")
    await console.type("/as 1")
    out = await console.type("1")  # ✏️ แก้ไขแล้วส่งใหม่
    assert "35" in out
    await console.type("แก้จำนวนผู้เข้าร่วม")
    await console.type("42")
    out = await console.type("✅ บันทึก")
    assert f"ส่งฉบับแก้ไข ว#{forum_id} (ฉบับที่ 2)" in out
    assert await _rows(console, "SELECT participants, version FROM forums") == [(42, 2)]
    out = await console.type("/as 2")
    assert "ผู้เข้าร่วม: 35 คน → 42 คน" in out


async def test_a_returned_progress_update_is_corrected(console: Harness) -> None:
    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(
            conn, village_code=VILLAGE, period_start=date(2025, 1, 1),
            period_end=date(2025, 6, 30), person_id=SAMSRI, now=console.clock.now())
        item_id = await plans.add_item(
            conn, plan_id=plan_id, village_code=VILLAGE, title="ขุดลอกฝาย",
            approach="self_reliance", partner="", budget_needed=0, own_money=5_000,
            own_labour="", start_on=date(2025, 1, 1), end_on=date(2025, 3, 31),
            responsible="ผู้ใหญ่บ้าน", problem_ids=[], person_id=SAMSRI,
            now=console.clock.now())
        item = await plans.get_item(conn, item_id)
        assert item is not None
        progress_id = await plans.add_progress(
            conn, item=item, status="in_progress", percent=40, note="ขุดไปครึ่งหนึ่ง",
            photo_ref=None, photo_platform_id=None, stalled_reason=None, reporter_id=SAMSRI,
            now=console.clock.now())
    await console.start("2")
    await _return(console, f"ค#{progress_id} ความคืบหน้า: ขุดลอกฝาย 40% (หมู่ 1)",
                  "40% ดูมากไป ตรวจอีกครั้งครับ")
    await console.type("/as 1")
    out = await console.type("1")  # ✏️ แก้ไขแล้วส่งใหม่
    assert "40%" in out
    await console.type("แก้เปอร์เซ็นต์")
    await console.type("25%")
    out = await console.type("✅ บันทึก")
    assert f"ส่งฉบับแก้ไข ค#{progress_id} (ฉบับที่ 2)" in out
    assert await _rows(console, "SELECT percent, version FROM progress_updates") == [(25, 2)]
    assert await _rows(console, "SELECT percent FROM plan_items") == [(25,)]  # the latest
    out = await console.type("/as 2")
    assert "ความคืบหน้า: 40% → 25%" in out


async def test_another_village_cannot_correct_it(console: Harness) -> None:
    problem_id = await _problem(console)
    await console.start("2")
    await _return(console, f"ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)", "ขอรูปถ่ายด้วยครับ")
    async with console.db.transaction() as conn:
        other = await people.create_person(conn, "บุญมี หมู่ 2", "th", console.clock.now())
        identity = await people.ensure_identity(conn, "console", "demo-v2", "demo-v2",
                                                console.clock.now())
        await people.link_identity(conn, identity.id, other)
        await people.add_grant(conn, other, Grant("village_committee", OTHER_VILLAGE), None,
                               console.clock.now())
    # A forged press of the button that went to village 1.
    await console.engine.handle(Incoming(channel="console", user_id="demo-v2",
                                         chat_id="demo-v2", update_id="forged-correct",
                                         payload=f"m:open:correct:problem:{problem_id}"))
    await console.sender.deliver_due("console", "demo-v2")
    out = console.take()
    assert "ไม่อยู่ในพื้นที่ที่คุณดูแล" in out
    assert "บ่อน้ำตื้นแห้ง" not in out and "ตรวจสอบก่อนบันทึก" not in out
    assert await _rows(console, "SELECT version, review_status FROM problems") == [
        (1, "returned")]
