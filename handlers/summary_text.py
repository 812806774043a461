"""A summary as text: one phone screen per section, Thai first, dates in the Buddhist era."""

from __future__ import annotations

from collections.abc import Callable

from handlers.summary_model import Summary
from handlers.thai_input import format_baht
from locales import category_label, format_date, t

TOP = 3  # lines of a ranking shown in chat


def _heading(s: Summary, language: str) -> str:
    return t(language, "summary.heading", area=s.name_en if language == "en" and s.name_en
             else s.name_th, start=format_date(s.period.start, language),
             end=format_date(s.period.end, language))


def _month(month: str, language: str) -> str:
    year, number = month.split("-")
    return t(language, "summary.month", month=t(language, f"month.{int(number)}"),
             year=int(year) + 543)


def impact(s: Summary, language: str) -> str:
    i = s.impact
    lines = [t(language, "summary.impact.total", problems=f"{i.problems:,}",
               households=f"{i.households:,}")]
    lines += [t(language, "summary.impact.category", category=category_label(c.category, language),
                problems=f"{c.problems:,}", households=f"{c.households:,}")
              for c in i.by_category[:5]]
    trend = [m for m in i.by_month if m.problems]
    if trend:
        lines.append(t(language, "summary.impact.trend", months=", ".join(
            f"{_month(m.month, language)} {m.problems:,}" for m in i.by_month[-6:])))
    if i.most_affected:
        lines.append(t(language, "summary.impact.most_affected", villages=", ".join(
            f"{_name(v.name_th, v.name_en, language)} ({v.value:,})"
            for v in i.most_affected[:TOP])))
    return "\n".join(lines)


def _name(th: str, en: str, language: str) -> str:
    return en if language == "en" and en else th


def plans(s: Summary, language: str) -> str:
    p = s.plans
    approaches = ", ".join(f"{t(language, f'summary.approach.{k}')} {v:,}"
                           for k, v in p.by_approach.items())
    statuses = ", ".join(f"{t(language, f'summary.status.{k}')} {v:,}"
                         for k, v in p.by_status.items())
    return "\n".join([
        t(language, "summary.plans.total", items=f"{p.items:,}",
          percent=f"{p.average_percent:.0f}"),
        t(language, "summary.plans.approaches", approaches=approaches),
        t(language, "summary.plans.statuses", statuses=statuses),
        t(language, "summary.plans.attention", overdue=f"{p.overdue:,}",
          stalled=f"{p.stalled:,}"),
    ])


def support(s: Summary, language: str) -> str:
    u = s.support
    lines = [t(language, "summary.support.money", requested=format_baht(u.amount_requested),
               granted=format_baht(u.amount_granted), own=format_baht(u.own_money))]
    lines += [t(language, "summary.support.status", status=t(language, f"summary.request.{k}"),
                count=f"{u.by_status.get(k, 0):,}",
                amount=format_baht(u.amount_by_status.get(k, 0)))
              for k in ("submitted", "forwarded", "funded", "returned")]
    return "\n".join(lines)


def participation(s: Summary, language: str) -> str:
    p = s.participation
    lines = [t(language, "summary.participation.forums", forums=f"{p.forums:,}",
               participants=f"{p.participants:,}", with_forum=f"{p.villages_with_forum:,}",
               villages=f"{p.villages:,}"),
             t(language, "summary.participation.silent", count=f"{p.silent_villages:,}",
               days=p.silent_days)]
    if p.most_silent:
        lines.append(", ".join(f"{_name(v.name_th, v.name_en, language)} ({v.value:,})"
                               for v in p.most_silent[:TOP]))
    return "\n".join(lines)


def results(s: Summary, language: str) -> str:
    r = s.results
    return "\n".join([
        t(language, "summary.results.done", done=f"{r.items_done:,}",
          confirmed=f"{r.confirmed:,}"),
        t(language, "summary.results.solved", yes=f"{r.solved.get('yes', 0):,}",
          partly=f"{r.solved.get('partly', 0):,}", no=f"{r.solved.get('no', 0):,}"),
        t(language, "summary.results.households", households=f"{r.households_helped:,}"),
    ])


SECTION_TEXT: dict[str, Callable[[Summary, str], str]] = {
    "impact": impact, "plans": plans, "support": support, "participation": participation,
    "results": results,
}


def section_text(summary: Summary, section: str, language: str) -> str:
    """One section, or "overview": the first line of each."""
    heading = _heading(summary, language)
    if section == "overview":
        firsts = [f"{t(language, f'summary.section.{name}')}: "
                  f"{render(summary, language).splitlines()[0]}"
                  for name, render in SECTION_TEXT.items()]
        return "\n".join([heading, *firsts])
    title = t(language, f"summary.section.{section}")
    return f"{heading}\n{title}\n{SECTION_TEXT[section](summary, language)}"


def chart_caption(summary: Summary, section: str, language: str) -> str:
    """One line under a chart: the section, the area and the period (the numbers are in
    the picture; the section's text was shown just before)."""
    return t(language, "summary.chart_caption", section=t(language, f"summary.section.{section}"),
             area=summary.name_en if language == "en" and summary.name_en else summary.name_th,
             start=format_date(summary.period.start, language),
             end=format_date(summary.period.end, language))
