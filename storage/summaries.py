"""The aggregate queries behind area summaries (handlers/summaries.py assembles them).

An area is a `Scope`: half-open ranges [lo, hi) of village codes. A DOPA area is one range
(its code is a prefix of its villages' codes), a learning network one range per province,
the nation every code. Each query reads the scope's rows through a (village_code, ...)
index of migration 0006 that holds every column it needs, so a tambon's summary seeks its
own rows and never reads the rest of the nation's. Instants are compared as the UTC ISO
text they are stored in (storage.timestamps), dates as ISO dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.areas import Area
from storage.connection import AnyConnection

OPEN_STATUSES = ("not_started", "in_progress", "stalled")
EVERY_CODE = ("", "\uffff")
SUBMISSION_TABLES = ("progress_updates", "problems", "forums")  # most frequent first


@dataclass(frozen=True)
class Scope:
    """The villages of an area, as half-open ranges [lo, hi) of village codes."""

    ranges: tuple[tuple[str, str], ...]

    @staticmethod
    def of_prefixes(prefixes: list[str]) -> Scope:
        return Scope(tuple(prefix_range(p) for p in sorted(prefixes)))

    @property
    def everything(self) -> bool:
        return self.ranges == (EVERY_CODE,)

    def rows(self, table: str, alias: str, column: str = "village_code"
             ) -> tuple[str, str, list[str]]:
        """(FROM clause, WHERE condition, params) selecting the scope's rows of `table`.

        One range is a plain range condition (the index then also gives village order);
        several are a join with a VALUES list, which SQLite walks range by range, seeking
        each (an OR of ranges would make it scan the whole index)."""
        col = f"{alias}.{column}"
        if len(self.ranges) == 1:
            return f"FROM {table} {alias}", f"{col} >= ? AND {col} < ?", list(self.ranges[0])
        if not self.ranges:
            return f"FROM {table} {alias}", "1 = 0", []
        values = ", ".join("(?, ?)" for _ in self.ranges)
        return (f"FROM (VALUES {values}) AS scope JOIN {table} {alias}"
                f" ON {col} >= scope.column1 AND {col} < scope.column2", "1 = 1",
                [bound for pair in self.ranges for bound in pair])


def prefix_range(prefix: str) -> tuple[str, str]:
    """The codes starting with `prefix`: [prefix, prefix with its last character + 1)."""
    if not prefix:
        return EVERY_CODE
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


@dataclass(frozen=True)
class Window:
    """The summary period as stored values: instants in [start_utc, end_utc) (the period's
    first Bangkok midnight to the one after its last day), dates in [first_day, last_day],
    and its Bangkok months as (month "YYYY-MM", start_utc, end_utc) clipped to the period."""

    start_utc: str
    end_utc: str
    first_day: str
    last_day: str
    months: tuple[tuple[str, str, str], ...]


async def _rows(conn: AnyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    # One round trip to aiosqlite's thread: a tambon's summary is mostly these hand-offs.
    return [tuple(r) for r in await conn.execute_fetchall(sql, params)]


async def _one(conn: AnyConnection, sql: str, params: list[Any]) -> tuple[Any, ...]:
    return (await _rows(conn, sql, params))[0]


# --- areas --------------------------------------------------------------------------------------

_AREA = "code, level, parent_code, name_th, name_en, village_no"


async def lineage(conn: AnyConnection, code: str) -> list[Area]:
    """The area and all above it, nearest first; [] for an unknown code."""
    rows = await _rows(
        conn,
        "WITH RECURSIVE up(code, depth) AS (SELECT ?, 0 UNION ALL SELECT a.parent_code,"
        " up.depth + 1 FROM areas a JOIN up ON a.code = up.code"
        " WHERE a.parent_code IS NOT NULL)"
        f" SELECT {_AREA} FROM areas JOIN up USING (code) ORDER BY up.depth", [code])
    return [Area(*r) for r in rows]


async def children(conn: AnyConnection, code: str) -> list[Area]:
    """The areas one level down, by code."""
    rows = await _rows(conn, f"SELECT {_AREA} FROM areas WHERE parent_code = ? ORDER BY code",
                       [code])
    return [Area(*r) for r in rows]


async def network_of_provinces(conn: AnyConnection) -> dict[str, str]:
    rows = await _rows(conn, "SELECT code, parent_code FROM areas WHERE level = 'province'", [])
    return {province: network for province, network in rows}


async def villages_with_tambons(conn: AnyConnection, codes: list[str]
                                ) -> dict[str, list[Area]]:
    """Each village code with [village, its tambon]."""
    if not codes:
        return {}
    marks = ", ".join("?" * len(codes))
    columns = ", ".join(f"{t}.{c.strip()}" for t in ("v", "t") for c in _AREA.split(","))
    rows = await _rows(
        conn,
        f"SELECT {columns} FROM areas v JOIN areas t ON t.code = v.parent_code"
        f" WHERE v.code IN ({marks})", codes)
    return {r[0]: [Area(*r[:6]), Area(*r[6:])] for r in rows}


# --- impact -------------------------------------------------------------------------------------

async def problems_by_village(conn: AnyConnection, scope: Scope, w: Window
                              ) -> list[tuple[str, int, int]]:
    """(village code, problems, households) of every village with problems in the window."""
    source, where, params = scope.rows("problems", "p")
    return await _rows(
        conn,
        f"SELECT p.village_code, COUNT(*), SUM(p.households) {source}"
        f" WHERE {where} AND p.created_at >= ? AND p.created_at < ? GROUP BY p.village_code",
        [*params, w.start_utc, w.end_utc])


async def problems_by_category_month(conn: AnyConnection, scope: Scope, w: Window
                                     ) -> list[tuple[str, str, int, int]]:
    """(category, month, problems, households) of the problems created in the window."""
    if scope.everything:
        return await _nation_by_category_month(conn, w)
    source, where, params = scope.rows("problems", "p")
    month, month_params = _month_of(w.months)
    rows = await _rows(
        conn,
        f"SELECT p.category, {month} AS month, COUNT(*), SUM(p.households) {source}"
        f" WHERE {where} AND p.created_at >= ? AND p.created_at < ? GROUP BY p.category, month",
        [*month_params, *params, w.start_utc, w.end_utc])
    return [(category, w.months[m][0], n, h) for category, m, n, h in rows]


def _month_of(months: tuple[tuple[str, str, str], ...], lo: int = 0, hi: int | None = None
              ) -> tuple[str, list[str]]:
    """SQL giving the index in `months` of p.created_at: a binary search over the month
    starts, a few text comparisons per row."""
    hi = len(months) if hi is None else hi
    if hi - lo <= 1:
        return str(lo), []
    mid = (lo + hi) // 2
    left, left_params = _month_of(months, lo, mid)
    right, right_params = _month_of(months, mid, hi)
    return (f"CASE WHEN p.created_at < ? THEN {left} ELSE {right} END",
            [months[mid][1], *left_params, *right_params])


async def _nation_by_category_month(conn: AnyConnection, w: Window
                                    ) -> list[tuple[str, str, int, int]]:
    """Every village: one seek of problems_category per category and month, instead of
    sorting a million rows into groups. The categories present are found by skipping
    through the same index, one seek each."""
    categories = [r[0] for r in await _rows(
        conn,
        "WITH RECURSIVE present(category) AS (SELECT MIN(category) FROM problems UNION ALL"
        " SELECT (SELECT MIN(category) FROM problems WHERE category > present.category)"
        " FROM present WHERE present.category IS NOT NULL)"
        " SELECT category FROM present WHERE category IS NOT NULL", [])]
    if not categories:
        return []
    cats = ", ".join("(?)" for _ in categories)
    months = ", ".join("(?, ?, ?)" for _ in w.months)
    count = ("SELECT {} FROM problems p WHERE p.category = c.column1"
             " AND p.created_at >= m.column2 AND p.created_at < m.column3")
    rows = await _rows(
        conn,
        f"SELECT c.column1, m.column1, ({count.format('COUNT(*)')}),"
        f" ({count.format('COALESCE(SUM(p.households), 0)')})"
        f" FROM (VALUES {cats}) AS c, (VALUES {months}) AS m",
        [*categories, *(value for month in w.months for value in month)])
    return [r for r in rows if r[2]]


# --- plans --------------------------------------------------------------------------------------

def _count_if(condition: str) -> str:
    """The rows where `condition` holds (portable: PostgreSQL has no SUM of a boolean)."""
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


@dataclass(frozen=True)
class PlanTotals:
    items: int
    by_approach: dict[str, int]
    by_status: dict[str, int]
    percent_sum: int
    overdue: int


async def plan_item_totals(conn: AnyConnection, scope: Scope, w: Window, today: str,
                           approaches: tuple[str, ...], statuses: tuple[str, ...]
                           ) -> PlanTotals:
    """Over the items, not withdrawn, of the plans whose [period_start, period_end]
    overlaps the window's dates: counts by approach and status, the sum of their percent,
    and the overdue ones (open status, end date before `today`). Conditional sums in one
    pass: no sorting."""
    source, where, params = scope.rows("plans", "pl")
    open_marks = ", ".join("?" * len(OPEN_STATUSES))
    sums = [*(_count_if("i.approach = ?") for _ in approaches),
            *(_count_if("i.status = ?") for _ in statuses)]
    row = await _one(
        conn,
        f"SELECT COUNT(*), {', '.join(sums)}, SUM(i.percent),"
        f" {_count_if(f'i.status IN ({open_marks}) AND i.end_on < ?')}"
        f" {source} JOIN plan_items i ON i.plan_id = pl.id"
        f" WHERE {where} AND pl.period_start <= ? AND pl.period_end >= ?"
        " AND i.status != 'withdrawn'",
        [*approaches, *statuses, *OPEN_STATUSES, today, *params, w.last_day, w.first_day])
    counts = [int(v or 0) for v in row]
    n = len(approaches)
    return PlanTotals(
        items=counts[0],
        by_approach=dict(zip(approaches, counts[1:1 + n], strict=True)),
        by_status=dict(zip(statuses, counts[1 + n:1 + n + len(statuses)], strict=True)),
        percent_sum=counts[-2], overdue=counts[-1])


# --- plan periods -------------------------------------------------------------------------------
# Plan periods are dates (ISO text); a plan's status does not matter here: a period closed
# early by lessons learned is still in force until its last day.

async def plan_span_in_force(conn: AnyConnection, scope: Scope, today: str
                             ) -> tuple[str, str, int] | None:
    """(earliest start, latest end, villages) of the scope's plans whose period includes
    `today`; None when no village has one."""
    source, where, params = scope.rows("plans", "pl")
    start, end, villages = await _one(
        conn,
        f"SELECT MIN(pl.period_start), MAX(pl.period_end), COUNT(DISTINCT pl.village_code)"
        f" {source} WHERE {where} AND pl.period_start <= ? AND pl.period_end >= ?",
        [*params, today, today])
    return (start, end, int(villages)) if start else None


async def plan_span_last_ended(conn: AnyConnection, scope: Scope, today: str
                               ) -> tuple[str, str, int] | None:
    """(earliest start, latest end, villages) over each village's most recently ended plan
    (the latest period ending before `today`); None when no plan has ended. Per village one
    seek of plans_summary."""
    source, where, params = scope.rows("plans", "pl")
    start, end, villages = await _one(
        conn,
        f"SELECT MIN(pl.period_start), MAX(pl.period_end), COUNT(DISTINCT pl.village_code)"
        f" {source} WHERE {where} AND pl.period_end < ? AND NOT EXISTS (SELECT 1 FROM plans"
        " later WHERE later.village_code = pl.village_code AND later.period_end < ?"
        " AND later.period_end > pl.period_end)",
        [*params, today, today])
    return (start, end, int(villages)) if start else None


async def ended_plan_periods(conn: AnyConnection, scope: Scope, today: str, limit: int
                             ) -> list[tuple[str, str, int]]:
    """(start, end, villages) of the distinct plan periods of the scope that ended before
    `today`, the latest end first (then the latest start), at most `limit`."""
    source, where, params = scope.rows("plans", "pl")
    return await _rows(
        conn,
        f"SELECT pl.period_start, pl.period_end, COUNT(DISTINCT pl.village_code) {source}"
        f" WHERE {where} AND pl.period_end < ? GROUP BY pl.period_start, pl.period_end"
        " ORDER BY pl.period_end DESC, pl.period_start DESC LIMIT ?",
        [*params, today, limit])


# --- support ------------------------------------------------------------------------------------

async def requests_by_status(conn: AnyConnection, scope: Scope, w: Window
                             ) -> list[tuple[str, int, int, int]]:
    """(status now, requests, baht requested, baht granted) of the requests created in the
    window; granted counts funded requests only."""
    source, where, params = scope.rows("support_requests", "r")
    return await _rows(
        conn,
        "SELECT r.status, COUNT(*), SUM(r.amount_requested),"
        f" COALESCE(SUM(CASE WHEN r.status = 'funded' THEN r.amount_granted END), 0) {source}"
        f" WHERE {where} AND r.created_at >= ? AND r.created_at < ? GROUP BY r.status",
        [*params, w.start_utc, w.end_utc])


async def own_money_of_requested_items(conn: AnyConnection, scope: Scope, w: Window
                                       ) -> int:
    """The villages' own money on the distinct items asked for in the window's requests."""
    source, where, params = scope.rows("support_requests", "r")
    row = await _one(
        conn,
        "SELECT COALESCE(SUM(own_money), 0) FROM plan_items WHERE id IN"
        f" (SELECT r.item_id {source} WHERE {where}"
        " AND r.created_at >= ? AND r.created_at < ?)",
        [*params, w.start_utc, w.end_utc])
    return int(row[0])


# --- participation ------------------------------------------------------------------------------

async def forum_totals(conn: AnyConnection, scope: Scope, w: Window
                       ) -> tuple[int, int, int]:
    """(forums, participants, villages with a forum) held on a day of the window."""
    source, where, params = scope.rows("forums", "f")
    forums, participants, villages = await _one(
        conn,
        "SELECT COUNT(*), COALESCE(SUM(f.participants), 0), COUNT(DISTINCT f.village_code)"
        f" {source} WHERE {where} AND f.held_on >= ? AND f.held_on <= ?",
        [*params, w.first_day, w.last_day])
    return int(forums), int(participants), int(villages)


async def village_count(conn: AnyConnection, scope: Scope) -> int:
    source, where, params = scope.rows("areas", "a", "code")
    row = await _one(conn, f"SELECT COUNT(*) {source} WHERE {where} AND a.level = 'village'",
                     params)
    return int(row[0])


async def silent_villages(conn: AnyConnection, scope: Scope, *, active_from_utc: str,
                          before_utc: str) -> list[tuple[str, str | None]]:
    """(village code, its last submission or None) of the scope's villages with no
    problem, forum or progress update created in [active_from_utc, before_utc); the last
    submission is the latest created before `before_utc`. Per village, one index seek per
    table: an active village stops at its first recent row, only silent ones look further."""
    source, where, params = scope.rows("areas", "a", "code")
    # OFFSET 0 keeps each NOT EXISTS a seek per village on PostgreSQL too: pulled up into
    # anti joins, it hashed a month of every table first (problems' through its heap), 2x
    # as slow for the nation; SQLite seeks either way.
    recent = " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {table} t WHERE t.village_code = a.code"
        " AND t.created_at >= ? AND t.created_at < ? LIMIT 1 OFFSET 0)"
        for table in SUBMISSION_TABLES)
    latest = ", ".join(
        f"(SELECT t.created_at FROM {table} t WHERE t.village_code = a.code"
        " AND t.created_at < ? ORDER BY t.created_at DESC LIMIT 1)"
        for table in SUBMISSION_TABLES)
    rows = await _rows(
        conn,
        f"SELECT a.code, {latest} {source}"
        f" WHERE {where} AND a.level = 'village' AND {recent}",
        [*[before_utc] * len(SUBMISSION_TABLES), *params,
         *[active_from_utc, before_utc] * len(SUBMISSION_TABLES)])
    return [(row[0], max((last for last in row[1:] if last), default=None)) for row in rows]


# --- results ------------------------------------------------------------------------------------

async def outcomes(conn: AnyConnection, scope: Scope, w: Window
                   ) -> list[tuple[str | None, int, int]]:
    """(solved: yes/partly/no, items, households helped) of the outcomes confirmed in the
    window."""
    source, where, params = scope.rows("plan_items", "i")
    return await _rows(
        conn,
        "SELECT i.outcome_solved, COUNT(*), COALESCE(SUM(i.households_helped), 0)"
        f" {source} WHERE {where} AND i.outcome_confirmed_at >= ?"
        " AND i.outcome_confirmed_at < ? GROUP BY i.outcome_solved",
        [*params, w.start_utc, w.end_utc])


async def items_done(conn: AnyConnection, scope: Scope, w: Window) -> int:
    """Items whose status is done and whose last progress update (the one that marked
    them done) was created in the window; an item done without any progress update
    counts at its updated_at. The last update is one seek of progress_item per item."""
    source, where, params = scope.rows("plan_items", "i")
    row = await _one(
        conn,
        f"SELECT COUNT(*) {source} WHERE {where} AND i.status = 'done' AND"
        " (SELECT done.done_at >= ? AND done.done_at < ? FROM (SELECT"
        " COALESCE(MAX(u.created_at), i.updated_at) AS done_at FROM progress_updates u"
        " WHERE u.item_id = i.id) AS done)",
        [*params, w.start_utc, w.end_utc])
    return int(row[0])


# --- the web site: the cycle's funnel and the map ---------------------------------------------

async def village_activity(conn: AnyConnection, scope: Scope, w: Window
                           ) -> list[tuple[str, int, int, int, int, int]]:
    """(village code, reported a problem, held a forum, has a plan, reported progress, drew
    lessons) of every village of the scope, each 0 or 1: a problem created in the window, a
    forum held on a day of it, a plan whose period overlaps its dates, a progress update or
    lessons created in it.
    Per village one index seek per table, stopping at the first row found."""
    source, where, params = scope.rows("areas", "a", "code")
    rows = await _rows(
        conn,
        "SELECT a.code,"
        " EXISTS (SELECT 1 FROM problems p WHERE p.village_code = a.code"
        " AND p.created_at >= ? AND p.created_at < ?),"
        " EXISTS (SELECT 1 FROM forums f WHERE f.village_code = a.code"
        " AND f.held_on >= ? AND f.held_on <= ?),"
        " EXISTS (SELECT 1 FROM plans pl WHERE pl.village_code = a.code"
        " AND pl.period_start <= ? AND pl.period_end >= ?),"
        " EXISTS (SELECT 1 FROM progress_updates u WHERE u.village_code = a.code"
        " AND u.created_at >= ? AND u.created_at < ?),"
        " EXISTS (SELECT 1 FROM lessons l WHERE l.village_code = a.code"
        " AND l.created_at >= ? AND l.created_at < ?)"
        f" {source} WHERE {where} AND a.level = 'village'",
        [w.start_utc, w.end_utc, w.first_day, w.last_day, w.last_day, w.first_day,
         w.start_utc, w.end_utc, w.start_utc, w.end_utc, *params])
    return [(code, int(r), int(f), int(p), int(u), int(le)) for code, r, f, p, u, le in rows]


async def located_problems(conn: AnyConnection, scope: Scope, w: Window, limit: int
                           ) -> list[tuple[str, str, int, float, float]]:
    """(village code, category, households, latitude, longitude) of the problems created in
    the window whose reporter shared a location, the latest first, at most `limit`."""
    source, where, params = scope.rows("problems", "p")
    return await _rows(
        conn,
        f"SELECT p.village_code, p.category, p.households, p.latitude, p.longitude {source}"
        f" WHERE {where} AND p.created_at >= ? AND p.created_at < ?"
        " AND p.latitude IS NOT NULL AND p.longitude IS NOT NULL"
        " ORDER BY p.created_at DESC LIMIT ?",
        [*params, w.start_utc, w.end_utc, limit])
