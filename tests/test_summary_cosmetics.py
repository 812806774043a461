"""One name for each thing in summaries: a chart comes with a short title, not the
section's text again; the workbook's sheets and the charts are named as the chat names the
sections; one "done" button, with one label, in every language."""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, datetime

import openpyxl

from bot.charts import layout
from handlers.summary_model import SECTIONS
from locales import LANGUAGES, catalog, t
from storage import problems
from tests.conftest import Harness
from tests.test_charts_export import full

TAMBON = "📊 ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร · 1 ม.ค. 2568 – 10 ม.ค. 2568"


def _buttons(out: str) -> list[str]:
    return [line.split("] ", 1)[1] for line in out.splitlines() if line.strip().startswith("[")]


def _path(out: str, mark: str) -> str:
    match = re.search(rf"{mark}\s+(\S+)", out)
    assert match, out
    return match.group(1)


async def _core_team_summary(console: Harness) -> str:
    async with console.db.transaction() as conn:
        await problems.insert(
            conn, village_code="35010101", category="water",
            description="บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้", households=45, severity=3,
            photo_ref=None, photo_platform_id=None, latitude=None, longitude=None,
            reporter_id=1, now=datetime(2025, 1, 5, 3, 0, tzinfo=UTC))
    await console.start("2")
    await console.type("สรุปผล")
    out = await console.type("เดือนนี้")
    assert TAMBON in out
    return out


async def test_the_chart_comes_with_a_title_not_the_section_text(console: Harness) -> None:
    await _core_team_summary(console)
    out = await console.type("ผลกระทบ")
    section = out.split("\n   [")[0]
    assert "ปัญหา 1 เรื่อง เดือดร้อน 45 ครัวเรือน" in section

    out = await console.type("📈 กราฟผลกระทบ")
    chart_message = out.split("🖼")[0]
    assert chart_message.strip() == (
        "🤖 📈 ผลกระทบ · ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร · 1 ม.ค. 2568 – 10 ม.ค. 2568")
    assert "ปัญหา 1 เรื่อง" not in out  # the numbers are in the picture, not repeated
    assert (console.media_dir / _path(out, "🖼")).read_bytes().startswith(b"\x89PNG")


async def test_the_workbook_names_its_sheets_as_the_chat_names_the_sections(
        console: Harness) -> None:
    out = await _core_team_summary(console)
    chat_sections = [label for label in _buttons(out)
                     if label in {t("th", f"summary.section.{s}") for s in SECTIONS}]
    assert chat_sections[-1] == "ผลสำเร็จ"  # the Results Monitor
    out = await console.type("📥 Excel")
    book = openpyxl.load_workbook(io.BytesIO((console.media_dir / _path(out, "📎")).read_bytes()))
    assert book.sheetnames == chat_sections
    assert "ผลลัพธ์" not in book.sheetnames


def test_sheets_and_chart_titles_use_the_section_names_in_every_language() -> None:
    from bot.export import workbook

    for language in LANGUAGES:
        names = [t(language, f"summary.section.{s}") for s in SECTIONS]
        book = openpyxl.load_workbook(io.BytesIO(workbook(full(), language)))
        assert book.sheetnames == names, language
        for section, name in zip(SECTIONS, names, strict=True):
            assert layout(full(), section, language).title.startswith(f"{name} · "), section


def _letters(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LMN"
                   and not "\ufe00" <= ch <= "\ufe0f").casefold()


def test_one_done_label_in_every_locale() -> None:
    for language in LANGUAGES:
        done = t(language, "common.done")
        words = _letters(done)
        for key, value in catalog(language).items():
            # A button: a symbol first, then the words. A done button is common.done.
            if value[:1] and unicodedata.category(value[0]).startswith("S") and _letters(
                    value) in {words, _letters(t(language, "summary.status.done"))}:
                assert key == "common.done", (language, key, value)
            # A text that names the done button quotes it exactly.
            for quoted in re.findall(r'"([^"]+)"', value):
                if _letters(t("th", "summary.status.done")) in _letters(quoted) or (
                        "done" in _letters(quoted)):
                    assert quoted == done, (language, key, value)


async def test_the_summary_finishes_with_the_same_done_button(console: Harness) -> None:
    out = await _core_team_summary(console)
    assert _buttons(out)[-1] == t("th", "common.done") == "✔️ เสร็จแล้ว"
    assert "🏠 เสร็จ" not in out
    out = await console.type("✔️ เสร็จแล้ว")
    assert "ดูอะไรต่อครับ" not in out and "📊" not in out
