"""`GET /metrics`: the counters move as messages flow (real Telegram test server traffic
through the running service, LINE pushes, reminders, backups), the backlog gauges follow
the outbox, the bearer token is enforced, and every metric the README names exists."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, time, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.intake import Intake
from bot.metrics import Metrics, failure_reason
from bot.outbox_sender import Blocked, Failed, Retry
from bot.scheduler import Scheduler
from bot.service import Service
from handlers.clock import FixedClock
from handlers.permissions import Role
from handlers.schedule_time import QuietHours
from storage import problems, reminders
from tests.conftest import Harness, eventually, line_settings
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_backup_schedule import bangkok
from tests.test_durable_intake import VILLAGE_2, issue_code, tg_settings, url

USER = 7_300_001
TOKEN = "metrics-bearer-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(service: Service, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(
            url(service, "/metrics"), headers=headers) as response:
        return response.status, await response.text()


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def tg_service(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                     ) -> AsyncIterator[Service]:
    async with Service(tg_settings(seeded_db_path, tg, tmp_path / "media",
                                   webhook=True)) as running:
        yield running


async def say(tg: TelegramTestServer, text: str, update: dict | None = None) -> None:  # type: ignore[type-arg]
    before = len(tg.sent_messages(USER))
    assert await tg.deliver_to_webhook(update or tg.text_update(USER, text)) == 200
    await tg.wait_for(lambda _c: len(tg.sent_messages(USER)) > before, timeout=10)


async def test_counters_move_as_telegram_messages_flow(
        tg_service: Service, tg: TelegramTestServer, seeded_db_path: Path) -> None:
    status, text = await scrape(tg_service)
    assert status == 200
    start = parse(text)
    assert value(start, "cercap_updates_handled_total", channel="telegram",
                 outcome="handled") == 0
    code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    await say(tg, f"/start {code}")
    await say(tg, "บุญมี ศรีสุข")
    repeated = tg.text_update(USER, "น้ำท่วมนาข้าวเสียหายหลายไร่")
    await say(tg, "", repeated)
    # Telegram delivers the same update again: a duplicate, answered by nobody.
    assert await tg.deliver_to_webhook(repeated) == 200

    async def counted() -> bool:
        s = parse((await scrape(tg_service))[1])
        return value(s, "cercap_updates_handled_total", channel="telegram",
                     outcome="duplicate") == 1
    await eventually(counted, what="the duplicate counted")
    s = parse((await scrape(tg_service))[1])
    assert value(s, "cercap_updates_handled_total", channel="telegram", outcome="handled") == 3
    # The redelivery was dropped at the door (its key is stored): counted, never handled.
    assert value(s, "cercap_update_handling_seconds_count", channel="telegram") == 3
    assert value(s, "cercap_update_handling_seconds_sum", channel="telegram") > 0
    assert value(s, "cercap_update_handling_seconds_bucket", channel="telegram",
                 le="+Inf") == 3

    async def sends_counted() -> bool:  # the last reply's outcome may still be on its way
        async with tg_service.app.db.read() as conn, conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE channel = 'telegram' AND status = 'sent'"
        ) as cur:
            sent = (await cur.fetchone())[0]
        s = parse((await scrape(tg_service))[1])
        # outbox rows (one row may be more than one Telegram message)
        return sent >= 3 and value(s, "cercap_outbox_sends_total", channel="telegram",
                                   result="sent") == sent
    await eventually(sends_counted, what="every sent row counted")

    # A 429 is tried again; a 400 fails for good, with its reason.
    tg.fail_next("sendMessage", 429, retry_after=0)
    await say(tg, "เมนู")
    tg.fail_next("sendMessage", 400, description="Bad Request: message text is empty")
    assert await tg.deliver_to_webhook(tg.text_update(USER, "ช่วยเหลือ")) == 200

    async def failed() -> bool:
        s = parse((await scrape(tg_service))[1])
        return value(s, "cercap_outbox_failures_total", channel="telegram",
                     reason="http_400") == 1
    await eventually(failed, timeout=10, what="the failure counted")
    s = parse((await scrape(tg_service))[1])
    assert value(s, "cercap_outbox_sends_total", channel="telegram", result="retried") == 1
    assert value(s, "cercap_outbox_sends_total", channel="telegram", result="failed") == 1


async def test_the_backlog_gauges_follow_the_outbox(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    clock = FixedClock(bangkok(date(2025, 1, 10), 10))
    settings = tg_settings(seeded_db_path, tg, tmp_path / "media", webhook=True)
    async with Service(settings, clock, background=False) as service:
        await service.metrics.refresh_backlog(service.app.db)
        s = parse((await scrape(service))[1])
        assert value(s, "cercap_outbox_oldest_unsent_seconds") == 0
        assert tg.webhook_url
        assert await tg.deliver_to_webhook(tg.text_update(USER, "/start")) == 200

        async def queued() -> bool:
            await service.metrics.refresh_backlog(service.app.db)
            s = parse((await scrape(service))[1])
            return value(s, "cercap_outbox_backlog", channel="telegram",
                         priority="live_reply") > 0
        await eventually(queued, what="the reply in the backlog")
        clock.advance(timedelta(seconds=90))
        s = parse((await scrape(service))[1])
        assert value(s, "cercap_outbox_oldest_unsent_seconds") == 90  # aged at the scrape
        assert value(s, "cercap_backlog_refreshed_timestamp_seconds") == \
            bangkok(date(2025, 1, 10), 10).timestamp()
        await service.app.outbox.deliver_due()
        await service.metrics.refresh_backlog(service.app.db)
        s = parse((await scrape(service))[1])
        assert value(s, "cercap_outbox_backlog", channel="telegram",
                     priority="live_reply") == 0
        assert value(s, "cercap_outbox_oldest_unsent_seconds") == 0


async def test_a_wrong_or_missing_bearer_token_is_refused(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path) -> None:
    settings = line_settings(seeded_db_path, line, tmp_path / "media", metrics_token=TOKEN)
    async with Service(settings) as service:  # type: ignore[arg-type]
        assert (await scrape(service))[0] == 401
        assert (await scrape(service, "not-the-token"))[0] == 401
        assert (await scrape(service, TOKEN + "x"))[0] == 401
        status, text = await scrape(service, TOKEN)
        assert status == 200 and "cercap_outbox_backlog" in text
        async with aiohttp.ClientSession() as http, http.get(
                url(service, "/metrics"), headers={"Authorization": TOKEN}) as response:
            assert response.status == 401  # the scheme is part of it
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_line_pushes_and_the_months_quota(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path) -> None:
    line.quota_limit = 500
    async with Service(line_settings(seeded_db_path, line, tmp_path / "media")) as service:
        s = parse((await scrape(service))[1])
        assert value(s, "cercap_line_push_quota_limit") == 500
        assert value(s, "cercap_line_pushes_total") == 0
        leader = "U" + "b" * 32
        code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2)
        event = line.text_event(leader, code)
        event["replyToken"] = "expired"  # LINE refuses it: the answer is pushed
        assert await line.post_webhook(url(service, "/line/callback"), [event]) == 200
        await line.wait_for(lambda: line.delivered_messages(leader), what="an answer")

        async def pushed() -> bool:
            s = parse((await scrape(service))[1])
            return value(s, "cercap_line_pushes_total") >= 1
        await eventually(pushed, what="the push counted")


async def test_reminders_planned_and_sent_are_counted_by_kind(
        console: Harness, clock: FixedClock) -> None:
    metrics = Metrics(clock)
    scheduler = Scheduler(console.db, clock, QuietHours(time(0, 0), time(0, 0)))
    metrics.attach(console.engine, Intake(console.db, clock), console.sender, scheduler)
    async with console.db.transaction() as conn:
        await problems.insert(conn, village_code="35010101", category="water",
                              description="บ่อแห้ง", households=5, severity=2, photo_ref=None,
                              photo_platform_id=None, latitude=None, longitude=None,
                              reporter_id=1, now=clock.now())
        await reminders.update_schedule(conn, "core_digest", hour=10, minute=30)
    await scheduler.run_due()  # the first run only sets the times
    clock.advance(timedelta(minutes=30))
    assert (await scheduler.run_due())["core_digest"] == 1
    registry = metrics.registry
    assert registry.get_sample_value("cercap_reminders_planned_total",
                                     {"kind": "core_digest"}) == 1
    assert registry.get_sample_value("cercap_reminders_sent_total",
                                     {"kind": "core_digest"}) is None
    await console.sender.deliver_due()
    assert registry.get_sample_value("cercap_reminders_sent_total",
                                     {"kind": "core_digest"}) == 1
    assert registry.get_sample_value("cercap_outbox_sends_total",
                                     {"channel": "console", "result": "sent"}) == 1


@pytest.mark.sqlite_only  # PostgreSQL is backed up with pg_dump
async def test_scheduled_backups_show_in_the_metrics(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    clock = FixedClock(bangkok(date(2025, 1, 10), 9))
    settings = line_settings(seeded_db_path, line, tmp_path / "media", backup_dir=folder)
    async with Service(settings, clock) as service:  # type: ignore[arg-type]
        async def backed_up() -> bool:
            s = parse((await scrape(service))[1])
            return value(s, "cercap_backups_total") == 1
        await eventually(backed_up, timeout=20, what="the first scheduled backup")
        s = parse((await scrape(service))[1])
        assert value(s, "cercap_backup_last_success_timestamp_seconds") == clock.now().timestamp()
        assert value(s, "cercap_backup_last_size_bytes") == next(folder.iterdir()).stat().st_size
        assert value(s, "cercap_backup_failures_total") == 0


def test_failure_reasons_are_few_and_bounded() -> None:
    assert failure_reason(Blocked("403: Forbidden")) == "blocked"
    assert failure_reason(Retry("500: oops")) == "retries_exhausted"
    assert failure_reason(Failed("400: Bad Request: chat not found")) == "http_400"
    assert failure_reason(Failed("rich menu link 404: gone")) == "http_404"
    assert failure_reason(Failed("ValueError: a rendering bug with บุญมี")) == "error"


def test_each_service_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.update_handled("line", "handled", 0.01)
    assert two.registry.get_sample_value("cercap_updates_handled_total",
                                         {"channel": "line", "outcome": "handled"}) is None


def test_every_metric_is_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    m = Metrics()
    m.watch_line(type("Sender", (), {"pushes": 0, "quota": (1, 2)})())  # type: ignore[arg-type]
    names = {family.name for family in text_string_to_metric_families(
        m.exposition().decode())}
    documented = set(re.findall(r"`(cercap_[a-z_]+)`", readme))
    missing = {n for n in names if n not in documented and f"{n}_total" not in documented}
    assert not missing, f"metrics not in the README: {sorted(missing)}"


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("CERCAP_METRICS_TOKEN", TOKEN)
    monkeypatch.setenv("CERCAP_BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("CERCAP_BACKUP_KEEP_DAILY", "3")
    monkeypatch.setenv("CERCAP_BACKUP_KEEP_WEEKLY", "0")
    monkeypatch.setenv("CERCAP_BACKUP_TIME", "4:05")
    s = Settings.from_env()
    assert (s.metrics_token, s.backup_dir, s.backup_keep_daily, s.backup_keep_weekly,
            s.backup_time) == (TOKEN, tmp_path, 3, 0, (4, 5))
    monkeypatch.setenv("CERCAP_BACKUP_TIME", "25:00")
    with pytest.raises(ValueError, match="CERCAP_BACKUP_TIME"):
        Settings.from_env()
