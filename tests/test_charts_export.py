"""Summaries as charts (PNG, Thai drawn in Sarabun, no tofu) and as files (xlsx, CSV with BOM)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import matplotlib
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from PIL import Image

from bot.charts import Chart, glyphs_missing, render, section_chart
from bot.export import BOM, csv_files, export_filename, sheet_name, workbook
from bot.rich_menu import thai_font_path
from handlers.summary_model import (
    SECTIONS,
    AreaValue,
    CategoryImpact,
    ImpactSection,
    MonthImpact,
    ParticipationSection,
    Period,
    PlansSection,
    ResultsSection,
    Summary,
    SupportSection,
)

THAI = re.compile(r"[\u0E00-\u0E7F]")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
VILLAGE_1 = AreaValue("35010101", "บ้านผู้ใหญ่ หมู่ 1", "Ban Phu Yai Moo 1", 200)
VILLAGE_3 = AreaValue("35010103", "บ้านน้ำคำ หมู่ 3", "Ban Nam Kham Moo 3", 41)


def _months(first_year: int, first_month: int, count: int) -> list[MonthImpact]:
    months = []
    for n in range(count):
        year, month = divmod(first_month - 1 + n, 12)
        months.append(MonthImpact(f"{first_year + year}-{month + 1:02d}", n % 4, 10 * (n % 4)))
    return months


def full(months: list[MonthImpact] | None = None) -> Summary:
    return Summary(
        area_code="350101", level="tambon", name_th="ตำบลในเมือง อำเภอเมืองยโสธร",
        name_en="Nai Mueang, Mueang Yasothon",
        period=Period(date(2025, 1, 1), date(2025, 3, 31), "3months"), today=date(2025, 4, 2),
        impact=ImpactSection(
            problems=14, households=389,
            by_category=[CategoryImpact("jobs", 5, 210), CategoryImpact("debt", 4, 96),
                         CategoryImpact("water", 3, 61), CategoryImpact("education", 1, 15),
                         CategoryImpact("vulnerable", 1, 7)],
            by_month=months or [MonthImpact("2025-01", 6, 180), MonthImpact("2025-02", 3, 90),
                                MonthImpact("2025-03", 5, 119)],
            most_affected=[VILLAGE_1]),
        plans=PlansSection(
            items=9, by_approach={"self_reliance": 4, "cooperation": 3, "external_support": 2},
            by_status={"not_started": 2, "in_progress": 4, "done": 2, "stalled": 1},
            average_percent=47.5, overdue=1, stalled=1),
        support=SupportSection(
            by_status={"submitted": 1, "forwarded": 1, "funded": 2, "returned": 0},
            amount_by_status={"submitted": 25000, "forwarded": 350000, "funded": 120500,
                              "returned": 0},
            amount_requested=495500, amount_granted=110000, own_money=42000),
        participation=ParticipationSection(
            forums=4, participants=183, villages=3, villages_with_forum=2, silent_days=30,
            silent_villages=1, most_silent=[VILLAGE_3]),
        results=ResultsSection(items_done=2, confirmed=2, solved={"yes": 1, "partly": 1, "no": 0},
                               households_helped=75),
        children=[AreaValue("35010101", "บ้านผู้ใหญ่ หมู่ 1", "Ban Phu Yai Moo 1", 8)],
    )


def empty() -> Summary:
    support_keys = ("submitted", "forwarded", "funded", "returned")
    return Summary(
        area_code="35010103", level="village",
        name_th="บ้านน้ำคำ หมู่ 3 ตำบลในเมือง อำเภอเมืองยโสธร จังหวัดยโสธร", name_en="",
        period=Period(date(2025, 1, 1), date(2025, 1, 31), "month"), today=date(2025, 2, 1),
        impact=ImpactSection(0, 0, [], [MonthImpact("2025-01", 0, 0)], []),
        plans=PlansSection(
            0, dict.fromkeys(("self_reliance", "cooperation", "external_support"), 0),
            dict.fromkeys(("not_started", "in_progress", "done", "stalled"), 0), 0.0, 0, 0),
        support=SupportSection(dict.fromkeys(support_keys, 0), dict.fromkeys(support_keys, 0),
                               0, 0, 0),
        participation=ParticipationSection(0, 0, 0, 0, 30, 0, []),
        results=ResultsSection(0, 0, dict.fromkeys(("yes", "partly", "no"), 0), 0),
    )


@pytest.fixture(scope="module")
def charts() -> dict[tuple[str, str, str], Chart]:
    """Every section, with data and empty, in Thai and English: drawn once for all tests."""
    return {(name, section, language): render(summary, section, language)
            for name, summary in (("full", full()), ("empty", empty()))
            for section in SECTIONS for language in ("th", "en")}


# ----------------------------------------------------------------------------- charts


@pytest.mark.parametrize("name", ["full", "empty"])
@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_draws_a_phone_sized_png(
        charts: dict[tuple[str, str, str], Chart], section: str, name: str) -> None:
    png = charts[name, section, "th"].png
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        assert picture.size == (1080, 1080)
        grey = picture.convert("L")
        header = grey.crop((0, 0, 1080, 180)).histogram()
    assert sum(header[:128]) > 2000, "the title, period and headline are drawn"


def test_section_chart_gives_the_png_bytes() -> None:
    assert section_chart(empty(), "results", "th").startswith(PNG_SIGNATURE)


def test_every_drawn_text_is_in_sarabun_and_sarabun_has_every_glyph(
        charts: dict[tuple[str, str, str], Chart]) -> None:
    for key, chart in charts.items():
        assert chart.fonts == {str(thai_font_path())}, key
        assert {ch for text in chart.texts for ch in glyphs_missing(text)} == set(), key
    thai = "".join(text for (_, _, language), c in charts.items() if language == "th"
                   for text in c.texts)
    assert len(set(THAI.findall(thai))) > 40, "a real check: many Thai letters and marks drawn"


def test_the_glyph_check_catches_a_font_without_thai() -> None:
    assert glyphs_missing("ครัวเรือน 1,250 บาท", DEJAVU) == set("ครัวเรือนบาท")
    assert glyphs_missing("households 1,250 baht", DEJAVU) == set()
    assert glyphs_missing("ครัวเรือน 1,250 บาท · ม.ค. – ๑๒") == set()


def test_the_impact_chart_names_area_period_categories_and_months(
        charts: dict[tuple[str, str, str], Chart]) -> None:
    texts = charts["full", "impact", "th"].texts
    assert texts[:3] == ("ผลกระทบ · ตำบลในเมือง อำเภอเมืองยโสธร",
                         "1 ม.ค. 2568 – 31 มี.ค. 2568",
                         "ปัญหา 14 เรื่อง · ครัวเรือนได้รับผลกระทบ 389 ครัวเรือน")
    for expected in ("ตกงาน/แรงงานคืนถิ่น", "210 ครัวเรือน · 5 เรื่อง", "ม.ค. 68", "ก.พ. 68",
                     "มี.ค. 68", "ปัญหาที่รายงานรายเดือน (เรื่อง)"):
        assert expected in texts


def test_the_other_charts_show_their_numbers(charts: dict[tuple[str, str, str], Chart]) -> None:
    assert {"350,000 บาท (1 คำขอ)", "495,500 บาท", "อนุมัติแล้ว"} <= set(
        charts["full", "support", "th"].texts)
    assert {"ขอรับการสนับสนุน", "ติดขัด", "1 รายการ"} <= set(charts["full", "plans", "th"].texts)
    assert {"183", "เงียบเกิน 30 วัน", "2 แห่ง"} <= set(
        charts["full", "participation", "th"].texts)
    assert {"แก้ได้บางส่วน", "ครัวเรือนที่ได้รับความช่วยเหลือ 75 ครัวเรือน"} <= set(
        charts["full", "results", "th"].texts)


def test_empty_data_says_so(charts: dict[tuple[str, str, str], Chart]) -> None:
    for section in SECTIONS:
        assert "ไม่มีข้อมูลในช่วงนี้" in charts["empty", section, "th"].texts
        assert "No data for this period" in charts["empty", section, "en"].texts
        assert "ไม่มีข้อมูลในช่วงนี้" not in charts["full", section, "th"].texts


def test_english_charts_are_all_english(charts: dict[tuple[str, str, str], Chart]) -> None:
    for name in ("full",):
        for section in SECTIONS:
            texts = charts[name, section, "en"].texts
            assert [text for text in texts if THAI.search(text)] == [], section
    assert "1 Jan B.E. 2568 – 31 Mar B.E. 2568" in charts["full", "impact", "en"].texts


def test_a_long_period_labels_at_most_eight_months() -> None:
    texts = render(full(_months(2024, 3, 14)), "impact", "th").texts
    labels = [text for text in texts if re.fullmatch(r"\S+ \d\d", text)]
    assert labels[0] == "มี.ค. 67" and 2 <= len(labels) <= 8


def test_drawing_leaves_matplotlib_settings_alone() -> None:
    before = dict(matplotlib.rcParams)
    render(full(), "plans", "th")
    assert dict(matplotlib.rcParams) == before


# ----------------------------------------------------------------------------- xlsx


def _rows(sheet: Worksheet) -> list[tuple[object, ...]]:
    return [tuple(v for v in row if v is not None) for row in sheet.iter_rows(values_only=True)]


def test_the_workbook_has_a_sheet_per_section_with_heading_and_tables() -> None:
    book = load_workbook(io.BytesIO(workbook(full())))
    assert book.sheetnames == ["ผลกระทบ", "แผน", "การสนับสนุน", "การมีส่วนร่วม", "ผลสำเร็จ"]
    for sheet in book:
        assert _rows(sheet)[:3] == [("พื้นที่", "ตำบลในเมือง อำเภอเมืองยโสธร"),
                                    ("ช่วงเวลา", "1 ม.ค. 2568 – 31 มี.ค. 2568"),
                                    ("ข้อมูล ณ วันที่", "2 เม.ย. 2568")]
    impact = _rows(book["ผลกระทบ"])
    assert ("ประเภทปัญหา", "ปัญหา (เรื่อง)", "ครัวเรือน") in impact
    assert ("ตกงาน/แรงงานคืนถิ่น", 5, 210) in impact
    assert ("ม.ค. 2568", 6, 180) in impact
    assert ("บ้านผู้ใหญ่ หมู่ 1", 200) in impact
    assert ("ความคืบหน้าเฉลี่ย (%)", 47.5) in _rows(book["แผน"])
    assert ("แก้ได้บางส่วน", 1) in _rows(book["ผลสำเร็จ"])
    assert ("หมู่บ้านที่เงียบนานที่สุด",) in _rows(book["การมีส่วนร่วม"])


def test_baht_are_numbers_with_a_thousands_format() -> None:
    sheet = load_workbook(io.BytesIO(workbook(full())))["การสนับสนุน"]
    cells = {row[0].value: row for row in sheet.iter_rows() if row[0].value}
    requested = cells["ขอรับการสนับสนุน (บาท)"][1]
    assert requested.value == 495500 and requested.data_type == "n"
    assert requested.number_format == "#,##0"
    forwarded = cells["ส่งต่ออำเภอ"]
    assert (forwarded[1].value, forwarded[2].value) == (1, 350000)
    assert forwarded[1].number_format == "General" and forwarded[2].number_format == "#,##0"


def test_an_empty_summary_and_english_still_export() -> None:
    book = load_workbook(io.BytesIO(workbook(empty(), "en")))
    assert book.sheetnames == ["Impact", "Plans", "Support", "Participation", "Results"]
    assert _rows(book["Impact"])[0] == ("Area", "บ้านน้ำคำ หมู่ 3 ตำบลในเมือง อำเภอเมืองยโสธร "
                                                "จังหวัดยโสธร")  # no English name: the Thai one
    assert ("Problems reported", 0) in _rows(book["Impact"])


def test_sheet_names_are_legal_in_every_language() -> None:
    for language in ("th", "en"):
        for section in SECTIONS:
            name = sheet_name(section, language)
            assert 0 < len(name) <= 31 and not set(name) & set("[]:*?/\\")


# ----------------------------------------------------------------------------- csv


def test_one_csv_per_section_with_a_bom_and_the_rows() -> None:
    files = csv_files(full())
    assert list(files) == [f"cercap-350101-2568-01-01_2568-03-31-{s}.csv" for s in SECTIONS]
    for data in files.values():
        assert data.startswith(BOM) and data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(
        files["cercap-350101-2568-01-01_2568-03-31-support.csv"].decode("utf-8-sig"))))
    assert rows[:3] == [["พื้นที่", "ตำบลในเมือง อำเภอเมืองยโสธร"],
                        ["ช่วงเวลา", "1 ม.ค. 2568 – 31 มี.ค. 2568"],
                        ["ข้อมูล ณ วันที่", "2 เม.ย. 2568"]]
    assert ["ขอรับการสนับสนุน (บาท)", "495500"] in rows
    assert ["สถานะ", "คำขอ", "จำนวนเงิน (บาท)"] in rows
    assert ["อนุมัติแล้ว", "2", "120500"] in rows


def test_file_names_are_ascii_with_be_dates() -> None:
    assert export_filename(full(), "xlsx") == "cercap-350101-2568-01-01_2568-03-31.xlsx"
    name = export_filename(empty(), "csv", "impact")
    assert name == "cercap-35010103-2568-01-01_2568-01-31-impact.csv" and name.isascii()
