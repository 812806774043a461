"""The learning exchange in chat, "ดูตัวอย่างจากหมู่บ้านอื่น" (issue 15): published success
stories only, by problem category, from villages of the person's own learning network first
(Yasothon, 35, is in the Ubon Ratchathani network with Amnat Charoen, 37), then the nation;
each with what worked and whom to ask (the tambon core team, never a person). On the console
and on Telegram (the real python-telegram-bot client against the local Bot API server)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from handlers.permissions import Role
from storage import areas, plans, stories
from storage.connection import Connection
from storage.db import Database
from tests.conftest import START, Harness
from tests.servers.telegram_api import TelegramTestServer
from tests.test_telegram_channel import Person, issue_code, webhook_service

LABEL = "ดูตัวอย่างจากหมู่บ้านอื่น"


async def _tambon_of(conn: Connection, province: str) -> str:
    async with conn.execute("SELECT MIN(code) FROM areas WHERE level = 'tambon'"
                            " AND code >= ? AND code < ?", (province, f"{province}~")) as cur:
        return str((await cur.fetchone())[0])


async def _story(conn: Connection, tambon: str, no: int, title: str, category: str,
                 worked: str, *, publish: bool = True) -> None:
    village = await areas.add_village(conn, tambon, no, f"บ้านทดสอบ{no}")
    plan_id = await plans.create_plan(conn, village_code=village.code,
                                      period_start=date(2025, 1, 1),
                                      period_end=date(2025, 6, 30), person_id=1, now=START)
    item_id = await plans.add_item(
        conn, plan_id=plan_id, village_code=village.code, title=title,
        approach="self_reliance", partner="", budget_needed=0, own_money=5_000,
        own_labour="", start_on=date(2025, 1, 1), end_on=date(2025, 3, 31),
        responsible="นายลับเฉพาะ", problem_ids=[], person_id=1, now=START)
    story_id = await stories.propose(conn, item_id=item_id, village_code=village.code,
                                     category=category, person_id=1, now=START)
    assert story_id is not None
    if publish:
        await stories.publish(conn, story_id, person_id=1, title=title,
                              approach="self_reliance", outcome="yes", households_helped=30,
                              what_worked=worked, photo_ref=None, now=START)


async def seed_stories(db: Database) -> None:
    async with db.transaction() as conn:
        amnat = await _tambon_of(conn, "37")  # same learning network as Yasothon
        bangkok = await _tambon_of(conn, "10")  # another network
        await _story(conn, amnat, 4, "ธนาคารน้ำใต้ดิน", "water",
                     "ขุดบ่อซึมน้ำร่วมกันทุกครัวเรือน")
        await _story(conn, bangkok, 5, "บ่อบาดาลชุมชน", "water", "ระดมทุนในชุมชน")
        await _story(conn, bangkok, 6, "ตลาดนัดสินค้าเกษตร", "farm_prices", "ขายตรงไม่ผ่านพ่อค้าคนกลาง")
        await _story(conn, amnat, 7, "ยังไม่ยินยอม", "water", "ความลับ", publish=False)


async def test_examples_from_the_network_first_then_the_nation_on_the_console(
        console: Harness) -> None:
    out = await console.start("1")
    out = await console.type(LABEL)
    assert "ยังไม่มีเรื่องราวความสำเร็จที่เผยแพร่" in out  # nothing published yet
    await seed_stories(console.db)
    out = await console.type(LABEL)
    assert "เครือข่ายการเรียนรู้ จ.อุบลราชธานี ก่อน แล้วทั่วประเทศ" in out
    assert "ภัยแล้ง/น้ำ (2)" in out or "(2)" in out
    water = next(line.split("] ", 1)[1] for line in out.splitlines() if "(2)" in line)
    out = await console.type(water)
    # The network's village first, then the nation's; the unconsented story never.
    assert out.index("ธนาคารน้ำใต้ดิน") < out.index("บ่อบาดาลชุมชน")
    assert "ในเครือข่ายการเรียนรู้เดียวกัน" in out and "จากทั่วประเทศ" in out
    assert "สิ่งที่ได้ผล: ขุดบ่อซึมน้ำร่วมกันทุกครัวเรือน" in out
    assert "สอบถามได้ที่: กลุ่มแกนระดับตำบล ต." in out and "จ.อำนาจเจริญ" in out
    assert "ยังไม่ยินยอม" not in out and "ความลับ" not in out
    assert "นายลับเฉพาะ" not in out  # whom to ask is the tambon, not a person
    assert "ตลาดนัดสินค้าเกษตร" not in out  # another category
    out = await console.type("✔️ เสร็จแล้ว")
    assert "ธนาคารน้ำใต้ดิน" not in out


async def test_learning_exchange_on_telegram(seeded_db_path: Path, tg: TelegramTestServer,
                                             tmp_path: Path) -> None:
    async with Database(seeded_db_path) as db:
        await seed_stories(db)
    async with webhook_service(seeded_db_path, tg, tmp_path / "m") as service:
        person = Person(service, tg, 5151)
        await person.send(f"/start {await issue_code(seeded_db_path, Role.CORE_TEAM, '350101')}")
        await person.send("สมชาย แกนตำบล")
        out = await person.send(LABEL)
        assert "เลือกประเภทปัญหา" in out
        water = next(label for label in person.buttons() if label.endswith("(2)"))
        out = await person.press(water)
        assert "ธนาคารน้ำใต้ดิน" in out and "บ่อบาดาลชุมชน" in out
        assert out.index("ธนาคารน้ำใต้ดิน") < out.index("บ่อบาดาลชุมชน")
        assert "ความลับ" not in out
        assert "✔️ เสร็จแล้ว" in person.buttons()  # common.done
