"""Navigation as buttons: every question that takes a typed answer also shows "back" and
"cancel" (numbered in the console, inline buttons on Telegram, quick replies on LINE);
"back" shows the earlier answer and lets it be kept."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import ReplyKeyboardMarkup

from bot.line_channel import QUICK_LABEL_MAX, QUICK_REPLY_MAX
from bot.line_channel import render as line_render
from bot.line_text import grapheme_len
from bot.service import Service
from bot.telegram_channel import keyboard as telegram_keyboard
from handlers.flows.forum import group_keys
from handlers.permissions import Role
from handlers.turn import Turn, label_key
from locales import category_label, problem_categories, t
from storage.conversations import Conversation
from tests.conftest import Harness
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_cycle_on_platforms import PLAN_STEPS
from tests.test_delivery_faults import _line_settings
from tests.test_line_channel import Person as LinePerson
from tests.test_line_channel import _choices, _texts
from tests.test_telegram_channel import Person as TelegramPerson
from tests.test_telegram_channel import issue_code, settings_for

BACK, CANCEL, KEEP = "ย้อนกลับ", "ยกเลิก", "ใช้คำตอบเดิม"
CATEGORIES = [category_label(c["key"], "th") for c in problem_categories()]
GROUPS = [t("th", f"forum.group.{key}") for key in group_keys()]
DONE, REMOVE_OTHER = t("th", "common.done"), t("th", "common.remove_other")
VILLAGE = "35010102"
_NUMBERED = re.compile(r"^   \[(\w+)\] (.+)$")


def console_buttons(out: str) -> dict[str, str]:
    """The last message's buttons: label -> what to type to press it (its number, or the
    label itself where a typed number is the answer and buttons are shown by label)."""
    found: dict[str, str] = {}
    for line in out.rsplit("🤖", 1)[-1].splitlines():
        numbered = _NUMBERED.match(line)
        if numbered:
            found[numbered.group(2)] = numbered.group(1)
        elif line.startswith("   ["):
            found.update({label: label for label in re.findall(r"\[([^\]]+)\]", line)})
    return found


async def report_to_severity(console: Harness, households: str = "45") -> str:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("ไข้เลือดออกระบาดในหมู่บ้าน")
    out = await console.type(households)
    assert "รุนแรงแค่ไหน" in out
    return out


async def households_saved(console: Harness) -> object:
    return await console.scalar("SELECT households FROM problems")


async def finish_report(console: Harness) -> str:
    await console.type("ปานกลาง")
    await console.type("ข้าม")
    out = await console.type("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว" in out
    return out


# --- the console ---------------------------------------------------------------------------


async def test_every_typed_answer_question_of_a_plan_shows_back_and_cancel(
        console: Harness) -> None:
    """A plan item walked from the menu: dates, amounts, free texts, each question answered
    by typing has both buttons."""
    await console.start("1")
    out = await console.type("เมนู")
    typed = 0
    for step in PLAN_STEPS[:-1]:
        shown = {label_key(label): label for label in console_buttons(out)}
        if label_key(step) not in shown:
            typed += 1
            assert BACK in shown.values() and CANCEL in shown.values(), (step, out)
        out = await console.type(step)
    assert typed >= 8  # the plan's two dates, the title, budget, two item dates, the person …
    assert "บันทึกรายการ #1" in out


async def test_back_and_cancel_work_as_numbered_buttons(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type("สุขภาพ")
    shown = console_buttons(out)
    assert "เล่าปัญหาสั้น" in out and shown[BACK].isdigit() and shown[CANCEL].isdigit()
    out = await console.type(shown[BACK])
    assert "ปัญหาเรื่องอะไร" in out and "คำตอบเดิม: สุขภาพ" in out
    out = await console.type("สุขภาพ")
    out = await console.type(console_buttons(out)[CANCEL])
    assert "ยกเลิกแล้ว" in out
    assert await console.scalar("SELECT COUNT(*) FROM drafts") == 0


async def console_groups_question(console: Harness) -> str:
    await console.start("1")
    await console.type("เมนู")
    await console.type("บันทึกเวทีประชาคม")
    await console.type("5 ม.ค. 68")
    out = await console.type("40")
    assert "มีกลุ่มไหนมาร่วมเวทีบ้าง" in out
    return out


async def test_console_category_question_numbers_every_category_and_back_and_cancel(
        console: Harness) -> None:
    """13 categories, and the question takes typed text too: all 13 numbered, then back
    and cancel."""
    await console.start("1")
    out = await console.type("รายงานปัญหา")
    assert "ปัญหาเรื่องอะไร" in out
    shown = console_buttons(out)
    assert list(shown) == [*CATEGORIES, BACK, CANCEL]
    assert list(shown.values()) == [str(n) for n in range(1, len(CATEGORIES) + 3)]
    out = await console.type(shown["สุขภาพ"])  # a category by its number
    assert "เล่าปัญหาสั้น" in out
    out = await console.type(console_buttons(out)[BACK])
    assert "คำตอบเดิม: สุขภาพ" in out
    shown = console_buttons(out)
    assert list(shown) == [KEEP, *CATEGORIES, BACK, CANCEL]  # keep as well: 16
    out = await console.type(shown[CANCEL])
    assert "ยกเลิกแล้ว" in out
    assert await console.scalar("SELECT COUNT(*) FROM drafts") == 0


async def test_console_forum_groups_question_numbers_every_group_and_back_and_cancel(
        console: Harness) -> None:
    out = await console_groups_question(console)
    assert list(console_buttons(out)) == [*GROUPS, DONE, BACK, CANCEL]
    out = await console.type("กลุ่มผู้ใช้น้ำ")  # typed: an "other" group, and its remove
    assert "อื่น ๆ ที่พิมพ์ไว้: กลุ่มผู้ใช้น้ำ" in out
    shown = console_buttons(out)
    assert list(shown) == [*GROUPS, DONE, REMOVE_OTHER, BACK, CANCEL]
    out = await console.type(shown[BACK])
    assert "มีผู้เข้าร่วมเวทีกี่คน" in out and "คำตอบเดิม: 40" in out
    out = await console.type(KEEP)
    shown = console_buttons(out)
    assert {*GROUPS, DONE, REMOVE_OTHER, BACK, CANCEL} <= set(shown)
    out = await console.type(shown[CANCEL])
    assert "ยกเลิกแล้ว" in out


async def test_back_shows_the_earlier_answer_and_keep_keeps_it(console: Harness) -> None:
    await report_to_severity(console, "45")
    out = await console.type(BACK)
    assert "คำตอบเดิม: 45" in out and "กี่ครัวเรือน" in out
    assert KEEP in console_buttons(out)
    out = await console.type(BACK)  # two steps back: the description
    assert "คำตอบเดิม: ไข้เลือดออกระบาดในหมู่บ้าน" in out
    out = await console.type(console_buttons(out)[KEEP])  # by its number
    assert "คำตอบเดิม: 45" in out  # the next step's earlier answer, offered again
    out = await console.type(KEEP)
    assert "รุนแรงแค่ไหน" in out and "คำตอบเดิม" not in out  # where the person was
    await finish_report(console)
    assert await households_saved(console) == 45
    assert await console.scalar(
        "SELECT description FROM problems") == "ไข้เลือดออกระบาดในหมู่บ้าน"


async def test_a_new_answer_after_back_replaces_the_earlier_one(console: Harness) -> None:
    await report_to_severity(console, "45")
    await console.type(BACK)
    out = await console.type("สามสิบ")
    assert "รุนแรงแค่ไหน" in out and "คำตอบเดิม" not in out
    await finish_report(console)
    assert await households_saved(console) == 30


async def test_edit_from_the_confirmation_screen_offers_the_earlier_answer(
        console: Harness) -> None:
    await report_to_severity(console, "45")
    await console.type("ปานกลาง")
    out = await console.type("ข้าม")
    assert "ตรวจสอบก่อนบันทึก" in out
    out = await console.type("แก้จำนวนครัวเรือน")
    assert "คำตอบเดิม: 45" in out and KEEP in console_buttons(out)
    out = await console.type(KEEP)
    assert "ตรวจสอบก่อนบันทึก" in out and "ครัวเรือนที่เดือดร้อน: 45" in out
    out = await console.type("✅ บันทึก")
    assert await households_saved(console) == 45


async def test_dates_and_amounts_come_back_as_people_read_them(console: Harness) -> None:
    await console.start("1")
    for step in ("แผนของหมู่บ้าน", "จัดทำแผนรอบใหม่", "1 ม.ค. 68"):
        out = await console.type(step)
    assert "คำตอบเดิม" not in out
    out = await console.type(BACK)
    assert "คำตอบเดิม: 1 ม.ค. 2568" in out  # Buddhist Era
    out = await console.type(KEEP)
    for step in ("30 มิ.ย. 68", "เปิดแผนรอบนี้", "เพิ่มรายการ", "จัดหาท่อส่งน้ำ",
                 "ขอรับการสนับสนุนจากหน่วยงาน", "อบต.ในเมือง", "120000"):
        out = await console.type(step)
    out = await console.type(BACK)
    assert "คำตอบเดิม: 120,000 บาท" in out


PICKER_TYPES = {None: set(), "number": set(), "date": {"datetimepicker"},
                "location": {"location"}, "photo": {"camera", "cameraRoll"},
                "photo_or_location": {"location", "camera", "cameraRoll"}}


def _asked(expects: str | None, count: int, keep: bool) -> Any:
    """A question with `count` buttons of its own, asked as a flow asks it (with the
    earlier answer to keep when `keep`)."""
    convo = Conversation(1, "f", "s", data={"_return_to": "confirm"} if keep else {})
    turn = Turn(conn=None, now=datetime.now(UTC), incoming=None,  # type: ignore[arg-type]
                identity=None, person=None, grants=[],  # type: ignore[arg-type]
                convo=convo)
    turn.ask("?", [(f"ตัวเลือก {n}", str(n)) for n in range(count)], expects, nav=True,
             previous="คำตอบก่อน" if keep else "")
    return turn.replies[-1]


@pytest.mark.parametrize("expects", list(PICKER_TYPES))
def test_back_and_cancel_are_never_left_off_and_line_and_telegram_show_them(
        expects: str | None) -> None:
    """However many buttons a question has, and whatever picker it adds: "back" and
    "cancel" (and "keep") are there. On LINE every button is reachable on the newest
    message, within 13 quick replies whose labels are whole: the navigation and the
    pickers as quick replies, the question's own buttons beside them or, when there is no
    room, in a bubble or a carousel of the same message. On Telegram every button, back
    and cancel sharing the last row."""
    for count, keep in itertools.product(range(22), (False, True)):
        reply = _asked(expects, count, keep)
        payloads = [c.payload for c in reply.choices]
        assert {"n:back", "n:cancel"} <= set(payloads), (expects, count)
        assert ("n:keep" in payloads) == keep, (expects, count)

        last = line_render(reply)[-1]
        quick = quick_items(last)
        assert 0 < len(quick) <= QUICK_REPLY_MAX, (expects, count, keep)
        assert all(grapheme_len(a["label"]) <= QUICK_LABEL_MAX for a in quick)
        assert {"n:back", "n:cancel"} | ({"n:keep"} if keep else set()) <= {
            a.get("data") for a in quick}, (expects, count, keep)
        assert PICKER_TYPES[expects] <= {a["type"] for a in quick}, (expects, count)
        assert set(payloads) <= set(_choices(last).values()), (expects, count, keep)

        markup = telegram_keyboard(reply)
        rows = markup.keyboard if isinstance(markup, ReplyKeyboardMarkup) \
            else markup.inline_keyboard
        assert [b.text for row in rows for b in row][-2:] == [BACK, CANCEL]
        assert [b.text for b in rows[-1]] == [BACK, CANCEL]
        labels = {b.text for row in rows for b in row}
        assert {c.label for c in reply.choices} <= labels, (expects, count)


# --- Telegram ------------------------------------------------------------------------------


@pytest.fixture
async def telegram(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                   ) -> AsyncIterator[TelegramPerson]:
    settings = settings_for(seeded_db_path, tg, tmp_path / "media",
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s3cret-webhook")
    async with Service(settings, background=False) as service:
        assert service.telegram is not None
        service.telegram.sender.pacer.clock = itertools.count(step=10.0).__next__
        leader = TelegramPerson(service, tg, 3301)
        code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE)
        await leader.send(f"/start {code}")
        await leader.send("บุญมี ศรีสุข")
        yield leader


def telegram_labels(person: TelegramPerson) -> dict[str, str]:
    """The last message's buttons, inline (label -> callback data) or, on a reply
    keyboard, label -> the text the button sends (its label)."""
    markup = person.server.sent_messages(person.user_id)[-1].get("reply_markup") or {}
    if "keyboard" in markup:
        return {b["text"]: b["text"] for row in markup["keyboard"] for b in row}
    return person.buttons()


async def test_telegram_free_text_questions_have_inline_back_and_cancel(
        telegram: TelegramPerson) -> None:
    leader = telegram
    await leader.press("รายงานปัญหา")
    out = await leader.press("สุขภาพ")
    assert "เล่าปัญหาสั้น" in out
    assert leader.buttons()[BACK] == "n:back" and leader.buttons()[CANCEL] == "n:cancel"
    await leader.send("ไข้เลือดออกระบาดในหมู่บ้าน")
    assert {BACK, CANCEL} <= set(leader.buttons())  # households: a number, typed or tapped
    out = await leader.send("45")
    assert "รุนแรงแค่ไหน" in out  # a choice: "back" is typed there
    out = await leader.send(BACK)
    assert "คำตอบเดิม: 45" in out and leader.buttons()[KEEP] == "n:keep"
    out = await leader.press(KEEP)
    assert "รุนแรงแค่ไหน" in out
    out = await leader.press("ปานกลาง")
    shown = telegram_labels(leader)  # photo or location: maybe a reply keyboard
    assert BACK in shown and CANCEL in shown
    out = await (leader.send(BACK) if shown[BACK] == BACK else leader.press(BACK))
    assert "คำตอบเดิม: ปานกลาง" in out
    out = await leader.press(KEEP)
    out = await (leader.send(CANCEL) if telegram_labels(leader)[CANCEL] == CANCEL
                 else leader.press(CANCEL))
    assert "ยกเลิกแล้ว" in out


def inline_rows(person: TelegramPerson) -> list[list[str]]:
    markup = person.server.sent_messages(person.user_id)[-1].get("reply_markup") or {}
    return [[b["text"] for b in row] for row in markup.get("inline_keyboard", [])]


async def test_telegram_category_and_groups_questions_show_every_button_and_back_and_cancel(
        telegram: TelegramPerson) -> None:
    leader = telegram
    out = await leader.press("รายงานปัญหา")
    assert "ปัญหาเรื่องอะไร" in out
    rows = inline_rows(leader)
    assert [label for row in rows for label in row] == [*CATEGORIES, BACK, CANCEL]
    assert rows[-1] == [BACK, CANCEL]  # one row of two under the categories
    out = await leader.press("น้ำท่วม")
    assert "เล่าปัญหาสั้น" in out
    out = await leader.press(BACK)
    assert "คำตอบเดิม: น้ำท่วม" in out
    assert {*CATEGORIES, KEEP, BACK, CANCEL} == set(leader.buttons())
    out = await leader.press(CANCEL)
    assert "ยกเลิกแล้ว" in out

    await leader.send("เมนู")
    await leader.press("บันทึกเวทีประชาคม")
    await leader.send("5 ม.ค. 68")
    out = await leader.send("40")
    assert "มีกลุ่มไหนมาร่วมเวทีบ้าง" in out
    rows = inline_rows(leader)
    assert [label for row in rows for label in row] == [*GROUPS, DONE, BACK, CANCEL]
    assert rows[-1] == [BACK, CANCEL]
    await leader.press(GROUPS[3])
    await leader.send("กลุ่มผู้ใช้น้ำ")
    rows = inline_rows(leader)
    assert [label for row in rows for label in row] == [
        *GROUPS[:3], f"✅ {GROUPS[3]}", *GROUPS[4:], DONE, REMOVE_OTHER, BACK, CANCEL]
    out = await leader.press(BACK)
    assert "คำตอบเดิม: 40" in out
    out = await leader.press(KEEP)
    assert f"✅ {GROUPS[3]}" in leader.buttons()
    out = await leader.press(CANCEL)
    assert "ยกเลิกแล้ว" in out


# --- LINE ------------------------------------------------------------------------------------


@pytest.fixture
async def line_leader(seeded_db_path: Path, line: LineTestServer, tmp_path: Path
                      ) -> AsyncIterator[LinePerson]:
    async with Service(_line_settings(seeded_db_path, line, tmp_path / "m")) as service:
        leader = LinePerson(service, line, "U" + "3" * 32)
        await leader.send(await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE))
        await leader.send("บุญมี ศรีสุข")
        yield leader


def quick_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["action"] for item in (message.get("quickReply") or {}).get("items", [])]


async def test_line_free_text_questions_have_back_and_cancel_quick_replies(
        line_leader: LinePerson) -> None:
    leader = line_leader
    await leader.send("รายงานปัญหา")
    await leader.press("สุขภาพ")
    question = leader.messages()[-1]
    assert _choices(question)[BACK] == "n:back" and _choices(question)[CANCEL] == "n:cancel"
    await leader.send("ไข้เลือดออกระบาดในหมู่บ้าน")
    await leader.send("45")
    out = await leader.send(BACK)  # at the severity question, a choice: typed
    assert "คำตอบเดิม: 45" in out and _choices(leader.messages()[-1])[KEEP] == "n:keep"
    await leader.press(KEEP)
    out = await leader.press("ปานกลาง")
    photo_question = leader.messages()[-1]
    actions = quick_items(photo_question)
    assert len(actions) <= QUICK_REPLY_MAX
    assert {"n:back", "n:cancel"} <= {a.get("data") for a in actions}
    assert any(a["type"] in ("camera", "cameraRoll", "location") for a in actions)
    out = await leader.press(BACK)
    assert "คำตอบเดิม: ปานกลาง" in out
    await leader.press(KEEP)  # on to the photo question again, and cancel from there
    out = await leader.press(CANCEL)
    assert "ยกเลิกแล้ว" in out


def flex_buttons(message: dict[str, Any]) -> list[str]:
    """The labels of a Flex message's buttons (a bubble's or a carousel's), in order."""
    contents = message.get("contents") or {}
    bubbles = contents.get("contents", []) if contents.get("type") == "carousel" else [contents]
    return [button["action"]["label"] for bubble in bubbles
            for button in (bubble.get("footer") or {}).get("contents", [])]


