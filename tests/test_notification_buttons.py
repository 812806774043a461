"""Every notification carries its next action as a button that opens THAT item directly
(review now, decide now, answer the comment, correct, report the outcome), also in the
middle of another question (kept as a draft), never outside the person's area; the
review inbox sorts by severity then age and shows ids unique across kinds. Through the
console, and through the Telegram and LINE test servers with the real adapters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.service import Service
from handlers.messages import Incoming
from handlers.opening import CALLBACK_MAX_BYTES, open_action
from handlers.permissions import Role
from locales import category_label
from storage import areas, people, plans, problems
from storage.people import Grant
from storage.timestamps import to_db
from tests.conftest import LINE_SECRET, LINE_TOKEN, START, Harness
from tests.report_walk import START_REPORT, next_answer
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_line_channel import Person as LinePerson
from tests.test_line_channel import _texts
from tests.test_line_channel import issue_code as line_code
from tests.test_telegram_channel import Person as TelegramPerson
from tests.test_telegram_channel import issue_code as telegram_code
from tests.test_telegram_channel import webhook_service

VILLAGE = "35010101"
OTHER_TAMBON = "350102"
SAMSRI = 1


def answer_to(out: str) -> str:
    """The report walk's answer (tests/report_walk.py); at the confirmation screen, save."""
    return "✅ บันทึก" if "ตรวจสอบก่อนบันทึก" in out else next_answer(out)


async def report(console: Harness) -> str:
    """The village committee member (person 1) reports a problem; the saved screen."""
    out = await console.type(START_REPORT)
    for _ in range(12):
        if "บันทึกรายงานปัญหาแล้ว" in out:
            return out
        out = await console.type(answer_to(out.split("🤖")[-1]))
    raise AssertionError(f"the report was not saved: {out}")


async def _rows(console: Harness, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with console.db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def _older_submissions(console: Harness) -> None:
    """Something else waiting in the inbox, older than the new report."""
    async with console.db.transaction() as conn:
        await problems.insert(conn, village_code=VILLAGE, category="debt",
                              description="หนี้นอกระบบหลายครัวเรือน", households=9, severity=2,
                              photo_ref=None, photo_platform_id=None, latitude=None,
                              longitude=None, reporter_id=SAMSRI, now=START - timedelta(days=2))


async def test_core_team_button_opens_the_review_of_that_problem(console: Harness) -> None:
    await _older_submissions(console)
    await console.start("1")
    await report(console)
    (problem_id,) = (int(str(r[0])) for r in await _rows(
        console, "SELECT MAX(id) FROM problems"))

    out = await console.type("/as 2")
    assert f"รายงานปัญหาใหม่ ป#{problem_id}" in out
    assert "[1] 🔎 ตรวจรายการนี้" in out
    out = await console.type("1")
    assert f"ปัญหา ป#{problem_id} · หมู่ที่ 1 บ้านโนนสูง" in out  # the detail, directly
    assert "ผลการตรวจรายการนี้?" in out
    assert "รอตรวจ" not in out and "หนี้นอกระบบ" not in out  # not the inbox list
    await console.type("✅ ผ่าน")
    await console.type("ข้าม")
    await console.type("✅ ส่งผลการตรวจ")
    assert await _rows(console, "SELECT entity, entity_id, verdict FROM reviews") == [
        ("problem", problem_id, "approved")]


async def test_tao_button_opens_the_decision_screen_of_that_request(console: Harness) -> None:
    from tests.test_support_requests import _item, _request

    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await _item(console, "ขุดสระน้ำ", 90_000)
    await console.start("1")
    await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "100000", "ซื้อปูน หิน ทราย")
    await _request(console, "ขุดสระน้ำ (งบ 90,000 บาท)", "80000", "จ้างรถขุด")

    out = await console.type("/as 3")  # the TAO: two notifications, each with its button
    assert "คำขอรับการสนับสนุนใหม่ ข#1" in out and "คำขอรับการสนับสนุนใหม่ ข#2" in out
    assert "⚖️ พิจารณาคำขอนี้" in out
    out = await console.type("1")  # the button of the latest one: request #2
    assert "คำขอ #2 — หมู่ที่ 1 บ้านโนนสูง" in out and "พิจารณาอย่างไรครับ" in out
    assert "ซ่อมฝายน้ำล้น" not in out and "คำขอรอพิจารณา 2 รายการ" not in out
    assert "✅ อนุมัติเต็ม 80,000 บาท" in out


