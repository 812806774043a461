"""Area summaries on a hand-built cycle with known answers: every number of every section
for a village, its tambon, district 3501, province 35 (Yasothon), learning network LN03
and the nation; empty areas; other areas' data never counted; Bangkok day boundaries.

The data (instants in Bangkok time; period 1 Jan - 31 Mar 2025, today 10 Apr 2025):

  V1 35010101  problems: jobs 10 (5 Jan), debt 4 (1 Feb 03:00 = 31 Jan UTC), jobs 6
               (31 Mar 23:30), health 2 (1 Jan 00:05); outside: water 3 (1 Apr 00:10),
               water 7 (31 Dec 23:50).
               plan A (Jul-Dec 2024, closed): a1 self, done 28 Dec, outcome "no" 3 Jan.
               plan B (Jan-Jun 2025): b1 self in progress 40% ends 10 Mar; b2 external
               done 15 Feb, outcome "yes" 12 households 20 Feb; b3 cooperation stalled 20%;
               b4 external withdrawn; b5 external not started, ends 1 Mar.
               requests: b2 40,000 funded 35,000; b5 20,000 submitted; b2 10,000
               returned; outside: b5 25,000 (20 Dec) forwarded.
               forums: 15 Jan (30), 31 Mar (25); outside: 31 Dec (40).
  V2 35010102  problems: farm_prices 20 (5 Mar), jobs 1 (20 Jan).
               plan C (Oct 2024 - Mar 2025): c1 self done 20 Dec, outcome "partly" 8
               households 5 Jan; c2 cooperation in progress 50%; c3 self entered done
               (no progress) 5 Mar. forum 20 Feb (18). Last submission 5 Mar: silent.
  V3 35010103  nothing at all.
  W  35011001  (tambon 350110, district 3501) health 5 (14 Feb); d1 external in progress
               30% ends 28 Feb; its request 15,000 forwarded; forum 10 Mar (12).
  X  35020101  (district 3502) jobs 8 (25 Jan); e1 cooperation done 20 Mar, outcome
               "yes" 30 households 25 Mar.
  Y  34010101  (province 34, LN03) debt 9 (12 Mar); forum held 1 Jan (40); plan F
               (Apr-Sep 2025) item f1 own money 500, its request 9,000 on 31 Mar 23:00.
  Z  50010101  (province 50, LN05) water 11 (8 Jan).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from handlers.clock import BANGKOK
from handlers.summaries import UnknownArea, compute_summary
from handlers.summary_model import (
    AreaValue,
    CategoryImpact,
    ImpactSection,
    MonthImpact,
    ParticipationSection,
    Period,
    PlansSection,
    ResultsSection,
    Summary,
    SupportSection,
)
from storage import areas, forums, plans, problems, support_requests
from storage.db import Database

PERIOD = Period(date(2025, 1, 1), date(2025, 3, 31), "3months")
TODAY = date(2025, 4, 10)
V1, V2, V3 = "35010101", "35010102", "35010103"
W, X, Y, Z = "35011001", "35020101", "34010101", "50010101"
PERSON = 1

# How a village is named in a ranking: itself and its tambon.
RANKED = {
    V1: ("หมู่ที่ 1 บ้านโนนสูง ต.ในเมือง", "Village No. 1 Ban Non Sung Tambon Nai Mueang"),
    V2: ("หมู่ที่ 2 บ้านหนองบัว ต.ในเมือง", "Village No. 2 Ban Nong Bua Tambon Nai Mueang"),
    V3: ("หมู่ที่ 3 บ้านดอนแดง ต.ในเมือง", "Village No. 3 Ban Don Daeng Tambon Nai Mueang"),
    W: ("หมู่ที่ 1 บ้านสิงห์ ต.สิงห์", "Village No. 1 Ban Sing Tambon Sing"),
    X: ("หมู่ที่ 1 บ้านทรายมูล ต.ทรายมูล", "Village No. 1 Ban Sai Mun Tambon Sai Mun"),
    Y: ("หมู่ที่ 1 บ้านในเมือง ต.ในเมือง", "Village No. 1 Ban Nai Mueang Tambon Nai Mueang"),
    Z: ("หมู่ที่ 1 บ้านศรีภูมิ ต.ศรีภูมิ", "Village No. 1 Ban Si Phum Tambon Si Phum"),
}


def bkk(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BANGKOK)


def ranked(code: str, value: int) -> AreaValue:
    return AreaValue(code, *RANKED[code], value)


def months(*counts: tuple[int, int]) -> list[MonthImpact]:
    return [MonthImpact(m, p, h) for m, (p, h) in zip(("2025-01", "2025-02", "2025-03"), counts,
                                                      strict=True)]


def no_requests() -> dict[str, int]:
    return dict.fromkeys(("submitted", "forwarded", "funded", "returned"), 0)


# --- the data ------------------------------------------------------------------------------------

async def _problem(conn: object, village: str, category: str, households: int,
                   at: datetime) -> None:
    await problems.insert(conn, village_code=village, category=category,  # type: ignore[arg-type]
                          description="x" * 10, households=households, severity=2,
                          photo_ref=None, photo_platform_id=None, latitude=None, longitude=None,
                          reporter_id=PERSON, now=at)


async def _forum(conn: object, village: str, held_on: date, participants: int,
                 created: datetime) -> None:
    await forums.insert(conn, village_code=village, held_on=held_on,  # type: ignore[arg-type]
                        participants=participants, groups_present=[], other_groups="",
                        notes="", photo_ref=None, photo_platform_id=None, problem_ids=[],
                        reporter_id=PERSON, now=created)


async def _plan(conn: object, village: str, start: date, end: date, created: datetime) -> int:
    return await plans.create_plan(conn, village_code=village,  # type: ignore[arg-type]
                                   period_start=start, period_end=end, person_id=PERSON,
                                   now=created)


async def _item(conn: object, plan_id: int, village: str, approach: str, start: date, end: date,
                created: datetime, *, budget: int = 0, own_money: int = 0,
                status: str = "not_started", percent: int = 0) -> int:
    return await plans.add_item(
        conn, plan_id=plan_id, village_code=village, title="item",  # type: ignore[arg-type]
        approach=approach, partner="", budget_needed=budget, own_money=own_money, own_labour="",
        start_on=start, end_on=end, responsible="someone", problem_ids=[], person_id=PERSON,
        now=created, status=status, percent=percent)


async def _progress(conn: object, item_id: int, status: str, percent: int, at: datetime) -> None:
    item = await plans.get_item(conn, item_id)  # type: ignore[arg-type]
    assert item is not None
    await plans.add_progress(conn, item=item, status=status,  # type: ignore[arg-type]
                             percent=percent, note="", photo_ref=None, photo_platform_id=None,
                             stalled_reason="rain" if status == "stalled" else None,
                             reporter_id=PERSON, now=at)


async def _request(conn: object, item_id: int, village: str, amount: int, at: datetime) -> int:
    return await support_requests.create(conn, item_id=item_id,  # type: ignore[arg-type]
                                         village_code=village, amount=amount, purpose="tools",
                                         person_id=PERSON, now=at)


async def _village_one(conn: object) -> None:
    for category, households, at in (
            ("jobs", 10, bkk(2025, 1, 5)), ("debt", 4, bkk(2025, 2, 1, 3, 0)),
            ("jobs", 6, bkk(2025, 3, 31, 23, 30)), ("health", 2, bkk(2025, 1, 1, 0, 5)),
            ("water", 3, bkk(2025, 4, 1, 0, 10)), ("water", 7, bkk(2024, 12, 31, 23, 50))):
        await _problem(conn, V1, category, households, at)
    plan_a = await _plan(conn, V1, date(2024, 7, 1), date(2024, 12, 31), bkk(2024, 6, 25))
    a1 = await _item(conn, plan_a, V1, "self_reliance", date(2024, 8, 1), date(2024, 11, 30),
                     bkk(2024, 6, 26))
    await _progress(conn, a1, "done", 100, bkk(2024, 12, 28))
    await plans.confirm_outcome(conn, a1, "no", 0, bkk(2025, 1, 3))  # type: ignore[arg-type]
    await plans.close_plan(conn, plan_a, bkk(2024, 12, 31))  # type: ignore[arg-type]

    plan_b = await _plan(conn, V1, date(2025, 1, 1), date(2025, 6, 30), bkk(2024, 12, 10))
    created = bkk(2024, 12, 15)
    b1 = await _item(conn, plan_b, V1, "self_reliance", date(2025, 1, 5), date(2025, 3, 10),
                     created)
    b2 = await _item(conn, plan_b, V1, "external_support", date(2025, 1, 10), date(2025, 3, 31),
                     created, budget=50_000, own_money=5_000)
    b3 = await _item(conn, plan_b, V1, "cooperation", date(2025, 2, 1), date(2025, 5, 31),
                     created)
    b4 = await _item(conn, plan_b, V1, "external_support", date(2025, 1, 1), date(2025, 2, 1),
                     created, budget=9_000, own_money=3_000)
    b5 = await _item(conn, plan_b, V1, "external_support", date(2025, 1, 15), date(2025, 3, 1),
                     created, budget=30_000, own_money=2_000)
    await _progress(conn, b1, "in_progress", 40, bkk(2025, 2, 1))
    await _progress(conn, b2, "in_progress", 50, bkk(2025, 1, 20))
    await _progress(conn, b2, "done", 100, bkk(2025, 2, 15))
    await plans.confirm_outcome(conn, b2, "yes", 12, bkk(2025, 2, 20))  # type: ignore[arg-type]
    await _progress(conn, b3, "stalled", 20, bkk(2025, 3, 1))
    await plans.withdraw_item(conn, b4, "not needed", bkk(2025, 1, 25))  # type: ignore[arg-type]

    early = await _request(conn, b5, V1, 25_000, bkk(2024, 12, 20))
    await support_requests.forward(conn, early, note="", person_id=PERSON,  # type: ignore[arg-type]
                                   now=bkk(2024, 12, 22))
    funded = await _request(conn, b2, V1, 40_000, bkk(2025, 1, 10))
    await support_requests.fund(conn, funded, level="tambon",  # type: ignore[arg-type]
                                amount=35_000, person_id=PERSON, now=bkk(2025, 1, 15))
    await _request(conn, b5, V1, 20_000, bkk(2025, 2, 5))
    returned = await _request(conn, b2, V1, 10_000, bkk(2025, 3, 1))
    await support_requests.return_(conn, returned, level="tambon",  # type: ignore[arg-type]
                                   reason="asked twice", person_id=PERSON, now=bkk(2025, 3, 3))

    await _forum(conn, V1, date(2025, 1, 15), 30, bkk(2025, 1, 15, 18))
    await _forum(conn, V1, date(2025, 3, 31), 25, bkk(2025, 4, 1, 9))
    await _forum(conn, V1, date(2024, 12, 31), 40, bkk(2024, 12, 31, 18))


async def _village_two(conn: object) -> None:
    await _problem(conn, V2, "farm_prices", 20, bkk(2025, 3, 5))
    await _problem(conn, V2, "jobs", 1, bkk(2025, 1, 20))
    plan_c = await _plan(conn, V2, date(2024, 10, 1), date(2025, 3, 31), bkk(2024, 9, 25))
    c1 = await _item(conn, plan_c, V2, "self_reliance", date(2024, 10, 5), date(2024, 12, 15),
                     bkk(2024, 9, 26))
    c2 = await _item(conn, plan_c, V2, "cooperation", date(2025, 1, 10), date(2025, 4, 30),
                     bkk(2024, 9, 26))
    await _item(conn, plan_c, V2, "self_reliance", date(2025, 2, 1), date(2025, 3, 1),
                bkk(2025, 3, 5, 8), status="done", percent=100)
    await _progress(conn, c1, "done", 100, bkk(2024, 12, 20))
    await plans.confirm_outcome(conn, c1, "partly", 8, bkk(2025, 1, 5))  # type: ignore[arg-type]
    await _progress(conn, c2, "in_progress", 50, bkk(2025, 2, 10))
    await _forum(conn, V2, date(2025, 2, 20), 18, bkk(2025, 2, 20, 18))


async def _other_villages(conn: object) -> None:
    await _problem(conn, W, "health", 5, bkk(2025, 2, 14))
    plan_d = await _plan(conn, W, date(2025, 1, 1), date(2025, 12, 31), bkk(2024, 12, 20))
    d1 = await _item(conn, plan_d, W, "external_support", date(2025, 1, 10), date(2025, 2, 28),
                     bkk(2024, 12, 21), budget=15_000, own_money=1_000)
    await _progress(conn, d1, "in_progress", 30, bkk(2025, 2, 10))
    forwarded = await _request(conn, d1, W, 15_000, bkk(2025, 2, 16))
    await support_requests.forward(conn, forwarded, note="",  # type: ignore[arg-type]
                                   person_id=PERSON, now=bkk(2025, 2, 18))
    await _forum(conn, W, date(2025, 3, 10), 12, bkk(2025, 3, 10, 18))

    await _problem(conn, X, "jobs", 8, bkk(2025, 1, 25))
    plan_e = await _plan(conn, X, date(2025, 1, 1), date(2025, 6, 30), bkk(2024, 12, 20))
    e1 = await _item(conn, plan_e, X, "cooperation", date(2025, 1, 5), date(2025, 6, 30),
                     bkk(2024, 12, 21))
    await _progress(conn, e1, "done", 100, bkk(2025, 3, 20))
    await plans.confirm_outcome(conn, e1, "yes", 30, bkk(2025, 3, 25))  # type: ignore[arg-type]

    await _problem(conn, Y, "debt", 9, bkk(2025, 3, 12))
    await _forum(conn, Y, date(2025, 1, 1), 40, bkk(2025, 1, 1, 19))
    plan_f = await _plan(conn, Y, date(2025, 4, 1), date(2025, 9, 30), bkk(2025, 3, 20))
    f1 = await _item(conn, plan_f, Y, "external_support", date(2025, 4, 1), date(2025, 6, 30),
                     bkk(2025, 3, 21), budget=9_000, own_money=500)
    await _request(conn, f1, Y, 9_000, bkk(2025, 3, 31, 23, 0))

    await _problem(conn, Z, "water", 11, bkk(2025, 1, 8))


@pytest.fixture
async def cycle(seeded: Database) -> Database:
    async with seeded.transaction() as conn:
        for tambon, name_th, name_en in (("350110", "บ้านสิงห์", "Ban Sing"),
                                         ("350201", "บ้านทรายมูล", "Ban Sai Mun"),
                                         ("340101", "บ้านในเมือง", "Ban Nai Mueang"),
                                         ("500101", "บ้านศรีภูมิ", "Ban Si Phum")):
            await areas.add_village(conn, tambon, 1, name_th, name_en)
        await _village_one(conn)
        await _village_two(conn)
        await _other_villages(conn)
    return seeded


async def summary(db: Database, code: str, period: Period = PERIOD, today: date = TODAY,
                  silent_days: int = 30) -> Summary:
    async with db.read() as conn:
        return await compute_summary(conn, code, period, today, silent_days=silent_days)


async def child_codes(db: Database, parent: str) -> list[str]:
    async with db.read() as conn, conn.execute(
            "SELECT code FROM areas WHERE parent_code = ? ORDER BY code", (parent,)) as cur:
        return [r[0] for r in await cur.fetchall()]


async def assert_children(db: Database, s: Summary, counted: dict[str, int]) -> None:
    """Every area one level down, by code, with its problems (zero unless in `counted`)."""
    expected = [(c, counted.get(c, 0)) for c in await child_codes(db, s.area_code)]
    assert [(c.code, c.value) for c in s.children] == expected
    assert sum(c.value for c in s.children) == s.impact.problems


# --- the six levels ------------------------------------------------------------------------------

async def test_village(cycle: Database) -> None:
    s = await summary(cycle, V1)
    assert (s.area_code, s.level, s.period, s.today) == (V1, "village", PERIOD, TODAY)
    assert s.name_th == "หมู่ที่ 1 บ้านโนนสูง ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร"
    assert s.name_en == ("Village No. 1 Ban Non Sung Tambon Nai Mueang District Mueang Yasothon"
                         " Yasothon Province")
    assert s.impact == ImpactSection(
        problems=4, households=22,
        by_category=[CategoryImpact("jobs", 2, 16), CategoryImpact("debt", 1, 4),
                     CategoryImpact("health", 1, 2)],
        by_month=months((2, 12), (1, 4), (1, 6)),
        most_affected=[ranked(V1, 22)])
    assert s.plans == PlansSection(
        items=4,
        by_approach={"self_reliance": 1, "cooperation": 1, "external_support": 2},
        by_status={"not_started": 1, "in_progress": 1, "done": 1, "stalled": 1},
        average_percent=40.0, overdue=2, stalled=1)
    assert s.support == SupportSection(
        by_status={"submitted": 1, "forwarded": 0, "funded": 1, "returned": 1},
        amount_by_status={"submitted": 20_000, "forwarded": 0, "funded": 40_000,
                          "returned": 10_000},
        amount_requested=70_000, amount_granted=35_000, own_money=7_000)
    assert s.participation == ParticipationSection(
        forums=2, participants=55, villages=1, villages_with_forum=1, silent_days=30,
        silent_villages=0, most_silent=[])
    assert s.results == ResultsSection(items_done=1, confirmed=2,
                                       solved={"yes": 1, "partly": 0, "no": 1},
                                       households_helped=12)
    assert s.children == []


async def test_tambon(cycle: Database) -> None:
    s = await summary(cycle, "350101")
    assert (s.level, s.name_th) == ("tambon", "ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร")
    assert s.name_en == "Tambon Nai Mueang District Mueang Yasothon Yasothon Province"
    assert s.impact == ImpactSection(
        problems=6, households=43,
        by_category=[CategoryImpact("jobs", 3, 17), CategoryImpact("farm_prices", 1, 20),
                     CategoryImpact("debt", 1, 4), CategoryImpact("health", 1, 2)],
        by_month=months((3, 13), (1, 4), (2, 26)),
        most_affected=[ranked(V1, 22), ranked(V2, 21)])
    assert s.plans == PlansSection(
        items=7,
        by_approach={"self_reliance": 3, "cooperation": 2, "external_support": 2},
        by_status={"not_started": 1, "in_progress": 2, "done": 3, "stalled": 1},
        average_percent=58.6, overdue=2, stalled=1)  # 410 / 7
    assert s.support == SupportSection(
        by_status={"submitted": 1, "forwarded": 0, "funded": 1, "returned": 1},
        amount_by_status={"submitted": 20_000, "forwarded": 0, "funded": 40_000,
                          "returned": 10_000},
        amount_requested=70_000, amount_granted=35_000, own_money=7_000)
    assert s.participation == ParticipationSection(
        forums=3, participants=73, villages=3, villages_with_forum=2, silent_days=30,
        silent_villages=2, most_silent=[ranked(V2, 36), ranked(V3, 30)])
    assert s.results == ResultsSection(items_done=2, confirmed=3,
                                       solved={"yes": 1, "partly": 1, "no": 1},
                                       households_helped=20)
    assert s.children == [
        AreaValue(V1, "หมู่ที่ 1 บ้านโนนสูง", "Village No. 1 Ban Non Sung", 4),
        AreaValue(V2, "หมู่ที่ 2 บ้านหนองบัว", "Village No. 2 Ban Nong Bua", 2),
        AreaValue(V3, "หมู่ที่ 3 บ้านดอนแดง", "Village No. 3 Ban Don Daeng", 0)]


async def test_district(cycle: Database) -> None:
    s = await summary(cycle, "3501")
    assert (s.level, s.name_th) == ("district", "อ.เมืองยโสธร จ.ยโสธร")
    assert s.impact == ImpactSection(
        problems=7, households=48,
        by_category=[CategoryImpact("jobs", 3, 17), CategoryImpact("health", 2, 7),
                     CategoryImpact("farm_prices", 1, 20), CategoryImpact("debt", 1, 4)],
        by_month=months((3, 13), (2, 9), (2, 26)),
        most_affected=[ranked(V1, 22), ranked(V2, 21), ranked(W, 5)])
    assert s.plans == PlansSection(
        items=8,
        by_approach={"self_reliance": 3, "cooperation": 2, "external_support": 3},
        by_status={"not_started": 1, "in_progress": 3, "done": 3, "stalled": 1},
        average_percent=55.0, overdue=3, stalled=1)
    assert s.support == SupportSection(
        by_status={"submitted": 1, "forwarded": 1, "funded": 1, "returned": 1},
        amount_by_status={"submitted": 20_000, "forwarded": 15_000, "funded": 40_000,
                          "returned": 10_000},
        amount_requested=85_000, amount_granted=35_000, own_money=8_000)
    assert s.participation == ParticipationSection(
        forums=4, participants=85, villages=4, villages_with_forum=3, silent_days=30,
        silent_villages=3, most_silent=[ranked(V2, 36), ranked(W, 31), ranked(V3, 30)])
    assert s.results == ResultsSection(items_done=2, confirmed=3,
                                       solved={"yes": 1, "partly": 1, "no": 1},
                                       households_helped=20)
    await assert_children(cycle, s, {"350101": 6, "350110": 1})
    assert s.children[0] == AreaValue("350101", "ต.ในเมือง", "Tambon Nai Mueang", 6)


async def test_province(cycle: Database) -> None:
    s = await summary(cycle, "35")
    assert (s.level, s.name_th, s.name_en) == ("province", "จ.ยโสธร", "Yasothon Province")
    assert s.impact == ImpactSection(
        problems=8, households=56,
        by_category=[CategoryImpact("jobs", 4, 25), CategoryImpact("health", 2, 7),
                     CategoryImpact("farm_prices", 1, 20), CategoryImpact("debt", 1, 4)],
        by_month=months((4, 21), (2, 9), (2, 26)),
        most_affected=[ranked(V1, 22), ranked(V2, 21), ranked(X, 8), ranked(W, 5)])
    assert s.plans == PlansSection(
        items=9,
        by_approach={"self_reliance": 3, "cooperation": 3, "external_support": 3},
        by_status={"not_started": 1, "in_progress": 3, "done": 4, "stalled": 1},
        average_percent=60.0, overdue=3, stalled=1)
    assert s.support == SupportSection(
        by_status={"submitted": 1, "forwarded": 1, "funded": 1, "returned": 1},
        amount_by_status={"submitted": 20_000, "forwarded": 15_000, "funded": 40_000,
                          "returned": 10_000},
        amount_requested=85_000, amount_granted=35_000, own_money=8_000)
    assert s.participation == ParticipationSection(
        forums=4, participants=85, villages=5, villages_with_forum=3, silent_days=30,
        silent_villages=3, most_silent=[ranked(V2, 36), ranked(W, 31), ranked(V3, 30)])
    assert s.results == ResultsSection(items_done=3, confirmed=4,
                                       solved={"yes": 2, "partly": 1, "no": 1},
                                       households_helped=50)
    await assert_children(cycle, s, {"3501": 7, "3502": 1})
    assert s.children[0] == AreaValue("3501", "อ.เมืองยโสธร", "District Mueang Yasothon", 7)


async def test_learning_network(cycle: Database) -> None:
    s = await summary(cycle, "LN03")
    assert (s.level, s.name_en) == ("network", "Ubon Ratchathani learning network")
    assert s.name_th == "เครือข่ายการเรียนรู้ จ.อุบลราชธานี"
    assert s.impact == ImpactSection(
        problems=9, households=65,
        by_category=[CategoryImpact("jobs", 4, 25), CategoryImpact("debt", 2, 13),
                     CategoryImpact("health", 2, 7), CategoryImpact("farm_prices", 1, 20)],
        by_month=months((4, 21), (2, 9), (3, 35)),
        most_affected=[ranked(V1, 22), ranked(V2, 21), ranked(Y, 9), ranked(X, 8),
                       ranked(W, 5)])
    assert s.plans == PlansSection(  # plan F (from April) does not overlap the period
        items=9,
        by_approach={"self_reliance": 3, "cooperation": 3, "external_support": 3},
        by_status={"not_started": 1, "in_progress": 3, "done": 4, "stalled": 1},
        average_percent=60.0, overdue=3, stalled=1)
    assert s.support == SupportSection(
        by_status={"submitted": 2, "forwarded": 1, "funded": 1, "returned": 1},
        amount_by_status={"submitted": 29_000, "forwarded": 15_000, "funded": 40_000,
                          "returned": 10_000},
        amount_requested=94_000, amount_granted=35_000, own_money=8_500)
    assert s.participation == ParticipationSection(
        forums=5, participants=125, villages=6, villages_with_forum=4, silent_days=30,
        silent_villages=3, most_silent=[ranked(V2, 36), ranked(W, 31), ranked(V3, 30)])
    assert s.results == ResultsSection(items_done=3, confirmed=4,
                                       solved={"yes": 2, "partly": 1, "no": 1},
                                       households_helped=50)
    assert [c.code for c in s.children] == ["31", "32", "33", "34", "35", "37", "49"]
    await assert_children(cycle, s, {"34": 1, "35": 8})
    assert s.children[4] == AreaValue("35", "จ.ยโสธร", "Yasothon Province", 8)


async def test_nation(cycle: Database) -> None:
    s = await summary(cycle, "TH")
    assert (s.level, s.name_th, s.name_en) == ("nation", "ประเทศไทย", "Thailand")
    assert s.impact == ImpactSection(
        problems=10, households=76,
        by_category=[CategoryImpact("jobs", 4, 25), CategoryImpact("debt", 2, 13),
                     CategoryImpact("health", 2, 7), CategoryImpact("farm_prices", 1, 20),
                     CategoryImpact("water", 1, 11)],
        by_month=months((5, 32), (2, 9), (3, 35)),
        most_affected=[ranked(V1, 22), ranked(V2, 21), ranked(Z, 11), ranked(Y, 9),
                       ranked(X, 8)])
    assert s.plans == PlansSection(
        items=9,
        by_approach={"self_reliance": 3, "cooperation": 3, "external_support": 3},
        by_status={"not_started": 1, "in_progress": 3, "done": 4, "stalled": 1},
        average_percent=60.0, overdue=3, stalled=1)
    assert s.support == SupportSection(
        by_status={"submitted": 2, "forwarded": 1, "funded": 1, "returned": 1},
        amount_by_status={"submitted": 29_000, "forwarded": 15_000, "funded": 40_000,
                          "returned": 10_000},
        amount_requested=94_000, amount_granted=35_000, own_money=8_500)
    assert s.participation == ParticipationSection(
        forums=5, participants=125, villages=7, villages_with_forum=4, silent_days=30,
        silent_villages=4,
        most_silent=[ranked(Z, 92), ranked(V2, 36), ranked(W, 31), ranked(V3, 30)])
    assert s.results == ResultsSection(items_done=3, confirmed=4,
                                       solved={"yes": 2, "partly": 1, "no": 1},
                                       households_helped=50)
    assert [c.code for c in s.children] == [f"LN{n:02d}" for n in range(1, 15)]
    await assert_children(cycle, s, {"LN03": 9, "LN05": 1})
    assert s.children[2] == AreaValue("LN03", "เครือข่ายการเรียนรู้ จ.อุบลราชธานี",
                                      "Ubon Ratchathani learning network", 9)


# --- empty areas, other areas, boundaries --------------------------------------------------------

def assert_nothing_happened(s: Summary) -> None:
    assert s.impact == ImpactSection(0, 0, [], months((0, 0), (0, 0), (0, 0)), [])
    assert s.plans == PlansSection(
        0, {"self_reliance": 0, "cooperation": 0, "external_support": 0},
        {"not_started": 0, "in_progress": 0, "done": 0, "stalled": 0}, 0.0, 0, 0)
    assert s.support == SupportSection(no_requests(), no_requests(), 0, 0, 0)
    assert s.results == ResultsSection(0, 0, {"yes": 0, "partly": 0, "no": 0}, 0)


async def test_a_tambon_without_villages_gives_zeros(cycle: Database) -> None:
    s = await summary(cycle, "350102")
    assert_nothing_happened(s)
    assert s.participation == ParticipationSection(0, 0, 0, 0, 30, 0, [])
    assert s.children == []


async def test_a_village_that_never_submitted_anything(cycle: Database) -> None:
    s = await summary(cycle, V3)
    assert_nothing_happened(s)
    assert s.participation == ParticipationSection(0, 0, 1, 0, 30, 1, [ranked(V3, 30)])
    s = await summary(cycle, V3, silent_days=7)
    assert s.participation.most_silent == [ranked(V3, 7)]


async def test_every_month_of_a_long_period_is_listed(cycle: Database) -> None:
    s = await summary(cycle, "350102", Period(date(2024, 11, 15), date(2025, 2, 3)))
    assert [m.month for m in s.impact.by_month] == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert all(m.problems == m.households == 0 for m in s.impact.by_month)


async def test_other_areas_are_never_counted(cycle: Database) -> None:
    # Tambon 350110 (village W) shares the prefix 3501 but not 350101, and the reverse.
    sing = await summary(cycle, "350110")
    assert (sing.impact.problems, sing.impact.households) == (1, 5)
    assert sing.impact.most_affected == [ranked(W, 5)]
    assert (sing.plans.items, sing.plans.overdue) == (1, 1)
    assert sing.support.by_status == {**no_requests(), "forwarded": 1}
    assert (sing.support.own_money, sing.participation.forums) == (1_000, 1)
    assert sing.participation.most_silent == [ranked(W, 31)]
    assert sing.results.confirmed == 0
    # District 3502 holds X only; province 34 holds Y only; the other network Z only.
    sai_mun = await summary(cycle, "3502")
    assert (sai_mun.impact.problems, sai_mun.plans.items, sai_mun.results.confirmed) == (1, 1, 1)
    assert sai_mun.results.households_helped == 30
    assert sai_mun.participation.villages == 1
    ubon = await summary(cycle, "34")
    assert (ubon.impact.problems, ubon.plans.items, ubon.support.by_status["submitted"]) == (
        1, 0, 1)
    assert (ubon.support.own_money, ubon.participation.participants) == (500, 40)
    chiang_rai = await summary(cycle, "LN05")
    assert (chiang_rai.impact.problems, chiang_rai.impact.households) == (1, 11)
    assert chiang_rai.support.amount_requested == 0
    assert chiang_rai.participation.most_silent == [ranked(Z, 92)]


async def test_period_ends_are_bangkok_days(cycle: Database) -> None:
    # 31 Mar: the problem at 23:30 Bangkok (16:30 UTC) counts, the one at 00:10 on 1 Apr
    # (17:10 UTC on 31 Mar) does not; so do the forum held that day and Y's request at 23:00.
    last_day = await summary(cycle, "LN03", Period(date(2025, 3, 31), date(2025, 3, 31)))
    assert (last_day.impact.problems, last_day.impact.households) == (1, 6)
    assert last_day.impact.by_month == [MonthImpact("2025-03", 1, 6)]
    assert (last_day.participation.forums, last_day.participation.participants) == (1, 25)
    assert last_day.support.by_status == {**no_requests(), "submitted": 1}
    next_day = await summary(cycle, V1, Period(date(2025, 4, 1), date(2025, 4, 1)))
    assert (next_day.impact.problems, next_day.impact.households) == (1, 3)
    # 1 Jan: 00:05 Bangkok (31 Dec 17:05 UTC) counts in January; 23:50 on 31 Dec does not.
    first_day = await summary(cycle, "LN03", Period(date(2025, 1, 1), date(2025, 1, 1)))
    assert first_day.impact.by_month == [MonthImpact("2025-01", 1, 2)]
    assert (first_day.participation.forums, first_day.participation.participants) == (1, 40)
    new_year_eve = await summary(cycle, V1, Period(date(2024, 12, 31), date(2024, 12, 31)))
    assert new_year_eve.impact.by_month == [MonthImpact("2024-12", 1, 7)]


async def test_months_are_bangkok_months(cycle: Database) -> None:
    # V1's debt problem at 03:00 on 1 Feb Bangkok is 20:00 on 31 Jan UTC: February.
    s = await summary(cycle, V1, Period(date(2025, 1, 20), date(2025, 2, 10)))
    assert s.impact.by_month == [MonthImpact("2025-01", 0, 0), MonthImpact("2025-02", 1, 4)]
    nation = await summary(cycle, "TH", Period(date(2025, 1, 20), date(2025, 2, 10)))
    assert nation.impact.by_month == [MonthImpact("2025-01", 2, 9), MonthImpact("2025-02", 1, 4)]


async def test_silent_days_count_bangkok_days_up_to_today(cycle: Database) -> None:
    # Y's last submission is 12 Mar: 29 days before 10 Apr, so not silent at 30, silent at 29.
    at_30 = await summary(cycle, Y)
    assert at_30.participation.silent_villages == 0
    at_29 = await summary(cycle, Y, silent_days=29)
    assert at_29.participation.most_silent == [ranked(Y, 29)]
    # Seen from 20 Mar, V1's submissions after that day do not count: the last is b3's
    # stalled progress on 1 Mar, 19 days before.
    earlier = await summary(cycle, V1, today=date(2025, 3, 20), silent_days=10)
    assert earlier.participation.most_silent == [ranked(V1, 19)]


async def test_nation_by_category_and_month_agrees_with_its_networks(cycle: Database) -> None:
    """The nation reads categories and months through its own index path: it must give
    what the networks add up to."""
    nation = await summary(cycle, "TH")
    totals: dict[str, list[int]] = {}
    by_month: dict[str, list[int]] = {}
    for child in nation.children:
        network = await summary(cycle, child.code)
        for c in network.impact.by_category:
            totals.setdefault(c.category, [0, 0])
            totals[c.category][0] += c.problems
            totals[c.category][1] += c.households
        for m in network.impact.by_month:
            by_month.setdefault(m.month, [0, 0])
            by_month[m.month][0] += m.problems
            by_month[m.month][1] += m.households
    assert {c.category: [c.problems, c.households] for c in nation.impact.by_category} == totals
    assert {m.month: [m.problems, m.households] for m in nation.impact.by_month} == by_month


async def test_bad_requests_are_refused(cycle: Database) -> None:
    with pytest.raises(UnknownArea):
        await summary(cycle, "99999999")
    with pytest.raises(ValueError, match="ends before"):
        await summary(cycle, V1, Period(date(2025, 3, 1), date(2025, 2, 1)))
    with pytest.raises(ValueError, match="silent_days"):
        await summary(cycle, V1, silent_days=0)
