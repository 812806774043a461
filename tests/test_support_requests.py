"""Support requests through the console: a village asks, the TAO decides or forwards,
the district decides, everybody concerned is told, the village follows every step."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.flows import FLOWS
from handlers.messages import Incoming, Location
from storage import people, plans, problems, support_requests
from storage.people import Grant
from storage.support_requests import AlreadyDecided
from tests.conftest import Harness
from tests.fuzz import navigates

VILLAGE = "35010101"
OTHER_TAMBON = "350102"
TAO_ID, DISTRICT_ID, VILLAGE_ID = 3, 4, 1  # the demo people's ids (see storage/data/demo.json)


async def _item(console: Harness, title: str, budget: int, *,
                approach: str = "external_support", village: str = VILLAGE) -> int:
    """An item of the village's open plan (the plan is created when there is none)."""
    now = console.clock.now()
    async with console.db.transaction() as conn:
        plan = await plans.open_plan(conn, village)
        plan_id = plan.id if plan else await plans.create_plan(
            conn, village_code=village, period_start=date(2025, 1, 1),
            period_end=date(2025, 12, 31), person_id=VILLAGE_ID, now=now)
        problem_id = await problems.insert(
            conn, village_code=village, category="water",
            description="บ่อน้ำตื้นแห้ง ชาวบ้านต้องซื้อน้ำกินน้ำใช้", households=45, severity=3,
            photo_ref=None, photo_platform_id=None, latitude=None, longitude=None,
            reporter_id=VILLAGE_ID, now=now)
        return await plans.add_item(
            conn, plan_id=plan_id, village_code=village, title=title, approach=approach,
            partner="อบต. และ ชลประทาน", budget_needed=budget, own_money=20_000,
            own_labour="ชาวบ้าน 30 คน 5 วัน", start_on=date(2025, 2, 1),
            end_on=date(2025, 4, 30), responsible="นายสมชาย", problem_ids=[problem_id],
            person_id=VILLAGE_ID, now=now)


async def _request(console: Harness, item_label: str, amount: str, purpose: str) -> str:
    """The village committee member (person 1) asks for support; the screen after saving."""
    await console.type("/as 1")
    out = await console.type("ขอรับการสนับสนุน")
    assert item_label in out
    out = await console.type(item_label)
    assert "งบที่ต้องใช้" in out
    await console.type(amount)
    out = await console.type(purpose)
    assert "ตรวจสอบก่อนส่งคำขอ" in out
    return await console.type("📨 ส่งคำขอ")


