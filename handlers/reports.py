"""Listing problem reports: a village's own, and those of the areas a person oversees."""

from __future__ import annotations

from handlers.clock import local_date
from handlers.permissions import Action, Role, allowed
from handlers.turn import Turn
from locales import category_label, format_date
from storage import areas, problems
from storage.problems import Problem

LIST_LIMIT = 10


def problem_line(turn: Turn, problem: Problem, village_name: str | None = None) -> str:
    return turn.t(
        "reports.line", id=problem.id,
        date=format_date(local_date(problem.created_at), turn.language),
        category=category_label(problem.category, turn.language),
        households=f"{problem.households:,}", severity=turn.t(f"severity.{problem.severity}"),
        status=turn.t(f"review.{problem.review_status}"),
        village=village_name or "",
    )


async def my_village_reports(turn: Turn) -> None:
    villages = [g.area_code for g in turn.grants if g.role == Role.VILLAGE_COMMITTEE]
    if not villages:
        turn.say("reports.none")
        return
    found = await problems.of_villages(turn.conn, villages, LIST_LIMIT)
    if not found:
        turn.say("reports.none")
        return
    lines = [problem_line(turn, p) for p in found]
    turn.say("reports.mine", lines="\n".join(lines))


async def area_reports(turn: Turn) -> None:
    """The latest reports from the villages under each area the person oversees."""
    lines: list[str] = []
    for grant in turn.grants:
        if grant.role not in (Role.CORE_TEAM, Role.TAO, Role.DISTRICT, Role.ADMIN):
            continue
        for problem in await problems.under_area(turn.conn, grant.area_code, LIST_LIMIT):
            lineage = [a.code for a in await areas.lineage(turn.conn, problem.village_code)]
            if not allowed(turn.grants, Action.READ_PROBLEMS, lineage):
                continue
            village = await areas.get(turn.conn, problem.village_code)
            name = village.name(turn.language) if village else ""
            lines.append(problem_line(turn, problem, name))
    if lines:
        turn.say("reports.area", lines="\n".join(lines))
    else:
        turn.say("reports.none")
