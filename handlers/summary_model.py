"""What a summary holds: the five monitors of an area over a period. Computed by
`handlers.summaries.compute_summary`, shown as text by the summary flow, drawn by
`bot.charts`, exported by `bot.export`. Plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

SECTIONS = ("impact", "plans", "support", "participation", "results")
# plan: the plan periods in force today; ended: the periods that ended most recently; past:
# one past plan period chosen by its dates (see handlers.summaries.plan_periods).
PERIOD_KINDS = ("month", "3months", "plan", "ended", "past", "custom")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    kind: str = "custom"  # one of PERIOD_KINDS


@dataclass(frozen=True)
class PlanPeriod:
    """A span of village plan periods and how many villages' plans it covers."""

    period: Period
    villages: int


@dataclass(frozen=True)
class PlanPeriods:
    """The plan periods an area's summary may be asked for, as of a day."""

    current: PlanPeriod | None  # the villages' plan periods in force today (by their dates)
    just_ended: PlanPeriod | None  # each village's most recently ended plan period
    past: list[PlanPeriod]  # every distinct ended plan period, the latest end first


@dataclass(frozen=True)
class AreaValue:
    """An area (village, tambon, …) with a number: households, problems, days silent."""

    code: str
    name_th: str
    name_en: str
    value: int


@dataclass(frozen=True)
class CategoryImpact:
    category: str  # key of locales/problem_categories.json
    problems: int
    households: int


@dataclass(frozen=True)
class MonthImpact:
    month: str  # "YYYY-MM" (Christian era; shown in Buddhist era)
    problems: int
    households: int


@dataclass(frozen=True)
class ImpactSection:
    """How the crisis hits people: problems reported in the period."""

    problems: int
    households: int
    by_category: list[CategoryImpact]  # every category with at least one problem, most first
    by_month: list[MonthImpact]  # every month of the period, in order, zeros included
    most_affected: list[AreaValue]  # up to 5 villages by households affected


@dataclass(frozen=True)
class PlansSection:
    """Items of the plans whose period overlaps the summary period (withdrawn left out)."""

    items: int
    by_approach: dict[str, int]  # self_reliance, cooperation, external_support (all keys)
    by_status: dict[str, int]  # not_started, in_progress, done, stalled (all keys)
    average_percent: float
    overdue: int  # open items whose end date is before today
    stalled: int


@dataclass(frozen=True)
class SupportSection:
    """Support requests made in the period, by where they stand now."""

    by_status: dict[str, int]  # submitted, forwarded, funded, returned (all keys): counts
    amount_by_status: dict[str, int]  # the same keys: baht requested
    amount_requested: int
    amount_granted: int
    own_money: int  # the villages' own money contribution to the items asked for


@dataclass(frozen=True)
class ParticipationSection:
    forums: int  # held in the period
    participants: int
    villages: int  # villages in the area
    villages_with_forum: int
    silent_days: int  # the roll-call threshold used
    silent_villages: int  # villages with no report, forum or progress for silent_days
    most_silent: list[AreaValue]  # up to 5, value = days since their last submission


@dataclass(frozen=True)
class ResultsSection:
    """What communities achieved: items done with their outcome confirmed in the period."""

    items_done: int
    confirmed: int
    solved: dict[str, int]  # yes, partly, no (all keys)
    households_helped: int


@dataclass(frozen=True)
class Summary:
    area_code: str
    level: str  # nation, network, province, district, tambon, village
    name_th: str
    name_en: str
    period: Period
    today: date
    impact: ImpactSection
    plans: PlansSection
    support: SupportSection
    participation: ParticipationSection
    results: ResultsSection
    children: list[AreaValue] = field(default_factory=list)  # one level down, value = problems


@dataclass(frozen=True)
class FunnelRow:
    """How far an area's villages went in the cycle in a period (the web site's
    Implementation Status): villages, and of them those that held a forum, have a plan in
    force, reported progress, drew lessons; silent: no submission for silent_days."""

    code: str
    name_th: str
    name_en: str
    level: str
    villages: int
    forum: int
    plan: int
    progress: int
    lessons: int
    silent: int
    active: int  # villages with a problem report or any of forum, plan, progress, lessons


@dataclass(frozen=True)
class Funnel:
    area: FunnelRow
    children: list[FunnelRow]  # one level down, by code (none for a village)


@dataclass(frozen=True)
class Marker:
    """A problem report's shared location, rounded (3 decimals, about 100 m)."""

    village_code: str
    category: str
    households: int
    lat: float
    lon: float