async def _rows(console: Harness, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with console.db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def _extra_person(console: Harness, key: str, name: str, grant: Grant) -> None:
    """Another console identity with one grant, to switch to with /as <key>."""
    now = console.clock.now()
    async with console.db.transaction() as conn:
        person_id = await people.create_person(conn, name, "th", now)
        identity = await people.ensure_identity(conn, "console", f"demo-{key}", f"demo-{key}",
                                                now)
        await people.link_identity(conn, identity.id, person_id)
        await people.add_grant(conn, person_id, grant, None, now)
    await console.chat.load_personas()


# --- the whole path, TAO deciding ---------------------------------------------------------------

async def test_village_asks_tao_funds_part_and_village_is_told(console: Harness) -> None:
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await _item(console, "ปลูกผักสวนครัว", 5_000, approach="self_reliance")
    await console.start("1")

    out = await console.type("ขอรับการสนับสนุน")
    assert "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)" in out
    assert "ปลูกผักสวนครัว" not in out  # only external-support items can ask
    out = await console.type("ซ่อมฝายน้ำล้น (งบ 150,000 บาท)")
    assert "งบที่ต้องใช้: 150,000 บาท" in out
    out = await console.type("ศูนย์")
    assert "จำนวนเงินต้องอยู่ระหว่าง 1" in out  # more than zero
    out = await console.type("๑๒๕,๐๐๐")
    assert "จะใช้เงินนี้ทำอะไร" in out
    out = await console.type("ซื้อปูน หิน ทราย ซ่อมฝายที่พัง")
    assert "ขอรับการสนับสนุน: 125,000 บาท" in out
    assert "งบที่ต้องใช้: 150,000 บาท" in out
    assert "ส่งต่อไปอำเภอทันที" not in out  # below the default threshold
    out = await console.type("📨 ส่งคำขอ")
    assert "ส่งคำขอ #1 ถึง อบต. แล้ว" in out
    assert "มีข้อความใหม่ 1 ข้อความถึง วิไล" in out  # the TAO, nobody else
    assert "ถึง ชาญชัย" not in out and "ถึง ประเสริฐ" not in out

    assert await _rows(console, "SELECT amount_requested, level, status, village_code, created_by"
                                " FROM support_requests") == [
        (125_000, "tambon", "submitted", VILLAGE, VILLAGE_ID)]
    assert await _rows(console, "SELECT from_status, to_status, level, amount"
                                " FROM support_request_events") == [
        (None, "submitted", "tambon", 125_000)]

    out = await console.type("/as 3")
    assert "คำขอรับการสนับสนุนใหม่ ข#1" in out
    assert "หมู่ที่ 1 บ้านโนนสูง" in out and "ขอ 125,000 บาท" in out
    out = await console.type("คำขอรอพิจารณา (อบต.)")
    assert "คำขอรอพิจารณา 1 รายการ" in out
    assert "#1 หมู่ที่ 1 บ้านโนนสูง — ซ่อมฝายน้ำล้น — 125,000 บาท (ยื่น 10 ม.ค. 2568)" in out
    out = await console.type("#1 ซ่อมฝายน้ำล้น")
    assert "รายการในแผน: ซ่อมฝายน้ำล้น" in out
    assert "แนวทาง: ขอรับการสนับสนุนจากหน่วยงาน (อบต. และ ชลประทาน)" in out
    assert "งบที่ต้องใช้: 150,000 บาท" in out
    assert "ภัยแล้ง/น้ำ: บ่อน้ำตื้นแห้ง" in out  # the problem it answers
    assert "หมู่บ้านสมทบเอง: เงิน 20,000 บาท, แรงงาน: ชาวบ้าน 30 คน 5 วัน" in out
    assert "ขอรับการสนับสนุน: 125,000 บาท" in out
    assert "วัตถุประสงค์: ซื้อปูน หิน ทราย ซ่อมฝายที่พัง" in out

    out = await console.type("💰 อนุมัติบางส่วน")
    assert "ไม่เกิน 125,000 บาท" in out
    out = await console.type("150,000")
    assert "จำนวนเงินต้องอยู่ระหว่าง 1 ถึง 125,000 บาท" in out  # not more than asked
    out = await console.type("หนึ่งแสน")
    assert "การพิจารณา: อนุมัติ 100,000 บาท" in out
    out = await console.type("✅ ยืนยัน")
    assert "อนุมัติคำขอ #1 100,000 บาท แจ้งหมู่บ้านแล้ว" in out
    assert "ถึง สมศรี" in out

    assert await _rows(console, "SELECT status, level, amount_granted, decided_by"
                                " FROM support_requests") == [
        ("funded", "tambon", 100_000, TAO_ID)]
    assert await _rows(console, "SELECT person_id, from_status, to_status, level, amount"
                                " FROM support_request_events ORDER BY id") == [
        (VILLAGE_ID, None, "submitted", "tambon", 125_000),
        (TAO_ID, "submitted", "funded", "tambon", 100_000)]
    assert await _rows(console, "SELECT action, person_id, from_state, to_state FROM audit_log"
                                " WHERE entity = 'support_request' ORDER BY id") == [
        ("support_request.submit", VILLAGE_ID, None, "submitted"),
        ("support_request.fund", TAO_ID, "submitted", "funded")]

    out = await console.type("/as 1")
    assert "#1 (ซ่อมฝายน้ำล้น) ได้รับการอนุมัติจาก อบต. 100,000 บาทแล้วครับ (ขอไว้ 125,000 บาท)" in out
    out = await console.type("ติดตามคำขอ")
    assert "#1 ซ่อมฝายน้ำล้น — 125,000 บาท — อนุมัติ 100,000 บาท · พิจารณาเสร็จแล้ว" in out

    out = await console.type("/as 3")
    out = await console.type("คำขอรอพิจารณา (อบต.)")
    assert "ไม่มีคำขอรอ อบต. พิจารณา" in out


async def test_without_an_external_support_item_the_village_is_told_why(
        console: Harness) -> None:
    await _item(console, "ปลูกผักสวนครัว", 5_000, approach="self_reliance")
    await console.start("1")
    out = await console.type("ขอรับการสนับสนุน")
    assert "ขอรับการสนับสนุนได้เฉพาะรายการในแผนของหมู่บ้านที่เลือกแนวทาง" in out
    assert "] ติดตามคำขอ" in out  # back at the menu
    assert await console.scalar("SELECT COUNT(*) FROM support_requests") == 0


# --- returned with a reason, forwarded, decided by the district, followed by the village ----

async def test_return_needs_a_reason_forward_reaches_district_and_history_is_whole(
        console: Harness) -> None:
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await _item(console, "ขุดสระน้ำ", 400_000)
    await console.start("1")
    assert "#1" in await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "80000",
                                  "ซื้อปูน หิน ทราย")
    assert "#2" in await _request(console, "ขุดสระน้ำ (งบ 400,000 บาท)", "๓๕๐,๐๐๐",
                                  "จ้างรถขุดสระน้ำ")

    # The TAO returns #1: without a reason it is refused, with one the village is told.
    console.clock.advance(timedelta(days=1))
    await console.type("/as 3")
    await console.type("คำขอรอพิจารณา (อบต.)")
    await console.type("#1 ซ่อมฝายน้ำล้น")
    out = await console.type("↩️ ส่งคืนหมู่บ้าน")
    assert "เหตุผลที่ส่งคืน (จำเป็น" in out
    out = await console.type("-")
    assert "ต้องระบุเหตุผลที่ส่งคืน" in out
    assert "เหตุผลที่ส่งคืน (จำเป็น" in out  # asked again
    out = await console.type("ขอใบเสนอราคาจากร้านค้า 2 ร้าน")
    assert "การพิจารณา: ส่งคืนหมู่บ้าน เหตุผล: ขอใบเสนอราคาจากร้านค้า 2 ร้าน" in out
    out = await console.type("✅ ยืนยัน")
    assert "ส่งคืนคำขอ #1 แจ้งหมู่บ้านแล้ว" in out

    # The TAO forwards #2 with a note: the district and the village are told.
    await console.type("คำขอรอพิจารณา (อบต.)")
    await console.type("#2 ขุดสระน้ำ")
    out = await console.type("⏩ ส่งต่ออำเภอ")
    assert "หมายเหตุถึงอำเภอ" in out
    out = await console.type("เกินงบประมาณของ อบต. ปีนี้")
    assert "การพิจารณา: ส่งต่อไปอำเภอ หมายเหตุ: เกินงบประมาณของ อบต. ปีนี้" in out
    out = await console.type("✅ ยืนยัน")
    assert "ส่งคำขอ #2 ต่อไปอำเภอ แจ้งหมู่บ้าน และอำเภอแล้ว" in out
    assert "ถึง สมศรี" in out and "ถึง ชาญชัย" in out

    out = await console.type("/as 1")
    assert "#1 (ซ่อมฝายน้ำล้น) ถูกส่งคืนจาก อบต.\n   เหตุผล: ขอใบเสนอราคาจากร้านค้า 2 ร้าน" in out
    assert "#2 (ขุดสระน้ำ) อบต. ส่งต่อไปให้อำเภอพิจารณาแล้ว" in out

    # The district funds #2 in full: the TAO and the village are told.
    console.clock.advance(timedelta(days=2))
    out = await console.type("/as 4")
    assert "คำขอรับการสนับสนุน ข#2 ส่งต่อมาจาก อบต." in out
    assert "หมายเหตุจาก อบต.: เกินงบประมาณของ อบต. ปีนี้" in out
    out = await console.type("คำขอที่ส่งต่อมา (อำเภอ)")
    assert "คำขอรอพิจารณา 1 รายการ" in out and "#2" in out and "#1" not in out
    out = await console.type("#2 ขุดสระน้ำ")
    assert "หมู่บ้านสมทบเอง: เงิน 20,000 บาท" in out
    assert "หมายเหตุจาก อบต.: เกินงบประมาณของ อบต. ปีนี้" in out
    assert "ส่งต่ออำเภอ" not in out.split("พิจารณาอย่างไรครับ")[1]  # not the district's to do
    out = await console.type("✅ อนุมัติเต็ม 350,000 บาท")
    assert "การพิจารณา: อนุมัติ 350,000 บาท" in out
    out = await console.type("✅ ยืนยัน")
    assert "อนุมัติคำขอ #2 350,000 บาท แจ้ง อบต. และหมู่บ้านแล้ว" in out
    assert "ถึง วิไล" in out and "ถึง สมศรี" in out
    out = await console.type("/as 3")
    assert "อำเภออนุมัติคำขอ ข#2 (หมู่ที่ 1 บ้านโนนสูง" in out and "350,000 บาท" in out

    # The village sees where each request stands and its whole history, in B.E.
    out = await console.type("/as 1")
    assert "#2 (ขุดสระน้ำ) ได้รับการอนุมัติจาก อำเภอ 350,000 บาท" in out
    out = await console.type("ติดตามคำขอ")
    assert "#2 ขุดสระน้ำ — 350,000 บาท — อนุมัติ 350,000 บาท · พิจารณาเสร็จแล้ว" in out
    assert "#1 ซ่อมฝายน้ำล้น — 80,000 บาท — ส่งคืนหมู่บ้าน · กลับมาที่หมู่บ้าน" in out
    assert out.index("#2 ขุดสระน้ำ —") < out.index("#1 ซ่อมฝายน้ำล้น —")  # latest first
    out = await console.type("#2 ขุดสระน้ำ")
    assert ("• 10 ม.ค. 2568 — หมู่บ้านยื่นคำขอ 350,000 บาท\n"
            "   • 11 ม.ค. 2568 — อบต. ส่งต่อไปอำเภอ หมายเหตุ: เกินงบประมาณของ อบต. ปีนี้\n"
            "   • 13 ม.ค. 2568 — อำเภอ อนุมัติ 350,000 บาท") in out
    out = await console.type("↩️ กลับไปรายการคำขอ")
    out = await console.type("#1 ซ่อมฝายน้ำล้น")
    assert "• 11 ม.ค. 2568 — อบต. ส่งคืน เหตุผล: ขอใบเสนอราคาจากร้านค้า 2 ร้าน" in out
    out = await console.type("✔️ เสร็จแล้ว")
    assert "ต้องการทำอะไรต่อ" in out

    assert await _rows(console, "SELECT id, status, level, amount_granted, reason, tao_note,"
                                " decided_by FROM support_requests ORDER BY id") == [
        (1, "returned", "tambon", None, "ขอใบเสนอราคาจากร้านค้า 2 ร้าน", None, TAO_ID),
        (2, "funded", "district", 350_000, None, "เกินงบประมาณของ อบต. ปีนี้", DISTRICT_ID)]
    assert await _rows(console, "SELECT action, entity_id, person_id, from_state, to_state,"
                                " reason FROM audit_log WHERE entity = 'support_request'"
                                " AND action != 'support_request.submit' ORDER BY id") == [
        ("support_request.return", "1", TAO_ID, "submitted", "returned",
         "ขอใบเสนอราคาจากร้านค้า 2 ร้าน"),
        ("support_request.forward", "2", TAO_ID, "submitted", "forwarded",
         "เกินงบประมาณของ อบต. ปีนี้"),
        ("support_request.fund", "2", DISTRICT_ID, "forwarded", "funded", None)]


