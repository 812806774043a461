"""Who may do what, where. Every check in the product goes through this module.

A grant (role, area) covers its area and everything below it. `lineage` is the
target area and all areas above it (see storage.areas.lineage), so "the target is
inside the grant's area" is "the grant's area is in the target's lineage".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from storage import areas
from storage.areas import Area
from storage.connection import Connection
from storage.people import Grant


class Role(StrEnum):
    VILLAGE_COMMITTEE = "village_committee"
    CORE_TEAM = "core_team"
    TAO = "tao"
    DISTRICT = "district"
    VIEWER = "viewer"
    ADMIN = "admin"


class Action(StrEnum):
    # A village committee's own work, on its village.
    REPORT_PROBLEM = "report_problem"
    RECORD_FORUM = "record_forum"
    MANAGE_PLAN = "manage_plan"
    REPORT_PROGRESS = "report_progress"
    REQUEST_SUPPORT = "request_support"
    RECORD_LESSONS = "record_lessons"
    ANSWER_REVIEW = "answer_review"
    # Reading what villages submitted, within one's area.
    READ_PROBLEMS = "read_problems"
    READ_CYCLE = "read_cycle"
    # Tambon and district decisions.
    REVIEW = "review"
    DECIDE_TAMBON_REQUEST = "decide_tambon_request"
    SET_TAMBON_THRESHOLD = "set_tambon_threshold"
    DECIDE_DISTRICT_REQUEST = "decide_district_request"
    # The web site (issue 15): signing in, and what the signed-in pages read.
    SIGN_IN_WEB = "sign_in_web"
    READ_SUBMISSIONS = "read_submissions"
    READ_SUPPORT_REQUESTS = "read_support_requests"
    EXPORT = "export"
    # The success board: the core team proposes, the village consents (or withdraws).
    PROPOSE_STORY = "propose_story"
    CONSENT_STORY = "consent_story"


class PermissionDenied(Exception):
    pass


# The level of area each role is granted on.
ROLE_AREA_LEVELS: dict[Role, frozenset[str]] = {
    Role.VILLAGE_COMMITTEE: frozenset({"village"}),
    Role.CORE_TEAM: frozenset({"tambon"}),
    Role.TAO: frozenset({"tambon"}),
    Role.DISTRICT: frozenset({"district"}),
    Role.VIEWER: frozenset({"province", "network", "nation"}),
    Role.ADMIN: frozenset({"nation"}),
}

_READERS = frozenset({Role.VILLAGE_COMMITTEE, Role.CORE_TEAM, Role.TAO, Role.DISTRICT,
                      Role.VIEWER})

_VILLAGE = frozenset({Role.VILLAGE_COMMITTEE})

ACTION_ROLES: dict[Action, frozenset[Role]] = {
    Action.REPORT_PROBLEM: _VILLAGE,
    Action.RECORD_FORUM: _VILLAGE,
    Action.MANAGE_PLAN: _VILLAGE,
    Action.REPORT_PROGRESS: _VILLAGE,
    Action.REQUEST_SUPPORT: _VILLAGE,
    Action.RECORD_LESSONS: _VILLAGE,
    Action.ANSWER_REVIEW: _VILLAGE,
    Action.READ_PROBLEMS: _READERS,
    Action.READ_CYCLE: _READERS,
    Action.REVIEW: frozenset({Role.CORE_TEAM}),
    Action.DECIDE_TAMBON_REQUEST: frozenset({Role.TAO}),
    Action.SET_TAMBON_THRESHOLD: frozenset({Role.TAO}),
    Action.DECIDE_DISTRICT_REQUEST: frozenset({Role.DISTRICT}),
    Action.SIGN_IN_WEB: frozenset({Role.CORE_TEAM, Role.TAO, Role.DISTRICT, Role.VIEWER}),
    # What the chat shows them: the core team, TAO and district read their villages'
    # submissions and support requests; a viewer has summaries and exports only.
    Action.READ_SUBMISSIONS: frozenset({Role.CORE_TEAM, Role.TAO, Role.DISTRICT}),
    Action.READ_SUPPORT_REQUESTS: frozenset({Role.CORE_TEAM, Role.TAO, Role.DISTRICT}),
    Action.EXPORT: _READERS,
    Action.PROPOSE_STORY: frozenset({Role.CORE_TEAM}),
    Action.CONSENT_STORY: _VILLAGE,
}

# The signed-in web pages and the action each needs on the area it shows (bot/web/
# signed_in.py asks `web_pages` and `check`, as the chat's flows do).
WEB_PAGES: dict[str, Action] = {
    "review": Action.REVIEW,
    "submissions": Action.READ_SUBMISSIONS,
    "villages": Action.READ_CYCLE,
    "support": Action.READ_SUPPORT_REQUESTS,
    "exports": Action.EXPORT,
}

# Which roles a holder of a role may invite (for areas inside its own).
INVITABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.CORE_TEAM: frozenset({Role.VILLAGE_COMMITTEE}),
    Role.DISTRICT: frozenset({Role.CORE_TEAM, Role.TAO}),
}


def allowed(grants: Iterable[Grant], action: Action, lineage: list[str]) -> bool:
    roles = ACTION_ROLES[action]
    return any(g.role == Role.ADMIN or (g.role in roles and g.area_code in lineage)
               for g in grants)


async def check(conn: Connection, grants: Iterable[Grant], action: Action,
                area_code: str) -> list[Area]:
    """Raises PermissionDenied unless `action` is allowed on the area; returns the area's
    lineage it read (areas.lineage: for naming the area without reading it again)."""
    lineage = await areas.lineage(conn, area_code)
    if not allowed(grants, action, [a.code for a in lineage]):
        raise PermissionDenied(f"{action} on {area_code}")
    return lineage


async def permitted(conn: Connection, grants: Iterable[Grant], action: Action,
                    area_code: str) -> bool:
    """`check` as a yes or no."""
    try:
        await check(conn, grants, action, area_code)
    except PermissionDenied:
        return False
    return True


def may_invite(grants: Iterable[Grant], role: Role, area_level: str, lineage: list[str],
               *, is_admin_cli: bool = False) -> bool:
    if area_level not in ROLE_AREA_LEVELS[role]:
        return False
    if is_admin_cli:
        return True
    return any(g.role == Role.ADMIN
               or (role in INVITABLE_ROLES.get(Role(g.role), frozenset())
                   and g.area_code in lineage)
               for g in grants)


def invitable_roles(grants: Iterable[Grant]) -> list[tuple[Role, str]]:
    """(role, area under which it may be invited) pairs a person may issue invites for."""
    pairs: list[tuple[Role, str]] = []
    for g in grants:
        for role in sorted(INVITABLE_ROLES.get(Role(g.role), frozenset())):
            if (role, g.area_code) not in pairs:
                pairs.append((role, g.area_code))
    return pairs


def areas_with_role(grants: Iterable[Grant], role: Role) -> list[str]:
    return [g.area_code for g in grants if g.role == role]


def web_pages(grants: Iterable[Grant], lineage: list[str]) -> list[str]:
    """The signed-in pages a person may open for the area of `lineage`, in menu order."""
    grants = list(grants)
    return [page for page, action in WEB_PAGES.items() if allowed(grants, action, lineage)]


def may_sign_in(grants: Iterable[Grant]) -> bool:
    """Whether any grant lets the person sign in to the web site (on any area)."""
    roles = ACTION_ROLES[Action.SIGN_IN_WEB]
    return any(g.role in roles or g.role == Role.ADMIN for g in grants)