def assert_line_question(message: dict[str, Any], own: list[str], navigation: list[str]
                         ) -> None:
    """Every one of the question's buttons whole on the screen, and its navigation as
    quick replies on the same, newest, message, within LINE's limits."""
    assert message["type"] == "flex"
    assert flex_buttons(message) == own
    quick = quick_items(message)
    assert [a["label"] for a in quick] == navigation
    assert len(quick) <= QUICK_REPLY_MAX
    assert all(grapheme_len(a["label"]) <= QUICK_LABEL_MAX for a in quick)


async def test_line_category_and_groups_questions_show_every_button_and_back_and_cancel(
        line_leader: LinePerson) -> None:
    leader = line_leader
    out = await leader.send("รายงานปัญหา")
    assert "ปัญหาเรื่องอะไร" in out
    question = leader.messages()[-1]
    assert_line_question(question, CATEGORIES, [BACK, CANCEL])
    assert "ปัญหาเรื่องอะไร" in "".join(_texts(question))  # the question beside them
    out = await leader.press("น้ำท่วม")  # from the bubble
    assert "เล่าปัญหาสั้น" in out
    out = await leader.press(BACK)
    assert "คำตอบเดิม: น้ำท่วม" in out
    assert_line_question(leader.messages()[-1], CATEGORIES, [KEEP, BACK, CANCEL])
    out = await leader.press(CANCEL)  # from the quick replies
    assert "ยกเลิกแล้ว" in out

    await leader.send("บันทึกเวทีประชาคม")
    await leader.send("5 ม.ค. 68")
    out = await leader.send("40")
    assert "มีกลุ่มไหนมาร่วมเวทีบ้าง" in out
    assert_line_question(leader.messages()[-1], [*GROUPS, DONE], [BACK, CANCEL])
    await leader.press(GROUPS[3])
    out = await leader.send("กลุ่มผู้ใช้น้ำ")
    assert "อื่น ๆ ที่พิมพ์ไว้: กลุ่มผู้ใช้น้ำ" in out
    assert_line_question(leader.messages()[-1],
                         [*GROUPS[:3], f"✅ {GROUPS[3]}", *GROUPS[4:], DONE, REMOVE_OTHER],
                         [BACK, CANCEL])
    out = await leader.press(BACK)
    assert "คำตอบเดิม: 40" in out
    await leader.press(KEEP)
    out = await leader.press(CANCEL)
    assert "ยกเลิกแล้ว" in out