async def test_district_returns_with_a_reason_and_tao_and_village_are_told(
        console: Harness) -> None:
    await _item(console, "ขุดสระน้ำ", 400_000)
    await console.start("1")
    await _request(console, "ขุดสระน้ำ (งบ 400,000 บาท)", "350000", "จ้างรถขุดสระน้ำ")
    await console.type("/as 3")
    await console.type("คำขอรอพิจารณา (อบต.)")
    await console.type("#1 ขุดสระน้ำ")
    await console.type("⏩ ส่งต่ออำเภอ")
    out = await console.type("ข้าม")  # the note is optional
    assert "หมายเหตุ: -" in out
    await console.type("✅ ยืนยัน")

    await console.type("/as 4")
    await console.type("คำขอที่ส่งต่อมา (อำเภอ)")
    out = await console.type("#1 ขุดสระน้ำ")
    assert "หมายเหตุจาก อบต.: (ไม่มีหมายเหตุ)" in out
    await console.type("↩️ ส่งคืนหมู่บ้าน")
    out = await console.type("ให้ของบจากกรมชลประทานโดยตรง")
    out = await console.type("✅ ยืนยัน")
    assert "ส่งคืนคำขอ #1 แจ้ง อบต. และหมู่บ้านแล้ว" in out
    out = await console.type("/as 3")
    assert "อำเภอส่งคืนคำขอ ข#1" in out and "ให้ของบจากกรมชลประทานโดยตรง" in out
    out = await console.type("/as 1")
    assert "ถูกส่งคืนจาก อำเภอ\n   เหตุผล: ให้ของบจากกรมชลประทานโดยตรง" in out
    assert await _rows(console, "SELECT status, level, reason, decided_by FROM support_requests"
                       ) == [("returned", "district", "ให้ของบจากกรมชลประทานโดยตรง", DISTRICT_ID)]