async def test_button_pressed_mid_question_keeps_a_draft_and_opens_the_item(
        console: Harness) -> None:
    async with console.db.transaction() as conn:
        problem_id = await problems.insert(
            conn, village_code=VILLAGE, category="water", description="บ่อน้ำแห้ง",
            households=20, severity=2, photo_ref=None, photo_platform_id=None, latitude=None,
            longitude=None, reporter_id=SAMSRI, now=START)
    await console.start("1")
    out = await console.type(START_REPORT)  # the village starts another report meanwhile
    out = await console.type(next_answer(out))
    out = await console.type(next_answer(out))
    open_question = out  # in the middle of a question, with answers given
    assert "บันทึกรายงานปัญหาแล้ว" not in open_question
    (step,) = (str(r[0]) for r in await _rows(
        console, "SELECT step FROM conversations WHERE identity_id ="
                 " (SELECT id FROM identities WHERE platform_user_id = 'demo-village')"))

    await console.type("/as 2")  # the core team returns the earlier report
    await console.type("ตรวจรายงานจากหมู่บ้าน")
    await console.type(f"ป#{problem_id} ปัญหา: ภัยแล้ง/น้ำ (หมู่ 1)")
    await console.type("↩️ ส่งกลับแก้ไข")
    await console.type("บ่อไหนครับ ระบุให้ชัด")
    await console.type("✅ ส่งผลการตรวจ")

    out = await console.type("/as 1")
    assert "[2] 💬 ตอบความเห็น" in out
    out = await console.type("2")  # a notification's button, though a question is open
    assert "ปุ่มนี้มาจากข้อความก่อนหน้า" not in out
    assert "เก็บร่างไว้ให้แล้ว" in out
    assert "บ่อไหนครับ ระบุให้ชัด" in out and "พิมพ์คำตอบของหมู่บ้าน" in out
    drafts = await _rows(console, "SELECT flow, step, data FROM drafts")
    assert [(flow, kept) for flow, kept, _ in drafts] == [("problem_report", step)]
    assert {"category", "description"} <= set(json.loads(str(drafts[0][2])))
    out = await console.type("บ่อหลังวัด ชาวบ้านใช้ร่วมกัน 20 ครัวเรือน")
    out = await console.type("✅ ส่งคำตอบ")
    assert "ส่งคำตอบ" in out
    assert await _rows(console, "SELECT text FROM review_replies") == [
        ("บ่อหลังวัด ชาวบ้านใช้ร่วมกัน 20 ครัวเรือน",)]
    assert [f for f, _, _ in await _rows(console, "SELECT flow, step, data FROM drafts")] == [
        "problem_report"]  # the report is still there to resume


async def test_a_reminder_button_mid_question_opens_its_flow_keeping_a_draft(
        console: Harness) -> None:
    await console.start("1")
    out = await console.type(START_REPORT)
    out = await console.type(next_answer(out))
    await console.type(next_answer(out))
    await console.engine.handle(Incoming(channel="console", user_id="demo-village",
                                         chat_id="demo-village", update_id="reminder-press",
                                         payload=f"m:{open_action('flow', 'forum')}"))
    await console.sender.deliver_due("console", "demo-village")
    out = console.take()
    assert "เก็บร่างไว้ให้แล้ว" in out and "ปุ่มนี้มาจากข้อความก่อนหน้า" not in out
    assert "เวทีประชาคม" in out
    assert [r[0] for r in await _rows(console, "SELECT flow FROM drafts")] == ["problem_report"]


async def test_an_old_menu_button_mid_question_is_still_an_old_button(console: Harness) -> None:
    await console.start("1")
    out = await console.type(START_REPORT)
    await console.type(next_answer(out))
    await console.engine.handle(Incoming(channel="console", user_id="demo-village",
                                         chat_id="demo-village", update_id="old-menu",
                                         payload="m:forum"))
    await console.sender.deliver_due("console", "demo-village")
    assert "ปุ่มนี้มาจากข้อความก่อนหน้า" in console.take()


