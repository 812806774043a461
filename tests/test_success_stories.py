"""The success board's consent (issue 15), through the console channel and the web site:
the core team proposes a confirmed outcome (the 🏆 button on its notification), the village
is asked in chat and nothing is public before it says yes; then the story is on its page,
on the Results Monitor's data (storage.stories.published_stories) and in the Atom feed;
withdrawing consent takes it off all of them at once."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import aiohttp

from handlers.messages import Incoming
from storage import people, stories
from storage.people import Grant
from tests.conftest import START, Harness
from tests.test_progress import _seed_plan
from tests.test_sign_in import running_site

ATOM = "{http://www.w3.org/2005/Atom}"


async def _confirm_outcome(console: Harness, photo: bool = True) -> str:
    """The village reports item #3 done, solved, 45 households (with a photo); returns what
    the core team then reads."""
    await _seed_plan(console)
    await console.start("1")
    await console.type("รายงานความคืบหน้า")
    await console.type("#3 สร้างฝายชะลอน้ำ · 0%")
    await console.type("เสร็จแล้ว")
    await console.type("สร้างฝายเสร็จ 2 จุด")
    (console.media_dir / "reports").mkdir(parents=True, exist_ok=True)
    (console.media_dir / "reports" / "weir.jpg").write_bytes(b"\xff\xd8\xff\xe0 weir photo")
    await console.type("/photo reports/weir.jpg" if photo else "ข้าม")
    await console.type("แก้ปัญหาได้")
    await console.type("45")
    out = await console.type("บันทึก")
    assert "บันทึกความคืบหน้าของรายการ #3 แล้ว" in out
    return await console.start("2")


async def _feed_titles(http: aiohttp.ClientSession, origin: str) -> list[str]:
    async with http.get(f"{origin}/feed.atom") as response:
        assert response.status == 200
        assert response.content_type == "application/atom+xml"
        root = ET.fromstring(await response.read())
    return [entry.findtext(f"{ATOM}title") or "" for entry in root.iter(f"{ATOM}entry")]


async def _published(console: Harness) -> list[stories.PublishedStory]:
    async with console.db.read() as conn:
        return await stories.published_stories(conn, "TH", 10)


async def test_no_story_public_before_the_village_says_yes_and_withdrawing_removes_it(
        console: Harness) -> None:
    core = await _confirm_outcome(console)
    assert "[2] 🏆 เสนอเป็นเรื่องราวความสำเร็จ" in core  # the button on the outcome's notice
    out = await console.type("2")
    assert "ยังไม่มีอะไรเผยแพร่จนกว่าหมู่บ้านจะตอบตกลง" in out
    out = await console.type("📨 ส่งคำขอความยินยอม")
    assert "ส่งคำขอความยินยอมเรื่อง ผ#3 ให้กรรมการหมู่บ้านแล้ว" in out
    assert await console.scalar("SELECT status FROM stories") == "proposed"

    async with running_site(console) as (origin, http):
        # Proposed, not consented: nowhere public.
        assert await _published(console) == []
        assert await _feed_titles(http, origin) == []
        async with http.get(f"{origin}/stories/1") as response:
            assert response.status == 404

        village = await console.start("1")
        assert "เสนอให้ผล ผ#3 สร้างฝายชะลอน้ำ" in village and "[1] 🏆 ตอบเรื่องเผยแพร่" in village
        out = await console.type("1")
        assert "สิ่งที่จะเผยแพร่บนเว็บไซต์" in out and "ช่วยได้ 45 ครัวเรือน" in out
        assert "รูปที่ 1" in out and "weir.jpg" in out  # the photo shown to choose
        out = await console.type("✅ เผยแพร่ พร้อมรูปที่ 1")
        assert "เผยแพร่แล้ว" in out and "/stories/1" in out

        found = await _published(console)
        assert [(s.title, s.outcome, s.households_helped, s.has_photo) for s in found] == [
            ("สร้างฝายชะลอน้ำ", "yes", 45, True)]
        assert await _feed_titles(http, origin) == ["สร้างฝายชะลอน้ำ"]
        async with http.get(f"{origin}/stories/1") as response:
            page = await response.text()
            assert response.status == 200 and "สร้างฝายชะลอน้ำ" in page
            assert "นายสมชาย" not in page  # the responsible person is never published
        async with http.get(f"{origin}/stories/1/photo") as response:
            assert response.status == 200 and b"weir photo" in await response.read()

        # Withdrawn from the chat: off the page, the photo, the feed and the board at once.
        await console.type("เมนู")
        await console.type("เพิ่มเติม")
        out = await console.type("🏆 เรื่องราวความสำเร็จของหมู่บ้าน")
        out = await console.type("↩️ ถอนความยินยอม: ผ#3 สร้างฝายชะลอน้ำ")
        assert "ออกจากเว็บไซต์และฟีดข่าวทันที" in out
        out = await console.type("↩️ ถอนความยินยอม")
        assert "ถอนความยินยอมแล้ว ผ#3" in out
        assert await _published(console) == []
        assert await _feed_titles(http, origin) == []
        for path in ("/stories/1", "/stories/1/photo"):
            async with http.get(f"{origin}{path}") as response:
                assert response.status == 404, path
    async with console.db.read() as conn, conn.execute(
            "SELECT decision FROM story_consents ORDER BY id") as cur:
        assert [r[0] for r in await cur.fetchall()] == ["given", "withdrawn"]
    assert "ถอนความยินยอม" in await console.start("2")  # the core team is told


async def test_declined_stays_private_and_only_solved_outcomes_are_proposed(
        console: Harness) -> None:
    await _confirm_outcome(console, photo=False)
    await console.type("2")
    await console.type("📨 ส่งคำขอความยินยอม")
    await console.start("1")
    out = await console.type("1")
    assert "รูปที่" not in out and "✅ เผยแพร่ ไม่ใส่รูป" in out
    out = await console.type("❌ ไม่เผยแพร่")
    assert "จะไม่เผยแพร่" in out
    assert await _published(console) == []
    assert await console.scalar("SELECT status FROM stories") == "declined"
    # Nothing left to answer; the core team has no other confirmed success to propose.
    out = await console.type("🏆 เรื่องราวความสำเร็จของหมู่บ้าน")
    assert "ยังไม่มีเรื่องราวความสำเร็จที่รอคำตอบหรือเผยแพร่อยู่" in out
    await console.start("2")
    out = await console.type("🏆 เสนอเรื่องราวความสำเร็จ")
    assert "ยังไม่มีผลที่หมู่บ้านยืนยันว่าแก้ปัญหาได้ ที่ยังไม่ได้เสนอ" in out


async def test_another_village_cannot_answer_and_the_button_refuses(console: Harness) -> None:
    await _confirm_outcome(console)
    await console.type("2")
    await console.type("📨 ส่งคำขอความยินยอม")
    async with console.db.transaction() as conn:
        other = await people.create_person(conn, "สมหมาย หมู่ 2", "th", START)
        identity = await people.ensure_identity(conn, "console", "demo-m2", "demo-m2", START)
        await people.link_identity(conn, identity.id, other)
        await people.add_grant(conn, other, Grant("village_committee", "35010102"), None,
                               START)
    # Another village's committee, and the TAO, pressing buttons they never got.
    for user, payload in (("demo-m2", "m:open:story:consent:1"),
                          ("demo-m2", "m:open:story:withdraw:1"),
                          ("demo-tao", "m:open:story:consent:1"),
                          ("demo-tao", "m:open:story:propose:3")):
        await console.engine.handle(Incoming(channel="console", user_id=user, chat_id=user,
                                             update_id=f"forged-{user}-{payload}",
                                             payload=payload))
        await console.sender.deliver_due("console", user)
    out = console.take()
    assert "สิ่งที่จะเผยแพร่" not in out and "ยังไม่มีอะไรเผยแพร่" not in out
    assert "เรื่องนี้ตอบได้เฉพาะกรรมการหมู่บ้าน" in out
    assert "การเสนอเรื่องราวความสำเร็จมีไว้สำหรับกลุ่มแกนระดับตำบล" in out
    assert await console.scalar("SELECT status FROM stories") == "proposed"
    assert await console.scalar("SELECT COUNT(*) FROM story_consents") == 0
