"""Short menus: at most 6 buttons on every role's first screen, the rest one tap away under
"more", the draft to resume always in the same place, and a short "what next" after an
action instead of the whole menu again. Driven through the console as a person would."""

from __future__ import annotations

import re

import pytest

from handlers import menu
from handlers.flows import FLOWS
from handlers.permissions import Role
from locales import t
from storage import people
from storage.people import Grant
from tests.conftest import Harness

# The demo people (bot/demo.py): console persona number, role.
PERSONAS = {"1": Role.VILLAGE_COMMITTEE, "2": Role.CORE_TEAM, "3": Role.TAO,
            "4": Role.DISTRICT, "5": Role.VIEWER}
MORE = t("th", "menu.more")
HOME = t("th", "menu.home")
_BUTTON = re.compile(r"^   \[(\d+)\] (.+)$")


def buttons(out: str) -> list[tuple[str, str]]:
    """The numbered buttons of the last message on screen: (number, label)."""
    last = out.rsplit("🤖", 1)[-1]
    return [m.groups() for m in map(_BUTTON.match, last.splitlines()) if m]  # type: ignore[misc]


def labels(out: str) -> list[str]:
    return [label for _, label in buttons(out)]


def every_label(role: Role) -> set[str]:
    """Every menu entry the role has, from the flows' own declarations (and the one-shot
    actions of the menu), in Thai."""
    entries = [flow.menu for flow in FLOWS.values() if flow.menu and role in flow.menu.roles]
    entries += [entry for entry in menu._ACTIONS.values() if role in entry.roles]
    return {t("th", entry.label_key) for entry in entries}


async def make_draft(console: Harness) -> None:
    """A problem report left half way: a category chosen, then "menu"."""
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    out = await console.type("เมนู")
    assert "เก็บร่างไว้ให้แล้ว" in out


@pytest.mark.parametrize("persona", sorted(PERSONAS))
async def test_first_screen_has_at_most_six_buttons_and_more_has_the_rest(
        console: Harness, persona: str) -> None:
    role = PERSONAS[persona]
    await console.start(persona)
    first = labels(await console.type("เมนู"))
    assert 2 <= len(first) <= 6, first
    assert first[-1] == MORE
    more = labels(await console.type(MORE))
    assert more[-1] == HOME
    shown = first[:-1] + more[:-1]
    assert len(shown) == len(set(shown)), "an entry on both screens"
    assert set(shown) == every_label(role)
    out = await console.type(HOME)  # back to the first screen
    assert labels(out) == first


async def test_each_role_sees_its_most_frequent_actions_first(console: Harness) -> None:
    expected = {
        "1": ["รายงานปัญหา", "รายงานความคืบหน้า", "แผนของหมู่บ้าน", "บันทึกเวทีประชาคม"],
        "2": ["ตรวจรายงานจากหมู่บ้าน", "สรุปผล", "ออกรหัสเชิญ", "รายงานในพื้นที่"],
        "3": ["คำขอรอพิจารณา (อบต.)", "สรุปผล", "รายงานในพื้นที่", "เกณฑ์ส่งต่ออำเภอ"],
        "4": ["คำขอที่ส่งต่อมา (อำเภอ)", "สรุปผล", "รายงานในพื้นที่", "ออกรหัสเชิญ"],
        "5": ["สรุปผล", "ช่วยเหลือ"],
    }
    for persona, first in expected.items():
        await console.start(persona)
        assert labels(await console.type("เมนู"))[:-1] == first, persona