async def test_an_item_of_another_area_is_refused_politely(console: Harness) -> None:
    async with console.db.transaction() as conn:
        problem_id = await problems.insert(
            conn, village_code=VILLAGE, category="water", description="บ่อน้ำแห้ง",
            households=20, severity=2, photo_ref=None, photo_platform_id=None, latitude=None,
            longitude=None, reporter_id=SAMSRI, now=START)
        other = await people.create_person(conn, "สมชาย แกนตำบลอื่น", "th", START)
        identity = await people.ensure_identity(conn, "console", "demo-other", "demo-other",
                                                START)
        await people.link_identity(conn, identity.id, other)
        await people.add_grant(conn, other, Grant("core_team", OTHER_TAMBON), None, START)
    for update, payload in (("forged-review", f"m:{open_action('review', 'problem', problem_id)}"),
                            ("forged-decide", f"m:{open_action('decide', 'tao_queue', 1)}"),
                            ("forged-junk", "m:open:review:problem:99999999999999999999")):
        await console.engine.handle(Incoming(channel="console", user_id="demo-other",
                                             chat_id="demo-other", update_id=update,
                                             payload=payload))
    await console.sender.deliver_due("console", "demo-other")
    out = console.take()
    assert "ไม่อยู่ในพื้นที่ที่คุณดูแล" in out
    assert "บ่อน้ำแห้ง" not in out and "ผลการตรวจรายการนี้" not in out
    assert "ไม่พบรายการนี้แล้ว" in out
    assert "เฉพาะเจ้าหน้าที่ อบต./สภาตำบลเท่านั้นที่พิจารณาคำขอนี้ได้ครับ" in out  # not their desk
    assert await _rows(console, "SELECT COUNT(*) FROM reviews") == [(0,)]


async def test_inbox_sorted_by_severity_then_age_with_ids_unique_across_kinds(
        console: Harness) -> None:
    def at(day: int) -> datetime:
        return datetime(2025, 1, day, 3, 0, tzinfo=UTC)

    async with console.db.transaction() as conn:
        plan_id = await plans.create_plan(conn, village_code=VILLAGE,
                                          period_start=date(2024, 12, 1),
                                          period_end=date(2025, 6, 30), person_id=SAMSRI,
                                          now=at(1))
        item_id = await plans.add_item(
            conn, plan_id=plan_id, village_code=VILLAGE, title="ขุดลอกฝาย",
            approach="self_reliance", partner="", budget_needed=0, own_money=0, own_labour="",
            start_on=date(2025, 1, 1), end_on=date(2025, 5, 31), responsible="ผู้ใหญ่บ้าน",
            problem_ids=[], person_id=SAMSRI, now=at(2))
        item = await plans.get_item(conn, item_id)
        assert item is not None
        await plans.add_progress(conn, item=item, status="in_progress", percent=10, note="",
                                 photo_ref=None, photo_platform_id=None, stalled_reason=None,
                                 reporter_id=SAMSRI, now=at(3))
        await conn.execute(
            "INSERT INTO forums (village_code, held_on, participants, reporter_id, created_at)"
            " VALUES (?, '2025-01-02', 20, ?, ?)", (VILLAGE, SAMSRI, to_db(at(4))))
        for day, severity, description in ((5, 1, "ถนนเป็นหลุมเล็กน้อย"),
                                           (6, 3, "ไข้เลือดออกหลายบ้าน"),
                                           (8, 4, "น้ำท่วมทั้งหมู่บ้าน"),
                                           (7, 4, "ดินสไลด์ทับบ้าน")):
            await problems.insert(conn, village_code=VILLAGE, category="disaster",
                                  description=description, households=10, severity=severity,
                                  photo_ref=None, photo_platform_id=None, latitude=None,
                                  longitude=None, reporter_id=SAMSRI, now=at(day))
        await areas.add_village(conn, OTHER_TAMBON, 1, "บ้านทดสอบ", "Ban Thotsop")
    await console.start("2")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")
    labels = [line.split("] ", 1)[1] for line in out.splitlines() if line.strip().startswith("[")]
    disaster = category_label("disaster", "th")
    assert labels[:7] == [
        f"ป#4 ปัญหา: {disaster} (หมู่ 1)",  # critical, the older of the two
        f"ป#3 ปัญหา: {disaster} (หมู่ 1)",  # critical
        f"ป#2 ปัญหา: {disaster} (หมู่ 1)",  # severe
        f"ผ#{item_id} แผน: ขุดลอกฝาย (หมู่ 1)",  # then the oldest first
        "ค#1 ความคืบหน้า: ขุดลอกฝาย 10% (หมู่ 1)",
        "ว#1 เวที: 2 ม.ค. 2568 (หมู่ 1)",
        f"ป#1 ปัญหา: {disaster} (หมู่ 1)"], labels
    # Four different items numbered 1, each told apart by its letter.
    assert len({label.split(" ")[0] for label in labels}) == len(labels)


