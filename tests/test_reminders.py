"""Reminders: persisted schedules in Bangkok time, roll-call, quiet hours, pauses,
per-tambon switches, digests — each message queued once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.console import ConsoleSender
from bot.outbox_sender import OutboxSender
from bot.scheduler import Scheduler
from handlers.clock import BANGKOK, FixedClock
from handlers.schedule_time import QuietHours
from storage import people, plans, problems, reminders
from storage.db import Database
from storage.people import Grant

VILLAGES = ("35010101", "35010102", "35010103")


def bkk(*args: int) -> datetime:
    return datetime(*args, tzinfo=BANGKOK).astimezone(UTC)  # type: ignore[misc]


async def _committee(db: Database, village: str, clock: FixedClock) -> int:
    """A village committee member on `village`, reachable on the console."""
    async with db.transaction() as conn:
        person = await people.create_person(conn, f"member {village}", "th", clock.now())
        identity = await people.ensure_identity(conn, "console", f"m-{village}", f"m-{village}",
                                                clock.now())
        await people.link_identity(conn, identity.id, person)
        await people.add_grant(conn, person, Grant("village_committee", village), None,
                               clock.now())
    return person


async def _plan_with_open_item(db: Database, village: str, person: int, clock: FixedClock,
                               end_on: date = date(2025, 6, 30)) -> plans.PlanItem:
    async with db.transaction() as conn:
        plan_id = await plans.create_plan(conn, village_code=village,
                                          period_start=date(2025, 1, 1),
                                          period_end=date(2025, 12, 31), person_id=person,
                                          now=clock.now())
        item_id = await plans.add_item(
            conn, plan_id=plan_id, village_code=village, title="ขุดลอกฝาย",
            approach="self_reliance", partner="", budget_needed=0, own_money=0, own_labour="",
            start_on=date(2025, 1, 1), end_on=end_on, responsible="ผญบ.", problem_ids=[],
            person_id=person, now=clock.now())
        item = await plans.get_item(conn, item_id)
    assert item is not None
    return item


async def _queued(db: Database, batch: str) -> list[tuple[str, str]]:
    async with db.read() as conn, conn.execute(
            "SELECT chat_id, next_attempt_at FROM outbox WHERE batch = ? ORDER BY chat_id",
            (batch,)) as cur:
        return [tuple(r) for r in await cur.fetchall()]


@pytest.fixture
async def cycle(seeded: Database, clock: FixedClock) -> dict[str, int]:
    members = {v: await _committee(seeded, v, clock) for v in VILLAGES}
    for village, person in members.items():
        await _plan_with_open_item(seeded, village, person, clock)
    return members


async def test_roll_call_reminds_only_villages_without_a_report_this_week(
        seeded: Database, clock: FixedClock, cycle: dict[str, int]) -> None:
    scheduler = Scheduler(seeded, clock, QuietHours())
    assert await scheduler.run_due() == {}  # the first run only sets the times
    # Village 1 reports progress early on Monday 13 Jan 2025; the roll-call runs at 09:00.
    clock.set(bkk(2025, 1, 13, 8, 0))
    async with seeded.transaction() as conn:
        item = (await plans.open_items_of_village(conn, "35010101"))[0]
        await plans.add_progress(conn, item=item, status="in_progress", percent=30, note="",
                                 photo_ref=None, photo_platform_id=None, stalled_reason=None,
                                 reporter_id=cycle["35010101"], now=clock.now())
    clock.set(bkk(2025, 1, 13, 9, 0))
    queued = await scheduler.run_due()
    assert queued["weekly_progress"] == 2
    assert [chat for chat, _ in await _queued(seeded, "reminder:weekly_progress")] == [
        "m-35010102", "m-35010103"]
    # Planned again the same week (a restart, a second process): nothing new.
    async with seeded.transaction() as conn:
        from handlers import reminders as planner

        assert await planner.plan(conn, "weekly_progress", clock.now(), {}, QuietHours()) == 0


async def test_a_reminder_due_at_night_goes_out_at_seven(
        seeded: Database, clock: FixedClock) -> None:
    async with seeded.transaction() as conn:
        await problems.insert(conn, village_code="35010101", category="water",
                              description="บ่อแห้ง", households=5, severity=2, photo_ref=None,
                              photo_platform_id=None, latitude=None, longitude=None,
                              reporter_id=1, now=clock.now())
        await reminders.update_schedule(conn, "core_digest", hour=22, minute=0)
    clock.set(bkk(2025, 1, 10, 21, 0))
    scheduler = Scheduler(seeded, clock, QuietHours())
    await scheduler.run_due()
    clock.set(bkk(2025, 1, 10, 22, 0))
    assert (await scheduler.run_due())["core_digest"] == 1
    [(chat, due)] = await _queued(seeded, "reminder:core_digest")
    assert chat == "demo-core" and datetime.fromisoformat(due) == bkk(2025, 1, 11, 7, 0)

    screen_lines: list[str] = []
    sender = OutboxSender(seeded, [ConsoleSender(screen_lines.append)], clock)
    assert await sender.deliver_due() == 0  # 22:00: the night is quiet
    clock.set(bkk(2025, 1, 11, 6, 59))
    assert await sender.deliver_due() == 0
    clock.set(bkk(2025, 1, 11, 7, 0))
    assert await sender.deliver_due() == 1
    assert "รายงานจากหมู่บ้านรอตรวจ 1 เรื่อง" in screen_lines[0]
    assert "[1] ตรวจรายงาน" in screen_lines[0]


async def test_paused_people_and_switched_off_tambons_get_nothing(
        seeded: Database, clock: FixedClock, cycle: dict[str, int]) -> None:
    async with seeded.transaction() as conn:
        await reminders.pause(conn, cycle["35010102"], None, clock.now())
        await reminders.pause(conn, cycle["35010103"], clock.now() - timedelta(hours=1),
                              clock.now() - timedelta(days=2))  # a pause that has ended
    scheduler = Scheduler(seeded, clock, QuietHours())
    await scheduler.run_due()
    clock.set(bkk(2025, 1, 13, 9, 0))
    await scheduler.run_due()
    assert [c for c, _ in await _queued(seeded, "reminder:weekly_progress")] == [
        "demo-village", "m-35010101", "m-35010103"]

    async with seeded.transaction() as conn:
        await reminders.set_tambon_switch(conn, "350101", "weekly_progress", False, None,
                                          clock.now())
    clock.set(bkk(2025, 1, 20, 9, 0))
    assert (await scheduler.run_due()).get("weekly_progress") == 0


async def test_overdue_items_tell_the_village_then_the_core_team_after_grace(
        seeded: Database, clock: FixedClock) -> None:
    member = await _committee(seeded, "35010102", clock)
    await _plan_with_open_item(seeded, "35010102", member, clock, end_on=date(2025, 1, 8))
    async with seeded.transaction() as conn:
        from handlers import reminders as planner

        queued = await planner.plan(conn, "overdue_items", clock.now(), {"grace_days": 7},
                                    QuietHours())
    assert queued == 1  # the village; the core team only after the grace period
    assert [c for c, _ in await _queued(seeded, "reminder:overdue_items")] == ["m-35010102"]
    clock.advance(timedelta(days=8))
    async with seeded.transaction() as conn:
        assert await planner.plan(conn, "overdue_items", clock.now(), {"grace_days": 7},
                                  QuietHours()) == 2  # a new week for the village, and the core
    assert "demo-core" in [c for c, _ in await _queued(seeded, "reminder:overdue_items")]


async def test_schedules_survive_a_restart(db_path, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    async with Database(db_path) as db:
        await Scheduler(db, clock, QuietHours()).run_due()
        async with db.read() as conn:
            before = {s.kind: s.next_run_at for s in await reminders.schedules(conn)}
    assert all(before.values())
    async with Database(db_path) as db, db.read() as conn:
        after = {s.kind: s.next_run_at for s in await reminders.schedules(conn)}
    assert after == before
    assert before["weekly_progress"] == bkk(2025, 1, 13, 9, 0)


async def test_the_roll_call_reaches_a_village_leader_on_the_console(
        console, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    await _plan_with_open_item(console.db, "35010101", 1, clock)
    console.chat.scheduler = Scheduler(console.db, clock, QuietHours())
    await console.start("2")
    await console.type("เมนู")  # the first look at the schedules only sets their times
    clock.set(bkk(2025, 1, 13, 9, 0))
    out = await console.type("เมนู")
    assert "มีข้อความใหม่ 1 ข้อความถึง สมศรี" in out
    out = await console.type("/as 1")
    assert "สัปดาห์นี้หมู่บ้านยังไม่ได้รายงานความคืบหน้า" in out
    assert "[1] รายงานความคืบหน้า" in out