# --- the threshold ------------------------------------------------------------------------------

async def test_above_the_threshold_goes_straight_to_the_district(console: Harness) -> None:
    await _item(console, "สร้างถังเก็บน้ำ", 900_000)
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await console.start("1")

    out = await _request(console, "สร้างถังเก็บน้ำ (งบ 900,000 บาท)", "6 แสน",
                         "สร้างถังเก็บน้ำประปาหมู่บ้าน")
    assert "ขอเกินเกณฑ์ของตำบล (500,000 บาท) คำขอจึงส่งต่อไปอำเภอทันที" in out
    assert "ถึง ชาญชัย" in out and "ถึง วิไล" in out
    assert await _rows(console, "SELECT level, status, tao_note FROM support_requests") == [
        ("district", "forwarded", "auto: above threshold 500000")]
    assert await _rows(console, "SELECT person_id, from_status, to_status, level, note"
                                " FROM support_request_events ORDER BY id") == [
        (VILLAGE_ID, None, "submitted", "tambon", "สร้างถังเก็บน้ำประปาหมู่บ้าน"),
        (None, "submitted", "forwarded", "district", "auto: above threshold 500000")]
    assert await _rows(console, "SELECT action, person_id, to_state, reason FROM audit_log"
                                " WHERE entity = 'support_request' ORDER BY id") == [
        ("support_request.submit", VILLAGE_ID, "submitted", None),
        ("support_request.forward", None, "forwarded", "auto: above threshold 500000")]

    out = await console.type("/as 3")
    assert "เกินเกณฑ์ของตำบล (500,000 บาท) จึงส่งต่อไปอำเภอโดยอัตโนมัติครับ (แจ้งเพื่อทราบ)" in out
    out = await console.type("คำขอรอพิจารณา (อบต.)")
    assert "ไม่มีคำขอรอ อบต. พิจารณา" in out  # it is not the TAO's to decide

    # The TAO lowers the threshold: the next request above it goes straight on too.
    out = await console.type("เกณฑ์ส่งต่ออำเภอ")
    assert "ตอนนี้คำขอที่ขอเกิน 500,000 บาท จะส่งต่อไปอำเภอทันที" in out
    out = await console.type("ไม่รู้")
    assert "ไม่เข้าใจจำนวนเงิน" in out
    out = await console.type("๑๐๐,๐๐๐")
    assert "เกณฑ์เดิม: 500,000 บาท" in out and "เกณฑ์ใหม่: 100,000 บาท" in out
    out = await console.type("✅ บันทึก")
    assert "คำขอที่ขอเกิน 100,000 บาท จะส่งต่อไปอำเภอทันที" in out
    assert await console.scalar("SELECT auto_forward_threshold || '|' || updated_by FROM"
                                " tambon_settings WHERE tambon_code = '350101'") == "100000|3"
    assert await _rows(console, "SELECT action, person_id, entity_id, from_state, to_state"
                                " FROM audit_log WHERE entity = 'tambon'") == [
        ("tambon.auto_forward_threshold", TAO_ID, "350101", "500000", "100000")]

    await console.type("/as 1")
    await console.type("ขอรับการสนับสนุน")
    await console.type("ซ่อมฝายน้ำล้น (งบ 150,000 บาท)")
    await console.type("125000")
    out = await console.type("ซื้อปูน หิน ทราย")
    assert "เกินเกณฑ์ของตำบล (100,000 บาท) คำขอนี้จะส่งต่อไปอำเภอทันที" in out
    out = await console.type("📨 ส่งคำขอ")
    assert "ส่งคำขอ #2 แล้ว" in out
    assert await console.scalar("SELECT level FROM support_requests WHERE id = 2") == "district"

    out = await console.type("/as 4")
    out = await console.type("คำขอที่ส่งต่อมา (อำเภอ)")
    assert "คำขอรอพิจารณา 2 รายการ" in out
    out = await console.type("#1 สร้างถังเก็บน้ำ")
    assert "หมายเหตุจาก อบต.: ส่งต่ออัตโนมัติ เพราะขอเกินเกณฑ์ของตำบล 500,000 บาท" in out

    out = await console.type("/as 1")
    await console.type("ติดตามคำขอ")
    out = await console.type("#1 สร้างถังเก็บน้ำ")
    assert "ส่งต่อไปอำเภอโดยอัตโนมัติ (ขอเกินเกณฑ์ของตำบล 500,000 บาท)" in out
    assert "ส่งต่ออำเภอแล้ว · อยู่ที่อำเภอ รอพิจารณา" in out