async def test_english_reader_gets_the_letters_and_buttons_in_english(console: Harness) -> None:
    async with console.db.transaction() as conn:
        await people.set_language(conn, 2, "en")
    await console.start("1")
    await report(console)
    out = await console.type("/as 2")
    assert "New problem report P#1" in out and "[1] 🔎 Review it now" in out
    out = await console.type("1")
    assert "Problem P#1 · " in out and "Your verdict on this item?" in out


def test_every_button_payload_fits_in_telegram_callback_data() -> None:
    longest = 10 ** 12 - 1  # ids are read up to 12 digits
    for what, item in (("review", ("plan_item", longest)), ("decide", ("district_queue",
                                                                        longest)),
                       ("answer", (longest,)), ("correct", ("plan_item", longest)),
                       ("progress", (longest,)), ("flow", ("reminder_settings",))):
        assert len(f"m:{open_action(what, *item)}".encode()) <= CALLBACK_MAX_BYTES
    with pytest.raises(ValueError):
        open_action("review", "x" * 60, 1)


# --- on the platforms, with the real adapters ------------------------------------------------

CORE_TG, LEADER_TG = 2101, 3101


@pytest.fixture
async def telegram(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                   ) -> AsyncIterator[Service]:
    async with webhook_service(seeded_db_path, tg, tmp_path / "media") as running:
        yield running


async def test_telegram_core_team_button_opens_the_review(
        telegram: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    core, leader = TelegramPerson(telegram, tg, CORE_TG), TelegramPerson(telegram, tg, LEADER_TG)
    await core.send(f"/start {await telegram_code(seeded_db_path, Role.CORE_TEAM, '350101')}")
    await core.send("ประเสริฐ ทีมแกน")
    code = await telegram_code(seeded_db_path, Role.VILLAGE_COMMITTEE, "35010102")
    await leader.send(f"/start {code}")
    out = await leader.send("บุญมี ศรีสุข")
    out = await leader.send(START_REPORT)
    for _ in range(12):
        if "บันทึกรายงานปัญหาแล้ว" in out:
            break
        out = await leader.send(answer_to(out))
    assert "บันทึกรายงานปัญหาแล้ว" in out

    note = tg.last_bot_message(CORE_TG)
    assert "รายงานปัญหาใหม่ ป#1" in note["text"]
    assert core.buttons() == {"🔎 ตรวจรายการนี้": "m:open:review:problem:1"}
    out = await core.press("🔎 ตรวจรายการนี้")
    assert "ปัญหา ป#1 · หมู่ที่ 2 บ้านหนองบัว" in out and "ผลการตรวจรายการนี้?" in out
    assert "✅ ผ่าน" in core.buttons()


async def test_line_tao_button_opens_the_decision(line: LineTestServer, seeded_db_path: Path,
                                                  tmp_path: Path) -> None:
    from tests.test_support_requests import VILLAGE_ID

    async with Service(Settings(
            db_path=seeded_db_path, media_dir=tmp_path / "media", telegram_token=None,
            telegram_bot_username=None, log_level="INFO", http_host="127.0.0.1", http_port=0,
            line_access_token=LINE_TOKEN, line_channel_secret=LINE_SECRET,
            line_api_host=line.origin)) as service:
        tao_id, leader_id = "U" + "d" * 32, "U" + "e" * 32
        tao, leader = LinePerson(service, line, tao_id), LinePerson(service, line, leader_id)
        await tao.send(await line_code(seeded_db_path, Role.TAO, "350101"))
        await tao.send("วิไล อบต.")
        await leader.send(await line_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE))
        await leader.send("บุญมี ศรีสุข")
        async with service.app.db.transaction() as conn:
            plan_id = await plans.create_plan(conn, village_code=VILLAGE,
                                              period_start=date(2025, 1, 1),
                                              period_end=date(2030, 12, 31),
                                              person_id=VILLAGE_ID, now=START)
            await plans.add_item(
                conn, plan_id=plan_id, village_code=VILLAGE, title="ซ่อมฝาย",
                approach="external_support", partner="อบต.", budget_needed=150_000,
                own_money=10_000, own_labour="", start_on=date(2025, 2, 1),
                end_on=date(2030, 4, 30), responsible="ผู้ใหญ่บ้าน", problem_ids=[],
                person_id=VILLAGE_ID, now=START)
        await leader.send("ขอรับการสนับสนุน")
        await leader.send("ซ่อมฝาย (งบ 150,000 บาท)")
        await leader.send("120000")
        await leader.send("ซื้อปูนและหิน")
        out = await leader.send("📨 ส่งคำขอ")
        assert "ส่งคำขอ #1" in out

        await line.wait_for(lambda: any("คำขอรับการสนับสนุนใหม่ ข#1" in "".join(_texts(m))
                                        for m in tao.messages()),
                            what="the TAO's notification")
        out = await tao.press("⚖️ พิจารณาคำขอนี้")
        assert "คำขอ #1 — หมู่ที่ 1 บ้านโนนสูง" in out and "พิจารณาอย่างไรครับ" in out
        assert "คำขอรอพิจารณา" not in out


