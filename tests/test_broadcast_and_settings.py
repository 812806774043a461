"""A core team's announcement with confirmation and delivery report; pausing one's own
reminders; switching a tambon's reminders."""

from __future__ import annotations

from datetime import timedelta

from handlers.clock import FixedClock
from storage import areas, people
from storage.people import Grant
from tests.conftest import Harness


async def _member(console: Harness, village: str, chat: str, clock: FixedClock) -> None:
    async with console.db.transaction() as conn:
        person = await people.create_person(conn, f"member {village}", "en", clock.now())
        identity = await people.ensure_identity(conn, "console", chat, chat, clock.now())
        await people.link_identity(conn, identity.id, person)
        await people.add_grant(conn, person, Grant("village_committee", village), None,
                               clock.now())


async def test_announcement_reaches_every_village_committee_with_a_report(
        console: Harness, clock: FixedClock) -> None:
    await _member(console, "35010102", "m2", clock)
    await _member(console, "35010103", "m3", clock)
    async with console.db.transaction() as conn:
        await areas.add_village(conn, "350102", 1, "บ้านนอกตำบล")
    await _member(console, "35010201", "other-tambon", clock)  # not of this tambon
    await console.start("2")
    await console.type("ส่งประกาศถึงหมู่บ้าน")
    out = await console.type("ประชุมประจำเดือน วันศุกร์นี้ 9 โมง ที่ศาลาวัด")
    assert "กรรมการหมู่บ้าน 3 คน ใน 3 หมู่บ้าน" in out
    out = await console.type("📣 ส่งประกาศ")
    assert "กำลังทยอยส่งถึง 3 แชต" in out

    # 10:00 in Bangkok: not quiet hours, so the bulk rows are due now.
    assert await console.sender.deliver_due("console") == 3
    delivered = console.take()
    assert "ประกาศจากกลุ่มแกนระดับตำบล" in delivered  # Thai for the demo leader
    assert "Announcement from the tambon core team" in delivered  # English for the members
    assert "other-tambon" not in str(await console.scalar(
        "SELECT group_concat(chat_id) FROM outbox WHERE batch LIKE 'broadcast:%'"))

    await console.db.conn.execute(
        "UPDATE outbox SET status = 'failed', last_error = 'blocked' WHERE chat_id = 'm3'")
    out = await console.type("ผลการส่งประกาศ")
    assert "ส่งแล้ว 2 · ไม่สำเร็จ 1 · รอส่ง 0" in out


async def test_a_person_pauses_and_resumes_reminders(console: Harness,
                                                    clock: FixedClock) -> None:
    await console.start("1")
    out = await console.type("ตั้งค่าการเตือน")
    assert "การเตือนของคุณ: เปิดอยู่" in out
    out = await console.type("หยุด 1 สัปดาห์")
    assert "หยุดไว้ถึง 17 ม.ค. 2568" in out
    assert await console.scalar("SELECT COUNT(*) FROM reminder_pauses") == 1
    clock.advance(timedelta(days=8))
    out = await console.type("ตั้งค่าการเตือน")
    assert "เปิดอยู่" in out  # the pause has run out
    await console.type("หยุดจนกว่าจะเปิดใหม่")
    await console.type("ตั้งค่าการเตือน")
    out = await console.type("เปิดการเตือน")
    assert "เปิดอยู่" in out
    assert await console.scalar("SELECT COUNT(*) FROM reminder_pauses") == 0


async def test_core_team_switches_a_kind_of_reminder_off_for_its_tambon(
        console: Harness) -> None:
    await console.start("2")
    out = await console.type("การเตือนของตำบล")
    assert "✅ เตือนเวทีประชาคมรายเดือน" in out
    out = await console.type("✅ เตือนเวทีประชาคมรายเดือน")  # untick
    assert "✅ เตือนเวทีประชาคมรายเดือน" not in out
    out = await console.type("✔️ เสร็จแล้ว")
    assert "เปิดการเตือน 5 แบบในตำบล" in out
    assert await console.scalar(
        "SELECT enabled FROM tambon_reminders WHERE tambon_code = '350101'"
        " AND kind = 'forum_monthly'") == 0
    assert await console.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'reminders.tambon'") == 1
