"""Returned means correctable: a submission the core team returns for correction opens,
from the notification's button, on its own confirmation screen with every field editable;
the corrected one goes back to the reviewer as a new version, the old one kept in the
audit log and shown to the reviewer as a diff. Through the console channel."""

from __future__ import annotations

import json
from datetime import date

from handlers.messages import Incoming
from storage import forums, lessons, people, plans, problems, reviews
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


# --- support requests returned by the TAO or the district ------------------------------------

TAO, DISTRICT = 3, 4  # the demo TAO officer and district committee member


async def _tao_returns(console: Harness, reason: str) -> None:
    """The TAO opens the request from its notification's button and returns it."""
    out = await console.type("/as 3")
    assert "[1] ⚖️ พิจารณาคำขอนี้" in out
    out = await console.type("1")
    assert "พิจารณาอย่างไรครับ" in out
    await console.type("↩️ ส่งคืนหมู่บ้าน")
    await console.type(reason)
    out = await console.type("✅ ยืนยัน")
    assert "ส่งคืนคำขอ #1 แจ้งหมู่บ้านแล้ว" in out


async def test_a_returned_support_request_is_corrected_and_the_tao_sees_the_diff(
        console: Harness) -> None:
    from tests.test_support_requests import _item, _request

    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await console.start("1")
    await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "120000", "ซื้อปูน หิน ทราย")
    await _tao_returns(console, "ขอใบเสนอราคาจากร้านค้า 2 ร้านครับ")

    # The village is told why, with a button that opens the request's confirmation screen.
    out = await console.type("/as 1")
    assert "ข#1 (ซ่อมฝายน้ำล้น) ถูกส่งคืนจาก อบต." in out
    assert "[1] ✏️ แก้ไขแล้วส่งใหม่" in out
    out = await console.type("1")
    assert "✏️ แก้ไขคำขอที่ อบต. ส่งคืน (ข#1 ฉบับที่ 1)" in out
    assert "เหตุผล: ขอใบเสนอราคาจากร้านค้า 2 ร้านครับ" in out
    assert "ตรวจสอบก่อนส่งคำขอ" in out and "ขอรับการสนับสนุน: 120,000 บาท" in out
    assert "แก้จำนวนเงิน" in out and "แก้วัตถุประสงค์" in out and "แก้รายการ" in out
    out = await console.type("📨 ส่งคำขอ")  # nothing changed yet: not a new version
    assert "ยังไม่ได้แก้ช่องใดเลยครับ" in out and "ตรวจสอบก่อนส่งคำขอ" in out
    out = await console.type("แก้จำนวนเงิน")
    assert "ขอรับการสนับสนุนเป็นเงินเท่าไรครับ" in out
    out = await console.type("แปดหมื่นห้าพัน")
    assert "ขอรับการสนับสนุน: 85,000 บาท" in out
    await console.type("แก้วัตถุประสงค์")
    out = await console.type("ซื้อปูน หิน ทราย ตามใบเสนอราคา 2 ร้าน")
    assert "วัตถุประสงค์: ซื้อปูน หิน ทราย ตามใบเสนอราคา 2 ร้าน" in out
    out = await console.type("📨 ส่งคำขอ")
    assert "ส่งคำขอ ข#1 ฉบับแก้ไข (ฉบับที่ 2) ถึง อบต. แล้วครับ" in out
    assert "มีข้อความใหม่ 1 ข้อความถึง วิไล" in out

    # The same request, its next version, waiting again at the TAO; the history says so.
    assert await _rows(console, "SELECT id, amount_requested, purpose, level, status, version,"
                                " reason FROM support_requests") == [
        (1, 85_000, "ซื้อปูน หิน ทราย ตามใบเสนอราคา 2 ร้าน", "tambon", "submitted", 2, None)]
    assert await _rows(console, "SELECT from_status, to_status, level, amount"
                                " FROM support_request_events ORDER BY id") == [
        (None, "submitted", "tambon", 120_000), ("submitted", "returned", "tambon", None),
        ("returned", "submitted", "tambon", 85_000)]
    # The old version whole in the audit log.
    (detail,) = (json.loads(str(row[0])) for row in await _rows(
        console, "SELECT detail FROM audit_log WHERE action = 'support_request.correct'"
                 " AND entity = 'support_request' AND entity_id = '1'"))
    assert detail["version"] == 1 and detail["new_version"] == 2
    assert detail["old"]["amount_requested"] == 120_000
    assert detail["old"]["purpose"] == "ซื้อปูน หิน ทราย"
    assert detail["old"]["status"] == "returned"
    assert detail["old"]["reason"] == "ขอใบเสนอราคาจากร้านค้า 2 ร้านครับ"
    assert detail["new"]["amount_requested"] == 85_000 and detail["new"]["version"] == 2

    # The TAO is told, with the diff and the button; opening it shows the diff again.
    out = await console.type("/as 3")
    assert "หมู่บ้านแก้ไขคำขอรับการสนับสนุน ข#1 แล้วส่งใหม่ (ฉบับที่ 2)" in out
    assert "ขอรับการสนับสนุน: 120,000 บาท → 85,000 บาท" in out
    assert "วัตถุประสงค์: ซื้อปูน หิน ทราย → ซื้อปูน หิน ทราย ตามใบเสนอราคา 2 ร้าน" in out
    assert "รายการในแผน:" not in out  # the item did not change
    assert "[1] ⚖️ พิจารณาคำขอนี้" in out
    out = await console.type("1")
    assert "คำขอ #1 — หมู่ที่ 1 บ้านโนนสูง" in out
    assert "✏️ ฉบับที่ 2 แก้จากฉบับที่ 1:" in out
    assert "ขอรับการสนับสนุน: 120,000 บาท → 85,000 บาท" in out
    assert "✅ อนุมัติเต็ม 85,000 บาท" in out
    await console.type("✅ อนุมัติเต็ม 85,000 บาท")
    out = await console.type("✅ ยืนยัน")
    assert "อนุมัติคำขอ #1 85,000 บาท" in out

    out = await console.type("/as 1")
    await console.type("ติดตามคำขอ")
    out = await console.type("#1 ซ่อมฝายน้ำล้น")
    assert "อบต. ส่งคืน เหตุผล: ขอใบเสนอราคาจากร้านค้า 2 ร้านครับ" in out
    assert "หมู่บ้านแก้ไขแล้วส่งใหม่ถึง อบต. ขอ 85,000 บาท" in out
    assert "อบต. อนุมัติ 85,000 บาท" in out