# --- a support request returned to the village --------------------------------------------------

async def test_a_returned_request_tells_the_village_with_a_button_to_correct_it(
        console: Harness) -> None:
    from tests.test_support_requests import _item, _request

    await _item(console, "ซ่อมฝายน้ำล้น", 150_000)
    await console.start("1")
    await _request(console, "ซ่อมฝายน้ำล้น (งบ 150,000 บาท)", "100000", "ซื้อปูน หิน ทราย")
    await console.type("/as 3")
    await console.type("1")  # ⚖️ พิจารณาคำขอนี้
    await console.type("↩️ ส่งคืนหมู่บ้าน")
    await console.type("ขอใบเสนอราคาครับ")
    await console.type("✅ ยืนยัน")
    (payload,) = (json.loads(str(r[0])) for r in await _rows(
        console, "SELECT payload FROM outbox WHERE person_id = ? ORDER BY id DESC LIMIT 1",
        SAMSRI))
    assert "ถูกส่งคืนจาก อบต." in payload["text"]
    assert [(c["label"], c["payload"]) for c in payload["choices"]] == [
        ("✏️ แก้ไขแล้วส่งใหม่", "m:open:correct:support_request:1")]

    # Someone on another village's committee cannot open it.
    async with console.db.transaction() as conn:
        other = await people.create_person(conn, "บุญมี หมู่ 2", "th", START)
        identity = await people.ensure_identity(conn, "console", "demo-v2", "demo-v2", START)
        await people.link_identity(conn, identity.id, other)
        await people.add_grant(conn, other, Grant("village_committee", "35010102"), None, START)
    await console.engine.handle(Incoming(channel="console", user_id="demo-v2",
                                         chat_id="demo-v2", update_id="forged-request",
                                         payload="m:open:correct:support_request:1"))
    await console.sender.deliver_due("console", "demo-v2")
    out = console.take()
    assert "ไม่อยู่ในพื้นที่ที่คุณดูแล" in out and "ซื้อปูน" not in out

    out = await console.type("/as 1")
    out = await console.type("1")  # the village's own button opens the request, editable
    assert "แก้ไขคำขอที่ อบต. ส่งคืน (ข#1 ฉบับที่ 1)" in out and "แก้จำนวนเงิน" in out


VILLAGE_TG, TAO_TG = 3201, 3301


