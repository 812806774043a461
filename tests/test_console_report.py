"""The whole problem report through the console channel, as a village leader types it."""

from __future__ import annotations

from locales import problem_categories
from tests.conftest import Harness
from tests.fuzz import conversation

DEMO_VILLAGE = "35010101"


async def test_report_with_edit_before_confirm_reaches_core_team(console: Harness) -> None:
    out = await console.start("1")
    assert "สมศรี" in out

    out = await console.type("เมนู")
    assert "[1] รายงานปัญหา" in out

    out = await console.type("1")  # รายงานปัญหา
    assert "ปัญหาเรื่องอะไร" in out
    assert "ภัยแล้ง/น้ำ" in out

    out = await console.type("ภัยแล้ง/น้ำ")  # typing the label works like tapping
    assert "เล่าปัญหาสั้น ๆ" in out

    out = await console.type("บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้ ต้องซื้อน้ำ")
    assert "กี่ครัวเรือน" in out

    out = await console.type("สี่สิบห้า ครัวเรือน")
    assert "รุนแรงแค่ไหน" in out

    out = await console.type("3")  # รุนแรง
    assert "ส่งรูปถ่าย หรือแชร์ตำแหน่ง" in out  # photo and location: one question

    out = await console.type("/photo media/well.jpg")  # a photo goes on to the summary
    assert "ตรวจสอบก่อนบันทึก" in out
    assert "รูปถ่าย: มี" in out and "ตำแหน่ง: ไม่มี" in out
    assert "แชร์ตำแหน่งเพิ่มได้ก่อนกดบันทึก" in out

    out = await console.type("๑๕.๗๙, ๑๐๔.๑๔")  # the location too, typed in Thai digits
    assert "แนบตำแหน่งไว้กับรายงานแล้ว" in out
    assert "ตรวจสอบก่อนบันทึก" in out
    assert "ครัวเรือนที่เดือดร้อน: 45" in out
    assert "รูปถ่าย: มี" in out
    assert "15.79000, 104.14000" in out
    assert "เพิ่มได้ก่อนกดบันทึก" not in out  # both are there

    # Edit the number of households from the confirmation screen, then come back to it.
    out = await console.type("แก้จำนวนครัวเรือน")
    assert "กี่ครัวเรือน" in out
    out = await console.type("ห้าสิบ")
    assert "ตรวจสอบก่อนบันทึก" in out
    assert "ครัวเรือนที่เดือดร้อน: 50" in out
    assert "บ่อน้ำตื้นแห้ง" in out  # the rest is kept

    out = await console.type("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว เลขที่ #1" in out
    assert "มีข้อความใหม่ 1 ข้อความถึง ประเสริฐ" in out

    row = await console.scalar(
        "SELECT category || '|' || households || '|' || severity || '|' || photo_ref"
        " || '|' || village_code FROM problems")
    assert row == f"water|50|3|media/well.jpg|{DEMO_VILLAGE}"

    out = await console.type("รายงานของหมู่บ้าน")
    assert "#1 10 ม.ค. 2568" in out  # Buddhist-Era date
    assert "50 ครัวเรือน" in out

    # The core-team member sees the notification arrive.
    out = await console.type("/as 2")
    assert "ตอนนี้คุณคือ ประเสริฐ" in out
    assert "รายงานปัญหาใหม่ ป#1" in out
    assert "หมู่ที่ 1 บ้านโนนสูง" in out
    assert "50 ครัวเรือน" in out
    assert "ผู้รายงาน: สมศรี" in out


async def test_cancel_discards_and_saves_nothing(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("เด็กในหมู่บ้านเป็นไข้เลือดออกหลายคน")
    out = await console.type("ยกเลิก")
    assert "ยกเลิกแล้ว" in out
    assert "[1] รายงานปัญหา" in out  # back at the menu, with no draft to resume
    assert "ทำต่อ" not in out
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 0
    assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-core'") == 0


async def test_free_text_suggests_a_category(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type("ลูกหลานตกงานจากโรงงาน ต้องกลับบ้านมาไม่มีรายได้")
    assert 'ดูเหมือนเป็นปัญหา "ตกงาน/แรงงานคืนถิ่น"' in out
    out = await console.type("1")  # ใช่
    # The description typed at the category step is kept: straight on to households.
    assert "กี่ครัวเรือน" in out


async def test_back_goes_to_previous_question_keeping_answers(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("หนี้สินครัวเรือน")
    await console.type("ชาวบ้านเป็นหนี้นอกระบบ ดอกเบี้ยสูงมาก")
    out = await console.type("ย้อนกลับ")
    assert "เล่าปัญหาสั้น ๆ" in out
    out = await console.type("ชาวบ้านเป็นหนี้นอกระบบ ดอกเบี้ยร้อยละ 20 ต่อเดือน")
    assert "กี่ครัวเรือน" in out
    await console.type("12")
    await console.type("วิกฤติ")
    out = await console.type("ข้าม")  # no photo, no location: one "skip"
    assert "ร้อยละ 20 ต่อเดือน" in out
    assert "ความรุนแรง: วิกฤติ" in out


async def test_bad_answers_get_thai_explanation_and_same_question(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("อาหาร/ความอดอยาก")
    await console.type("เด็กเล็กขาดอาหารกลางวัน")
    for bad, explanation in [
        ("", "ไม่เข้าใจจำนวน"),
        ("-5", "ระหว่าง 1 ถึง"),
        ("9999999999", "ระหว่าง 1 ถึง"),
        ("'; DROP TABLE problems; --", "ไม่เข้าใจจำนวน"),
        ("🙏🙏", "ไม่เข้าใจจำนวน"),
        ("ก" * 10_000, "ไม่เข้าใจจำนวน"),
    ]:
        out = await console.type(bad)
        assert explanation in out, bad
        assert "กี่ครัวเรือน" in out, bad
    out = await console.type("/sticker")
    assert "ใช้ปุ่ม" in out
    assert "กี่ครัวเรือน" in out
    out = await console.type("\u200b๒๐\u200b")  # zero-width characters around Thai digits
    assert "รุนแรงแค่ไหน" in out
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 0


async def test_old_button_is_answered_politely(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    old_buttons = list(console.screen.last_choices["demo-village"])
    await console.type("สุขภาพ")
    # Press a category button of the earlier message while the description is asked.
    await console.engine.handle(_incoming_payload(old_buttons[0]))
    await console.sender.deliver_due("console", "demo-village")
    out = console.take()
    assert "ปุ่มนี้มาจากข้อความก่อนหน้า" in out
    assert "เล่าปัญหาสั้น ๆ" in out


def _incoming_payload(payload: str):  # type: ignore[no-untyped-def]
    from handlers.messages import Incoming

    return Incoming(channel="console", user_id="demo-village", chat_id="demo-village",
                    update_id="old-button-press", payload=payload)


async def test_language_switch_is_per_person(console: Harness) -> None:
    await console.start("1")
    await console.type("ภาษา / Language")
    out = await console.type("English")
    assert "Language changed to English." in out
    assert "[1] Report a problem" in out
    for text in ("Report a problem", "Health", "Dengue fever in the village, many children sick",
                 "12", "severe"):
        await console.type(text)
    out = await console.type("Skip")
    assert "Households affected: 12" in out
    await console.type("Save")
    # The core-team member still reads Thai: each notification speaks its reader's language.
    out = await console.type("/as 2")
    assert "รายงานปัญหาใหม่ ป#1" in out
    assert "ประเภท: สุขภาพ" in out


# --- text typed at the category question (issue 13, item 5) ------------------------------

async def test_a_number_that_is_no_category_is_not_taken_as_the_description(
        console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    count = len(problem_categories())
    out = await console.type(str(count + 7))
    assert f"ไม่มีประเภทหมายเลข {count + 7}" in out
    assert f"(1 ถึง {count})" in out
    assert "ปัญหาเรื่องอะไร" in out  # the same question again
    assert "คำอธิบายสั้นเกินไป" not in out
    _, step, data = await conversation(console.db)
    assert step == "category" and "description" not in data
    out = await console.type("๒")  # a category's number, in Thai digits: that category
    assert "เล่าปัญหาสั้น ๆ" in out  # and the description is asked for
    _, step, data = await conversation(console.db)
    assert data["category"] == problem_categories()[1]["key"] and step == "description"


async def test_a_description_typed_at_the_category_question_is_kept_with_a_suggestion(
        console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type("บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้ ต้องซื้อน้ำ")
    assert 'ดูเหมือนเป็นปัญหา "ภัยแล้ง/น้ำ"' in out
    out = await console.type("ใช่")  # typed, not tapped
    assert "กี่ครัวเรือน" in out  # the description is not asked again
    _, _, data = await conversation(console.db)
    assert data["description"] == "บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้ ต้องซื้อน้ำ"
    assert data["category"] == "water"


async def test_a_category_word_suggests_but_the_description_is_still_asked(
        console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type("ไฟไหม้")  # names a category; too short to describe it
    assert 'ดูเหมือนเป็นปัญหา "พายุ/ไฟไหม้/ดินถล่ม"' in out
    out = await console.type("ใช่")
    assert "เล่าปัญหาสั้น ๆ" in out
    _, step, data = await conversation(console.db)
    assert step == "description" and "description" not in data


async def test_a_greeting_at_the_category_question_is_neither_category_nor_description(
        console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    for text in ("สวัสดีครับ", "ทดสอบ", "ก", "🙏"):
        out = await console.type(text)
        assert "กรุณากดเลือกประเภทจากปุ่ม หรือเล่าปัญหา" in out, text
        assert "ปัญหาเรื่องอะไร" in out, text
    _, step, data = await conversation(console.db)
    assert step == "category" and "description" not in data and "category" not in data


async def test_no_but_it_is_about_debt_at_the_suggestion(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type("บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้")
    assert 'ดูเหมือนเป็นปัญหา "ภัยแล้ง/น้ำ"' in out
    out = await console.type("ไม่ใช่ เป็นเรื่องหนี้")
    assert "กี่ครัวเรือน" in out
    _, _, data = await conversation(console.db)
    assert data["category"] == "debt"


async def test_households_buttons_are_exact_numbers_and_any_number_can_be_typed(
        console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    out = await console.type("ไข้เลือดออกระบาดในหมู่บ้าน")
    assert "[20 ครัวเรือน]" in out and "[50 ครัวเรือน]" in out  # shown by label, not numbered
    await console.type("5")  # typed: five households, not the fifth button
    _, _, data = await conversation(console.db)
    assert data["households"] == 5
    await console.type("ย้อนกลับ")
    await console.type("สามสิบเจ็ด")
    _, _, data = await conversation(console.db)
    assert data["households"] == 37


async def test_a_photo_at_any_question_is_attached(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    out = await console.type("/photo media/sick.jpg")  # at the description question
    assert "แนบรูปถ่ายไว้กับรายงานแล้ว" in out
    assert "เล่าปัญหาสั้น ๆ" in out  # the question again
    await console.type("ไข้เลือดออกระบาดในหมู่บ้าน")
    await console.type("12")
    out = await console.type("ปานกลาง")
    assert "ตรวจสอบก่อนบันทึก" in out  # a photo is there: no photo/location question
    assert "รูปถ่าย: มี" in out
    await console.type("บันทึก")
    assert await console.scalar("SELECT photo_ref FROM problems") == "media/sick.jpg"