async def test_a_person_with_several_roles_still_gets_six_at_most(console: Harness) -> None:
    async with console.db.transaction() as conn:
        identity = await people.identity(conn, "console", "demo-village")
        assert identity and identity.person_id
        for role, area in ((Role.CORE_TEAM, "350101"), (Role.TAO, "350101"),
                           (Role.DISTRICT, "3501")):
            await people.add_grant(conn, identity.person_id, Grant(role, area), None,
                                   console.clock.now())
    await console.start("1")
    await make_draft(console)
    first = labels(await console.type("เมนู"))
    assert len(first) <= 6, first
    assert "รายงานปัญหา" in first and "ตรวจรายงานจากหมู่บ้าน" in first  # each role's top
    more = labels(await console.type(MORE))
    everything = set().union(*(every_label(r) for r in (Role.VILLAGE_COMMITTEE,
                                                          Role.CORE_TEAM, Role.TAO,
                                                          Role.DISTRICT)))
    assert set(first[:-2] + more[:-1]) == everything  # all but "more" and the draft


async def test_a_draft_is_the_last_entry_and_never_renumbers_the_others(
        console: Harness) -> None:
    await console.start("1")
    before = buttons(await console.type("เมนู"))
    await make_draft(console)
    after = buttons(await console.type("เมนู"))
    assert after[:-1] == before  # same numbers, same labels
    assert after[-1] == (str(len(before) + 1), "ทำต่อ: รายงานปัญหา")
    assert len(after) <= 6
    more = labels(await console.type(MORE))
    assert "ทำต่อ: รายงานปัญหา" not in more  # once, on the first screen
    await console.type(HOME)
    out = await console.type(after[-1][0])  # its number resumes the draft
    assert "ทำต่อจากร่าง: รายงานปัญหา" in out and "เล่าปัญหาสั้น" in out


async def test_what_next_after_a_report_is_short(console: Harness) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    await console.type("ไข้เลือดออกระบาดในหมู่บ้าน")
    await console.type("12")
    await console.type("ปานกลาง")
    await console.type("ข้าม")
    out = await console.type("✅ บันทึก")
    assert "บันทึกรายงานปัญหาแล้ว" in out
    after = labels(out)
    assert 2 <= len(after) <= 4, after
    assert after == ["รายงานปัญหา", "รายงานของหมู่บ้าน", HOME]
    assert "บันทึกเวทีประชาคม" not in out and MORE not in after  # not the whole menu
    out = await console.type("รายงานของหมู่บ้าน")  # the next step, one tap
    assert "#1" in out
    assert 2 <= len(labels(out)) <= 4
    out = await console.type(HOME)
    assert labels(out)[-1] == MORE  # the first screen again


async def test_what_next_offers_the_draft_and_stays_within_four(console: Harness) -> None:
    await console.start("1")
    await make_draft(console)
    await console.type("เพิ่มเติม")
    out = await console.type("ช่วยเหลือ")  # help: then the whole first screen
    assert labels(out)[-1] == "ทำต่อ: รายงานปัญหา"
    out = await console.type("รายงานของหมู่บ้าน")  # a one-shot action: what next
    after = labels(out)
    assert after == ["รายงานปัญหา", "ทำต่อ: รายงานปัญหา", HOME]


@pytest.mark.parametrize("persona", sorted(PERSONAS))
async def test_what_next_for_every_role_after_a_one_shot_or_nothing_to_do(
        console: Harness, persona: str) -> None:
    await console.start(persona)
    first = labels(await console.type("เมนู"))
    out = await console.type(first[0])  # the role's top action, on an empty demo tambon
    if "ต้องการทำอะไรต่อครับ" in out:  # nothing to do there: said so, then what next
        after = labels(out)
        assert 2 <= len(after) <= 4 and after[-1] == HOME
        assert first[0] not in after  # not offered again what just could not start


def test_every_next_step_a_flow_offers_exists() -> None:
    actions = set(FLOWS) | set(menu._ACTIONS)
    for name, flow in FLOWS.items():
        if flow.menu:
            assert set(flow.menu.then) <= actions, name
            for role in flow.menu.first:
                assert role in flow.menu.roles, (name, role)
    for role in PERSONAS.values():  # each role has 1 to 4 ranked entries of its own
        ranked = [f for f in FLOWS.values() if f.menu and role in f.menu.first]
        ranked += [e for e in menu._ACTIONS.values() if role in e.first]
        assert 1 <= len(ranked) <= menu.PRIMARY_MAX, role