async def test_telegram_returned_request_corrected_and_decided_with_the_diff(
        telegram: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    from tests.test_support_requests import VILLAGE_ID

    tao, leader = TelegramPerson(telegram, tg, TAO_TG), TelegramPerson(telegram, tg, VILLAGE_TG)
    await tao.send(f"/start {await telegram_code(seeded_db_path, Role.TAO, '350101')}")
    await tao.send("วิไล อบต.")
    await leader.send(
        f"/start {await telegram_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE)}")
    await leader.send("บุญมี ศรีสุข")
    async with telegram.app.db.transaction() as conn:
        plan_id = await plans.create_plan(conn, village_code=VILLAGE,
                                          period_start=date(2025, 1, 1),
                                          period_end=date(2030, 12, 31), person_id=VILLAGE_ID,
                                          now=START)
        await plans.add_item(
            conn, plan_id=plan_id, village_code=VILLAGE, title="ซ่อมฝาย",
            approach="external_support", partner="อบต.", budget_needed=150_000,
            own_money=10_000, own_labour="", start_on=date(2025, 2, 1),
            end_on=date(2030, 4, 30), responsible="ผู้ใหญ่บ้าน", problem_ids=[],
            person_id=VILLAGE_ID, now=START)
    await leader.send("ขอรับการสนับสนุน")
    await leader.press("ซ่อมฝาย (งบ 150,000 บาท)")
    await leader.send("120000")
    await leader.send("ซื้อปูนและหิน")
    assert "ส่งคำขอ #1" in await leader.press("📨 ส่งคำขอ")

    # The TAO returns it from the notification's button.
    assert tao.buttons() == {"⚖️ พิจารณาคำขอนี้": "m:open:decide:tao_queue:1"}
    await tao.press("⚖️ พิจารณาคำขอนี้")
    await tao.press("↩️ ส่งคืนหมู่บ้าน")
    await tao.send("ขอใบเสนอราคา 2 ร้านครับ")
    assert "ส่งคืนคำขอ #1" in await tao.press("✅ ยืนยัน")

    # The village's notification carries the correction's button; it opens the request.
    note = tg.last_bot_message(VILLAGE_TG)
    assert "ถูกส่งคืนจาก อบต." in note["text"] and "ขอใบเสนอราคา 2 ร้านครับ" in note["text"]
    assert leader.buttons() == {"✏️ แก้ไขแล้วส่งใหม่": "m:open:correct:support_request:1"}
    out = await leader.press("✏️ แก้ไขแล้วส่งใหม่")
    assert "แก้ไขคำขอที่ อบต. ส่งคืน (ข#1 ฉบับที่ 1)" in out
    assert "ขอรับการสนับสนุน: 120,000 บาท" in out
    assert {"📨 ส่งคำขอ", "แก้รายการ", "แก้จำนวนเงิน", "แก้วัตถุประสงค์"} <= set(leader.buttons())
    await leader.press("แก้จำนวนเงิน")
    out = await leader.send("90000")
    assert "ขอรับการสนับสนุน: 90,000 บาท" in out
    out = await leader.press("📨 ส่งคำขอ")
    assert "ส่งคำขอ ข#1 ฉบับแก้ไข (ฉบับที่ 2) ถึง อบต. แล้วครับ" in out

    # The TAO is told with the diff and a button that opens the decision, diff shown again.
    note = tg.last_bot_message(TAO_TG)
    assert "แก้ไขคำขอรับการสนับสนุน ข#1 แล้วส่งใหม่ (ฉบับที่ 2)" in note["text"]
    assert "ขอรับการสนับสนุน: 120,000 บาท → 90,000 บาท" in note["text"]
    assert tao.buttons() == {"⚖️ พิจารณาคำขอนี้": "m:open:decide:tao_queue:1"}
    out = await tao.press("⚖️ พิจารณาคำขอนี้")
    assert "✏️ ฉบับที่ 2 แก้จากฉบับที่ 1:" in out
    assert "ขอรับการสนับสนุน: 120,000 บาท → 90,000 บาท" in out
    assert "✅ อนุมัติเต็ม 90,000 บาท" in tao.buttons()
    async with telegram.app.db.read() as conn, conn.execute(
            "SELECT amount_requested, status, version FROM support_requests") as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [(90_000, "submitted", 2)]
