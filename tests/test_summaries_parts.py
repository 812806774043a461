"""The nation's and a learning network's summary and funnel summed from their provinces'
parts (handlers.summaries.compute_part / funnel_part / merge_parts) equal the ones computed
directly; the per-province data versions (storage.area_versions, migration 20) follow every
write to a row of the province and only those; the web site recomputes only the province a
write touched, and the page shows the write at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import aiohttp
import pytest

from bot.web import WebServer
from bot.web.public import period_of
from bot.web.site import register
from handlers.clock import FixedClock
from handlers.summaries import DirectParts, compute_funnel, compute_summary, province_values
from handlers.summary_model import Period
from storage.area_versions import province_versions
from storage.db import Database
from storage.timestamps import to_db
from tests.test_summaries import PERIOD, TODAY, cycle  # noqa: F401  (the fixture)


@pytest.mark.parametrize("silent_days", [30, 3])
async def test_parts_add_up_to_the_direct_summary(cycle: Database,  # noqa: F811
                                                  silent_days: int) -> None:
    async with cycle.read() as conn:
        networks = [r[0] for r in await conn.execute_fetchall(
            "SELECT code FROM areas WHERE level = 'network' ORDER BY code")]
        for code in ("TH", *networks):
            for period in (PERIOD, Period(date(2025, 1, 1), date(2025, 1, 31), "month")):
                parts = DirectParts(conn, period, TODAY, silent_days)
                direct = await compute_summary(conn, code, period, TODAY,
                                               silent_days=silent_days)
                assert await compute_summary(conn, code, period, TODAY,
                                             silent_days=silent_days, parts=parts) == direct
                assert await compute_funnel(conn, code, period, TODAY,
                                            silent_days=silent_days, parts=parts) == \
                    await compute_funnel(conn, code, period, TODAY, silent_days=silent_days)
        nation = await compute_summary(conn, "TH", PERIOD, TODAY)
        assert nation.impact.problems > 0 and nation.participation.most_silent
        assert await province_values(conn, PERIOD, DirectParts(conn, PERIOD, TODAY)) == \
            await province_values(conn, PERIOD)


async def _problem(db: Database, village: str, households: int, at: datetime) -> int:
    async with db.transaction() as conn:
        rows = await conn.execute_fetchall(
            "INSERT INTO problems (village_code, category, households, description, severity,"
            " reporter_id, created_at) VALUES (?, 'water', ?, 'x', 1,"
            " (SELECT MIN(id) FROM people), ?) RETURNING id", (village, households, to_db(at)))
        return int(rows[0][0])


async def test_a_write_advances_the_version_of_its_province_only(cycle: Database  # noqa: F811
                                                                  ) -> None:
    async with cycle.read() as conn:
        village = (await conn.execute_fetchall(
            "SELECT MIN(code) FROM areas WHERE level = 'village' AND code LIKE '50%'"))[0][0]
        before = await province_versions(conn)
    problem = await _problem(cycle, village, 3, datetime(2025, 3, 1, 3, tzinfo=UTC))
    async with cycle.read() as conn:
        after = await province_versions(conn)
    assert after.get("50", 0) > before.get("50", 0)
    assert {k: v for k, v in after.items() if k != "50"} == \
        {k: v for k, v in before.items() if k != "50"}
    steps = [
        ("UPDATE problems SET households = 4 WHERE id = ?", (problem,)),
        ("DELETE FROM problems WHERE id = ?", (problem,)),
        ("UPDATE areas SET name_en = 'Renamed' WHERE code = ?", (village,)),
    ]
    for sql, params in steps:
        async with cycle.transaction() as conn:
            await conn.execute(sql, params)
        async with cycle.read() as conn:
            now = await province_versions(conn)
        assert now["50"] > after["50"], sql
        after = now


async def test_the_site_recomputes_only_the_province_written_to(db_path: object) -> None:
    """A problem reported in one village: the nation's pages show it on the next request,
    and only that province's share is computed again."""
    from tests.test_web_public import NOW, build_fixture, numbers

    async with Database(db_path) as db:  # type: ignore[arg-type]
        await build_fixture(db)
        server = WebServer("127.0.0.1", 0)
        site = register(server, db, clock=FixedClock(NOW))
        await server.start()
        try:
            origin = f"http://127.0.0.1:{server.bound_port}"
            async with aiohttp.ClientSession() as session:
                async def home() -> dict[str, int]:
                    async with session.get(origin + "/") as response:
                        assert response.status == 200
                        return numbers(await response.text())

                first = await home()
                computed = site.parts_cache.computed
                assert computed > 0
                assert await home() == first and site.parts_cache.computed == computed
                await _problem(db, "50010101", 7, NOW)
                second = await home()
                assert second["problems"] == first["problems"] + 1
                assert second["households"] == first["households"] + 7
                # one province, its summary share and its funnel share
                assert site.parts_cache.computed == computed + 2
                async with session.get(origin + "/status/LN01") as response:
                    assert response.status == 200
                period = period_of("3months", site.today())
                async with db.read() as conn:
                    assert await province_values(conn, period) == \
                        await province_values(conn, period, await site.parts(conn, period))
        finally:
            await server.stop()