async def test_a_request_the_district_returned_goes_back_to_the_district(
        console: Harness) -> None:
    from tests.test_support_requests import _item, _request

    await _item(console, "ขุดสระน้ำ", 400_000)
    await console.start("1")
    await _request(console, "ขุดสระน้ำ (งบ 400,000 บาท)", "350000", "จ้างรถขุดสระน้ำ")
    await console.type("/as 3")
    await console.type("1")  # ⚖️ พิจารณาคำขอนี้
    await console.type("⏩ ส่งต่ออำเภอ")
    await console.type("เกินงบประมาณของ อบต. ปีนี้")
    await console.type("✅ ยืนยัน")
    out = await console.type("/as 4")
    assert "[1] ⚖️ พิจารณาคำขอนี้" in out
    await console.type("1")
    await console.type("↩️ ส่งคืนหมู่บ้าน")
    await console.type("ขอแบบแปลนสระครับ")
    await console.type("✅ ยืนยัน")

    out = await console.type("/as 1")
    assert "ถูกส่งคืนจาก อำเภอ" in out and "[1] ✏️ แก้ไขแล้วส่งใหม่" in out
    out = await console.type("1")
    assert "✏️ แก้ไขคำขอที่ อำเภอ ส่งคืน (ข#1 ฉบับที่ 1)" in out
    assert "เหตุผล: ขอแบบแปลนสระครับ" in out
    await console.type("แก้วัตถุประสงค์")
    await console.type("จ้างรถขุดสระน้ำ ตามแบบแปลนที่แนบ")
    out = await console.type("📨 ส่งคำขอ")
    assert "ส่งคำขอ ข#1 ฉบับแก้ไข (ฉบับที่ 2) ถึง อำเภอ แล้วครับ" in out
    assert "ถึง ชาญชัย" in out and "ถึง วิไล" not in out  # the district decides, not the TAO
    assert await _rows(console, "SELECT level, status, version, tao_note FROM support_requests"
                       ) == [("district", "forwarded", 2, "เกินงบประมาณของ อบต. ปีนี้")]

    out = await console.type("/as 4")
    assert "วัตถุประสงค์: จ้างรถขุดสระน้ำ → จ้างรถขุดสระน้ำ ตามแบบแปลนที่แนบ" in out
    out = await console.type("1")
    assert "✏️ ฉบับที่ 2 แก้จากฉบับที่ 1:" in out
    assert "หมายเหตุจาก อบต.: เกินงบประมาณของ อบต. ปีนี้" in out
    assert "✅ อนุมัติเต็ม 350,000 บาท" in out


