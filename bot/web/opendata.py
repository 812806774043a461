"""A public page's numbers as tables: what the page shows under its charts, and what
/data serves as CSV (UTF-8 with BOM) and JSON. Built from handlers.summaries' Summary and
Funnel only (no arithmetic of its own beyond shares for display), and carrying no personal
data: area codes (DOPA; LN01..LN14, TH), area names, counts, baht, published stories' ids.

Column keys are the CSV headers and JSON keys (contracts: see /data and the README); their
labels and meanings are in locales/*/web.json as site.col.<key> and site.coldoc.<key>.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from bot.export import label as export_label
from bot.export import month_label
from handlers.area_names import title
from handlers.summary_model import Funnel, Summary
from locales import category_label, t
from storage.areas import Area
from storage.plans import OUTCOMES

BOM = "\ufeff"


@dataclass(frozen=True)
class Table:
    id: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    link_page: str | None = None  # rows' names link to /{link_page}/{code}


@dataclass(frozen=True)
class PageData:
    page: str
    lineage: list[Area]  # the area first, the nation last
    period_start: str
    period_end: str
    kind: str
    tables: list[Table]
    stories: list[Any] = field(default_factory=list)  # storage.stories.PublishedStory

    def table(self, table_id: str) -> Table:
        return next(tb for tb in self.tables if tb.id == table_id)


AREA = ("code", "name_th", "name_en")
FUNNEL = ("villages", "active", "forum", "plan", "progress", "lessons", "silent")
PERIOD = ("period_start", "period_end")
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "status": {
        "overview": (*AREA, "level", *FUNNEL, "silent_days", *PERIOD),
        "areas": (*AREA, "level", *FUNNEL),
        "silent_villages": (*AREA, "days_silent"),
    },
    "impact": {
        "overview": (*AREA, "level", "problems", "households", *PERIOD),
        "categories": ("category", "category_th", "category_en", "problems", "households"),
        "months": ("month", "problems", "households"),
        "areas": (*AREA, "level", "problems"),
        "most_affected": (*AREA, "households"),
    },
    "results": {
        "overview": (*AREA, "level", "items_done", "confirmed", "solved_yes", "solved_partly",
                     "solved_no", "households_helped", "own_money", "amount_requested",
                     "amount_granted", *PERIOD),
        "outcomes": ("outcome", "items"),
        "money": ("measure", "baht"),
        "support": ("status", "requests", "baht"),
        "stories": ("story_id", "village_code", "category", "households_helped",
                    "published_at"),
    },
    "home": {
        "overview": (*AREA, "villages", "active", "problems", "households", "items_done",
                     "confirmed", "households_helped", *PERIOD),
    },
}
NUMERIC = {"villages", "active", "forum", "plan", "progress", "lessons", "silent",
           "silent_days", "days_silent", "problems", "households", "items_done", "confirmed",
           "solved_yes", "solved_partly", "solved_no", "households_helped", "own_money",
           "amount_requested", "amount_granted", "items", "baht", "requests"}
SUPPORT_STATUSES = ("submitted", "forwarded", "funded", "returned")
MONEY = ("own_money", "amount_granted", "amount_requested")


def page_columns(page: str) -> dict[str, tuple[str, ...]]:
    return COLUMNS[page]


def _area(code: str, th: str, en: str) -> dict[str, Any]:
    return {"code": code, "name_th": th, "name_en": en}


def page_tables(page: str, lineage: list[Area], summary: Summary, funnel: Funnel | None,
                stories: list[Any]) -> PageData:
    area = lineage[0]
    head = {**_area(area.code, summary.name_th, summary.name_en), "level": area.level}
    period = {"period_start": summary.period.start.isoformat(),
              "period_end": summary.period.end.isoformat()}
    tables: list[Table] = []
    if page == "home":
        assert funnel is not None
        tables.append(Table("overview", COLUMNS["home"]["overview"], [{
            **head, "villages": funnel.area.villages, "active": funnel.area.active,
            "problems": summary.impact.problems, "households": summary.impact.households,
            "items_done": summary.results.items_done, "confirmed": summary.results.confirmed,
            "households_helped": summary.results.households_helped, **period}]))
    elif page == "status":
        assert funnel is not None
        tables.append(Table("overview", COLUMNS["status"]["overview"], [{
            **head, **_funnel(funnel.area), "silent_days": summary.participation.silent_days,
            **period}]))
        tables.append(Table("areas", COLUMNS["status"]["areas"],
                            [{**_area(r.code, r.name_th, r.name_en), "level": r.level,
                              **_funnel(r)} for r in funnel.children], link_page="status"))
        if area.level in ("tambon", "village"):
            tables.append(Table("silent_villages", COLUMNS["status"]["silent_villages"],
                                [{**_area(v.code, v.name_th, v.name_en), "days_silent": v.value}
                                 for v in summary.participation.most_silent]))
    elif page == "impact":
        impact = summary.impact
        tables.append(Table("overview", COLUMNS["impact"]["overview"], [{
            **head, "problems": impact.problems, "households": impact.households, **period}]))
        tables.append(Table("categories", COLUMNS["impact"]["categories"], [
            {"category": c.category, "category_th": category_label(c.category, "th"),
             "category_en": category_label(c.category, "en"), "problems": c.problems,
             "households": c.households} for c in impact.by_category]))
        tables.append(Table("months", COLUMNS["impact"]["months"], [
            {"month": m.month, "problems": m.problems, "households": m.households}
            for m in impact.by_month]))
        ranked = sorted(summary.children, key=lambda c: (-c.value, c.code))
        tables.append(Table("areas", COLUMNS["impact"]["areas"], [
            {**_area(c.code, c.name_th, c.name_en), "level": _child_level(area.level),
             "problems": c.value} for c in ranked], link_page="impact"))
        tables.append(Table("most_affected", COLUMNS["impact"]["most_affected"], [
            {**_area(v.code, v.name_th, v.name_en), "households": v.value}
            for v in impact.most_affected]))
    elif page == "results":
        results, support = summary.results, summary.support
        tables.append(Table("overview", COLUMNS["results"]["overview"], [{
            **head, "items_done": results.items_done, "confirmed": results.confirmed,
            **{f"solved_{k}": results.solved[k] for k in OUTCOMES},
            "households_helped": results.households_helped, "own_money": support.own_money,
            "amount_requested": support.amount_requested,
            "amount_granted": support.amount_granted, **period}]))
        tables.append(Table("outcomes", COLUMNS["results"]["outcomes"], [
            {"outcome": k, "items": results.solved[k]} for k in OUTCOMES]))
        tables.append(Table("money", COLUMNS["results"]["money"], [
            {"measure": "own_money", "baht": support.own_money},
            {"measure": "amount_granted", "baht": support.amount_granted},
            {"measure": "amount_requested", "baht": support.amount_requested}]))
        tables.append(Table("support", COLUMNS["results"]["support"], [
            {"status": s, "requests": support.by_status.get(s, 0),
             "baht": support.amount_by_status.get(s, 0)} for s in SUPPORT_STATUSES]))
        tables.append(Table("stories", COLUMNS["results"]["stories"], [
            {"story_id": s.id, "village_code": s.village_code, "category": s.category,
             "households_helped": s.households_helped,
             "published_at": s.published_at.isoformat()} for s in stories]))
    return PageData(page=page, lineage=lineage, period_start=period["period_start"],
                    period_end=period["period_end"], kind=summary.period.kind,
                    tables=tables, stories=stories)


_CHILD_LEVEL = {"nation": "network", "network": "province", "province": "district",
                "district": "tambon", "tambon": "village"}


def _child_level(level: str) -> str:
    return _CHILD_LEVEL.get(level, "village")


def _funnel(row: Any) -> dict[str, int]:
    return {k: getattr(row, k) for k in FUNNEL}


# --- display ------------------------------------------------------------------------------------

def cell_text(key: str, value: Any, lang: str) -> str:
    """A value as the page shows it (the open data keep the raw value)."""
    if key == "month":
        return month_label(str(value), lang)
    if key == "outcome":
        return export_label(lang, "solved", str(value))
    if key == "status":
        return export_label(lang, "support_status", str(value))
    if key == "measure":
        return t(lang, f"site.col.{value}")
    if key == "category":
        return category_label(str(value), lang)
    if key == "level":
        return t(lang, f"site.level.{value}")
    if isinstance(value, int) and key in NUMERIC:
        return f"{value:,}"
    return str(value)


def area_label(area: Area, lang: str) -> str:
    return title([area], lang, 1)


# --- files --------------------------------------------------------------------------------------

def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_json(data: PageData, lang: str) -> dict[str, Any]:
    return {
        "page": data.page, "area_code": data.lineage[0].code, "level": data.lineage[0].level,
        "period": {"kind": data.kind, "start": data.period_start, "end": data.period_end},
        "tables": {tb.id: {"title": t(lang, f"site.table.{data.page}_{tb.id}"),
                           "columns": [{"key": c, "label": t(lang, f"site.col.{c}"),
                                        "description": t(lang, f"site.coldoc.{c}")}
                                       for c in tb.columns],
                           "rows": tb.rows} for tb in data.tables},
        "license": t(lang, "site.data.license"),
    }


def as_csv(table: Table) -> bytes:
    """One table: a header of column keys, then its rows; UTF-8 with BOM (Excel reads the
    Thai names right), CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([row.get(c, "") for c in table.columns])
    return (BOM + out.getvalue()).encode("utf-8")
