"""Summaries of an area over a period: the five monitors (impact, plans, support,
participation, results) and the problems of the areas one level down.

What is counted, exactly:

- Area: the villages whose code starts with the area's code (tambon, district, province,
  village itself); a learning network is the villages of its provinces; the nation is
  every village. Data of a village counts in the area its code falls in, nowhere else.
- Period: Bangkok days, both ends included. Instants (created_at, outcome_confirmed_at,
  stored in UTC) count when they fall in [period start 00:00 Bangkok, the day after the
  period end 00:00 Bangkok); dates (forum held_on, plan periods, item end dates) are
  compared as dates.
- Impact: problems created in the period. by_category: categories with at least one
  problem, most problems first (then most households, then key); by_month: every Bangkok
  month the period touches, in order, zeros included; most_affected: up to 5 villages with
  the most households affected (ties by code).
- Plans: the items, not withdrawn, of the plans whose [period_start, period_end] overlaps
  the period, whatever the item's own dates. average_percent: mean of their percent, one
  decimal (0.0 without items); overdue: open (not started, in progress, stalled) with an
  end date before `today`; stalled: status stalled.
- Support: requests created in the period, counted by the status they have now, with the
  baht they asked for; amount_granted: granted baht of the funded ones; own_money: the own
  money of the distinct items those requests are for.
- Participation: forums held on a day of the period and their participants; villages:
  village areas in the area; villages_with_forum: those with a forum held in the period.
  Silent (independent of the period): a village whose last problem, forum or progress
  update was created `silent_days` or more Bangkok days before `today` (nothing created
  after `today` is looked at), or that never submitted anything. most_silent: up to 5 by
  days since their last submission, most first, ties by code; a village that never
  submitted is given `silent_days` (the least it has been silent: villages carry no
  creation date).
- Results: confirmed: items whose outcome the village confirmed in the period, with
  solved yes / partly / no and the households helped; items_done: items whose status is
  done and whose last progress update (the one that marked them done) was created in the
  period; an item done without any progress update counts at its updated_at.
- Children: every area one level down (nation → learning networks → provinces →
  districts → tambons → villages; a village has none), by code, value = problems created
  in the period.

Names: the summary's own name is the area's title with up to four levels (village,
tambon, district, province); a child is named by itself (with its level's prefix, e.g.
"Tambon …"); a village in a ranking by itself and its tambon.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime, time, timedelta

from handlers.area_names import title
from handlers.clock import BANGKOK
from handlers.summary_model import (
    AreaValue,
    CategoryImpact,
    Funnel,
    FunnelRow,
    ImpactSection,
    Marker,
    MonthImpact,
    ParticipationSection,
    Period,
    PlanPeriod,
    PlanPeriods,
    PlansSection,
    ResultsSection,
    Summary,
    SupportSection,
)
from storage import plans, support_requests
from storage import summaries as q
from storage.areas import Area
from storage.connection import AnyConnection
from storage.plans import APPROACHES, OUTCOMES
from storage.summaries import Scope, Window
from storage.timestamps import from_db, to_db

TOP = 5  # entries of a ranking
PAST_PERIODS = 8  # past plan periods offered, the latest first
ITEM_STATUSES = tuple(s for s in plans.ITEM_STATUSES if s != "withdrawn")
REQUEST_STATUSES = (support_requests.SUBMITTED, support_requests.FORWARDED,
                    support_requests.FUNDED, support_requests.RETURNED)


class UnknownArea(LookupError):
    """No area has this code."""


async def compute_summary(conn: AnyConnection, area_code: str, period: Period,
                          today: date, *, silent_days: int = 30) -> Summary:
    """The summary of `area_code` over `period`, as of `today` (Bangkok dates). Raises
    UnknownArea for a code not in areas, ValueError for a period ending before it starts
    or a silent_days below 1. Reads only; the caller checks who may see it."""
    if period.end < period.start:
        raise ValueError("the period ends before it starts")
    if silent_days < 1:
        raise ValueError("silent_days must be at least 1")
    lineage = await q.lineage(conn, area_code)
    if not lineage:
        raise UnknownArea(area_code)
    area = lineage[0]
    below = [] if area.level == "village" else await q.children(conn, area.code)
    scope = _scope(area, below)
    window = window_of(period)
    by_village = await q.problems_by_village(conn, scope, window)
    return Summary(
        area_code=area.code, level=area.level,
        name_th=title(lineage, "th"), name_en=title(lineage, "en"),
        period=period, today=today,
        impact=await _impact(conn, scope, window, period, by_village),
        plans=await _plans(conn, scope, window, today),
        support=await _support(conn, scope, window),
        participation=await _participation(conn, scope, window, today, silent_days),
        results=await _results(conn, scope, window),
        children=await _children(conn, area, below, by_village),
    )


async def plan_periods(conn: AnyConnection, area_code: str, today: date,
                       kinds: Collection[str] = ("plan", "ended", "past")) -> PlanPeriods:
    """The plan periods a summary of `area_code` may be asked for, as of `today`, from the
    dates of its villages' plans (open or closed):

    - current: the plans in force today (period_start <= today <= period_end), from the
      earliest start to the latest end; a period closed early by lessons learned stays in
      force until its last day, a next period not yet begun is not in force;
    - just_ended: each village's most recently ended plan (period_end before today), from
      the earliest start to the latest end;
    - past: every distinct ended (start, end), the latest end first, up to PAST_PERIODS.

    For a village these are its own periods; for a larger area, spans over its villages.
    Only the `kinds` asked for are looked up (the others are None / []): the nation's take
    some 20-40 ms each. Raises UnknownArea for a code not in areas."""
    lineage = await q.lineage(conn, area_code)
    if not lineage:
        raise UnknownArea(area_code)
    area = lineage[0]
    below = await q.children(conn, area.code) if area.level == "network" else []
    scope = _scope(area, below)
    day = today.isoformat()

    def span(found: tuple[str, str, int] | None, kind: str) -> PlanPeriod | None:
        if found is None:
            return None
        start, end, villages = found
        return PlanPeriod(Period(date.fromisoformat(start), date.fromisoformat(end), kind),
                          villages)

    current = (span(await q.plan_span_in_force(conn, scope, day), "plan")
               if "plan" in kinds else None)
    just_ended = (span(await q.plan_span_last_ended(conn, scope, day), "ended")
                  if "ended" in kinds else None)
    past = ([span(row, "past") for row in
             await q.ended_plan_periods(conn, scope, day, PAST_PERIODS)]
            if "past" in kinds else [])
    return PlanPeriods(current=current, just_ended=just_ended,
                       past=[p for p in past if p is not None])


def window_of(period: Period) -> Window:
    start, end = _bangkok_midnight(period.start), _bangkok_midnight(period.end + timedelta(days=1))
    months = []
    for month in months_of(period):
        first = date.fromisoformat(f"{month}-01")
        following = (first + timedelta(days=31)).replace(day=1)
        months.append((month, max(start, _bangkok_midnight(first)),
                       min(end, _bangkok_midnight(following))))
    return Window(start_utc=start, end_utc=end, first_day=period.start.isoformat(),
                  last_day=period.end.isoformat(), months=tuple(months))


def _bangkok_midnight(day: date) -> str:
    return to_db(datetime.combine(day, time(0), BANGKOK))


def months_of(period: Period) -> list[str]:
    """Every "YYYY-MM" the period touches, in order."""
    months, year, month = [], period.start.year, period.start.month
    while (year, month) <= (period.end.year, period.end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _scope(area: Area, below: list[Area]) -> Scope:
    if area.level == "nation":
        return Scope((q.EVERY_CODE,))
    if area.level == "network":
        return Scope.of_prefixes([province.code for province in below])
    return Scope.of_prefixes([area.code])


# --- sections -----------------------------------------------------------------------------------

async def _impact(conn: AnyConnection, scope: Scope, window: Window, period: Period,
                  by_village: list[tuple[str, int, int]]) -> ImpactSection:
    categories: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    months: dict[str, list[int]] = {m: [0, 0] for m in months_of(period)}
    for category, month, problems, households in await q.problems_by_category_month(
            conn, scope, window):
        for bucket in (categories[category], months[month]):
            bucket[0] += problems
            bucket[1] += households
    ranked = sorted(categories.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    affected = heapq.nsmallest(TOP, (v for v in by_village if v[2] > 0),
                               key=lambda v: (-v[2], v[0]))
    return ImpactSection(
        problems=sum(v[1] for v in by_village),
        households=sum(v[2] for v in by_village),
        by_category=[CategoryImpact(c, p, h) for c, (p, h) in ranked],
        by_month=[MonthImpact(m, p, h) for m, (p, h) in sorted(months.items())],
        most_affected=await _villages(conn, [(code, households)
                                             for code, _, households in affected]),
    )


async def _plans(conn: AnyConnection, scope: Scope, window: Window, today: date
                 ) -> PlansSection:
    totals = await q.plan_item_totals(conn, scope, window, today.isoformat(), APPROACHES,
                                      ITEM_STATUSES)
    average = round(totals.percent_sum / totals.items, 1) if totals.items else 0.0
    return PlansSection(items=totals.items, by_approach=totals.by_approach,
                        by_status=totals.by_status, average_percent=average,
                        overdue=totals.overdue, stalled=totals.by_status["stalled"])


async def _support(conn: AnyConnection, scope: Scope, window: Window) -> SupportSection:
    by_status = dict.fromkeys(REQUEST_STATUSES, 0)
    amounts = dict.fromkeys(REQUEST_STATUSES, 0)
    granted = 0
    for status, count, requested, status_granted in await q.requests_by_status(
            conn, scope, window):
        by_status[status] = count
        amounts[status] = requested
        granted += status_granted
    return SupportSection(by_status=by_status, amount_by_status=amounts,
                          amount_requested=sum(amounts.values()), amount_granted=granted,
                          own_money=await q.own_money_of_requested_items(conn, scope, window))


async def _participation(conn: AnyConnection, scope: Scope, window: Window,
                         today: date, silent_days: int) -> ParticipationSection:
    forums, participants, with_forum = await q.forum_totals(conn, scope, window)
    silent = await q.silent_villages(
        conn, scope, active_from_utc=_bangkok_midnight(today - timedelta(days=silent_days - 1)),
        before_utc=_bangkok_midnight(today + timedelta(days=1)))
    days = heapq.nsmallest(TOP, ((code, _days_since(last, today) if last else silent_days)
                                 for code, last in silent), key=lambda cd: (-cd[1], cd[0]))
    return ParticipationSection(
        forums=forums, participants=participants,
        villages=await q.village_count(conn, scope), villages_with_forum=with_forum,
        silent_days=silent_days, silent_villages=len(silent),
        most_silent=await _villages(conn, days))


def _days_since(instant: str, today: date) -> int:
    return (today - from_db(instant).astimezone(BANGKOK).date()).days


async def _results(conn: AnyConnection, scope: Scope, window: Window) -> ResultsSection:
    solved = dict.fromkeys(OUTCOMES, 0)
    confirmed = helped = 0
    for outcome, count, households in await q.outcomes(conn, scope, window):
        if outcome in solved:
            solved[outcome] += count
        confirmed += count
        helped += households
    return ResultsSection(items_done=await q.items_done(conn, scope, window),
                          confirmed=confirmed, solved=solved, households_helped=helped)


# --- areas --------------------------------------------------------------------------------------

async def _children(conn: AnyConnection, area: Area, below: list[Area],
                    by_village: list[tuple[str, int, int]]) -> list[AreaValue]:
    if not below:
        return []
    # A village's child is the prefix of its code as long as the children's codes; for the
    # nation, the learning network of its province.
    width = 2 if area.level == "nation" else len(below[0].code)
    child_of = await q.network_of_provinces(conn) if area.level == "nation" else {}
    problems: dict[str, int] = defaultdict(int)
    for village, count, _ in by_village:
        prefix = village[:width]
        problems[child_of.get(prefix, prefix)] += count
    return [AreaValue(c.code, title([c], "th", 1), title([c], "en", 1), problems[c.code])
            for c in below]


async def _villages(conn: AnyConnection, ranked: list[tuple[str, int]]
                    ) -> list[AreaValue]:
    """Villages of a ranking, named by themselves and their tambon."""
    named = await q.villages_with_tambons(conn, [code for code, _ in ranked])
    return [AreaValue(code, title(named[code], "th", 2), title(named[code], "en", 2), value)
            for code, value in ranked]


# --- the web site -------------------------------------------------------------------------------
# Funnel: of the villages of the area (and of each area one level down), those that held a
# forum on a day of the period, have a plan whose period overlaps it, reported progress or
# drew lessons created in it; silent as in Participation; active: any of those or a problem
# reported in the period. Markers: problems created in the
# period with a shared location, the latest first, rounded to 3 decimals (about 100 m).

MARKER_DECIMALS = 3


async def compute_funnel(conn: AnyConnection, area_code: str, period: Period, today: date,
                         *, silent_days: int = 30) -> Funnel:
    """The cycle's funnel of `area_code` and of each area one level down. Raises
    UnknownArea for a code not in areas."""
    lineage = await q.lineage(conn, area_code)
    if not lineage:
        raise UnknownArea(area_code)
    area = lineage[0]
    below = [] if area.level == "village" else await q.children(conn, area.code)
    scope = _scope(area, below)
    window = window_of(period)
    activity = await q.village_activity(conn, scope, window)
    silent = await q.silent_villages(
        conn, scope, active_from_utc=_bangkok_midnight(today - timedelta(days=silent_days - 1)),
        before_utc=_bangkok_midnight(today + timedelta(days=1)))
    silent_codes = {code for code, _ in silent}
    if area.level == "nation":
        network = await q.network_of_provinces(conn)

        def child_of(village: str) -> str:
            return network.get(village[:2], village[:2])
    else:
        width = len(below[0].code) if below else len(area.code)

        def child_of(village: str) -> str:
            return village[:width]

    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    total = [0] * 7
    for village, reported, forum, plan, progress, lessons in activity:
        values = (1, forum, plan, progress, lessons, int(village in silent_codes),
                  int(bool(reported or forum or plan or progress or lessons)))
        for bucket in (counts[child_of(village)], total):
            for i, v in enumerate(values):
                bucket[i] += v

    def row(a: Area, depth: int, values: list[int]) -> FunnelRow:
        return FunnelRow(a.code, title(lineage if a is area else [a], "th", depth),
                         title(lineage if a is area else [a], "en", depth), a.level, *values)

    return Funnel(area=row(area, 4, total),
                  children=[row(c, 1, counts[c.code]) for c in below])


async def compute_markers(conn: AnyConnection, area_code: str, period: Period,
                          limit: int = 2000) -> list[Marker]:
    """The located problems of `area_code` in `period` (see above). Raises UnknownArea."""
    lineage = await q.lineage(conn, area_code)
    if not lineage:
        raise UnknownArea(area_code)
    area = lineage[0]
    below = await q.children(conn, area.code) if area.level == "network" else []
    rows = await q.located_problems(conn, _scope(area, below), window_of(period), limit)
    return [Marker(code, category, int(households), round(float(lat), MARKER_DECIMALS),
                   round(float(lon), MARKER_DECIMALS))
            for code, category, households, lat, lon in rows]


async def province_values(conn: AnyConnection, period: Period) -> dict[str, tuple[int, int]]:
    """Every province code with (problems, households) created in `period` (the map's
    shading); provinces without problems are left out."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for village, problems, households in await q.problems_by_village(
            conn, Scope((q.EVERY_CODE,)), window_of(period)):
        bucket = totals[village[:2]]
        bucket[0] += problems
        bucket[1] += households or 0
    return {code: (p, h) for code, (p, h) in totals.items()}
