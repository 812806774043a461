"""The one place that decides who may do what, where."""

from __future__ import annotations

import pytest

from handlers.permissions import Action, Role, allowed, may_invite
from storage.people import Grant

VILLAGE = ["35010101", "350101", "3501", "35", "LN03", "TH"]
OTHER_VILLAGE = ["35010201", "350102", "3501", "35", "LN03", "TH"]
OTHER_PROVINCE_VILLAGE = ["10010101", "100101", "1001", "10", "LN14", "TH"]

GRANTS = {
    Role.VILLAGE_COMMITTEE: Grant(Role.VILLAGE_COMMITTEE, "35010101"),
    Role.CORE_TEAM: Grant(Role.CORE_TEAM, "350101"),
    Role.TAO: Grant(Role.TAO, "350101"),
    Role.DISTRICT: Grant(Role.DISTRICT, "3501"),
    Role.VIEWER: Grant(Role.VIEWER, "LN03"),
}


@pytest.mark.parametrize(("role", "action", "lineage", "expected"), [
    (Role.VILLAGE_COMMITTEE, Action.REPORT_PROBLEM, VILLAGE, True),
    (Role.VILLAGE_COMMITTEE, Action.REPORT_PROBLEM, OTHER_VILLAGE, False),
    (Role.CORE_TEAM, Action.REPORT_PROBLEM, VILLAGE, False),
    (Role.TAO, Action.REPORT_PROBLEM, VILLAGE, False),
    (Role.DISTRICT, Action.REPORT_PROBLEM, VILLAGE, False),
    (Role.VIEWER, Action.REPORT_PROBLEM, VILLAGE, False),
    (Role.VILLAGE_COMMITTEE, Action.READ_PROBLEMS, VILLAGE, True),
    (Role.VILLAGE_COMMITTEE, Action.READ_PROBLEMS, OTHER_VILLAGE, False),
    (Role.CORE_TEAM, Action.READ_PROBLEMS, VILLAGE, True),
    (Role.CORE_TEAM, Action.READ_PROBLEMS, OTHER_VILLAGE, False),
    (Role.TAO, Action.READ_PROBLEMS, OTHER_VILLAGE, False),
    (Role.DISTRICT, Action.READ_PROBLEMS, OTHER_VILLAGE, True),
    (Role.DISTRICT, Action.READ_PROBLEMS, OTHER_PROVINCE_VILLAGE, False),
    (Role.VIEWER, Action.READ_PROBLEMS, OTHER_VILLAGE, True),
    (Role.VIEWER, Action.READ_PROBLEMS, OTHER_PROVINCE_VILLAGE, False),
])
def test_role_by_action_by_scope(role: Role, action: Action, lineage: list[str],
                                 expected: bool) -> None:
    assert allowed([GRANTS[role]], action, lineage) is expected


def test_nobody_without_grants_may_do_anything() -> None:
    for action in Action:
        assert not allowed([], action, VILLAGE)


@pytest.mark.parametrize(("issuer", "role", "level", "lineage", "expected"), [
    (Role.CORE_TEAM, Role.VILLAGE_COMMITTEE, "village", VILLAGE, True),
    (Role.CORE_TEAM, Role.VILLAGE_COMMITTEE, "village", OTHER_VILLAGE, False),
    (Role.CORE_TEAM, Role.CORE_TEAM, "tambon", VILLAGE[1:], False),
    (Role.DISTRICT, Role.CORE_TEAM, "tambon", OTHER_VILLAGE[1:], True),
    (Role.DISTRICT, Role.TAO, "tambon", VILLAGE[1:], True),
    (Role.DISTRICT, Role.TAO, "tambon", OTHER_PROVINCE_VILLAGE[1:], False),
    (Role.DISTRICT, Role.VILLAGE_COMMITTEE, "village", VILLAGE, False),
    (Role.DISTRICT, Role.TAO, "village", VILLAGE, False),  # a TAO is granted on a tambon
    (Role.VILLAGE_COMMITTEE, Role.VILLAGE_COMMITTEE, "village", VILLAGE, False),
    (Role.VIEWER, Role.VIEWER, "province", VILLAGE[3:], False),
])
def test_who_may_invite_whom(issuer: Role, role: Role, level: str, lineage: list[str],
                             expected: bool) -> None:
    assert may_invite([GRANTS[issuer]], role, level, lineage) is expected
