"""A summary's chart and export reach Telegram (photo, document) and LINE (an image and a
download link, signed, served by the bot's own web server)."""

from __future__ import annotations

import itertools
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.service import Service
from handlers.permissions import Role
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_line_channel import SECRET
from tests.test_line_channel import TOKEN as LINE_TOKEN
from tests.test_line_channel import Person as LinePerson
from tests.test_telegram_channel import Person, issue_code, settings_for


async def test_chart_and_workbook_on_telegram(seeded_db_path: Path, tg: TelegramTestServer,
                                              tmp_path: Path) -> None:
    settings = settings_for(seeded_db_path, tg, tmp_path / "m",
                            telegram_webhook_url="https://bot.example.org/telegram/webhook",
                            telegram_webhook_secret="s")
    async with Service(settings, background=False) as service:
        assert service.telegram is not None
        service.telegram.sender.pacer.clock = itertools.count(step=10.0).__next__
        viewer = Person(service, tg, 4101)
        await viewer.send(f"/start {await issue_code(seeded_db_path, Role.VIEWER, '35')}")
        await viewer.send("มาลี ผู้ติดตาม")
        await viewer.send("สรุปผล")
        out = await viewer.press("3 เดือนล่าสุด")
        assert "จ.ยโสธร" in out
        await viewer.press("📈 กราฟผลกระทบ")
        await viewer.press("📥 Excel")
    photos = [c for c in tg.calls_to("sendPhoto") if c.ok]
    documents = [c for c in tg.calls_to("sendDocument") if c.ok]
    assert len(photos) == 1 and photos[0].params["photo"].content.startswith(b"\x89PNG")
    # The chart comes with its title as the caption, not the section's text again.
    assert photos[0].params["caption"].startswith("📈 ผลกระทบ · จ.ยโสธร · ")
    after = [c.params.get("text", "") for c in tg.calls[tg.calls.index(photos[0]):]
             if c.ok and c.method == "sendMessage"]
    assert not any("ปัญหา 0 เรื่อง" in text for text in after), after
    assert len(documents) == 1
    assert documents[0].params["document"].filename.endswith(".xlsx")



async def test_chart_and_export_link_on_line(seeded_db_path: Path, line: LineTestServer,
                                             tmp_path: Path) -> None:
    settings = Settings(db_path=seeded_db_path, media_dir=tmp_path / "m", telegram_token=None,
                        telegram_bot_username=None, log_level="INFO", http_host="127.0.0.1",
                        http_port=0, line_access_token=LINE_TOKEN, line_channel_secret=SECRET,
                        line_api_host=line.origin, public_url="https://bot.example.org")
    async with Service(settings) as service:
        viewer = LinePerson(service, line, "U" + "7" * 32)
        await viewer.send(await issue_code(seeded_db_path, Role.CORE_TEAM, "350101"))
        await viewer.send("ประเสริฐ")
        await viewer.send("สรุปผล")
        await viewer.press("เดือนนี้")
        await viewer.press("📈 กราฟผลกระทบ")
        image = next(m for m in viewer.messages() if m["type"] == "image")
        await viewer.press("📄 CSV")
        link_text = next(m["text"] for m in reversed(viewer.messages())
                         if m["type"] == "text" and "ดาวน์โหลด" in m["text"])
        local = f"http://127.0.0.1:{service.web.bound_port}"
        async with aiohttp.ClientSession() as http:
            url = image["originalContentUrl"].replace("https://bot.example.org", local)
            async with http.get(url) as response:
                assert response.status == 200
                assert (await response.read()).startswith(b"\x89PNG")
            async with http.get(url.replace("sig=", "sig=0")) as forged:
                assert forged.status == 403
            csv_url = link_text.split()[-1].replace("https://bot.example.org", local)
            async with http.get(csv_url) as response:
                assert (await response.read()).startswith(b"\xef\xbb\xbf")
