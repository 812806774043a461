"""The cycle's key steps through the real platform stacks: a plan item, a support
request, the TAO's decision and the progress report with its outcome, once on Telegram
(inline buttons) and once on LINE (quick replies and Flex confirmation screens)."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

from bot.service import Service
from handlers.permissions import Role
from storage.db import Database
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_delivery_faults import _line_settings
from tests.test_line_channel import Person as LinePerson
from tests.test_line_channel import _choices
from tests.test_telegram_channel import Person, issue_code, settings_for

VILLAGE = "35010102"


async def _count(db_path: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    async with Database(db_path) as db, db.read() as conn, conn.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


# The plan is in force today (it runs on the real clock): it began this January and ends
# next June, in the Buddhist Era.
_BE = date.today().year + 543
PLAN_STEPS = ["แผนของหมู่บ้าน", "จัดทำแผนรอบใหม่", f"1 ม.ค. {_BE}", f"30 มิ.ย. {_BE + 1}", "เปิดแผนรอบนี้",
              "เพิ่มรายการ", "จัดหาท่อส่งน้ำ", "ขอรับการสนับสนุนจากหน่วยงาน", "อบต.ในเมือง",
              "120000", "ไม่มีเงินสมทบ", "ข้าม", "1 ก.พ. 68", "31 มี.ค. 68", "ผู้ใหญ่บ้าน",
              "✅ บันทึก", "🏠 กลับเมนูหลัก"]



async def test_key_steps_on_telegram(seeded_db_path: Path, tg: TelegramTestServer,
                                     tmp_path: Path) -> None:
    settings = settings_for(seeded_db_path, tg, tmp_path / "m",
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s")
    async with Service(settings, background=False) as service:
        assert service.telegram is not None
        service.telegram.sender.pacer.clock = itertools.count(step=10.0).__next__
        leader, tao = Person(service, tg, 3101), Person(service, tg, 3102)
        code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE)
        await leader.send(f"/start {code}")
        await leader.send("บุญมี ศรีสุข")
        await tao.send(f"/start {await issue_code(seeded_db_path, Role.TAO, '350101')}")
        await tao.send("วิไล อบต.")

        for step in PLAN_STEPS:  # a button where there is one, typed text otherwise
            await (leader.press(step) if step in leader.buttons() else leader.send(step))
        await leader.press("ขอรับการสนับสนุน")
        await leader.press(next(b for b in leader.buttons() if "จัดหาท่อส่งน้ำ" in b))
        await leader.send("๑๒๐,๐๐๐")
        await leader.send("ท่อ PVC และปั๊มน้ำ")
        out = await leader.press("📨 ส่งคำขอ")
        assert "คำขอ" in out

        out = "\n".join(m["text"] for m in tg.sent_messages(3102))
        assert "คำขอรับการสนับสนุนใหม่ ข#1" in out and "120,000 บาท" in out
        await tao.send("คำขอรอพิจารณา (อบต.)")  # the menu item, typed as its label
        await tao.press(next(b for b in tao.buttons() if b.startswith("#1")))
        await tao.press("💰 อนุมัติบางส่วน")
        await tao.send("หนึ่งแสน")
        out = await tao.press("✅ ยืนยัน")
        assert "100,000" in out
        told = "\n".join(m["text"] for m in tg.sent_messages(3101))
        assert "100,000 บาท" in told and "120,000 บาท" in told

        await leader.send("รายงานความคืบหน้า")
        await leader.press(next(b for b in leader.buttons() if "จัดหาท่อส่งน้ำ" in b))
        await leader.press("เสร็จแล้ว")
        await leader.press("ข้าม")
        await leader.press("ข้าม")
        await leader.press("แก้ปัญหาได้")
        await leader.send("30")
        out = await leader.press("✅ บันทึก")
        assert "บันทึกความคืบหน้า" in out
    assert await _count(seeded_db_path, "SELECT status, amount_granted FROM support_requests"
                        ) == [("funded", 100000)]
    assert await _count(seeded_db_path, "SELECT status, outcome_solved, households_helped"
                        " FROM plan_items") == [("done", "yes", 30)]



async def test_key_steps_on_line(seeded_db_path: Path, line: LineTestServer,
                                 tmp_path: Path) -> None:
    async with Service(_line_settings(seeded_db_path, line, tmp_path / "m")) as service:
        leader = LinePerson(service, line, "U" + "1" * 32)
        tao = LinePerson(service, line, "U" + "2" * 32)
        await leader.send(await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE))
        await leader.send("บุญมี ศรีสุข")
        await tao.send(await issue_code(seeded_db_path, Role.TAO, "350101"))
        await tao.send("วิไล อบต.")

        for step in PLAN_STEPS:
            buttons = _choices(leader.messages()[-1])
            await (leader.press(step) if step in buttons else leader.send(step))
        await leader.press("ขอรับการสนับสนุน")
        await leader.press(next(b for b in _choices(leader.messages()[-1])
                                if "จัดหาท่อส่งน้ำ" in b))
        await leader.send("๑๒๐,๐๐๐")
        await leader.send("ท่อ PVC และปั๊มน้ำ")
        assert leader.messages()[-1]["type"] == "flex"  # the confirmation screen
        await leader.press("📨 ส่งคำขอ")

        # A notification with a button comes as a bubble: look inside it.
        await line.wait_for(lambda: any(
            "คำขอรับการสนับสนุนใหม่" in json.dumps(d["message"], ensure_ascii=False)
            for d in line.delivered_messages(tao.user_id)))
        await tao.send("คำขอรอพิจารณา (อบต.)")
        await tao.press(next(b for b in _choices(tao.messages()[-1]) if b.startswith("#1")))
        await tao.press("↩️ ส่งคืนหมู่บ้าน")
        await tao.send("ขอใบเสนอราคาประกอบ 2 ร้าน")
        await tao.press("✅ ยืนยัน")
        # With its button (✏️ correct and resend), the notification is a bubble.
        await line.wait_for(lambda: any(
            "ขอใบเสนอราคาประกอบ 2 ร้าน" in json.dumps(d["message"], ensure_ascii=False)
            for d in line.delivered_messages(leader.user_id)),
                            what="the village told why the request came back")
        pushed = [d for d in line.delivered_messages(leader.user_id)
                  if "ขอใบเสนอราคา" in json.dumps(d["message"], ensure_ascii=False)]
        assert pushed and pushed[0]["via"] == "push"
        assert "m:open:correct:support_request:1" in json.dumps(pushed[0]["message"])
    assert await _count(seeded_db_path, "SELECT status, reason FROM support_requests") == [
        ("returned", "ขอใบเสนอราคาประกอบ 2 ร้าน")]
