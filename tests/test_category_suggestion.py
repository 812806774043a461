"""Suggesting a category from what a village leader types (handlers/category_suggestion.py):
compounds, typos and regional words understood; a short common word never decides; no
suggestion for a greeting or a test; a category named in a correction; and a report stored
with any category key, old or new, still shown and counted."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from importlib.resources import files

import pytest

from bench.category_accuracy import evaluate, load
from bot.export import csv_files
from handlers.category_suggestion import (
    CONFIDENT,
    category_named_in,
    is_greeting_or_test,
    suggest,
    suggestion,
)
from handlers.clock import BANGKOK
from handlers.summaries import compute_summary
from handlers.summary_model import Period
from handlers.summary_text import impact
from locales import category_label, problem_categories
from storage import problems
from storage.db import Database
from tests.conftest import Harness


@pytest.mark.parametrize(("text", "expected"), [
    # The examples: a flood is not drought; food is not farm prices; wild animals.
    ("น้ำท่วมนาข้าวเสียหายหมดทั้งทุ่ง", "flood"),
    ("น้ำป่าไหลหลากเข้าหมู่บ้านเมื่อคืน", "flood"),
    ("ฝนทิ้งช่วง บ่อน้ำแห้ง ไม่มีน้ำใช้", "water"),
    ("หน้าแล้งปีนี้น้ำประปาไม่ไหล", "water"),
    ("ไม่มีข้าวกิน", "food"),
    ("ช้างป่ากินพืชไร่", "crop_damage"),
    ("เพลี้ยลงนาข้าว", "crop_damage"),
    ("พายุพัดหลังคาบ้านปลิว", "disaster"),
    ("ดินถล่มปิดทางเข้าหมู่บ้าน", "disaster"),
    # Compounds the tokenizer keeps whole.
    ("ติดหนี้นอกระบบ", "debt"),
    ("เป็นหนี้ ธกส หลายแสน", "debt"),
    ("เจ้าหนี้มาทวงทุกวัน", "debt"),
    ("ข้าวเปลือกราคาตก", "farm_prices"),
    ("ยาม้าระบาดในหมู่บ้าน", "drugs_crime"),
    # The longer word wins over the short one inside it.
    ("เสพยาไอซ์", "drugs_crime"),
    ("ลูกติดยา ขายของในบ้านไปซื้อยา", "drugs_crime"),
    ("ไม่มีเงินซื้อยารักษาโรค", "health"),
    ("ถนนเป็นหลุมเป็นบ่อ", "other"),
    ("ขโมยขึ้นบ้านบ่อยมาก", "drugs_crime"),
    ("โรคผิวหนังระบาดหลังน้ำท่วม", "health"),  # "after the flood" says when, not what
    ("ท้องร่วงกันหลายบ้านหลังน้ำลด", "health"),
    ("เด็กป่วยหลังน้ำท่วม", "health"),
    # Typos: sara e typed twice for sara ae, letters held down, mai yamok, tone marks.
    ("เเล้งมาก น้ำไม่มีเลย", "water"),
    ("น้ำท่วมมมมม หนักมากกกก", "flood"),
    ("ตกงานนนน กลับบ้านกันหมด", "jobs"),
    ("ขโมยบ่อยๆ", "drugs_crime"),
    ("ท้องเสยีกันทั้งบ้าน", "health"),
    ("นำ้ท่วมบ้าน", "flood"),
    # Regional words (Isan, Northern, Southern).
    ("บ่มีน้ำกิน น้ำบ่อแห้งหมดแล้ว", "water"),
    ("ข้าวบ่พอกิน", "food"),
    ("บ่มีงานเฮ็ด ลูกหลานกลับมาจากกรุงเทพ", "jobs"),
    ("น้ำเข้าเฮือนหลายหลัง", "flood"),
    ("ยางพาราราคาตกหนักมาก", "farm_prices"),
    # As before.
    ("ลูกหลานตกงานจากโรงงาน ต้องกลับบ้าน", "jobs"),
    ("ชาวบ้านเป็นหนี้นอกระบบ ดอกเบี้ยสูง", "debt"),
    ("ราคายางตกต่ำมาก ขายไม่ได้", "farm_prices"),
    ("ไข้เลือดออกระบาด เด็กป่วยหลายคน", "health"),
    ("เด็กออกกลางคันเพราะไม่มีค่าเทอม", "education"),
    ("วัยรุ่นติดยาบ้า มีการลักขโมย", "drugs_crime"),
    ("ผู้สูงอายุอยู่ลำพัง ถูกทอดทิ้ง", "vulnerable"),
    ("เด็กเล็กขาดอาหาร อดอยาก", "food"),
    ("Factory closed and many people lost their job", "jobs"),
    ("Flood in the village, rice fields under water", "flood"),
])
def test_suggestion(text: str, expected: str) -> None:
    assert suggest(text) == expected


@pytest.mark.parametrize("text", [
    # One short common word never decides: medicine, well, eat, water, work, rice.
    "ยา", "บ่อ", "กิน", "น้ำ", "งาน", "ข้าว", "กินข้าว", "ไปทำงาน",
    # Greetings and tests.
    "สวัสดีครับ", "สวัสดีค่ะ", "หวัดดีจ้า", "ทดสอบ", "ทดสอบระบบ", "ทดสอบ ทดสอบ 123", "test",
    "Hello", "ลองส่งดูครับ", "ขอบคุณครับ", "กินข้าวหรือยังครับ", "สวัสดีครับ ผมผู้ใหญ่บ้านหมู่ 3",
    # Nothing to read.
    "", "   ", "🙏🙏🙏", "555555", "asdfgh", "กกกกก", "...",
])
def test_no_confident_suggestion(text: str) -> None:
    assert suggest(text) is None
    assert suggestion(text).confident is False


def test_a_common_word_counts_but_never_reaches_confidence_alone() -> None:
    alone = suggestion("ยา")
    assert alone.key == "health" and 0 < alone.score < CONFIDENT
    assert suggestion("ยาไม่พอ").confident  # with words that say it


@pytest.mark.parametrize("text", [
    "สวัสดีครับ", "สวัสดีเจ้า", "ทดสอบ", "ทดสอบระบบครับ", "test 123", "Hello, testing the bot",
    "hi", "ลองพิมพ์ดู", "ขอบคุณครับ", "โอเคครับ", "กินข้าวหรือยังครับ", "ฮัลโหล มีใครอยู่ไหม",
    "สวัสดีครับ ผมผู้ใหญ่บ้านหมู่ 3 ครับ", "ครับ",
])
def test_greetings_and_tests_are_recognised(text: str) -> None:
    assert is_greeting_or_test(text)


@pytest.mark.parametrize("text", [
    "สวัสดีครับ น้ำท่วมหมู่บ้าน", "ทดสอบ น้ำท่วม", "สวัสดีครับ มีเรื่องเดือดร้อนอยากแจ้งครับ",
    "น้ำท่วม", "กิน", "ยา", "asdfgh", "555", "🙏", "",
])
def test_descriptions_and_noise_are_not_greetings(text: str) -> None:
    assert not is_greeting_or_test(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("ไม่ใช่ เป็นเรื่องหนี้", "debt"),
    ("ไม่ใช่ครับ น้ำท่วม", "flood"),
    ("ไม่ใช่ เรื่องน้ำ", "water"),
    ("ผิดครับ เป็นเรื่องยาเสพติด", "drugs_crime"),
    ("ไม่ใช่ เป็นเรื่องอื่นๆ", "other"),
    ("สุขภาพ", "health"),
    ("no, it is about debt", "debt"),
    ("ใช่", None),
    ("ไม่ใช่", None),
    ("ไม่ใช่ครับ", None),
    ("", None),
])
def test_category_named_in_a_correction(text: str, expected: str | None) -> None:
    assert category_named_in(text) == expected


# --- the categories: old keys kept, new ones added ------------------------------------------

# Every key stored before issue 13, with the Thai label it was shown with.
OLD = {"jobs": "ตกงาน/แรงงานคืนถิ่น", "debt": "หนี้สินครัวเรือน", "farm_prices": "ราคาผลผลิตตกต่ำ",
       "water": "ภัยแล้ง/น้ำ", "health": "สุขภาพ", "education": "การศึกษา/เด็กออกกลางคัน",
       "drugs_crime": "ยาเสพติด/อาชญากรรม", "vulnerable": "ผู้สูงอายุ/กลุ่มเปราะบาง",
       "food": "อาหาร/ความอดอยาก", "other": "อื่น ๆ"}
NEW = {"flood": "น้ำท่วม", "disaster": "พายุ/ไฟไหม้/ดินถล่ม",
       "crop_damage": "สัตว์ป่า/ศัตรูพืช/โรคสัตว์"}


def test_every_stored_key_is_still_a_category_with_its_label() -> None:
    keys = [c["key"] for c in problem_categories()]
    assert {k: category_label(k, "th") for k in OLD} == OLD
    assert {k: category_label(k, "th") for k in NEW} == NEW
    assert set(keys) == set(OLD) | set(NEW) and keys[-1] == "other"
    assert keys.index("flood") < keys.index("water")  # next to each other on the buttons


def test_the_words_are_clean_data() -> None:
    """A word decides for one category only (a weak one may help several); no word is written
    in a regional form the dialect map would change; the gap and markers are well formed."""
    data = json.loads(files("locales").joinpath("problem_categories.json").read_text("utf-8"))
    owner: dict[str, str] = {}
    for category in data["categories"]:
        assert category["strong"] or category["key"] == "other", category["key"]
        for tier in ("strong", "keywords"):
            for word in category[tier]:
                assert word not in owner, (word, category["key"], owner.get(word))
                owner[word] = category["key"]
    for category in data["categories"]:
        for word in (*category["strong"], *category["keywords"], *category["weak"]):
            bare = word.lstrip("=~")
            assert bare and bare not in data["dialect"], word
            assert bare.count("\u2026") <= 1 and not bare.startswith("\u2026"), word
    assert set(data["dialect"]).isdisjoint(data["dialect"].values())


async def test_reports_under_old_and_new_keys_are_counted_in_summaries(seeded: Database) -> None:
    tambon, village = "350101", "35010101"
    at = datetime(2025, 1, 5, 10, 0, tzinfo=BANGKOK)
    keys = [*OLD, *NEW]
    async with seeded.transaction() as conn:
        for n, key in enumerate(keys, start=1):
            for _ in range(n):  # a different count for each: 1 jobs, 2 debt, ...
                await problems.insert(
                    conn, village_code=village, category=key, description="บ่อน้ำตื้นแห้ง",
                    households=10, severity=2, photo_ref=None, photo_platform_id=None,
                    latitude=None, longitude=None, reporter_id=1, now=at)
    async with seeded.read() as conn:
        summary = await compute_summary(conn, tambon, Period(date(2025, 1, 1),
                                                             date(2025, 1, 31), "month"),
                                        date(2025, 1, 31))
    expected = {**OLD, **NEW}
    counts = {c.category: c.problems for c in summary.impact.by_category}
    assert counts == {key: n for n, key in enumerate(keys, start=1)}
    # The export lists every category by its label, with its count.
    (impact_csv,) = [body for name, body in csv_files(summary).items() if "impact" in name]
    rows = list(csv.reader(io.StringIO(impact_csv.decode("utf-8-sig"))))
    shown = {row[0]: row[1] for row in rows if len(row) >= 2}
    for n, key in enumerate(keys, start=1):
        assert shown[expected[key]] == str(n), key
    # The chat summary shows the most reported first, by label.
    text = impact(summary, "th")
    assert f"{NEW['crop_damage']}: {len(keys)} เรื่อง" in text
    assert f"{NEW['flood']}: {len(OLD) + 1} เรื่อง" in text


# --- what the village leader sees -----------------------------------------------------------

@pytest.mark.parametrize(("description", "label"), [
    ("น้ำท่วมนาข้าวเสียหายหมดทั้งทุ่ง", "น้ำท่วม"),
    ("ไม่มีข้าวกิน ข้าวในยุ้งหมดแล้ว", "อาหาร/ความอดอยาก"),
    ("ช้างป่ากินพืชไร่ของชาวบ้านเสียหาย", "สัตว์ป่า/ศัตรูพืช/โรคสัตว์"),
    ("มีคนเสพยาไอซ์ในหมู่บ้าน", "ยาเสพติด/อาชญากรรม"),
])
async def test_a_typed_description_gets_the_right_suggestion(
        console: Harness, description: str, label: str) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    out = await console.type(description)
    assert f'ดูเหมือนเป็นปัญหา "{label}"' in out
    assert 'ดูเหมือนเป็นปัญหา "ภัยแล้ง/น้ำ"' not in out


# --- the labelled set (bench/category_accuracy.py measures it; this keeps it from sliding) ---

def test_the_labelled_set_is_read_right() -> None:
    rows = load()
    assert sum(r["label"] != "none" for r in rows) >= 200
    assert sum(r["label"] == "none" for r in rows) >= 20
    report = evaluate(rows)
    assert report["greetings_and_tests"]["confident_suggestions"] == 0
    assert report["greetings_and_tests"]["descriptions_taken_for_greetings"] == 0
    assert report["whole"]["top1"] >= 0.85
    assert report["heldout"]["top1"] >= 0.85
    assert report["fresh"]["top1"] >= 0.85
