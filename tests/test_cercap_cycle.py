"""The cabinet resolution's §4 cycle, end to end through the engine, as the demo tambon's
people would play it: forum → plan with one item of each approach → support request →
the TAO forwards → the district funds → progress to done with the outcome confirmed →
core-team review and the village's answer → lessons learned → the next period's plan."""

from __future__ import annotations

from tests.conftest import Harness

VILLAGE = "35010101"


async def play(console: Harness, lines: list[str]) -> str:
    return "\n".join([await console.type(line) for line in lines])


async def rows(console: Harness, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    async with console.db.read() as conn, conn.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_the_whole_cycle(console: Harness) -> None:
    await console.start("1")  # สมศรี, village committee of หมู่ 1
    out = await play(console, [
        "รายงานปัญหา", "ภัยแล้ง/น้ำ", "ฝนทิ้งช่วง บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้", "45",
        "รุนแรง", "ข้าม", "ข้าม", "บันทึก"])
    assert "บันทึกรายงานปัญหาแล้ว เลขที่ #1" in out

    # 1. The community forum.
    out = await play(console, [
        "บันทึกเวทีประชาคม", "5 ม.ค. 68", "๖๐", "กรรมการหมู่บ้าน", "กลุ่มเกษตรกร", "เสร็จแล้ว",
        "#1 ภัยแล้ง/น้ำ", "เสร็จแล้ว", "ชาวบ้านตกลงขุดลอกฝายเอง และขอท่อส่งน้ำจาก อบต.",
        "ข้าม"])
    assert "วันที่จัดเวที: 5 ม.ค. 2568" in out and "ผู้เข้าร่วม: 60 คน" in out
    assert "บันทึกเวทีประชาคมแล้ว" in await console.type("บันทึก")

    # 2. The village crisis plan: one item of each of the three approaches.
    out = await play(console, ["แผนของหมู่บ้าน", "จัดทำแผนรอบใหม่", "1 ม.ค. 68", "30 มิ.ย. 68",
                               "เปิดแผนรอบนี้"])
    assert "รอบ 1 ม.ค. 2568 – 30 มิ.ย. 2568" in out
    await play(console, [
        "เพิ่มรายการ", "ขุดลอกฝายกักเก็บน้ำ", "#1 ภัยแล้ง/น้ำ", "เสร็จแล้ว", "พึ่งตนเอง",
        "๒๐,๐๐๐", "ไม่มีเงินสมทบ", "แรงงานชาวบ้าน 30 คน 5 วัน", "1 ก.พ. 68", "28 ก.พ. 68",
        "นายสมชาย ผู้ใหญ่บ้าน", "บันทึก"])
    await play(console, [
        "เพิ่มรายการ", "จัดหาท่อส่งน้ำจากบ่อบาดาล", "#1 ภัยแล้ง/น้ำ", "เสร็จแล้ว",
        "ขอรับการสนับสนุนจากหน่วยงาน", "อบต.ในเมือง", "สองแสนห้า", "ห้าหมื่น", "ข้าม",
        "1 มี.ค. 68", "30 เม.ย. 68", "นางสมศรี ใจดี", "บันทึก"])
    out = await play(console, [
        "เพิ่มรายการ", "ทำแปลงผักรวมกับหมู่ 2", "เสร็จแล้ว",
        "ร่วมมือกับหมู่บ้าน ตำบล หรือหน่วยงาน", "บ้านหนองบัว หมู่ 2", "0", "ไม่มีเงินสมทบ",
        "ข้าม", "1 ก.พ. 68", "31 พ.ค. 68", "กลุ่มแม่บ้าน", "บันทึก"])
    assert "#2 จัดหาท่อส่งน้ำจากบ่อบาดาล · ขอรับการสนับสนุนจาก อบต.ในเมือง" in out
    assert "#3 ทำแปลงผักรวมกับหมู่ 2 · ร่วมมือกับ บ้านหนองบัว หมู่ 2" in out

    # 3. A support request for the external-support item.
    out = await play(console, ["กลับเมนูหลัก", "ขอรับการสนับสนุน", "1", "200,000",
                               "ซื้อท่อ PVC และปั๊มน้ำ ส่งน้ำจากบ่อบาดาลถึงแปลงนา"])
    assert "ขอรับการสนับสนุน: 200,000 บาท" in out
    await console.type("ส่งคำขอ")

    # 4. The TAO forwards it to the district.
    out = await console.type("/as 3")
    assert "คำขอรับการสนับสนุนใหม่ ข#1" in out and "ขอ 200,000 บาท" in out
    out = await play(console, ["คำขอรอพิจารณา (อบต.)", "1"])
    assert "หมู่บ้านสมทบเอง: เงิน 50,000 บาท" in out  # the village's own contribution
    assert "ภัยแล้ง/น้ำ" in out  # the problem it answers
    await play(console, ["ส่งต่ออำเภอ", "งบ อบต. ปีนี้ไม่พอ ขออำเภอพิจารณา", "ยืนยัน"])

    # 5. The district funds it.
    out = await console.type("/as 4")
    assert "ส่งต่อมาจาก อบต." in out and "งบ อบต. ปีนี้ไม่พอ" in out
    await play(console, ["คำขอที่ส่งต่อมา (อำเภอ)", "1", "อนุมัติเต็ม 200,000 บาท", "ยืนยัน"])
    out = await console.type("/as 3")
    assert "อนุมัติ" in out and "200,000 บาท" in out  # the TAO is told

    # 6. The village is told each decision; progress to done, the outcome confirmed.
    out = await console.type("/as 1")
    assert "ส่งต่อไปให้อำเภอพิจารณาแล้ว" in out
    assert "ได้รับการอนุมัติจาก อำเภอ 200,000 บาท" in out
    out = await play(console, ["ติดตามคำขอ", "1"])
    assert "200,000" in out and "10 ม.ค. 2568" in out  # the whole history, in พ.ศ.
    await play(console, ["เมนู", "รายงานความคืบหน้า", "2", "เสร็จแล้ว",
                         "วางท่อและติดตั้งปั๊มเสร็จ น้ำถึงแปลงนาแล้ว", "ข้าม", "แก้ปัญหาได้",
                         "45", "บันทึก"])

    # 7. The core team reviews; its comment reaches the village, whose answer comes back.
    out = await console.type("/as 2")
    for note in ("รายงานปัญหาใหม่ ป#1", "เวทีประชาคม", "รายการใหม่ในแผน ผ#3",
                 "รายการเสร็จแล้ว ผ#2", "ช่วยได้ 45 ครัวเรือน"):
        assert note in out, note
    await play(console, ["ตรวจรายงานจากหมู่บ้าน", "ผ#1 แผน: ขุดลอกฝายกักเก็บน้ำ (หมู่ 1)",
                         "ต้องแก้ไข/ติดตาม", "ช่วยแจกแจงค่าใช้จ่าย 20,000 บาทด้วยครับ",
                         "ส่งผลการตรวจ"])
    out = await console.type("/as 1")
    assert "ช่วยแจกแจงค่าใช้จ่าย 20,000 บาทด้วยครับ" in out
    await play(console, ["ความเห็นที่รอคำตอบ", "1", "ค่าน้ำมันรถขุด 15,000 บาท ค่าอาหาร 5,000 บาท",
                         "ส่งคำตอบ"])
    out = await console.type("/as 2")
    assert "คำตอบ: ค่าน้ำมันรถขุด 15,000 บาท ค่าอาหาร 5,000 บาท" in out

    # 8. Lessons learned close the period and open the next plan, carrying items over.
    await console.type("/as 1")
    out = await play(console, ["สรุปบทเรียน", "ชาวบ้านร่วมแรงกันดี อำเภอสนับสนุนงบทันเวลา",
                               "ขุดลอกฝายช้ากว่าแผนเพราะรถขุดไม่ว่าง", "จองรถขุดล่วงหน้า",
                               "ปิดรอบ ยกงานค้างไป", "31 ธ.ค. 68", "1"])
    assert "เปิดแผนรอบใหม่ 1 ก.ค. 2568 – 31 ธ.ค. 2568 ยกรายการที่ยังไม่เสร็จไป 2 รายการ" in out
    out = await console.type("/as 3")
    assert "สรุปบทเรียนใหม่ บ#1" in out  # the TAO is told too
    out = await console.type("/as 2")
    assert "สรุปบทเรียนใหม่ บ#1" in out

    # The final state of every row.
    assert await rows(console, "SELECT village_code, category, households FROM problems") == [
        (VILLAGE, "water", 45)]
    assert await rows(console, "SELECT held_on, participants FROM forums") == [("2025-01-05", 60)]
    assert await rows(console, "SELECT forum_id, problem_id FROM forum_problems") == [(1, 1)]
    assert await rows(console, "SELECT id, period_start, period_end, status, previous_id"
                               " FROM plans ORDER BY id") == [
        (1, "2025-01-01", "2025-06-30", "closed", None),
        (2, "2025-07-01", "2025-12-31", "open", 1)]
    assert await rows(console, "SELECT plan_id, title, approach, partner, budget_needed,"
                               " own_money, status, percent, outcome_solved, households_helped,"
                               " carried_from FROM plan_items ORDER BY id") == [
        (1, "ขุดลอกฝายกักเก็บน้ำ", "self_reliance", "", 20000, 0, "not_started", 0, None, None,
         None),
        (1, "จัดหาท่อส่งน้ำจากบ่อบาดาล", "external_support", "อบต.ในเมือง", 250000, 50000,
         "done", 100, "yes", 45, None),
        (1, "ทำแปลงผักรวมกับหมู่ 2", "cooperation", "บ้านหนองบัว หมู่ 2", 0, 0, "not_started",
         0, None, None, None),
        (2, "ขุดลอกฝายกักเก็บน้ำ", "self_reliance", "", 20000, 0, "not_started", 0, None, None,
         1),
        (2, "ทำแปลงผักรวมกับหมู่ 2", "cooperation", "บ้านหนองบัว หมู่ 2", 0, 0, "not_started",
         0, None, None, 3)]
    assert await rows(console, "SELECT item_id, problem_id FROM plan_item_problems"
                               " ORDER BY item_id") == [(1, 1), (2, 1), (4, 1)]
    assert await rows(console, "SELECT item_id, status, percent FROM progress_updates") == [
        (2, "done", 100)]
    assert await rows(console, "SELECT item_id, amount_requested, level, status,"
                               " amount_granted, tao_note FROM support_requests") == [
        (2, 200000, "district", "funded", 200000, "งบ อบต. ปีนี้ไม่พอ ขออำเภอพิจารณา")]
    assert await rows(console, "SELECT from_status, to_status, level, amount"
                               " FROM support_request_events ORDER BY id") == [
        (None, "submitted", "tambon", 200000), ("submitted", "forwarded", "district", None),
        ("forwarded", "funded", "district", 200000)]
    assert await rows(console, "SELECT entity, entity_id, verdict FROM reviews") == [
        ("plan_item", 1, "needs_attention")]
    assert await rows(console, "SELECT review_id, text FROM review_replies") == [
        (1, "ค่าน้ำมันรถขุด 15,000 บาท ค่าอาหาร 5,000 บาท")]
    assert await rows(console, "SELECT plan_id, next_steps FROM lessons") == [
        (1, "จองรถขุดล่วงหน้า")]
    actions = {a for (a,) in await rows(console, "SELECT DISTINCT action FROM audit_log")}
    assert {"problem.report", "forum.record", "plan.create", "plan_item.add",
            "support_request.submit", "support_request.forward", "support_request.fund",
            "plan_item.progress", "review.record", "review.answer", "lessons.record",
            "plan.close", "plan.open", "plan_item.carry_over"} <= actions
    # Nobody outside the tambon was told anything; the viewer saw nothing.
    assert await rows(console, "SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-viewer'") == [
        (0,)]
