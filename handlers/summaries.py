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

import asyncio
import heapq
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

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
                          today: date, *, silent_days: int = 30,
                          parts: Parts | None = None) -> Summary:
    """The summary of `area_code` over `period`, as of `today` (Bangkok dates). Raises
    UnknownArea for a code not in areas, ValueError for a period ending before it starts
    or a silent_days below 1. Reads only; the caller checks who may see it.

    With `parts` (for the same period, today and silent_days), the nation's and a learning
    network's summary is the sum of their provinces' parts (`merge_parts`), each part
    computed by `compute_part` or kept by the caller (the web site keeps them under each
    province's data version): the same numbers, see tests/test_summaries.py."""
    _check(period, silent_days)
    lineage = await q.lineage(conn, area_code)
    if not lineage:
        raise UnknownArea(area_code)
    area = lineage[0]
    below = [] if area.level == "village" else await q.children(conn, area.code)
    if parts is not None and area.level in ("nation", "network"):
        provinces = await _provinces_by_child(conn, area, below)
        got = {p: await parts.summary(p) for codes in provinces.values() for p in codes}
        part = merge_parts(list(got.values()))
        child_problems = {child: sum(got[p].problems for p in codes)
                          for child, codes in provinces.items()}
    else:
        scope = _scope(area, below)
        part, by_village = await _part(conn, scope, window_of(period), period, today,
                                       silent_days)
        child_problems = await _child_problems(conn, area, below, by_village)
    return await _finish(conn, lineage, below, period, today, silent_days, part,
                         child_problems)


def _check(period: Period, silent_days: int) -> None:
    if period.end < period.start:
        raise ValueError("the period ends before it starts")
    if silent_days < 1:
        raise ValueError("silent_days must be at least 1")


async def compute_part(conn: AnyConnection, area_code: str, period: Period, today: date,
                       *, silent_days: int = 30) -> SummaryPart:
    """The summary of a DOPA area (a province, for the merges) before its names and the
    ranking of its categories: what adds up across areas. Raises UnknownArea."""
    _check(period, silent_days)
    lineage = await q.lineage(conn, area_code)
    if not lineage or lineage[0].level in ("nation", "network"):
        raise UnknownArea(area_code)
    part, _ = await _part(conn, Scope.of_prefixes([lineage[0].code]), window_of(period),
                          period, today, silent_days)
    return part


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


# --- parts: the sums each section is made of -----------------------------------------------

@dataclass(frozen=True)
class SummaryPart:
    """An area's summary as sums that add up across areas (a province's part is its share
    of the nation's) and the top entries of its rankings; `_finish` makes the Summary."""

    problems: int
    households: int
    categories: dict[str, tuple[int, int]]  # category: (problems, households)
    months: dict[str, tuple[int, int]]  # "YYYY-MM": (problems, households)
    most_affected: list[tuple[str, int]]  # (village, households), the TOP first
    plans: q.PlanTotals
    requests: dict[str, tuple[int, int]]  # status: (requests, baht requested)
    amount_granted: int
    own_money: int
    forums: int
    participants: int
    villages: int
    villages_with_forum: int
    silent_villages: int
    most_silent: list[tuple[str, int]]  # (village, days silent), the TOP first
    items_done: int
    solved: dict[str, int]
    confirmed: int
    households_helped: int


class Parts(Protocol):
    """A province's share of the nation's and a network's summary and funnel, for one
    period, today and silent_days (see compute_summary, compute_funnel)."""

    async def summary(self, province: str) -> SummaryPart: ...

    async def funnel(self, province: str) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class DirectParts:
    """Parts computed when asked for (what the web site keeps; tests compare the sums)."""

    conn: AnyConnection
    period: Period
    today: date
    silent_days: int = 30

    async def summary(self, province: str) -> SummaryPart:
        return await compute_part(self.conn, province, self.period, self.today,
                                  silent_days=self.silent_days)

    async def funnel(self, province: str) -> tuple[int, ...]:
        return await funnel_part(self.conn, province, self.period, self.today,
                                 silent_days=self.silent_days)