# --- decided once, by the holder only ----------------------------------------------------------

async def test_a_request_decided_meanwhile_is_refused_politely(console: Harness) -> None:
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await _extra_person(console, "tao-b", "สมปอง (อบต.)", Grant("tao", "350101"))
    await console.start("1")
    await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "125000", "ซื้อปูน หิน ทราย")

    # Two officers of the same TAO open the same request.
    await console.type("/as 3")
    await console.type("คำขอรอพิจารณา (อบต.)")
    await console.type("#1 ซ่อมฝายน้ำล้น")
    out = await console.type("✅ อนุมัติเต็ม 125,000 บาท")
    assert "ยืนยันการพิจารณา" in out
    await console.type("/as tao-b")
    await console.type("คำขอรอพิจารณา (อบต.)")
    await console.type("#1 ซ่อมฝายน้ำล้น")
    await console.type("↩️ ส่งคืนหมู่บ้าน")
    out = await console.type("งบหมดแล้วปีนี้")
    assert "ยืนยันการพิจารณา" in out

    await console.type("/as 3")
    out = await console.type("✅ ยืนยัน")
    assert "อนุมัติคำขอ #1 125,000 บาท" in out
    await console.type("/as tao-b")
    out = await console.type("✅ ยืนยัน")
    assert "คำขอ #1 ได้รับการพิจารณาไปแล้ว (สถานะ: อนุมัติ 125,000 บาท)" in out
    assert "จึงไม่ได้เปลี่ยนแปลงอะไร" in out
    assert "ต้องการทำอะไรต่อ" in out  # no crash: back at the menu

    assert await _rows(console, "SELECT status, amount_granted, reason, decided_by"
                                " FROM support_requests") == [("funded", 125_000, None, TAO_ID)]
    assert await console.scalar("SELECT COUNT(*) FROM support_request_events") == 2
    assert await console.scalar("SELECT COUNT(*) FROM audit_log WHERE action ="
                                " 'support_request.return'") == 0
    out = await console.type("/as 1")
    assert "ถูกส่งคืน" not in out  # the village heard only the real decision

    # The storage refuses too: decided requests, and requests held by another level.
    async with console.db.transaction() as conn:
        with pytest.raises(AlreadyDecided):
            await support_requests.return_(conn, 1, level="tambon", reason="ซ้ำ",
                                           person_id=TAO_ID, now=console.clock.now())
        with pytest.raises(AlreadyDecided):
            await support_requests.fund(conn, 1, level="district", amount=1,
                                        person_id=DISTRICT_ID, now=console.clock.now())
        with pytest.raises(ValueError):
            await support_requests.return_(conn, 1, level="tambon", reason=" ",
                                           person_id=TAO_ID, now=console.clock.now())