async def test_a_corrected_request_above_the_threshold_goes_on_to_the_district(
        console: Harness) -> None:
    from tests.test_support_requests import _item, _request

    await _item(console, "สร้างฝายคอนกรีต", 900_000)
    await console.start("1")
    await _request(console, "สร้างฝายคอนกรีต (งบ 900,000 บาท)", "400000", "ค่าวัสดุก่อสร้าง")
    await _tao_returns(console, "ขอรวมค่าแรงด้วยครับ")
    await console.type("/as 1")
    await console.type("1")  # ✏️ แก้ไขแล้วส่งใหม่
    await console.type("แก้จำนวนเงิน")
    out = await console.type("650000")
    assert "ส่งต่อไปอำเภอทันที" in out  # the confirmation screen warns of it
    out = await console.type("📨 ส่งคำขอ")
    assert "ส่งคำขอ ข#1 ฉบับแก้ไข (ฉบับที่ 2) แล้วครับ เพราะขอเกินเกณฑ์ของตำบล" in out
    assert await _rows(console, "SELECT level, status, version FROM support_requests") == [
        ("district", "forwarded", 2)]
    out = await console.type("/as 4")
    assert "ข#1 แล้วส่งใหม่ (ฉบับที่ 2) ขอเกินเกณฑ์ของตำบล (500,000 บาท)" in out
    assert "ขอรับการสนับสนุน: 400,000 บาท → 650,000 บาท" in out
    assert "[1] ⚖️ พิจารณาคำขอนี้" in out
    out = await console.type("/as 3")
    assert "เกินเกณฑ์ของตำบล (500,000 บาท) จึงส่งต่อไปอำเภอโดยอัตโนมัติ" in out


async def test_a_request_not_returned_cannot_be_corrected(console: Harness) -> None:
    from tests.test_support_requests import _item, _request

    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await console.start("1")
    await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "120000", "ซื้อปูน หิน ทราย")
    await console.engine.handle(Incoming(channel="console", user_id="demo-village",
                                         chat_id="demo-village", update_id="early-correct",
                                         payload="m:open:correct:support_request:1"))
    await console.sender.deliver_due("console", "demo-village")
    out = console.take()
    assert "รายการนี้ไม่ได้รอการแก้ไขแล้ว (ยื่นแล้ว)" in out
    assert "ตรวจสอบก่อนส่งคำขอ" not in out
    assert await _rows(console, "SELECT version, status FROM support_requests") == [
        (1, "submitted")]


# --- lessons learned --------------------------------------------------------------------------

async def test_returned_lessons_are_corrected_and_the_core_team_sees_the_diff(
        console: Harness) -> None:
    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(
            conn, village_code=VILLAGE, period_start=date(2024, 7, 1),
            period_end=date(2024, 12, 31), person_id=SAMSRI, now=console.clock.now())
        lesson_id = await lessons.insert(
            conn, plan_id=plan_id, village_code=VILLAGE, what_worked="กลุ่มออมทรัพย์",
            what_did_not="ฝายรั่ว", next_steps="ทำต่อ", person_id=SAMSRI,
            now=console.clock.now())
    await console.start("2")
    await _return(console, f"บ#{lesson_id} บทเรียน: กลุ่มออมทรัพย์ (หมู่ 1)",
                  "ขอรายละเอียดว่ารอบหน้าจะทำอะไร ใครรับผิดชอบครับ")

    out = await console.type("/as 1")
    assert "[1] ✏️ แก้ไขแล้วส่งใหม่" in out and "[2] 💬 ตอบความเห็น" in out
    out = await console.type("1")
    assert "แก้ไขตามความเห็นของกลุ่มแกนระดับตำบล" in out
    assert f"บ#{lesson_id} ฉบับที่ 1" in out and "ใครรับผิดชอบครับ" in out
    assert "สิ่งที่จะทำต่อ: ทำต่อ" in out and "รอบแผน: ไม่เปลี่ยน" in out
    assert "แก้สิ่งที่จะทำต่อ" in out and "แก้การปิดรอบ" not in out
    out = await console.type("แก้สิ่งที่จะทำต่อ")
    assert "รอบต่อไปควรทำอะไรต่อครับ" in out
    out = await console.type("ซ่อมฝายก่อนหน้าฝน นายสมชายรับผิดชอบ")
    assert "สิ่งที่จะทำต่อ: ซ่อมฝายก่อนหน้าฝน นายสมชายรับผิดชอบ" in out
    out = await console.type("✅ บันทึก")
    assert f"ส่งฉบับแก้ไข บ#{lesson_id} (ฉบับที่ 2) ถึงกลุ่มแกนระดับตำบลแล้วครับ" in out

    assert await _rows(console, "SELECT id, next_steps, version, review_status FROM lessons") == [
        (lesson_id, "ซ่อมฝายก่อนหน้าฝน นายสมชายรับผิดชอบ", 2, "new")]
    assert await _rows(console, "SELECT COUNT(*) FROM plans") == [(1,)]  # no period reopened
    (detail,) = (json.loads(str(row[0])) for row in await _rows(
        console, "SELECT detail FROM audit_log WHERE action = 'lesson.correct'"))
    assert detail["old"]["next_steps"] == "ทำต่อ" and detail["old"]["what_worked"] == "กลุ่มออมทรัพย์"
    async with console.db.read() as conn:
        assert await reviews.reviews_for_village(conn, VILLAGE) == []

    out = await console.type("/as 2")
    assert f"หมู่บ้านแก้ไขแล้วส่งใหม่: บ#{lesson_id}" in out
    assert "จะทำอะไรต่อ: ทำต่อ → ซ่อมฝายก่อนหน้าฝน นายสมชายรับผิดชอบ" in out
    assert "สิ่งที่ได้ผล:" not in out.split("แก้จากฉบับก่อน")[1]  # unchanged, not in the diff
    out = await console.type("1")  # 🔎 ตรวจรายการนี้
    assert "✏️ ฉบับที่ 2 แก้จากฉบับที่ 1:" in out
    assert "จะทำอะไรต่อ: ทำต่อ → ซ่อมฝายก่อนหน้าฝน นายสมชายรับผิดชอบ" in out


