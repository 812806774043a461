"""Every role × every action × in scope / out of scope, through the one permission check,
on real area lineages from the database: no leak across areas, no role beyond its own."""

from __future__ import annotations

import pytest

from handlers.permissions import ACTION_ROLES, Action, PermissionDenied, Role, check
from storage import areas
from storage.db import Database
from storage.people import Grant

# The grant each role holds in the demo, and a village inside / outside its scope.
HOME_VILLAGE = "35010101"
SCOPES: dict[Role, tuple[str, str, str]] = {
    # role: (granted area, a village inside it, a village outside it)
    Role.VILLAGE_COMMITTEE: ("35010101", "35010101", "35010102"),
    Role.CORE_TEAM: ("350101", "35010102", "35010201"),
    Role.TAO: ("350101", "35010103", "35010201"),
    Role.DISTRICT: ("3501", "35010201", "35020101"),
    Role.VIEWER: ("35", "35020101", "10010101"),
}
NETWORK_VIEWER = ("LN03", "35010101", "10010101")  # Ubon Ratchathani network has Yasothon


@pytest.fixture
async def villages(database: Database) -> Database:
    async with database.transaction() as conn:
        for code in {c for scope in [*SCOPES.values(), NETWORK_VIEWER] for c in scope[1:]}:
            await areas.add_village(conn, code[:6], int(code[6:]), f"village {code}")
    return database


async def _allowed(db: Database, grant: Grant, action: Action, village: str) -> bool:
    async with db.read() as conn:
        try:
            await check(conn, [grant], action, village)
        except PermissionDenied:
            return False
    return True


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(SCOPES))
async def test_role_action_scope(villages: Database, role: Role, action: Action) -> None:
    granted, inside, outside = SCOPES[role]
    grant = Grant(role, granted)
    assert await _allowed(villages, grant, action, inside) is (role in ACTION_ROLES[action])
    assert await _allowed(villages, grant, action, outside) is False


@pytest.mark.parametrize("action", list(Action))
async def test_learning_network_viewer(villages: Database, action: Action) -> None:
    granted, inside, outside = NETWORK_VIEWER
    grant = Grant(Role.VIEWER, granted)
    expected = Role.VIEWER in ACTION_ROLES[action]
    assert await _allowed(villages, grant, action, inside) is expected
    assert await _allowed(villages, grant, action, outside) is False


def test_viewers_only_read() -> None:
    writes = [a for a, roles in ACTION_ROLES.items() if Role.VIEWER in roles]
    # Signing in to the web site and downloading exports are reading too.
    assert set(writes) <= {Action.READ_PROBLEMS, Action.READ_CYCLE, Action.SIGN_IN_WEB,
                           Action.EXPORT}


def test_every_action_has_an_owner() -> None:
    assert set(ACTION_ROLES) == set(Action)