async def test_picking_a_request_decided_meanwhile_says_so(console: Harness) -> None:
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await console.start("1")
    await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "125000", "ซื้อปูน หิน ทราย")
    await console.type("/as 3")
    out = await console.type("คำขอรอพิจารณา (อบต.)")
    assert "#1" in out
    async with console.db.transaction() as conn:  # someone else, meanwhile
        await support_requests.forward(conn, 1, note="", person_id=TAO_ID,
                                       now=console.clock.now())
    out = await console.type("#1 ซ่อมฝายน้ำล้น")
    assert "คำขอ #1 ได้รับการพิจารณาไปแล้ว (สถานะ: ส่งต่ออำเภอแล้ว)" in out
    assert "ไม่มีคำขอรอ อบต. พิจารณา" in out  # the queue, asked again, is empty now


async def test_tao_of_another_tambon_cannot_see_or_decide(console: Harness) -> None:
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await _extra_person(console, "tao2", "สุดา (อบต. น้ำคำใหญ่)", Grant("tao", OTHER_TAMBON))
    await _extra_person(console, "district2", "ประยุทธ (อ.ทรายมูล)", Grant("district", "3502"))
    await console.start("1")
    out = await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "125000",
                         "ซื้อปูน หิน ทราย")
    assert "สุดา" not in out  # not told either

    out = await console.type("/as tao2")
    assert "คำขอรับการสนับสนุน" not in out
    out = await console.type("คำขอรอพิจารณา (อบต.)")
    assert "ไม่มีคำขอรอ อบต. พิจารณา" in out
    assert "ซ่อมฝายน้ำล้น" not in out

    # Even put straight onto the request's screens, it sees nothing and decides nothing.
    out = await _forced(console, "demo-tao2", "tao_queue", "confirm",
                        {"request": 1, "asked": 125_000, "decision": "fund_full",
                         "amount": 125_000}, "save")
    assert "คุณไม่มีสิทธิ์ดูหรือพิจารณาคำขอนี้" in out
    assert "ซ่อมฝายน้ำล้น" not in out
    out = await _forced(console, "demo-tao2", "tao_queue", "queue", {}, "1")
    assert "ซ่อมฝายน้ำล้น" not in out
    out = await _forced(console, "demo-district2", "district_queue", "confirm",
                        {"request": 1, "asked": 125_000, "decision": "return",
                         "reason": "ไม่ผ่าน"}, "save")
    assert "คุณไม่มีสิทธิ์ดูหรือพิจารณาคำขอนี้" in out
    # The village's own screens refuse another village's committee member too.
    await _extra_person(console, "village2", "บุญมี (หมู่ 2)", Grant("village_committee",
                                                                     "35010102"))
    out = await _forced(console, "demo-village2", "support_status", "detail", {"request": 1},
                        "zzz")
    assert "คุณไม่มีสิทธิ์ดูหรือพิจารณาคำขอนี้" in out
    assert "ซ่อมฝายน้ำล้น" not in out

    assert await _rows(console, "SELECT status, level, decided_by FROM support_requests") == [
        ("submitted", "tambon", None)]
    assert await console.scalar("SELECT COUNT(*) FROM support_request_events") == 1
    assert await console.scalar("SELECT COUNT(*) FROM audit_log WHERE entity ="
                                " 'support_request'") == 1


