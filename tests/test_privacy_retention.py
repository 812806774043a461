"""Personal data: the notice given (and recorded with its version) before the first role;
retention applied by the housekeeping run with a moved clock; every table pointing at
people is in a person's copy; the retention settings. On both engines."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.housekeeping import Housekeeping
from bot.service import Service
from handlers.clock import FixedClock
from handlers.permissions import Role
from storage import audit, catalogue, outbox, people, privacy
from storage.db import Database
from storage.timestamps import to_db
from tests.servers.telegram_api import TelegramTestServer
from tests.test_telegram_channel import Person, issue_code, settings_for

DAY = timedelta(days=1)


async def _rows(db_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with Database(db_path) as db, db.read() as conn, conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def test_notice_is_given_and_recorded_before_the_first_role(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    settings = settings_for(seeded_db_path, tg, tmp_path / "m",
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s")
    async with Service(settings, background=False) as service:
        person = Person(service, tg, 6100)
        out = await person.send("/start ABCDEFGHJK")  # no such code: nothing granted
        assert "ไม่พบรหัสเชิญ" in out and "ประกาศความเป็นส่วนตัว" not in out
        assert await _rows(seeded_db_path, "SELECT id FROM notice_acceptances") == []
        code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, "35010102")
        out = await person.send(f"/start {code}")
        # No public address: the short notice, then the full text, in the chat.
        assert out.index("ประกาศความเป็นส่วนตัว (ฉบับที่ 1)") < out.index("1. ผู้ควบคุมข้อมูล")
        assert out.index("มาตรา 24(4)") < out.index("ชื่อ-นามสกุล")
        await person.send("ทดสอบ ประกาศ")
        second = await issue_code(seeded_db_path, Role.VIEWER, "35")
        await person.send("ใส่รหัสเชิญ")  # (/start CODE by a member: a KeyError, not ours)
        out = await person.send(second)
        assert "ประกาศความเป็นส่วนตัว" not in out  # given once per version
    notices = await _rows(seeded_db_path, "SELECT n.id, n.person_id, n.version, n.channel,"
                          " n.accepted_at FROM notice_acceptances n")
    grants = await _rows(seeded_db_path, "SELECT g.person_id, g.granted_at FROM role_grants g"
                         " JOIN identities i ON i.person_id = g.person_id"
                         " WHERE i.platform_user_id = '6100' ORDER BY g.id")
    assert len(notices) == 1 and len(grants) == 2
    _, person_id, version, channel, accepted_at = notices[0]
    assert (person_id, version, channel) == (grants[0][0], "1", "telegram")
    assert str(accepted_at) <= str(grants[0][1])


async def test_notice_links_the_page_when_the_bot_has_a_public_address(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    settings = settings_for(seeded_db_path, tg, tmp_path / "m",
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s", public_url="https://bot.example.org")
    async with Service(settings, background=False) as service:
        person = Person(service, tg, 6101)
        code = await issue_code(seeded_db_path, Role.CORE_TEAM, "350101")
        out = await person.send(f"/start {code}")
    assert "อ่านประกาศฉบับเต็มได้ที่ https://bot.example.org/privacy" in out
    assert "1. ผู้ควบคุมข้อมูล" not in out


@pytest.fixture
async def old_data(seeded: Database, clock: FixedClock, tmp_path: Path) -> dict[str, int]:
    """Personal data of every kind retention deletes, written at the clock's start."""
    now = clock.now()
    media = tmp_path / "media"
    (media / "telegram").mkdir(parents=True)
    (media / "telegram" / "old.jpg").write_bytes(b"\xff\xd8old")
    async with seeded.transaction() as conn:
        stranger = await people.ensure_identity(conn, "telegram", "8001", "8001", now)
        member = await people.create_person(conn, "ผู้ใช้ เลิกใช้", "th", now)
        blocked = await people.ensure_identity(conn, "telegram", "8002", "8002", now)
        await people.link_identity(conn, blocked.id, member)
        await people.set_identity_active(conn, "telegram", "8002", False)
        active_person = await people.create_person(conn, "ผู้ใช้ ยังใช้", "th", now)
        active = await people.ensure_identity(conn, "telegram", "8003", "8003", now)
        await people.link_identity(conn, active.id, active_person)
        rows = await conn.execute_fetchall(
            "INSERT INTO problems (village_code, category, description, households, severity,"
            " photo_ref, photo_platform_id, reporter_id, created_at) VALUES"
            " ('35010101', 'drought', 'บ่อแห้ง', 3, 2, 'telegram/old.jpg', 'p1', ?, ?)"
            " RETURNING id", (active_person, to_db(now)))
        failed = await outbox.enqueue(conn, channel="telegram", chat_id="8003",
                                      person_id=active_person, priority=outbox.LIVE_REPLY,
                                      payload={"text": "ข้อความถึง ผู้ใช้ ยังใช้"}, now=now)
        await conn.execute("UPDATE outbox SET status = 'failed', last_error = 'x' WHERE id = ?",
                           (failed,))
        await conn.execute(
            "INSERT INTO inbox (channel, update_key, person_key, body, received_at, status)"
            " VALUES ('telegram', 'b:1', 'telegram:8003', '{\"name\": \"x\"}', ?, 'failed')",
            (to_db(now),))
        await audit.record(conn, now=now, person_id=active_person, action="problem.correct",
                           entity="problem", entity_id=rows[0][0], detail={"old": "ชื่อ"})
    return {"problem": rows[0][0], "stranger": stranger.id, "blocked": blocked.id,
            "active": active.id, "outbox": int(failed or 0)}


