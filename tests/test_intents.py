"""Say it in your own words (issue 13): free text, a photo or a location sent at the menu
is understood, on the console and through the real Telegram and LINE adapters; nothing a
person sends there is dropped, and nothing destructive is ever guessed."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.service import Service
from handlers import intents
from handlers.messages import Incoming
from handlers.permissions import Role
from storage.db import Database
from tests.conftest import Harness, line_settings
from tests.fuzz import BASE_PIECES, conversation
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_line_channel import Person as LinePerson
from tests.test_line_channel import _choices
from tests.test_telegram_channel import Person as TelegramPerson
from tests.test_telegram_channel import _join, issue_code, webhook_service

ROLES = {"village": Role.VILLAGE_COMMITTEE, "core": Role.CORE_TEAM, "tao": Role.TAO,
         "district": Role.DISTRICT, "viewer": Role.VIEWER}  # demo persons (bot/demo.py)
FLOOD = "น้ำท่วมหมู่บ้านหนักมาก ช่วยด้วย"
VILLAGE_2 = "35010102"


# --- reading free text -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "intent"), [
    ("สวัสดีครับ", intents.GREETING), ("สวัสดีค่ะ", intents.GREETING),
    ("หวัดดี", intents.GREETING), ("ทดสอบ", intents.GREETING), ("test", intents.GREETING),
    ("Hello there", intents.GREETING), ("ดีจ้า", intents.GREETING),
    ("ทำยังไง", intents.HELP), ("ช่วยด้วย", intents.HELP), ("ใช้ยังไง", intents.HELP),
    ("ต้องทำอย่างไรครับ", intents.HELP), ("How do I report?", intents.HELP),
    ("ขอบคุณครับ", intents.THANKS),
    ("แจ้งปัญหาครับ", intents.REPORT),
    (FLOOD, intents.PROBLEM), ("ช้างป่ากินพืชไร่ เสียหายหลายไร่", intents.PROBLEM),
    ("สวัสดีครับ น้ำท่วมนาข้าวหมดเลย", intents.PROBLEM),
    ("Flooding in the village, 30 houses", intents.PROBLEM),
    ("ก", intents.SHORT), ("555", intents.SHORT), ("🙏🙏", intents.SHORT), ("ครับ", intents.SHORT),
    ("ok", intents.SHORT), ("", intents.SHORT),
    # Destructive commands are never guessed, nor taken as a problem's description.
    ("ลบรายงานทั้งหมด", intents.UNCLEAR), ("ลบรายงานน้ำท่วม", intents.UNCLEAR),
    ("ยกเลิกคำขอทั้งหมดเลยครับ", intents.UNCLEAR), ("delete all reports", intents.UNCLEAR),
    ("อนุมัติคำขอทั้งหมด", intents.UNCLEAR),
])
def test_what_free_text_means(text: str, intent: str) -> None:
    assert intents.read(text).intent == intent


def test_a_description_is_kept_only_when_it_describes() -> None:
    assert intents.read(FLOOD).described
    assert intents.read(FLOOD).category == "flood"
    short = intents.read("น้ำท่วม")  # names the category, too short for a description
    assert short.intent == intents.PROBLEM and not short.described
    assert short.category == "flood"


def test_no_phrase_list_names_a_destructive_action() -> None:
    data = json.loads((Path(__file__).parent.parent / "locales" / "intents.json")
                      .read_text("utf-8"))
    acting = {w for name in ("greeting", "help", "thanks", "report", "problem", "yes", "none")
              for w in data["phrases"][name]}
    assert not acting & set(data["phrases"]["command"])


def test_yes_no_none() -> None:
    assert intents.says_yes("ใช่ครับ") and intents.says_yes("ok")
    assert not intents.says_yes("ไม่ใช่") and not intents.says_yes("ใช่ แต่เป็นเรื่องหนี้")
    assert intents.says_no("ไม่ใช่ เป็นเรื่องหนี้")[0]
    assert intents.says_none("ไม่มีครับ") and intents.says_none("no")
    assert not intents.says_none("ไม่มีน้ำใช้")


# --- at the console's menu -------------------------------------------------------------------

async def test_free_text_at_the_menu_starts_a_report_with_it_as_the_description(
        console: Harness) -> None:
    await console.start("1")
    await console.type("เมนู")
    out = await console.type(FLOOD)
    assert "เริ่มรายงานปัญหาจากข้อความนี้" in out
    assert 'ดูเหมือนเป็นปัญหา "น้ำท่วม" ใช่ไหม' in out
    flow, step, data = await conversation(console.db)
    assert (flow, step) == ("problem_report", "category_suggested")
    assert data["description"] == FLOOD
    out = await console.type("1")  # ใช่
    assert "กี่ครัวเรือน" in out  # the description is not asked again


async def test_a_sentence_without_a_category_asks_for_one_and_can_be_called_off(
        console: Harness) -> None:
    await console.start("1")
    out = await console.type("ถนนในหมู่บ้านเป็นหลุมลึกมาก รถผ่านไม่ได้")
    assert "จะรายงานเรื่องนี้เป็นปัญหาของหมู่บ้านใช่ไหม" in out or "ดูเหมือนเป็นปัญหา" in out
    out = await console.type("ยกเลิก")
    assert "ยกเลิกแล้ว" in out
    assert await console.scalar("SELECT COUNT(*) FROM drafts") == 0  # nothing left behind
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 0


async def test_a_photo_at_the_menu_starts_a_report_with_the_photo(console: Harness) -> None:
    await console.start("1")
    out = await console.type("/photo media/flood.jpg")
    assert "ได้รับรูปถ่ายแล้ว" in out and "เริ่มรายงานปัญหา" in out
    flow, step, data = await conversation(console.db)
    assert flow == "problem_report" and step == "category"
    assert data["photo"] == "media/flood.jpg"


async def test_a_location_at_the_menu_starts_a_report_with_the_location(
        console: Harness) -> None:
    await console.start("1")
    out = await console.type("/location 15.79 104.14")
    assert "ได้รับตำแหน่งแล้ว" in out
    _, _, data = await conversation(console.db)
    assert data["location"] == [15.79, 104.14]


@pytest.mark.parametrize("greeting", ["สวัสดีครับ", "สวัสดีค่ะ", "hello", "ทดสอบ", "test"])
async def test_a_greeting_is_greeted_with_the_top_actions(console: Harness,
                                                          greeting: str) -> None:
    await console.start("1")
    out = await console.type(greeting)
    assert "สวัสดีครับ คุณสมศรี" in out
    assert "เล่าเป็นประโยคสั้น ๆ หรือส่งรูปถ่ายมาได้เลย" in out  # what the village can do
    assert "[1] รายงานปัญหา" in out  # the top actions as buttons
    assert (await conversation(console.db))[0] is None  # no flow started


@pytest.mark.parametrize("question", ["ทำยังไง", "ช่วยด้วย", "ใช้ยังไง", "how does this work?"])
async def test_a_question_gets_help_with_the_top_actions(console: Harness,
                                                         question: str) -> None:
    await console.start("2")  # the core team
    out = await console.type(question)
    assert "ตอบด้วยการกดปุ่ม หรือพิมพ์คำตอบก็ได้" in out
    assert "[1] " in out
    assert (await conversation(console.db, "demo-core"))[0] is None


@pytest.mark.parametrize("text", ["ก", "555", "🙏", "ครับ"])
async def test_too_short_gets_a_polite_line_and_the_menu(console: Harness, text: str) -> None:
    await console.start("1")
    out = await console.type(text)
    assert "ข้อความสั้นเกินกว่าจะเข้าใจ" in out
    assert "[1] รายงานปัญหา" in out


@pytest.mark.parametrize("text", ["ลบรายงานทั้งหมด", "ยกเลิกคำขอทั้งหมดเลยครับ",
                                  "delete all reports"])
async def test_a_command_in_words_is_never_acted_upon(console: Harness, text: str) -> None:
    await console.start("1")
    for answer in ("รายงานปัญหา", "สุขภาพ", "ไข้เลือดออกระบาดในหมู่บ้าน", "12", "ปานกลาง",
                   "ข้าม", "บันทึก"):
        await console.type(answer)
    outbox_before = await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id != "
                                         "'demo-village'")
    out = await console.type(text)
    assert "ยังไม่เข้าใจข้อความนี้" in out
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 1  # still there
    assert (await conversation(console.db))[0] is None
    assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id != "
                                "'demo-village'") == outbox_before  # nobody told anything


async def test_another_roles_menu_item_typed_is_not_taken_as_a_problem(
        console: Harness) -> None:
    await console.start("1")
    out = await console.type("ตรวจรายงานจากหมู่บ้าน")  # the core team's review, typed
    assert "รายการนี้ไม่อยู่ในเมนูของคุณ" in out
    assert "[1] รายงานปัญหา" in out
    assert (await conversation(console.db))[0] is None


async def test_other_roles_are_told_reports_are_the_villages(console: Harness) -> None:
    await console.start("2")
    out = await console.type(FLOOD)
    assert "ทำโดยกรรมการหมู่บ้าน" in out
    assert "[1] " in out
    out = await console.type("/photo media/x.jpg")
    assert "ระบบจึงยังไม่ได้เก็บไว้" in out
    assert (await conversation(console.db, "demo-core"))[0] is None
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 0


async def test_a_newcomers_text_still_goes_to_joining(console: Harness) -> None:
    await console.start("6")  # the guest, who has not joined
    out = await console.type(FLOOD)
    assert "รหัสเชิญ" in out
    assert (await conversation(console.db, "demo-guest"))[0] == "join"


async def _at_menu(db: Database, user: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE conversations SET flow = NULL, step = NULL, data = '{}', history = '[]'"
            " WHERE identity_id = (SELECT id FROM identities WHERE platform_user_id = ?)",
            (user,))
        await conn.execute(
            "DELETE FROM drafts WHERE identity_id = (SELECT id FROM identities"
            " WHERE platform_user_id = ?)", (user,))


_updates = itertools.count()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(sorted(ROLES)),
       text=st.one_of(st.text(max_size=200),
                      st.lists(st.sampled_from([*BASE_PIECES, "สวัสดี", "ครับ", "น้ำท่วม",
                                                "ช่วยด้วย", "ทำยังไง", "ลบ", "ยกเลิก", "หนี้",
                                                "ขอบคุณ", "hello", "?", "555", "😀"]),
                               max_size=20).map("".join)))
@example(role="village", text=FLOOD)
@example(role="viewer", text="สวัสดีครับ")
@example(role="tao", text="ลบคำขอทั้งหมด")
@example(role="district", text="\u200b")
async def test_nothing_sent_at_the_menu_of_any_role_is_dropped(console: Harness, role: str,
                                                               text: str) -> None:
    user = f"demo-{role}"
    if console.chat.active is None:
        await console.start("1")
    await _at_menu(console.db, user)
    problems = await console.scalar("SELECT COUNT(*) FROM problems")
    await console.engine.handle(Incoming(channel="console", user_id=user, chat_id=user,
                                         update_id=f"menu-fuzz-{next(_updates)}", text=text))
    sent = await console.sender.deliver_due("console", user)
    console.take()
    assert sent >= 1, (role, text)  # an answer, every time
    flow, _, _ = await conversation(console.db, user)
    # At most a report begun, by a village committee; nothing else is ever started.
    assert flow in ((None, "problem_report") if role == "village" else (None,)), (role, text)
    assert await console.scalar("SELECT COUNT(*) FROM problems") == problems  # nothing saved


# --- through the real Telegram adapter ---------------------------------------------------------

LEADER_TG = 3101


@pytest.fixture
async def tg_service(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                     ) -> AsyncIterator[Service]:
    async with webhook_service(seeded_db_path, tg, tmp_path / "media") as running:
        yield running


async def _telegram_leader(service: Service, tg: TelegramTestServer,
                           db_path: Path) -> TelegramPerson:
    leader = TelegramPerson(service, tg, LEADER_TG)
    await _join(leader, await issue_code(db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2), "บุญมี")
    return leader


async def test_telegram_free_text_photo_and_greeting_at_the_menu(
        tg_service: Service, tg: TelegramTestServer, seeded_db_path: Path,
        tmp_path: Path) -> None:
    leader = await _telegram_leader(tg_service, tg, seeded_db_path)
    out = await leader.send("สวัสดีครับ")
    assert "สวัสดีครับ คุณบุญมี" in out
    assert "รายงานปัญหา" in leader.buttons()  # the top actions as buttons

    out = await leader.send(FLOOD)
    assert 'ดูเหมือนเป็นปัญหา "น้ำท่วม"' in out
    assert "ใช่ น้ำท่วม" in leader.buttons()
    out = await leader.send("ยกเลิก")
    assert "ยกเลิกแล้ว" in out

    out = await leader.push(tg.photo_update(LEADER_TG, "menu-photo", content=b"\xff\xd8tg"))
    assert "ได้รับรูปถ่ายแล้ว" in out
    assert "สุขภาพ" in leader.buttons()  # the category question
    async with Database(seeded_db_path) as db:
        _, step, data = await conversation(db, str(LEADER_TG))
    assert step == "category" and data["photo_id"] == "menu-photo"
    assert (tmp_path / "media" / data["photo"]).read_bytes() == b"\xff\xd8tg"


async def test_telegram_a_photo_with_a_caption_is_a_report_with_its_description(
        tg_service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    leader = await _telegram_leader(tg_service, tg, seeded_db_path)
    out = await leader.push(tg.photo_update(LEADER_TG, "captioned", caption=FLOOD))
    assert 'ดูเหมือนเป็นปัญหา "น้ำท่วม"' in out
    async with Database(seeded_db_path) as db:
        _, _, data = await conversation(db, str(LEADER_TG))
    assert data["description"] == FLOOD and data["photo_id"] == "captioned"


# --- through the real LINE adapter ---------------------------------------------------------------

LEADER_LINE = "U" + "b" * 32


@pytest.fixture
async def line_service(seeded_db_path: Path, line: LineTestServer, tmp_path: Path
                       ) -> AsyncIterator[Service]:
    async with Service(line_settings(seeded_db_path, line, tmp_path / "media")) as running:
        yield running


async def _line_leader(service: Service, line: LineTestServer, db_path: Path) -> LinePerson:
    leader = LinePerson(service, line, LEADER_LINE)
    await leader.send(await issue_code(db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2))
    await leader.send("บุญมี ศรีสุข")
    return leader


async def test_line_free_text_photo_and_greeting_at_the_menu(
        line_service: Service, line: LineTestServer, seeded_db_path: Path,
        tmp_path: Path) -> None:
    leader = await _line_leader(line_service, line, seeded_db_path)
    out = await leader.send("สวัสดีครับ")
    assert "สวัสดีครับ คุณบุญมี" in out
    assert "รายงานปัญหา" in _choices(leader.messages()[-1])

    out = await leader.send(FLOOD)
    assert 'ดูเหมือนเป็นปัญหา "น้ำท่วม"' in out
    out = await leader.send("ยกเลิก")
    assert "ยกเลิกแล้ว" in out

    out = await leader.post(line.image_event(LEADER_LINE, "880001", data=b"\xff\xd8line"))
    assert "ได้รับรูปถ่ายแล้ว" in out
    async with Database(seeded_db_path) as db:
        _, step, data = await conversation(db, LEADER_LINE)
    assert step == "category" and data["photo_id"] == "880001"
    assert (tmp_path / "media" / data["photo"]).read_bytes() == b"\xff\xd8line"

    await leader.send("ยกเลิก")
    out = await leader.post(line.location_event(LEADER_LINE, 15.79, 104.14))
    assert "ได้รับตำแหน่งแล้ว" in out
    async with Database(seeded_db_path) as db:
        _, _, data = await conversation(db, LEADER_LINE)
    assert data["location"] == [15.79, 104.14]


async def test_free_text_with_a_draft_asks_first_and_starting_afresh_keeps_the_text(
        console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("เมนู")  # a draft is kept
    out = await console.type(FLOOD)
    assert "ทำต่อจากร่างเดิม หรือเริ่มใหม่" in out
    out = await console.type("🆕 เริ่มใหม่")
    assert 'ดูเหมือนเป็นปัญหา "น้ำท่วม"' in out
    _, _, data = await conversation(console.db)
    assert data["description"] == FLOOD and "category" not in data