def _ranking(entries: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The TOP entries, the highest value first, ties by code."""
    return heapq.nsmallest(TOP, entries, key=lambda cv: (-cv[1], cv[0]))


def _add(dicts: Iterable[dict[str, tuple[int, int]]]) -> dict[str, tuple[int, int]]:
    total: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for found in dicts:
        for key, (a, b) in found.items():
            total[key][0] += a
            total[key][1] += b
    return {key: (a, b) for key, (a, b) in total.items()}


def merge_parts(parts: list[SummaryPart]) -> SummaryPart:
    """The part of the areas together (their villages are disjoint)."""

    def total(name: str) -> int:
        return sum(getattr(p, name) for p in parts)

    def counts(name: str, keys: Iterable[str]) -> dict[str, int]:
        return {k: sum(getattr(p.plans, name)[k] for p in parts) for k in keys}

    solved: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for p in parts:
        for k, v in p.solved.items():
            solved[k] += v
    return SummaryPart(
        problems=total("problems"), households=total("households"),
        categories=_add(p.categories for p in parts), months=_add(p.months for p in parts),
        most_affected=_ranking(v for p in parts for v in p.most_affected),
        plans=q.PlanTotals(
            items=sum(p.plans.items for p in parts),
            by_approach=counts("by_approach", APPROACHES),
            by_status=counts("by_status", ITEM_STATUSES),
            percent_sum=sum(p.plans.percent_sum for p in parts),
            overdue=sum(p.plans.overdue for p in parts)),
        requests=_add(p.requests for p in parts), amount_granted=total("amount_granted"),
        own_money=total("own_money"), forums=total("forums"),
        participants=total("participants"), villages=total("villages"),
        villages_with_forum=total("villages_with_forum"),
        silent_villages=total("silent_villages"),
        most_silent=_ranking(v for p in parts for v in p.most_silent),
        items_done=total("items_done"), solved=solved, confirmed=total("confirmed"),
        households_helped=total("households_helped"))


async def _part(conn: AnyConnection, scope: Scope, window: Window, period: Period,
                today: date, silent_days: int
                ) -> tuple[SummaryPart, list[tuple[str, int, int]]]:
    """The part, and the (village, problems, households) it was summed from. Its reads are
    independent: awaited together, a server engine runs them at once (`reader()`), the
    longest (for the nation) first."""
    (items_done, silent, by_village, plan_totals, by_category_month, own_money, by_status,
     by_outcome, (forums, participants, with_forum), villages) = await asyncio.gather(
        q.items_done(conn, scope, window),
        q.silent_villages(
            conn, scope,
            active_from_utc=_bangkok_midnight(today - timedelta(days=silent_days - 1)),
            before_utc=_bangkok_midnight(today + timedelta(days=1))),
        q.problems_by_village(conn, scope, window),
        q.plan_item_totals(conn, scope, window, today.isoformat(), APPROACHES, ITEM_STATUSES),
        q.problems_by_category_month(conn, scope, window),
        q.own_money_of_requested_items(conn, scope, window),
        q.requests_by_status(conn, scope, window),
        q.outcomes(conn, scope, window),
        q.forum_totals(conn, scope, window),
        q.village_count(conn, scope))
    categories: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    months: dict[str, list[int]] = {m: [0, 0] for m in months_of(period)}
    for category, month, problems, households in by_category_month:
        for bucket in (categories[category], months[month]):
            bucket[0] += problems
            bucket[1] += households
    requests: dict[str, tuple[int, int]] = {}
    granted = 0
    for status, count, requested, status_granted in by_status:
        requests[status] = (int(count), int(requested or 0))
        granted += int(status_granted or 0)
    solved = dict.fromkeys(OUTCOMES, 0)
    confirmed = helped = 0
    for outcome, count, households in by_outcome:
        if outcome in solved:
            solved[outcome] += count
        confirmed += count
        helped += households
    return SummaryPart(
        problems=sum(v[1] for v in by_village),
        households=sum(v[2] or 0 for v in by_village),
        categories={k: (a, b) for k, (a, b) in categories.items()},
        months={k: (a, b) for k, (a, b) in months.items()},
        most_affected=_ranking((code, households) for code, _, households in by_village
                               if households and households > 0),
        plans=plan_totals, requests=requests, amount_granted=granted,
        own_money=own_money, forums=forums, participants=participants,
        villages=villages, villages_with_forum=with_forum,
        silent_villages=len(silent),
        most_silent=_ranking((code, _days_since(last, today) if last else silent_days)
                             for code, last in silent),
        items_done=items_done, solved=solved,
        confirmed=confirmed, households_helped=helped), by_village


async def _finish(conn: AnyConnection, lineage: list[Area], below: list[Area], period: Period,
                  today: date, silent_days: int, part: SummaryPart,
                  child_problems: dict[str, int]) -> Summary:
    area = lineage[0]
    ranked = sorted(part.categories.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    totals = part.plans
    average = round(totals.percent_sum / totals.items, 1) if totals.items else 0.0
    by_status = {s: part.requests.get(s, (0, 0))[0] for s in REQUEST_STATUSES}
    amounts = {s: part.requests.get(s, (0, 0))[1] for s in REQUEST_STATUSES}
    named = await q.villages_with_tambons(
        conn, [code for code, _ in (*part.most_affected, *part.most_silent)])
    return Summary(
        area_code=area.code, level=area.level,
        name_th=title(lineage, "th"), name_en=title(lineage, "en"),
        period=period, today=today,
        impact=ImpactSection(
            problems=part.problems, households=part.households,
            by_category=[CategoryImpact(c, p, h) for c, (p, h) in ranked],
            by_month=[MonthImpact(m, p, h) for m, (p, h) in sorted(part.months.items())],
            most_affected=_villages(named, part.most_affected)),
        plans=PlansSection(items=totals.items, by_approach=totals.by_approach,
                           by_status=totals.by_status, average_percent=average,
                           overdue=totals.overdue, stalled=totals.by_status["stalled"]),
        support=SupportSection(by_status=by_status, amount_by_status=amounts,
                               amount_requested=sum(amounts.values()),
                               amount_granted=part.amount_granted, own_money=part.own_money),
        participation=ParticipationSection(
            forums=part.forums, participants=part.participants, villages=part.villages,
            villages_with_forum=part.villages_with_forum, silent_days=silent_days,
            silent_villages=part.silent_villages,
            most_silent=_villages(named, part.most_silent)),
        results=ResultsSection(items_done=part.items_done, confirmed=part.confirmed,
                               solved=part.solved, households_helped=part.households_helped),
        children=[AreaValue(c.code, title([c], "th", 1), title([c], "en", 1),
                            child_problems.get(c.code, 0)) for c in below],
    )


def _days_since(instant: str, today: date) -> int:
    return (today - from_db(instant).astimezone(BANGKOK).date()).days


# --- areas --------------------------------------------------------------------------------------

async def _child_problems(conn: AnyConnection, area: Area, below: list[Area],
                          by_village: list[tuple[str, int, int]]) -> dict[str, int]:
    if not below:
        return {}
    # A village's child is the prefix of its code as long as the children's codes; for the
    # nation, the learning network of its province.
    width = 2 if area.level == "nation" else len(below[0].code)
    child_of = await q.network_of_provinces(conn) if area.level == "nation" else {}
    problems: dict[str, int] = defaultdict(int)
    for village, count, _ in by_village:
        prefix = village[:width]
        problems[child_of.get(prefix, prefix)] += count
    return dict(problems)


async def _provinces_by_child(conn: AnyConnection, area: Area, below: list[Area]
                              ) -> dict[str, list[str]]:
    """The nation's networks or a network's provinces, each with the provinces it holds."""
    if area.level == "network":
        return {c.code: [c.code] for c in below}
    found: dict[str, list[str]] = {c.code: [] for c in below}
    for province, network in sorted((await q.network_of_provinces(conn)).items()):
        found.setdefault(network, []).append(province)
    return found


def _villages(named: dict[str, list[Area]], ranked: list[tuple[str, int]]) -> list[AreaValue]:
    """Villages of a ranking, named by themselves and their tambon."""
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
                         *, silent_days: int = 30, parts: Parts | None = None) -> Funnel:
    """The cycle's funnel of `area_code` and of each area one level down. Raises
    UnknownArea for a code not in areas. With `parts`, the nation's and a network's are the
    sums of their provinces' (`funnel_part`), as in compute_summary."""
    lineage = await q.lineage(conn, area_code)
    if not lineage:
        raise UnknownArea(area_code)
    area = lineage[0]
    below = [] if area.level == "village" else await q.children(conn, area.code)
    if parts is not None and area.level in ("nation", "network"):
        provinces = await _provinces_by_child(conn, area, below)
        counts: dict[str, list[int]] = {}
        for child, codes in provinces.items():
            counts[child] = [0] * FUNNEL_VALUES
            for province in codes:
                for i, v in enumerate(await parts.funnel(province)):
                    counts[child][i] += v
        total = [sum(c[i] for c in counts.values()) for i in range(FUNNEL_VALUES)]
    else:
        counts, total = await _funnel_counts(conn, area, below, period, today, silent_days)

    def row(a: Area, depth: int, values: list[int]) -> FunnelRow:
        return FunnelRow(a.code, title(lineage if a is area else [a], "th", depth),
                         title(lineage if a is area else [a], "en", depth), a.level, *values)

    return Funnel(area=row(area, 4, total),
                  children=[row(c, 1, counts.get(c.code, [0] * FUNNEL_VALUES))
                            for c in below])


FUNNEL_VALUES = 7  # villages, forum, plan, progress, lessons, silent, active (FunnelRow)


async def funnel_part(conn: AnyConnection, area_code: str, period: Period, today: date,
                      *, silent_days: int = 30) -> tuple[int, ...]:
    """A DOPA area's funnel values (FunnelRow's order), its share of the nation's."""
    lineage = await q.lineage(conn, area_code)
    if not lineage or lineage[0].level in ("nation", "network"):
        raise UnknownArea(area_code)
    _, total = await _funnel_counts(conn, lineage[0], [], period, today, silent_days)
    return tuple(total)


async def _funnel_counts(conn: AnyConnection, area: Area, below: list[Area], period: Period,
                         today: date, silent_days: int
                         ) -> tuple[dict[str, list[int]], list[int]]:
    """The funnel values of each area one level down and of the area."""
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

    counts: dict[str, list[int]] = defaultdict(lambda: [0] * FUNNEL_VALUES)
    total = [0] * FUNNEL_VALUES
    for village, reported, forum, plan, progress, lessons in activity:
        values = (1, forum, plan, progress, lessons, int(village in silent_codes),
                  int(bool(reported or forum or plan or progress or lessons)))
        for bucket in (counts[child_of(village)], total):
            for i, v in enumerate(values):
                bucket[i] += v
    return counts, total


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


async def province_values(conn: AnyConnection, period: Period,
                          parts: Parts | None = None) -> dict[str, tuple[int, int]]:
    """Every province code with (problems, households) created in `period` (the map's
    shading); provinces without problems are left out. With `parts` (for this period), from
    the provinces' parts."""
    if parts is not None:
        found = {}
        for province in sorted(await q.network_of_provinces(conn)):
            part = await parts.summary(province)
            if part.problems:
                found[province] = (part.problems, part.households)
        return found
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for village, problems, households in await q.problems_by_village(
            conn, Scope((q.EVERY_CODE,)), window_of(period)):
        bucket = totals[village[:2]]
        bucket[0] += problems
        bucket[1] += households or 0
    return {code: (p, h) for code, (p, h) in totals.items()}