async def _forced(console: Harness, user: str, flow: str, step: str, data: dict[str, object],
                  value: str) -> str:
    """Put a person's conversation on a step as if they had got there, and press a button."""
    await _put(console, user, flow, step, data)
    await console.engine.handle(Incoming(channel="console", user_id=user, chat_id=user,
                                         update_id=f"forced-{next(_ids)}",
                                         payload=f"s50:{value}"))
    await console.sender.deliver_due("console", user)
    return console.take()


# --- random input at every step ----------------------------------------------------------------

_ids = itertools.count()
THAI_PIECES = [*"กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮะาิีึืุูเแโใไ่้๊๋็์ ๐๑๒๓๔๕๖๗๘๙0123456789.,/-",
               "ล้าน", "หมื่น", "แสน", "บาท", "🙏", "\u200b", "\n", "#1", "1", "2",
               "'; DROP TABLE support_requests;--"]
thaiish = st.lists(st.sampled_from(THAI_PIECES), max_size=30).map("".join)
answers = st.one_of(
    st.builds(lambda t: {"text": t}, st.text(max_size=300)),
    st.builds(lambda t: {"text": t}, thaiish),
    st.builds(lambda n: {"text": "x" * n}, st.integers(0, 12_000)),
    st.builds(lambda p: {"payload": p}, st.text(max_size=80)),
    st.builds(lambda s, v: {"payload": f"s{s}:{v}"}, st.integers(-3, 100),
              st.one_of(st.text(max_size=20),
                        st.sampled_from(["1", "2", "99", "-1", "fund_full", "fund_partial",
                                         "forward", "return", "queue", "list", "done",
                                         "edit:request", "edit:amount", "35010101",
                                         "350101", "skip", "0"]))),
    st.builds(lambda p: {"photo": p}, st.text(min_size=1, max_size=50)),
    st.builds(lambda a, b: {"location": Location(a, b)},
              st.floats(allow_nan=False), st.floats(allow_nan=False)),
    st.just({"unsupported": "sticker"}),
)

DECISION = {"request": 1, "asked": 125_000, "decision": "return", "amount": 100_000,
            "note": "", "reason": "ขอใบเสนอราคาก่อน"}
