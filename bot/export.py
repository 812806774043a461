"""A summary as files people open in Excel or Google Sheets.

`workbook` gives one .xlsx with a sheet per section (SECTIONS order); `csv_files` gives one CSV
per section laid out like its sheet, so a person who opens either sees the same thing. Every
sheet and CSV starts with the area, the period and the day of the data (dates in the Buddhist
Era), then its tables: a title row, a header row, the rows. Counts and baht are numbers, never
text (baht carry a thousands format in the workbook; plain digits in the CSV). The CSV is UTF-8
with a BOM: without it Excel reads the Thai as mojibake.

The tables (`tables`) and labels (`label`, `month_label`, `area_name`, `period_text`) are also
what `bot.charts` draws from, so a chart and its export name things alike.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from handlers.summary_model import SECTIONS, AreaValue, Summary
from locales import BE_OFFSET, category_label, format_date, t

BOM = b"\xef\xbb\xbf"
MAX_SHEET_NAME = 31
BAHT_FORMAT = "#,##0"
PERCENT_FORMAT = "0.0"
HEADER_FILL = PatternFill("solid", fgColor="DCE6F0")


@dataclass(frozen=True)
class Baht:
    """A cell holding an amount of baht: a number, shown with thousands separators."""

    amount: int


Cell = str | int | float | Baht


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


# ----------------------------------------------------------------------------- labels


def label(language: str, group: str, key: str) -> str:
    """An approach, plan status, support status or solved answer, e.g. ("plan_status", "done")."""
    return t(language, f"export.{group}.{key}")


def area_name(summary: Summary, language: str) -> str:
    return summary.name_en if language == "en" and summary.name_en else summary.name_th


def _village(area: AreaValue, language: str) -> str:
    return area.name_en if language == "en" and area.name_en else area.name_th


def period_text(summary: Summary, language: str) -> str:
    return t(language, "export.period", start=format_date(summary.period.start, language),
             end=format_date(summary.period.end, language))


def month_label(month: str, language: str, short_year: bool = False) -> str:
    """'2025-01' as the short month and the Buddhist-Era year (two digits with short_year)."""
    year, number = (int(part) for part in month.split("-"))
    be_year = year + BE_OFFSET
    return t(language, "export.month", month=t(language, f"month.{number}"),
             year=f"{be_year % 100:02d}" if short_year else str(be_year))


def _be_iso(day: date) -> str:
    return f"{day.year + BE_OFFSET:04d}-{day.month:02d}-{day.day:02d}"


def export_filename(summary: Summary, extension: str, section: str | None = None) -> str:
    """ASCII only, safe on every platform: 'cercap-350101-2568-01-01_2568-03-31.xlsx'."""
    code = re.sub(r"[^A-Za-z0-9]", "", summary.area_code) or "all"
    suffix = f"-{section}" if section else ""
    extension = re.sub(r"[^A-Za-z0-9]", "", extension)
    return (f"cercap-{code}-{_be_iso(summary.period.start)}_{_be_iso(summary.period.end)}"
            f"{suffix}.{extension}")


def sheet_name(section: str, language: str) -> str:
    """The section's name as the chat shows it (one name for each thing). Excel refuses
    names over 31 characters or holding []:*?/\\ ."""
    name = re.sub(r"[\[\]:*?/\\]", " ", t(language, f"summary.section.{section}")).strip()
    return name[:MAX_SHEET_NAME] or section


# ----------------------------------------------------------------------------- tables


def _totals(language: str, rows: Sequence[tuple[str, Cell]]) -> Table:
    return Table(t(language, "export.table.totals"),
                 (t(language, "export.col.item"), t(language, "export.col.value")),
                 [(t(language, f"export.row.{key}"), value) for key, value in rows])


def _impact(s: Summary, language: str) -> list[Table]:
    i = s.impact
    col = {key: t(language, f"export.col.{key}") for key in
           ("category", "month", "area", "problems", "households")}
    return [
        _totals(language, [("problems", i.problems), ("households", i.households)]),
        Table(t(language, "export.table.by_category"),
              (col["category"], col["problems"], col["households"]),
              [(category_label(c.category, language), c.problems, c.households)
               for c in i.by_category]),
        Table(t(language, "export.table.by_month"), (col["month"], col["problems"],
                                                     col["households"]),
              [(month_label(m.month, language), m.problems, m.households) for m in i.by_month]),
        Table(t(language, "export.table.most_affected"), (col["area"], col["households"]),
              [(_village(a, language), a.value) for a in i.most_affected]),
        Table(t(language, "export.table.children"), (col["area"], col["problems"]),
              [(_village(a, language), a.value) for a in s.children]),
    ]


def _plans(s: Summary, language: str) -> list[Table]:
    p = s.plans
    items = t(language, "export.col.items")
    return [
        _totals(language, [("items", p.items), ("average_percent", float(p.average_percent)),
                           ("overdue", p.overdue), ("stalled", p.stalled)]),
        Table(t(language, "export.table.by_approach"), (t(language, "export.col.approach"), items),
              [(label(language, "approach", k), v) for k, v in p.by_approach.items()]),
        Table(t(language, "export.table.by_status"), (t(language, "export.col.status"), items),
              [(label(language, "plan_status", k), v) for k, v in p.by_status.items()]),
    ]


def _support(s: Summary, language: str) -> list[Table]:
    u = s.support
    return [
        _totals(language, [("amount_requested", Baht(u.amount_requested)),
                           ("amount_granted", Baht(u.amount_granted)),
                           ("own_money", Baht(u.own_money))]),
        Table(t(language, "export.table.by_status"),
              (t(language, "export.col.status"), t(language, "export.col.requests"),
               t(language, "export.col.amount")),
              [(label(language, "support_status", k), v, Baht(u.amount_by_status.get(k, 0)))
               for k, v in u.by_status.items()]),
    ]


def _participation(s: Summary, language: str) -> list[Table]:
    p = s.participation
    return [
        _totals(language, [("forums", p.forums), ("participants", p.participants),
                           ("villages", p.villages), ("villages_with_forum", p.villages_with_forum),
                           ("active_villages", max(p.villages - p.silent_villages, 0)),
                           ("silent_villages", p.silent_villages), ("silent_days", p.silent_days)]),
        Table(t(language, "export.table.most_silent"),
              (t(language, "export.col.area"), t(language, "export.col.days_silent")),
              [(_village(a, language), a.value) for a in p.most_silent]),
    ]


def _results(s: Summary, language: str) -> list[Table]:
    r = s.results
    return [
        _totals(language, [("items_done", r.items_done), ("confirmed", r.confirmed),
                           ("households_helped", r.households_helped)]),
        Table(t(language, "export.table.solved"),
              (t(language, "export.col.solved"), t(language, "export.col.items")),
              [(label(language, "solved", k), v) for k, v in r.solved.items()]),
    ]


_TABLES: dict[str, Callable[[Summary, str], list[Table]]] = {
    "impact": _impact, "plans": _plans, "support": _support,
    "participation": _participation, "results": _results,
}


def tables(summary: Summary, section: str, language: str = "th") -> list[Table]:
    return _TABLES[section](summary, language)


def _heading_rows(summary: Summary, language: str) -> list[tuple[Cell, ...]]:
    return [(t(language, "export.col.area"), area_name(summary, language)),
            (t(language, "export.col.period"), period_text(summary, language)),
            (t(language, "export.col.as_of"), format_date(summary.today, language))]


# ----------------------------------------------------------------------------- xlsx


def workbook(summary: Summary, language: str = "th") -> bytes:
    book = Workbook()
    book.remove(book.active)
    for section in SECTIONS:
        _fill_sheet(book.create_sheet(sheet_name(section, language)), summary, section, language)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill_sheet(sheet: Worksheet, summary: Summary, section: str, language: str) -> None:
    bold = Font(bold=True)
    for row in _heading_rows(summary, language):
        sheet.append(row)
        sheet.cell(sheet.max_row, 1).font = bold
    sheet["B1"].font = Font(bold=True, size=13)
    for table in tables(summary, section, language):
        sheet.append(())
        sheet.append((table.title,))
        sheet.cell(sheet.max_row, 1).font = bold
        sheet.append(table.headers)
        for column in range(1, len(table.headers) + 1):
            sheet.cell(sheet.max_row, column).font = bold
            sheet.cell(sheet.max_row, column).fill = HEADER_FILL
        for row in table.rows:
            sheet.append([c.amount if isinstance(c, Baht) else c for c in row])
            for column, value in enumerate(row, start=1):
                if isinstance(value, Baht):
                    sheet.cell(sheet.max_row, column).number_format = BAHT_FORMAT
                elif isinstance(value, float):
                    sheet.cell(sheet.max_row, column).number_format = PERCENT_FORMAT
    sheet.column_dimensions["A"].width = 36
    for letter in "BCD":
        sheet.column_dimensions[letter].width = 22


# ----------------------------------------------------------------------------- csv


def section_csv(summary: Summary, section: str, language: str = "th") -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerows(_heading_rows(summary, language))
    for table in tables(summary, section, language):
        writer.writerow(())
        writer.writerow((table.title,))
        writer.writerow(table.headers)
        writer.writerows([c.amount if isinstance(c, Baht) else c for c in row]
                         for row in table.rows)
    return BOM + text.getvalue().encode("utf-8")


def csv_files(summary: Summary, language: str = "th") -> dict[str, bytes]:
    """One CSV per section, keyed by its file name (export_filename with the section)."""
    return {export_filename(summary, "csv", section): section_csv(summary, section, language)
            for section in SECTIONS}
