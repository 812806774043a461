"""A summary as pictures: one phone-sized PNG (1080 x 1080) per section.

Drawn with matplotlib's object API (a `Figure` on the Agg canvas, no pyplot) and every text
given the Sarabun file explicitly (`FontProperties(fname=...)`), so nothing global changes and
charts can be drawn from several threads at once. matplotlib's own default font (DejaVu Sans)
has no Thai: any text left to it would show boxes, hence `Chart.fonts`, which names the font
file of every text drawn, and `glyphs_missing`, which says what a font cannot draw.

Each section is first described as a header plus panels (bars or a line), all labels from the
locale catalogs, then drawn; `drawn_texts` returns every string on the finished figure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from bot.export import area_name, label, month_label, period_text
from bot.rich_menu import thai_font_path
from handlers.summary_model import Summary
from handlers.thai_input import format_baht
from locales import category_label, t

SIZE_INCHES = 7.2
DPI = 150  # 7.2 in x 150 dpi = 1080 px square: fills a phone screen in LINE and Telegram
MAX_MONTH_LABELS = 8
HEADER_SHARE = 0.17  # of the height, for the title, the period and the headline
MARGIN = 0.035  # of the width, left and right of the header
MIN_HEADER_SIZE = 9.0

INK = "#1f2933"
MUTED = "#52606d"
BLUE = "#1e4e79"
ORANGE = "#f2a93b"
GREEN = "#2e8b57"
RED = "#c0392b"
GREY = "#9aa5b1"
TEAL = "#238080"

PLAN_STATUS_COLOURS = {"not_started": GREY, "in_progress": BLUE, "done": GREEN, "stalled": RED}
SUPPORT_STATUS_COLOURS = {"submitted": ORANGE, "forwarded": TEAL, "funded": GREEN,
                          "returned": RED}
SOLVED_COLOURS = {"yes": GREEN, "partly": ORANGE, "no": RED}


@dataclass(frozen=True)
class Bars:
    title: str
    labels: list[str]
    values: list[int]
    notes: list[str]  # written at the end of each bar
    colours: list[str]


@dataclass(frozen=True)
class Line:
    title: str
    labels: list[str]
    values: list[int]


Panel = Bars | Line


@dataclass(frozen=True)
class Layout:
    title: str
    period: str
    summary: str
    panels: list[Panel]


@dataclass(frozen=True)
class Chart:
    png: bytes
    texts: tuple[str, ...]  # every non-empty string on the figure
    fonts: frozenset[str]  # the font file of every one of them


# ----------------------------------------------------------------------------- fonts


def chart_font_path() -> Path:
    return thai_font_path()


@cache
def _font(size: float) -> FontProperties:
    return FontProperties(fname=str(chart_font_path()), size=size)


@cache
def _cmap(path: str) -> frozenset[int]:
    with TTFont(path, lazy=True) as font:
        return frozenset(font["cmap"].getBestCmap())


def glyphs_missing(text: str, font_path: Path | str | None = None) -> set[str]:
    """The characters of `text` the font (the chart font unless given) has no glyph for."""
    covered = _cmap(str(font_path or chart_font_path()))
    return {ch for ch in text if ch not in "\n\r\t" and ord(ch) not in covered}


# ----------------------------------------------------------------------------- what to draw


def _count(n: int) -> str:
    return f"{n:,}"


def _bars(title: str, rows: list[tuple[str, int, str, str]]) -> Bars:
    """rows: (label, value, note, colour)."""
    return Bars(title, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                [r[3] for r in rows])


def _impact(s: Summary, language: str) -> tuple[str, list[Panel]]:
    i = s.impact
    categories = _bars(t(language, "chart.impact.by_category"), [
        (category_label(c.category, language), c.households,
         t(language, "chart.impact.bar", households=_count(c.households),
           problems=_count(c.problems)), BLUE)
        for c in i.by_category])
    months = Line(t(language, "chart.impact.by_month"),
                  [month_label(m.month, language, short_year=True) for m in i.by_month],
                  [m.problems for m in i.by_month])
    return (t(language, "chart.impact.summary", problems=_count(i.problems),
              households=_count(i.households)), [categories, months])


def _plans(s: Summary, language: str) -> tuple[str, list[Panel]]:
    p = s.plans
    approach = _bars(t(language, "chart.plans.by_approach"), [
        (label(language, "approach", k), v, t(language, "chart.plans.bar", items=_count(v)), BLUE)
        for k, v in p.by_approach.items()])
    status = _bars(t(language, "chart.plans.by_status"), [
        (label(language, "plan_status", k), v, t(language, "chart.plans.bar", items=_count(v)),
         PLAN_STATUS_COLOURS.get(k, GREY))
        for k, v in p.by_status.items()])
    return (t(language, "chart.plans.summary", items=_count(p.items),
              percent=f"{p.average_percent:.0f}", overdue=_count(p.overdue),
              stalled=_count(p.stalled)), [approach, status])


def _support(s: Summary, language: str) -> tuple[str, list[Panel]]:
    u = s.support
    by_status = _bars(t(language, "chart.support.by_status"), [
        (label(language, "support_status", k), amount,
         t(language, "chart.support.bar", amount=format_baht(amount),
           requests=_count(u.by_status.get(k, 0))), SUPPORT_STATUS_COLOURS.get(k, GREY))
        for k, amount in u.amount_by_status.items()])
    money = _bars(t(language, "chart.support.money"), [
        (t(language, f"chart.support.{key}"), amount,
         t(language, "chart.support.amount", amount=format_baht(amount)), colour)
        for key, amount, colour in (("requested", u.amount_requested, ORANGE),
                                    ("granted", u.amount_granted, GREEN),
                                    ("own", u.own_money, TEAL))])
    return (t(language, "chart.support.summary", requested=format_baht(u.amount_requested),
              granted=format_baht(u.amount_granted), own=format_baht(u.own_money)),
            [by_status, money])


def _participation(s: Summary, language: str) -> tuple[str, list[Panel]]:
    p = s.participation
    active = max(p.villages - p.silent_villages, 0)
    forums = _bars(t(language, "chart.participation.forums_panel"), [
        (t(language, "chart.participation.forums"), p.forums, _count(p.forums), BLUE),
        (t(language, "chart.participation.participants"), p.participants,
         _count(p.participants), TEAL)])
    villages = _bars(t(language, "chart.participation.villages_panel"), [
        (text, n, t(language, "chart.participation.bar", count=_count(n)), colour)
        for text, n, colour in (
            (t(language, "chart.participation.with_forum"), p.villages_with_forum, BLUE),
            (t(language, "chart.participation.active"), active, GREEN),
            (t(language, "chart.participation.silent", days=p.silent_days), p.silent_villages,
             RED))])
    return (t(language, "chart.participation.summary", villages=_count(p.villages),
              with_forum=_count(p.villages_with_forum), silent=_count(p.silent_villages),
              days=p.silent_days), [forums, villages])


def _results(s: Summary, language: str) -> tuple[str, list[Panel]]:
    r = s.results
    items = _bars(t(language, "chart.results.items_panel"), [
        (t(language, f"chart.results.{key}"), n, t(language, "chart.results.bar", items=_count(n)),
         colour)
        for key, n, colour in (("done", r.items_done, BLUE), ("confirmed", r.confirmed, GREEN))])
    solved = _bars(t(language, "chart.results.solved_panel"), [
        (label(language, "solved", k), v, t(language, "chart.results.bar", items=_count(v)),
         SOLVED_COLOURS.get(k, GREY))
        for k, v in r.solved.items()])
    return (t(language, "chart.results.summary", households=_count(r.households_helped)),
            [items, solved])


_SECTIONS: dict[str, Callable[[Summary, str], tuple[str, list[Panel]]]] = {
    "impact": _impact, "plans": _plans, "support": _support,
    "participation": _participation, "results": _results,
}


def layout(summary: Summary, section: str, language: str) -> Layout:
    headline, panels = _SECTIONS[section](summary, language)
    title = t(language, "chart.title", section=t(language, f"summary.section.{section}"),
              area=area_name(summary, language))
    return Layout(title, period_text(summary, language), headline, panels)


# ----------------------------------------------------------------------------- drawing


def _no_data(ax: Axes, language: str) -> None:
    ax.set_axis_off()
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.45, t(language, "chart.no_data"), ha="center", va="center", color=MUTED,
            transform=ax.transAxes, fontproperties=_font(12))


def _panel_title(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", color=INK, fontproperties=_font(12), pad=8)


def _draw_bars(ax: Axes, panel: Bars, language: str) -> None:
    _panel_title(ax, panel.title)
    if not any(panel.values):
        _no_data(ax, language)
        return
    top = max(panel.values)
    rows = list(range(len(panel.values)))[::-1]  # the first row on top
    ax.barh(rows, panel.values, color=panel.colours, height=0.62)
    ax.set_yticks(rows, panel.labels, fontproperties=_font(11), color=INK)
    ax.set_xticks([])
    ax.set_xlim(0, top * 1.9)  # room for the note written after the longest bar
    for row, value, note in zip(rows, panel.values, panel.notes, strict=True):
        ax.text(value + top * 0.03, row, note, va="center", color=INK, fontproperties=_font(10))
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)


def _draw_line(ax: Axes, panel: Line, language: str) -> None:
    _panel_title(ax, panel.title)
    if not any(panel.values):
        _no_data(ax, language)
        return
    xs = list(range(len(panel.values)))
    ax.plot(xs, panel.values, color=ORANGE, marker="o", linewidth=2.2)
    step = math.ceil(len(xs) / MAX_MONTH_LABELS)
    ax.set_xticks(xs, [text if i % step == 0 else "" for i, text in enumerate(panel.labels)],
                  fontproperties=_font(10), color=INK)
    top = max(panel.values)
    ticks = [v for v in MaxNLocator(nbins=4, integer=True).tick_values(0, top) if 0 <= v <= top]
    ax.set_yticks(ticks, [_count(int(v)) for v in ticks], fontproperties=_font(10), color=MUTED)
    ax.set_ylim(0, top * 1.3)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.grid(axis="y", color="#e4e7eb")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(xs) <= MAX_MONTH_LABELS:
        for x, value in zip(xs, panel.values, strict=True):
            ax.annotate(_count(value), (x, value), textcoords="offset points", xytext=(0, 7),
                        ha="center", color=INK, fontproperties=_font(10))


def _weight(panel: Panel) -> float:
    return 2.2 if isinstance(panel, Line) else max(len(panel.labels), 2) * 0.8 + 0.6


def _fit(text: Text, size: float, width: float) -> None:
    """Make the text smaller until it fits the width (figure fraction): long area names."""
    renderer = text.get_figure(root=True).canvas.get_renderer()
    limit = width * text.get_figure(root=True).bbox.width
    while size > MIN_HEADER_SIZE and text.get_window_extent(renderer).width > limit:
        size -= 0.5
        text.set_fontproperties(_font(size))


def _header(figure: Figure, plan: Layout) -> None:
    for y, line, size, colour in ((0.86, plan.title, 16, INK), (0.5, plan.period, 12, MUTED),
                                  (0.17, plan.summary, 11, BLUE)):
        _fit(figure.text(MARGIN, y, line, va="center", color=colour, fontproperties=_font(size)),
             size, 1 - 2 * MARGIN)


def _figure(plan: Layout, language: str) -> Figure:
    figure = Figure(figsize=(SIZE_INCHES, SIZE_INCHES), dpi=DPI, facecolor="white",
                    layout="constrained")
    FigureCanvasAgg(figure)
    figure.get_layout_engine().set(h_pad=0.12, w_pad=0.15, hspace=0.08)
    top, body = figure.subfigures(2, 1, height_ratios=[HEADER_SHARE, 1 - HEADER_SHARE])
    _header(top, plan)
    grid = body.add_gridspec(len(plan.panels), 1, height_ratios=[_weight(p) for p in plan.panels])
    for row, panel in enumerate(plan.panels):
        ax = body.add_subplot(grid[row])
        if isinstance(panel, Line):
            _draw_line(ax, panel, language)
        else:
            _draw_bars(ax, panel, language)
    return figure


def render(summary: Summary, section: str, language: str = "th") -> Chart:
    figure = _figure(layout(summary, section, language), language)
    out = io.BytesIO()
    figure.canvas.print_figure(out, format="png", dpi=DPI)
    texts = [text for text in figure.findobj(Text) if text.get_visible() and text.get_text()]
    return Chart(out.getvalue(), tuple(text.get_text() for text in texts),
                 frozenset(findfont(text.get_fontproperties()) for text in texts))


def section_chart(summary: Summary, section: str, language: str = "th") -> bytes:
    """The section as a 1080 x 1080 PNG."""
    return render(summary, section, language).png


def drawn_texts(summary: Summary, section: str, language: str = "th") -> list[str]:
    return list(render(summary, section, language).texts)
