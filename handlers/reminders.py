"""Planning reminders: who gets which reminder now, written to the outbox at once.

Each kind is one planner: a query for the areas concerned, the people holding the
right role there (minus paused people and switched-off tambons), and a message in
each reader's language. Every row carries a dedupe key naming the kind, the period
and the chat, so planning twice never sends twice. Bulk rows wait out quiet hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from handlers import area_names
from handlers.clock import BANGKOK, local_date
from handlers.messages import Choice, Reply
from handlers.opening import open_action
from handlers.schedule_time import QuietHours
from handlers.turn import MENU_PREFIX, Listing, Localized, render
from locales import format_date, t
from storage import areas, outbox, unreceived
from storage.connection import Connection
from storage.outbox import NewMessage
from storage.reminders import TIMING_TAMBON, Recipient, recipients
from storage.timestamps import to_db
from storage.unreceived import Unreceived

log = logging.getLogger(__name__)

Note = tuple[Recipient, str, dict[str, Any], str, str | None]  # who, key, params, dedupe, flow
Planner = Callable[[Connection, datetime, dict[str, Any]], Awaitable[list[Note]]]

OPEN_ITEMS = "('not_started', 'in_progress', 'stalled')"
YIELD_EVERY = 2000  # reminders built between two turns of the event loop


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _bangkok_midnight(day: date) -> str:
    return to_db(datetime.combine(day, time(0, 0), BANGKOK))


def _digest(values: list[Any]) -> str:
    return hashlib.sha1(json.dumps(values).encode()).hexdigest()[:12]


async def _counts(conn: Connection, sql: str, params: dict[str, Any]
                  ) -> dict[str, list[Any]]:
    return {r[0]: list(r[1:]) for r in await conn.fetchall_in_thread(sql, params)}


async def weekly_progress(conn: Connection, now: datetime, params: dict[str, Any]
                          ) -> list[Note]:
    """Roll-call: villages with open plan items that have not reported progress this week."""
    monday = _monday(local_date(now))
    villages = (
        "SELECT pi.village_code FROM plan_items pi JOIN plans pl ON pl.id = pi.plan_id"
        f" WHERE pl.status = 'open' AND pi.status IN {OPEN_ITEMS}"
        " AND NOT EXISTS (SELECT 1 FROM progress_updates pu"
        "   WHERE pu.village_code = pi.village_code AND pu.created_at >= :week_start)")
    found = await recipients(conn, role="village_committee", areas_sql=villages,
                             params={"week_start": _bangkok_midnight(monday)},
                             kind="weekly_progress", now=now)
    return [(r, "reminder.weekly_progress", {}, f"weekly_progress:{monday}:{r.identity_id}",
             "progress") for r in found]


async def overdue_items(conn: Connection, now: datetime, params: dict[str, Any]
                        ) -> list[Note]:
    """Items past their end date: the village is told; after the grace period, the core team."""
    today = local_date(now)
    week = _monday(today)
    grace_days = int(params.get("grace_days", 7))
    overdue = await _counts(
        conn, "SELECT village_code, group_concat(id) FROM plan_items"
        f" WHERE status IN {OPEN_ITEMS} AND end_on < :today GROUP BY village_code",
        {"today": today.isoformat()})
    notes: list[Note] = []
    villages_sql = (f"SELECT village_code FROM plan_items WHERE status IN {OPEN_ITEMS}"
                    " AND end_on < :today")
    for r in await recipients(conn, role="village_committee", areas_sql=villages_sql,
                              params={"today": today.isoformat()}, kind="overdue_items",
                              now=now):
        ids = overdue[r.area_code][0].split(",")
        notes.append((r, "reminder.overdue_village", {"count": len(ids)},
                      f"overdue:{r.area_code}:{_digest(ids)}:{week}:{r.identity_id}", "progress"))
    cutoff = (today - timedelta(days=grace_days)).isoformat()
    late = await _counts(
        conn, "SELECT substr(village_code, 1, 6), group_concat(id),"
        " COUNT(DISTINCT village_code) FROM plan_items"
        f" WHERE status IN {OPEN_ITEMS} AND end_on < :cutoff GROUP BY 1", {"cutoff": cutoff})
    tambons_sql = ("SELECT substr(village_code, 1, 6) FROM plan_items"
                   f" WHERE status IN {OPEN_ITEMS} AND end_on < :cutoff")
    for r in await recipients(conn, role="core_team", areas_sql=tambons_sql,
                              params={"cutoff": cutoff}, kind="overdue_items", now=now):
        ids, villages = late[r.area_code][0].split(","), late[r.area_code][1]
        notes.append((r, "reminder.overdue_core",
                      {"count": len(ids), "villages": villages, "days": grace_days},
                      f"overdue_core:{r.area_code}:{_digest(ids)}:{week}:{r.identity_id}",
                      "review_inbox"))
    return notes


_UNREVIEWED = " UNION ALL ".join(
    f"SELECT substr(village_code, 1, 6) AS tambon, '{table}' AS kind FROM {table}"
    " WHERE review_status = 'new'"
    for table in ("problems", "forums", "plan_items", "progress_updates", "lessons"))


async def core_digest(conn: Connection, now: datetime, params: dict[str, Any]
                      ) -> list[Note]:
    """One message a day to each core team: how many submissions wait for review."""
    today = local_date(now)
    counts = await _counts(conn, f"SELECT tambon, COUNT(*) FROM ({_UNREVIEWED}) GROUP BY tambon",
                           {})
    tambons_sql = f"SELECT tambon FROM ({_UNREVIEWED})"
    return [(r, "reminder.core_digest", {"count": counts[r.area_code][0]},
             f"core_digest:{r.area_code}:{today}:{r.identity_id}", "review_inbox")
            for r in await recipients(conn, role="core_team", areas_sql=tambons_sql, params={},
                                      kind="core_digest", now=now)]


async def decider_digest(conn: Connection, now: datetime, params: dict[str, Any]
                         ) -> list[Note]:
    """TAO and district deciders: requests waiting longer than N days."""
    today = local_date(now)
    days = int(params.get("waiting_days", 3))
    before = to_db(now - timedelta(days=days))
    notes: list[Note] = []
    for role, level, status, width, flow in (("tao", "tambon", "submitted", 6, "tao_queue"),
                                             ("district", "district", "forwarded", 4,
                                              "district_queue")):
        area = f"substr(village_code, 1, {width})"
        tail = (f"FROM support_requests WHERE level = '{level}' AND status = '{status}'"
                " AND updated_at < :before")
        waiting = f"SELECT {area} {tail}"
        counts = await _counts(conn, f"SELECT {area}, COUNT(*) {tail} GROUP BY 1",
                               {"before": before})
        for r in await recipients(conn, role=role, areas_sql=waiting, params={"before": before},
                                  kind="decider_digest", now=now):
            notes.append((r, "reminder.decider_digest",
                          {"count": counts[r.area_code][0], "days": days},
                          f"decider_digest:{r.area_code}:{today}:{r.identity_id}", flow))
    return notes


async def forum_monthly(conn: Connection, now: datetime, params: dict[str, Any]
                        ) -> list[Note]:
    """Villages that held no community forum in the last 30 days."""
    today = local_date(now)
    villages = ("SELECT area_code FROM role_grants WHERE role = 'village_committee'"
                " AND area_code NOT IN (SELECT village_code FROM forums WHERE held_on >= :since)")
    found = await recipients(conn, role="village_committee", areas_sql=villages,
                             params={"since": (today - timedelta(days=30)).isoformat()},
                             kind="forum_monthly", now=now)
    month = today.strftime("%Y-%m")
    return [(r, "reminder.forum_monthly", {}, f"forum_monthly:{month}:{r.identity_id}", "forum")
            for r in found]


async def lessons_due(conn: Connection, now: datetime, params: dict[str, Any]
                      ) -> list[Note]:
    """Open plans at (or past) the end of their period, with no lessons recorded."""
    today = local_date(now)
    horizon = (today + timedelta(days=int(params.get("days_before", 3)))).isoformat()
    ends = await _counts(
        conn, "SELECT village_code, id, period_end FROM plans WHERE status = 'open'"
        " AND period_end <= :horizon AND id NOT IN (SELECT plan_id FROM lessons)",
        {"horizon": horizon})
    villages = ("SELECT village_code FROM plans WHERE status = 'open' AND period_end <= :horizon"
                " AND id NOT IN (SELECT plan_id FROM lessons)")
    notes: list[Note] = []
    for r in await recipients(conn, role="village_committee", areas_sql=villages,
                              params={"horizon": horizon}, kind="lessons_due", now=now):
        plan_id, period_end = ends[r.area_code]
        notes.append((r, "reminder.lessons_due",
                      {"end": format_date(date.fromisoformat(period_end), r.language)},
                      f"lessons_due:{plan_id}:{r.identity_id}", "lessons"))
    return notes


async def _unreceived_line(conn: Connection, tambon: str, found: list[Unreceived],
                           language: str) -> str:
    kinds = Counter(u.kind for u in found)
    roles = dict.fromkeys(role for u in found for role in u.roles)
    return t(language, "reminder.unreceived_line",
             tambon=area_names.title(await areas.lineage(conn, tambon), language, depth=1),
             kinds=" · ".join(t(language, "reminder.unreceived_kind",
                                kind=t(language, f"unreceived.kind.{kind}"), count=count)
                              for kind, count in sorted(kinds.items())),
             since=format_date(local_date(min(u.at for u in found)), language),
             missing=render(language, "reminder.unreceived_missing", {"missing": Listing(
                 tuple(Localized(f"delivery.role.{r}") for r in roles), "list.or")}))


def _log_line(tambon: str, found: list[Unreceived]) -> str:
    kinds = Counter(u.kind for u in found)
    roles = dict.fromkeys(role for u in found for role in u.roles)
    return (f"tambon {tambon} (district {tambon[:4]}): "
            + ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
            + f" since {local_date(min(u.at for u in found))}, nobody as {'/'.join(roles)}")


async def unreceived_digest(conn: Connection, now: datetime, params: dict[str, Any]
                            ) -> list[Note]:
    """Once a day, to the district committee: its tambons with village submissions that
    nobody could receive (which tambon, what and how many, since when, who is missing).
    With nobody in the district either, one WARNING in the log lists those tambons for the
    administrators. Each tambon is reported once a day, however often this runs."""
    today = local_date(now)
    done = await unreceived.reported_on(conn, today)
    by_tambon: dict[str, list[Unreceived]] = {}
    for found in await unreceived.outstanding(conn):
        if found.tambon_code not in done:
            by_tambon.setdefault(found.tambon_code, []).append(found)
    if not by_tambon:
        return []
    by_district: dict[str, list[str]] = {}
    for tambon in sorted(by_tambon):
        by_district.setdefault(tambon[:4], []).append(tambon)
    # A notice, not a reminder: a personal pause does not hold it back.
    readers = await recipients(conn, role="district",
                               areas_sql="SELECT value FROM json_each(:districts)",
                               params={"districts": json.dumps(sorted(by_district))},
                               kind="unreceived_digest", now=now, honour_pauses=False)
    notes: list[Note] = []
    lines: dict[tuple[str, str], str] = {}
    for r in readers:
        tambons = by_district[r.area_code]
        for tambon in tambons:
            if (tambon, r.language) not in lines:
                lines[tambon, r.language] = await _unreceived_line(conn, tambon,
                                                                   by_tambon[tambon], r.language)
        notes.append((r, "reminder.unreceived",
                      {"lines": "\n".join(lines[tambon, r.language] for tambon in tambons)},
                      f"unreceived:{r.area_code}:{today}:{_digest(tambons)}:{r.identity_id}",
                      "issue_invite"))
    told = {r.area_code for r in readers}
    for district, tambons in by_district.items():
        for tambon in tambons:
            await unreceived.mark_reported(conn, now=now, day=today, tambon_code=tambon,
                                           to="district" if district in told else "log",
                                           count=len(by_tambon[tambon]))
    unheard = [tambon for district, tambons in by_district.items() if district not in told
               for tambon in tambons]
    if unheard:
        log.warning("submissions nobody could receive, with nobody in the district to tell"
                    " (%d tambons): %s", len(unheard),
                    "; ".join(_log_line(tambon, by_tambon[tambon]) for tambon in unheard))
    return notes


PLANNERS: dict[str, Planner] = {
    "weekly_progress": weekly_progress,
    "overdue_items": overdue_items,
    "core_digest": core_digest,
    "decider_digest": decider_digest,
    "forum_monthly": forum_monthly,
    "lessons_due": lessons_due,
    "unreceived_digest": unreceived_digest,
}


def _payload(language: str, key: str, params: dict[str, Any], flow: str | None,
             cache: dict[str, str]) -> str:
    cache_key = json.dumps([language, key, params, flow], sort_keys=True)
    if cache_key not in cache:
        # Like a notification's button (handlers/opening.py): it opens its flow also
        # while the person is in the middle of another question, keeping that one a draft.
        choices = (Choice(t(language, f"reminder.go.{flow}"),
                          f"{MENU_PREFIX}{open_action('flow', flow)}"),) if flow else ()
        reply = Reply(t(language, key, **params), choices)
        cache[cache_key] = json.dumps(reply.to_payload(), ensure_ascii=False)
    return cache[cache_key]


async def plan(conn: Connection, kind: str, now: datetime, params: dict[str, Any],
               quiet: QuietHours, tambon: str | None = None) -> int:
    """Queue this kind's reminders for everyone concerned now; returns how many were new.
    Without `tambon`: everyone but the tambons with their own time for the kind; with it:
    that tambon's people only, at its own time (handlers/reminder_times.py)."""
    timing = TIMING_TAMBON.set(tambon)
    try:
        notes = await PLANNERS[kind](conn, now, params)
    finally:
        TIMING_TAMBON.reset(timing)
    cache: dict[str, str] = {}
    messages: list[NewMessage] = []
    for i, (r, key, note_params, dedupe, flow) in enumerate(notes):
        if i % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)  # tens of thousands: let webhooks be answered meanwhile
        messages.append(NewMessage(r.channel, r.chat_id, r.person_id,
                                   _payload(r.language, key, note_params, flow, cache),
                                   f"reminder:{dedupe}"))
    return await outbox.enqueue_many(conn, messages, priority=outbox.BULK, now=now,
                                     not_before=quiet.next_allowed(now), batch=f"reminder:{kind}")
