"""A summary is current the moment it is asked for: a core team that looked in the morning
and asks again after a village reported sees the new numbers, in the text, the chart and
the export, the same day."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import openpyxl

from bot.charts import section_chart
from handlers.clock import local_date
from handlers.summaries import compute_summary
from handlers.summary_model import Period
from tests.conftest import Harness


def _report(households: int) -> list[str]:
    return ["รายงานปัญหา", "ภัยแล้ง/น้ำ", "บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้", str(households),
            "รุนแรง", "ข้าม", "ข้าม", "บันทึก"]


def _file(console: Harness, out: str, mark: str) -> Path:
    match = re.search(rf"{mark}\s+(\S+)", out)
    assert match, out
    return console.media_dir / match.group(1)


def _water_row(rows: list[list[object]]) -> list[object]:
    (row,) = [r for r in rows if r and r[0] == "ภัยแล้ง/น้ำ"]
    return row


async def _look(console: Harness) -> dict[str, object]:
    """Everything the core team can ask for about the impact, from the summary screen."""
    impact = await console.type("ผลกระทบ")
    chart_out = await console.type("📈 กราฟผลกระทบ")
    xlsx_out = await console.type("📥 Excel")
    csv_out = await console.type("📄 CSV")
    book = openpyxl.load_workbook(io.BytesIO(_file(console, xlsx_out, "📎").read_bytes()))
    sheet_rows = [list(r) for r in book["ผลกระทบ"].iter_rows(values_only=True)]
    text = _file(console, csv_out, "📎").read_bytes().decode("utf-8-sig")
    csv_rows = [row for row in csv.reader(io.StringIO(text)) if row]
    return {"text": impact,
            "chart": _file(console, chart_out, "🖼").read_bytes(),
            "xlsx": _water_row(sheet_rows), "csv": _water_row(csv_rows)}


async def _chart_of_the_data_now(console: Harness) -> bytes:
    today = local_date(console.clock.now())
    async with console.db.read() as conn:
        summary = await compute_summary(conn, "350101", Period(date(2025, 1, 1), today,
                                                               "month"), today)
    return section_chart(summary, "impact", "th")


async def test_a_summary_asked_again_the_same_day_has_the_new_numbers(
        console: Harness) -> None:
    await console.start("1")
    for step in _report(45):
        await console.type(step)
    await console.type("/as 2")
    await console.type("สรุปผล")
    out = await console.type("เดือนนี้")
    assert "ผลกระทบ: ปัญหา 1 เรื่อง เดือดร้อน 45 ครัวเรือน" in out
    morning = await _look(console)
    assert "• ภัยแล้ง/น้ำ: 1 เรื่อง 45 ครัวเรือน" in morning["text"]
    assert morning["chart"] == await _chart_of_the_data_now(console)  # the numbers drawn
    assert morning["xlsx"][1:3] == [1, 45]
    assert morning["csv"][1:3] == ["1", "45"]

    # Later the same day (the clock has not even moved) the village reports again.
    await console.type("/as 1")
    for step in _report(30):
        await console.type(step)
    await console.type("/as 2")  # still on the summary screen

    afternoon = await _look(console)
    assert "• ภัยแล้ง/น้ำ: 2 เรื่อง 75 ครัวเรือน" in afternoon["text"]
    assert afternoon["chart"] != morning["chart"]
    assert afternoon["chart"] == await _chart_of_the_data_now(console)
    assert afternoon["xlsx"][1:3] == [2, 75]
    assert afternoon["csv"][1:3] == ["2", "75"]

    await console.type("🗓 เปลี่ยนช่วงเวลา")
    out = await console.type("เดือนนี้")
    assert "ปัญหา 2 เรื่อง เดือดร้อน 75 ครัวเรือน" in out


async def test_asking_again_with_nothing_new_gives_the_same_summary(console: Harness) -> None:
    """The cache still serves a text, its chart and its export of unchanged data: the
    same Summary, not a second computation."""
    await console.start("2")
    await console.type("สรุปผล")
    await console.type("เดือนนี้")
    renderer = console.sender.prepare.__self__  # type: ignore[union-attr]
    spec = {"area": "350101", "start": "2025-01-01", "end": "2025-01-10", "kind": "month"}
    first = await renderer.summary(spec)
    assert await renderer.summary(spec) is first
    async with console.db.transaction() as conn:
        await conn.execute("INSERT INTO processed_updates VALUES ('console', 'x',"
                           " '2025-01-10T03:00:00.000000+00:00')")
    second = await renderer.summary(spec)
    assert second is not first and second == first  # any commit: computed afresh
