"""A button's label typed instead of tapped: it matches however the person spells what
differs only in ways Thai writers differ (วิกฤต for the glossary's วิกฤติ, with or without
the repetition mark ๆ, spaces, zero-width characters), through the console as typed."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from handlers.turn import label_key
from locales import t
from tests.conftest import Harness


async def _at_severity(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("ไข้เลือดออกระบาดในหมู่บ้าน")
    out = await console.type("45")
    assert "รุนแรงแค่ไหน" in out


@pytest.mark.parametrize(("typed", "severity"), [
    ("วิกฤต", 4),  # the common spelling, for the button labelled วิกฤติ
    ("วิกฤติ", 4),
    ("วิ กฤต", 4),  # a space inside
    ("\u200bวิกฤต\u200b", 4),  # zero-width spaces, as pasted from elsewhere
    ("ปาน กลาง", 2),
    ("ปานกลาง\u200b", 2),
    ("รุนแรงๆ", 3),  # with the repetition mark
    ("รุนแรง ๆ", 3),
])
async def test_a_severity_typed_as_people_spell_it_is_its_button(
        console: Harness, typed: str, severity: int) -> None:
    await _at_severity(console)
    out = await console.type(typed)
    assert "รุนแรงแค่ไหน" not in out and "ใช้ปุ่ม" not in out  # not asked again
    await console.type("ข้าม")
    out = await console.type("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว" in out
    assert await console.scalar("SELECT severity FROM problems") == severity


@pytest.mark.parametrize("typed", ["อื่น", "อื่นๆ", "อื่น ๆ"])
async def test_the_other_category_typed_with_or_without_the_repetition_mark(
        console: Harness, typed: str) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type(typed)
    assert "เล่าปัญหาสั้น" in out  # the category taken: the description is asked
    await console.type("ถนนเข้าหมู่บ้านชำรุดหนัก")
    await console.type("45")
    await console.type("ปานกลาง")
    await console.type("ข้าม")
    await console.type("✅ บันทึก")
    assert await console.scalar("SELECT category FROM problems") == "other"


def test_spellings_are_data_and_labels_stay_apart() -> None:
    data = json.loads(files("locales").joinpath("input_vocabulary.json").read_text("utf-8"))
    assert ["วิกฤติ", "วิกฤต"] in data["labels"]["same_spelling"]
    assert "ๆ" in data["labels"]["ignored"]
    assert label_key("วิกฤต") == label_key(t("th", "severity.4"))
    assert label_key("วิกฤตการณ์") == label_key("วิกฤติการณ์")
    severities = [label_key(t("th", f"severity.{n}")) for n in range(1, 5)]
    assert len(set(severities)) == 4  # still four different answers
    assert label_key("✅ บันทึก") == label_key("บันทึก")