async def _state(db: Database) -> dict[str, object]:
    async with db.read() as conn:
        async def one(sql: str) -> object:
            async with conn.execute(sql) as cur:
                row = await cur.fetchone()
            return row[0] if row else None

        return {"identities": await one("SELECT group_concat(platform_user_id) FROM"
                                        " (SELECT platform_user_id FROM identities"
                                        "  WHERE platform_user_id LIKE '800%' ORDER BY id)"),
                "photo": await one("SELECT photo_ref FROM problems WHERE description = 'บ่อแห้ง'"),
                "problems": await one("SELECT COUNT(*) FROM problems"),
                "body": await one("SELECT payload FROM outbox WHERE status = 'failed'"),
                "inbox": await one("SELECT COUNT(*) FROM inbox"),
                "detail": await one("SELECT detail FROM audit_log WHERE action ="
                                    " 'problem.correct'")}


async def test_retention_with_a_moved_clock(database: Database, clock: FixedClock,
                                            old_data: dict[str, int], tmp_path: Path) -> None:
    media = tmp_path / "media"
    housekeeping = Housekeeping(database, clock, media_dir=media)
    start = clock.now()
    fresh = await _state(database)
    assert fresh["identities"] == "8001,8002,8003" and fresh["inbox"] == 1

    clock.set(start + 29 * DAY)
    assert (await housekeeping.run_once()).total == 0
    clock.set(start + 31 * DAY)  # outbox texts and failed stored updates: 30 days
    pruned = await housekeeping.run_once()
    assert (pruned.outbox_bodies, pruned.failed_inbox) == (1, 1)
    state = await _state(database)
    assert json.loads(str(state["body"])) == {"text": ""} and state["inbox"] == 0
    assert state["identities"] == "8001,8002,8003"

    clock.set(start + 181 * DAY)  # idle identities never joined, or blocked: 180 days
    assert (await housekeeping.run_once()).inactive_identities == 2
    assert (await _state(database))["identities"] == "8003"

    clock.set(start + 1094 * DAY)
    assert (await housekeeping.run_once()).photos == 0
    clock.set(start + 1096 * DAY)  # photos: 1,095 days; the report stays
    assert (await housekeeping.run_once()).photos == 1
    state = await _state(database)
    assert state["photo"] is None and state["problems"] == 1
    assert not (media / "telegram" / "old.jpg").exists()
    assert state["detail"] is not None

    clock.set(start + 1826 * DAY)  # audit detail: 1,825 days; the row stays
    assert (await housekeeping.run_once()).audit_details == 1
    assert (await _state(database))["detail"] is None
    assert (await housekeeping.run_once()).total == 0


async def test_shorter_settings_apply_sooner(database: Database, clock: FixedClock,
                                             old_data: dict[str, int], tmp_path: Path) -> None:
    housekeeping = Housekeeping(database, clock, media_dir=tmp_path / "media",
                                photo_retention_days=10, identity_retention_days=5,
                                audit_detail_retention_days=20)
    clock.advance(21 * DAY)
    pruned = await housekeeping.run_once()
    assert (pruned.photos, pruned.inactive_identities, pruned.audit_details) == (1, 2, 1)
    with pytest.raises(ValueError, match="photo_retention_days"):
        Housekeeping(database, clock, photo_retention_days=0)


def test_retention_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("CERCAP_DB", str(tmp_path / "x.db"))
    defaults = Settings.from_env(serving=False)
    assert (defaults.retention_photo_days, defaults.retention_identity_days,
            defaults.retention_audit_detail_days) == (1095, 180, 1825)
    monkeypatch.setenv("CERCAP_RETENTION_PHOTO_DAYS", "365")
    monkeypatch.setenv("CERCAP_RETENTION_IDENTITY_DAYS", "30")
    monkeypatch.setenv("CERCAP_RETENTION_AUDIT_DETAIL_DAYS", "730")
    chosen = Settings.from_env(serving=False)
    assert (chosen.retention_photo_days, chosen.retention_identity_days,
            chosen.retention_audit_detail_days) == (365, 30, 730)
    monkeypatch.setenv("CERCAP_RETENTION_PHOTO_DAYS", "0")
    with pytest.raises(ConfigError, match="CERCAP_RETENTION_PHOTO_DAYS"):
        Settings.from_env(serving=False)


async def test_every_table_pointing_at_people_is_in_the_copy(database: Database) -> None:
    """The schema's foreign keys, as the engine's catalogue has them (storage/catalogue.py:
    SQLite's pragma, PostgreSQL's information_schema), against privacy's lists."""
    async with database.read() as conn:
        to_people = await catalogue.references(conn, "people")
        to_identities = await catalogue.references(conn, "identities")
        assert ("problems", "reporter_id") in to_people and len(to_people) > 20
        assert "photo_platform_id" in await catalogue.columns(conn, "problems")
        assert "display_name" in await catalogue.text_columns(conn, "people")
        if catalogue.is_postgres(conn):  # there, only the columns of a text type
            assert "households" not in await catalogue.text_columns(conn, "problems")
    listed = set(privacy.PERSON_COLUMNS) - {("people", "id"), ("identities", "person_id")}
    assert to_people - {("identities", "person_id")} == listed
    assert to_identities - {("notice_acceptances", "identity_id")} == set(
        privacy.IDENTITY_COLUMNS)