QUEUE_FIELDS = set(DECISION)
# flow -> (who, full draft, {step: the fields that step may change})
FUZZ = {
    "support_request": ("demo-village",
                        {"village": VILLAGE, "item": 1, "item_title": "ซ่อมฝายน้ำล้น",
                         "item_budget": 150_000, "amount": 125_000, "purpose": "ซื้อปูน หิน ทราย"},
                        {"village": {"village", "item"},
                         "item": {"item", "item_title", "item_budget"},
                         "amount": {"amount"}, "purpose": {"purpose"}, "confirm": set()}),
    "support_status": ("demo-village", {"request": 1},
                       {"list": {"request"}, "detail": set()}),
    "tao_queue": ("demo-tao", DECISION,
                  {"queue": QUEUE_FIELDS, "request": {"decision", "asked", "amount"},
                   "partial_amount": {"amount"}, "note": {"note"}, "reason": {"reason"},
                   "confirm": set()}),
    "tao_threshold": ("demo-tao",
                      {"tambon": "350101", "current": 500_000, "tambon_name": "ต.ในเมือง",
                       "threshold": 100_000},
                      {"tambon": {"tambon", "current", "tambon_name"},
                       "amount": {"threshold"}, "confirm": set()}),
    "district_queue": ("demo-district", {**DECISION, "request": 2, "asked": 600_000},
                       {"queue": QUEUE_FIELDS, "request": {"decision", "asked", "amount"},
                        "partial_amount": {"amount"}, "reason": {"reason"},
                        "confirm": set()}),
}
CASES = sorted((flow, step) for flow, (_, _, steps) in FUZZ.items() for step in steps)


async def _put(console: Harness, user: str, flow: str, step: str,
               data: dict[str, object]) -> None:
    async with console.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO conversations (identity_id, flow, step, data, history, seq, updated_at)"
            " SELECT id, ?, ?, ?, '[]', 50, ? FROM identities WHERE platform_user_id = ?"
            " ON CONFLICT (identity_id) DO UPDATE SET flow = excluded.flow,"
            " step = excluded.step, data = excluded.data, history = '[]', seq = 50,"
            " updated_at = excluded.updated_at",
            (flow, step, json.dumps(data, ensure_ascii=False),
             console.clock.now().isoformat(timespec="microseconds"), user))


async def _conversation(console: Harness, user: str
                        ) -> tuple[str | None, str | None, dict[str, object]]:
    async with console.db.read() as conn, conn.execute(
            "SELECT flow, step, data FROM conversations c JOIN identities i"
            " ON i.id = c.identity_id WHERE i.platform_user_id = ?", (user,)) as cur:
        row = await cur.fetchone()
    return row[0], row[1], json.loads(row[2])


async def _fuzz_setup(console: Harness) -> None:
    """Request #1 waiting for the TAO, #2 forwarded to the district."""
    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await _item(console, "สร้างถังเก็บน้ำ", 900_000)
    now = console.clock.now()
    async with console.db.transaction() as conn:
        await support_requests.create(conn, item_id=1, village_code=VILLAGE, amount=125_000,
                                      purpose="ซื้อปูน หิน ทราย", person_id=VILLAGE_ID, now=now)
        await support_requests.create(conn, item_id=2, village_code=VILLAGE, amount=600_000,
                                      purpose="ถังเก็บน้ำ", person_id=VILLAGE_ID, now=now)
        await support_requests.forward(conn, 2, note="เกินกำลัง", person_id=TAO_ID, now=now)
    await console.start("1")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), answer=answers)
async def test_random_input_at_every_step(console: Harness, case: tuple[str, str],
                                          answer: dict) -> None:  # type: ignore[type-arg]
    if navigates(answer):  # the engine leaves the question: not an answer
        return
    if await console.scalar("SELECT COUNT(*) FROM support_requests") == 0:
        await _fuzz_setup(console)
    flow_name, step = case
    user, draft, own = FUZZ[flow_name]
    before = await _rows(console, "SELECT id, status, level FROM support_requests ORDER BY id")
    await _put(console, user, flow_name, step, draft)
    update = Incoming(channel="console", user_id=user, chat_id=user,
                      update_id=f"fuzz-{next(_ids)}", **answer)
    await console.engine.handle(update)  # must not raise
    assert await console.sender.deliver_due("console", user) >= 1  # always answered
    console.take()

    flow, now_at, data = await _conversation(console, user)
    if flow is not None:  # still in the flow: on one of its steps, nothing else lost
        assert flow == flow_name
        assert now_at in FLOWS[flow_name].steps
        for key, value in draft.items():
            if key not in own[step]:
                assert data.get(key) == value, (case, key)
    if step != "confirm":  # only the confirmation screen may write
        after = await _rows(console, "SELECT id, status, level FROM support_requests"
                                     " ORDER BY id")
        assert after == before
