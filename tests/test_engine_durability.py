"""What must survive: a restart mid-flow, a redelivered update, a day of silence."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

from bot.outbox_sender import OutboxSender
from handlers.clock import FixedClock
from handlers.engine import Engine
from handlers.messages import Incoming
from storage.db import Database
from tests.conftest import Harness


async def test_restart_in_the_middle_of_a_flow_loses_nothing(
        console: Harness, db_path: Path, clock: FixedClock) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("ภัยแล้ง/น้ำ")
    await console.type("ฝนทิ้งช่วง นาข้าวเสียหาย")
    out = await console.type("๓๐")
    assert "รุนแรงแค่ไหน" in out
    await console.db.close()  # the process dies here

    async with Database(db_path) as reopened:
        after = Harness(reopened, clock)
        await after.start("1")
        out = await after.type("ปานกลาง")  # answers the question asked before the restart
        assert "รูปถ่าย" in out
        await after.type("ข้าม")
        out = await after.type("ข้าม")
        assert "ฝนทิ้งช่วง นาข้าวเสียหาย" in out
        assert "ครัวเรือนที่เดือดร้อน: 30" in out
        await after.type("บันทึก")
        assert await after.scalar(
            "SELECT description || '|' || households || '|' || severity FROM problems"
        ) == "ฝนทิ้งช่วง นาข้าวเสียหาย|30|2"


async def test_same_update_twice_is_handled_once(console: Harness) -> None:
    await console.start("1")
    for text in ("รายงานปัญหา", "สุขภาพ", "ไข้เลือดออกระบาดในหมู่บ้าน", "8", "วิกฤติ", "ข้าม",
                 "ข้าม"):
        await console.type(text)
    save = Incoming(channel="console", user_id="demo-village", chat_id="demo-village",
                    update_id="telegram-like-update-77", text="บันทึก")
    assert (await console.engine.handle(save)).duplicate is False
    assert (await console.engine.handle(save)).duplicate is True  # delivered again
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 1
    assert await console.scalar(
        "SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-village'"
        " AND payload LIKE '%บันทึกรายงานปัญหาแล้ว%'") == 1  # "saved", once
    assert await console.scalar("SELECT COUNT(*) FROM outbox WHERE chat_id = 'demo-core'") == 1


async def test_a_failed_handling_rolls_back_everything(seeded: Database, clock: FixedClock
                                                       ) -> None:
    engine = Engine(seeded, clock)

    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    engine._enqueue = explode  # type: ignore[method-assign]
    update = Incoming(channel="console", user_id="demo-village", chat_id="demo-village",
                      update_id="u1", text="รายงานปัญหา")
    with contextlib.suppress(RuntimeError):
        await engine.handle(update)
    async with seeded.read() as conn, conn.execute(
            "SELECT (SELECT COUNT(*) FROM processed_updates),"
            " (SELECT COUNT(*) FROM conversations WHERE flow IS NOT NULL)") as cur:
        assert tuple(await cur.fetchone()) == (0, 0)  # the update can be handled again


async def test_idle_conversation_is_closed_politely_and_the_draft_resumes(
        console: Harness, clock: FixedClock) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("การศึกษา/เด็กออกกลางคัน")
    await console.type("เด็กออกกลางคันเพราะไม่มีค่ารถ")
    clock.advance(timedelta(hours=25))
    assert await console.engine.close_idle_conversations() == 1
    await console.sender.deliver_due("console", "demo-village")
    out = console.take()
    assert "ไม่มีการตอบกลับนานเกิน 24 ชั่วโมง" in out
    assert "รายงานปัญหา" in out

    out = await console.type("เมนู")
    assert "ทำต่อ: รายงานปัญหา" in out
    out = await console.type("ทำต่อ: รายงานปัญหา")
    assert "กี่ครัวเรือน" in out
    for text in ("15", "ปานกลาง", "ข้าม"):
        await console.type(text)
    out = await console.type("ข้าม")
    assert "เด็กออกกลางคันเพราะไม่มีค่ารถ" in out


async def test_idle_close_also_happens_on_the_next_message(console: Harness,
                                                           clock: FixedClock) -> None:
    await console.start("1")
    await console.type("รายงานปัญหา")
    await console.type("สุขภาพ")
    clock.advance(timedelta(hours=30))
    out = await console.type("20")  # a stale answer is not taken for the old question
    assert "ไม่มีการตอบกลับนานเกิน 24 ชั่วโมง" in out
    assert "ทำต่อ: รายงานปัญหา" in out
    async with console.db.read() as conn, conn.execute(
            "SELECT data FROM drafts WHERE flow = 'problem_report'") as cur:
        draft = await cur.fetchone()
    assert draft is not None and '"category": "health"' in draft[0]


async def test_what_is_sent_after_a_day_away_is_read_not_dropped(
        console: Harness, clock: FixedClock) -> None:
    await console.start("1")
    await console.type("เมนู")
    await console.type("บันทึกเวทีประชาคม")  # a forum left half-way
    await console.type("เมื่อวาน")
    clock.advance(timedelta(hours=30))
    out = await console.type("น้ำท่วมนาข้าวเสียหายหมดทั้งทุ่ง")
    assert "ไม่มีการตอบกลับนานเกิน 24 ชั่วโมง" in out  # the forum closed politely, kept
    assert "น้ำท่วม" in out  # and the message read: a report begun with its category


async def test_pending_outbox_rows_are_delivered_after_a_restart(
        console: Harness, db_path: Path, clock: FixedClock) -> None:
    await console.start("1")
    await console.type("เมนู")
    update = Incoming(channel="console", user_id="demo-village", chat_id="demo-village",
                      update_id="before-crash", text="ช่วยเหลือ")
    await console.engine.handle(update)  # committed, not yet sent: then the process dies
    await console.db.close()
    async with Database(db_path) as reopened:
        after = Harness(reopened, clock)
        sender = OutboxSender(reopened, [after.screen], clock)
        assert await sender.deliver_due() >= 1
        assert "วิธีใช้" in after.take()
        assert await sender.deliver_due() == 0  # and only once