# --- a button that opens the flow the person had open ------------------------------------------

async def _mid_report_then_returned(console: Harness) -> tuple[int, str, dict[str, object]]:
    """An earlier report returned by the core team while the village is in the middle of
    another report: (the returned problem, the open report's step, its data)."""
    from tests.report_walk import START_REPORT, next_answer

    problem_id = await _problem(console)
    await console.start("2")
    await _return(console, f"ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)", "ขอตัวเลขล่าสุดครับ")
    out = await console.type("/as 1")
    out = await console.type(START_REPORT)
    out = await console.type(next_answer(out))
    out = await console.type(next_answer(out))
    assert "บันทึกรายงานปัญหาแล้ว" not in out
    ((step, data),) = await _rows(
        console, "SELECT step, data FROM conversations WHERE identity_id ="
                 " (SELECT id FROM identities WHERE platform_user_id = 'demo-village')")
    return problem_id, str(step), json.loads(str(data))


async def _press_correct(console: Harness, problem_id: int, press: int = 1) -> str:
    """The notification's "✏️ แก้ไขแล้วส่งใหม่" pressed (again: another update)."""
    await console.engine.handle(Incoming(channel="console", user_id="demo-village",
                                         chat_id="demo-village", update_id=f"press-{press}",
                                         payload=f"m:open:correct:problem:{problem_id}"))
    await console.sender.deliver_due("console", "demo-village")
    return console.take()


async def _draft(console: Harness) -> list[tuple[object, ...]]:
    return [(flow, step, {k: v for k, v in json.loads(str(data)).items()
                          if not k.startswith("_")})
            for flow, step, data in await _rows(console, "SELECT flow, step, data FROM drafts")]


async def test_correcting_in_the_flow_that_was_open_keeps_its_draft(console: Harness) -> None:
    problem_id, step, data = await _mid_report_then_returned(console)
    entered = {k: v for k, v in data.items() if not k.startswith("_")}
    assert entered

    out = await _press_correct(console, problem_id)
    assert "เก็บร่างไว้ให้แล้ว" in out and "แก้ไขตามความเห็นของกลุ่มแกนระดับตำบล" in out
    assert await _draft(console) == [("problem_report", step, entered)]
    await console.type("แก้จำนวนครัวเรือน")
    await console.type("60")
    out = await console.type("✅ บันทึก")
    assert f"ส่งฉบับแก้ไข ป#{problem_id} (ฉบับที่ 2)" in out
    # The report that was open is still there, whole, offered to resume.
    assert await _draft(console) == [("problem_report", step, entered)]
    assert "ทำต่อ" in out
    assert await _rows(console, "SELECT id, households, version FROM problems") == [
        (problem_id, 60, 2)]


async def test_cancelling_or_leaving_the_opened_item_keeps_the_other_draft(
        console: Harness) -> None:
    problem_id, step, data = await _mid_report_then_returned(console)
    entered = {k: v for k, v in data.items() if not k.startswith("_")}

    assert "แก้ไขตามความเห็น" in await _press_correct(console, problem_id)
    await console.type("แก้จำนวนครัวเรือน")
    out = await console.type("ยกเลิก")
    assert "ยกเลิกแล้ว" in out
    assert await _draft(console) == [("problem_report", step, entered)]

    assert "แก้ไขตามความเห็น" in await _press_correct(console, problem_id, press=2)
    await console.type("แก้จำนวนครัวเรือน")
    out = await console.type("70")
    assert "ครัวเรือนที่เดือดร้อน: 70" in out
    out = await console.type("เมนู")  # left mid-correction: the report's draft not overwritten
    assert "เก็บร่างไว้ให้แล้ว" not in out
    assert await _draft(console) == [("problem_report", step, entered)]
    assert await _rows(console, "SELECT households, version FROM problems") == [(45, 1)]
