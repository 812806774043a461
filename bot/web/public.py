"""The public pages: Home, Implementation Status, Impact Monitor, Results Monitor, Map and
Open data. No sign-in; counts and published stories only (README, "Web site").

Every number comes from handlers.summaries (compute_summary, compute_funnel, …) through
`bot.web.opendata.page_tables`, which turns a page's data into the tables shown under its
charts and served as CSV / JSON: the page and its open data are one computation.

URL paths (contracts): /, /status[/{code}], /impact[/{code}], /results[/{code}],
/map[/{code}], /data, /data/{page}/{code}.json, /data/{page}/{code}/{table}.csv,
/data/map/{code}.json; query: period=month|3months|12months, lang=en, measure= (map).
{code}: TH (the nation), LN01..LN14 (learning networks), DOPA codes of 2 (province),
4 (district), 6 (tambon) and 8 digits (village).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from bot.web import opendata
from bot.web.opendata import PageData
from bot.web.public_map import GRID_COLUMNS, PROVINCE_TILES, SHADES, shade_index
from bot.web.server import WebServer
from bot.web.site import Site, language_of, link, render, site_of
from handlers.area_names import title
from handlers.summaries import (
    UnknownArea,
    compute_funnel,
    compute_markers,
    compute_summary,
    province_values,
)
from handlers.summary_model import Period
from locales import category_label, t
from storage import summaries as q
from storage.areas import Area

NATION = "TH"
PERIODS = ("month", "3months", "12months")
DEFAULT_PERIOD = "3months"
PAGES = ("status", "impact", "results")
MEASURES = ("problems", "households")
STORIES_ON_HOME = 3
STORIES_ON_RESULTS = 10
CODE = re.compile(r"^(TH|LN\d{2}|\d{2}|\d{4}|\d{6}|\d{8})$")
NAMED_SILENT_LEVELS = ("tambon", "village")  # silent villages named only at these levels


def period_of(kind: str, today: date) -> Period:
    """This month, the last 3 months or the last 12 months (whole months back from the
    first of this one), up to today."""
    months = {"month": 0, "3months": 2, "12months": 11}[kind]
    start = today.replace(day=1)
    for _ in range(months):
        start = (start - timedelta(days=1)).replace(day=1)
    return Period(start, today, kind)


def period_kind(request: web.Request) -> str:
    kind = request.query.get("period", DEFAULT_PERIOD)
    return kind if kind in PERIODS else DEFAULT_PERIOD


def area_code(request: web.Request) -> str:
    code = request.match_info.get("code", NATION)
    if not CODE.match(code):
        raise web.HTTPNotFound()
    return code


@dataclass(frozen=True)
class AreaPage:
    """What every area page needs besides its numbers: the area, its lineage (nation
    first, for the breadcrumbs) and the period."""

    area: Area
    trail: list[Area]
    period: Period


async def page_data(site: Site, page: str, code: str, kind: str) -> PageData:
    """A page's data: the tables of `page` for `code`. The summary and the funnel are
    cached (under the data version) apart from the pages, so the pages of one area and
    period share one computation of each."""
    today = site.today()
    period = period_of(kind, today)

    async def lineage(conn: Any) -> list[Area]:
        found = await q.lineage(conn, code)
        if not found:
            raise UnknownArea(code)
        return found

    async def summary(conn: Any) -> Any:
        return await compute_summary(conn, code, period, today,
                                     parts=await site.parts(conn, period))

    async def funnel(conn: Any) -> Any:
        return await compute_funnel(conn, code, period, today,
                                    parts=await site.parts(conn, period))

    async def stories(conn: Any) -> list[Any]:
        return await _published_stories(
            conn, code, STORIES_ON_HOME if page == "home" else STORIES_ON_RESULTS)

    try:
        areas = await site.cached(("lineage", code), lineage)
        found = await site.cached(("summary", code, kind), summary)
        flow = (await site.cached(("funnel", code, kind), funnel)
                if page in ("status", "home") else None)
        shown = (await site.cached(("stories", page, code), stories)
                 if page in ("results", "home") else [])
    except UnknownArea:
        raise web.HTTPNotFound() from None
    return opendata.page_tables(page, areas, found, flow, shown)


async def _published_stories(conn: Any, code: str, limit: int) -> list[Any]:
    """The success board: storage.stories.published_stories (the stories part of issue 15);
    none while that module is not there."""
    try:
        from storage.stories import published_stories
    except ImportError:
        return []
    return list(await published_stories(conn, code, limit))


def _context(request: web.Request, page: str, data: PageData, kind: str) -> dict[str, Any]:
    lang = language_of(request)
    trail = list(reversed(data.lineage))
    crumbs = [(title([a], lang, 1), link(lang, f"/{page}/{a.code}", period=_p(kind)))
              for a in trail]
    return {
        "page": page,
        "data": data,
        "tables": {tb.id: tb for tb in data.tables},
        "area_name": title(data.lineage, lang),
        "area_level": data.lineage[0].level,
        "area_code": data.lineage[0].code,
        "crumbs": crumbs,
        "period_kind": kind,
        "period_links": [(k, link(lang, request.path, period=_p(k))) for k in PERIODS],
        "period_text": t(lang, "site.period.range",
                         start=_date(data.period_start, lang), end=_date(data.period_end, lang)),
        "data_json": link(lang, f"/data/{page}/{data.lineage[0].code}.json", period=_p(kind)),
        "csv_link": lambda table: link(lang, f"/data/{page}/{data.lineage[0].code}/{table}.csv",
                                       period=_p(kind)),
        "page_link": lambda target, code: link(lang, f"/{target}/{code}", period=_p(kind)),
        "category": lambda key: category_label(key, lang),
        "cell": lambda key, value: opendata.cell_text(key, value, lang),
        "named_silent": data.lineage[0].level in NAMED_SILENT_LEVELS,
    }


def _p(kind: str) -> str | None:
    return None if kind == DEFAULT_PERIOD else kind


def _date(iso: str, lang: str) -> str:
    from locales import format_date

    return format_date(date.fromisoformat(iso), lang)


async def home(request: web.Request) -> web.Response:
    kind = period_kind(request)
    data = await page_data(site_of(request), "home", NATION, kind)
    return render(request, "home.html", _context(request, "home", data, kind))


def _area_page(page: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        kind = period_kind(request)
        data = await page_data(site_of(request), page, area_code(request), kind)
        return render(request, f"{page}.html", _context(request, page, data, kind))

    handler.__name__ = page
    return handler


async def map_page(request: web.Request) -> web.Response:
    site, kind, code = site_of(request), period_kind(request), area_code(request)
    measure = request.query.get("measure", MEASURES[0])
    measure = measure if measure in MEASURES else MEASURES[0]
    data = await page_data(site, "impact", code, kind)
    lang = language_of(request)

    async def provinces(conn: Any) -> tuple[list[Area], dict[str, tuple[int, int]]]:
        period = period_of(kind, site.today())
        return (await _provinces(conn),
                await province_values(conn, period, await site.parts(conn, period)))

    areas, values = await site.cached(("provinces", kind), provinces)
    index = 0 if measure == "problems" else 1
    top = max((v[index] for v in values.values()), default=0)
    cells = []
    for province in areas:
        row, col = PROVINCE_TILES.get(province.code, (0, 0))
        value = values.get(province.code, (0, 0))[index]
        background, ink = SHADES[shade_index(value, top)]
        cells.append({"code": province.code, "name": province.name(lang), "value": value,
                      "row": row + 1, "col": col + 1, "bg": background, "ink": ink,
                      "href": link(lang, f"/map/{province.code}", period=_p(kind),
                                   measure=measure if measure != MEASURES[0] else None)})
    context = _context(request, "map", data, kind)
    context.update({
        "cells": cells, "grid_columns": GRID_COLUMNS, "measure": measure,
        "measure_links": [(m, link(lang, request.path, period=_p(kind),
                                   measure=m if m != MEASURES[0] else None))
                          for m in MEASURES],
        "shades": SHADES, "top": top,
        "markers_url": link(lang, f"/data/map/{code}.json", period=_p(kind)),
    })
    return render(request, "map.html", context)


async def _provinces(conn: Any) -> list[Area]:
    return [a for n in await q.children(conn, NATION) for a in await q.children(conn, n.code)]


async def markers(request: web.Request) -> web.Response:
    site, kind = site_of(request), period_kind(request)
    code = request.match_info["code"]
    if not CODE.match(code):
        raise web.HTTPNotFound()
    lang = language_of(request)

    async def compute(conn: Any) -> list[dict[str, Any]]:
        found = await compute_markers(conn, code, period_of(kind, site.today()))
        return [{"village_code": m.village_code, "category": m.category,
                 "category_label_th": category_label(m.category, "th"),
                 "category_label_en": category_label(m.category, "en"),
                 "households": m.households, "lat": m.lat, "lon": m.lon} for m in found]

    try:
        rows = await site.cached(("markers", code, kind), compute)
    except UnknownArea:
        raise web.HTTPNotFound() from None
    return web.json_response(
        {"area_code": code, "period": kind, "markers": rows,
         "note": t(lang, "site.map.markers_note")},
        dumps=opendata.dumps, headers={"Cache-Control": "no-cache"})


async def data_index(request: web.Request) -> web.Response:
    lang = language_of(request)
    return render(request, "data.html", {
        "pages": [(page, opendata.page_columns(page)) for page in PAGES],
        "column_doc": lambda key: t(lang, f"site.coldoc.{key}"),
        "column_label": lambda key: t(lang, f"site.col.{key}"),
        "table_title": lambda key: t(lang, f"site.table.{key}"),
        "example": lambda page: link(lang, f"/data/{page}/{NATION}.json"),
        "example_csv": lambda page, table: link(lang, f"/data/{page}/{NATION}/{table}.csv"),
        "markers_example": link(lang, f"/data/map/{NATION}.json"),
    })


async def data_json(request: web.Request) -> web.Response:
    page = request.match_info["page"]
    if page not in PAGES:
        raise web.HTTPNotFound()
    kind = period_kind(request)
    data = await page_data(site_of(request), page, area_code(request), kind)
    return web.json_response(opendata.as_json(data, language_of(request)),
                             dumps=opendata.dumps)


async def data_csv(request: web.Request) -> web.Response:
    page, table = request.match_info["page"], request.match_info["table"]
    if page not in PAGES:
        raise web.HTTPNotFound()
    kind = period_kind(request)
    data = await page_data(site_of(request), page, area_code(request), kind)
    found = [tb for tb in data.tables if tb.id == table]
    if not found:
        raise web.HTTPNotFound()
    name = f"cercap-{page}-{data.lineage[0].code}-{table}-{data.period_start}-{data.period_end}.csv"
    return web.Response(body=opendata.as_csv(found[0]),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def register(server: WebServer, site: Site) -> None:
    del site
    server.add_get("/", home)
    for page in PAGES:
        handler = _area_page(page)
        server.add_get(f"/{page}", handler)
        server.add_get(f"/{page}/{{code}}", handler)
    server.add_get("/map", map_page)
    server.add_get("/map/{code}", map_page)
    server.add_get("/data", data_index)
    server.add_get("/data/map/{code}.json", markers)
    server.add_get("/data/{page}/{code}.json", data_json)
    server.add_get("/data/{page}/{code}/{table}.csv", data_csv)
