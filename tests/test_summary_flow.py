"""Summaries in chat for each role, scoped to its area: text per section, a chart, an
export, drilling down and up — and nothing outside the person's area."""

from __future__ import annotations

import io
import re

import openpyxl
from PIL import Image

from tests.conftest import Harness

REPORT = ["รายงานปัญหา", "ภัยแล้ง/น้ำ", "บ่อน้ำตื้นแห้ง ชาวบ้านไม่มีน้ำใช้", "45", "รุนแรง", "ข้าม",
          "ข้าม", "บันทึก"]


def _path(out: str, mark: str) -> str:
    match = re.search(rf"{mark}\s+(\S+)", out)
    assert match, out
    return match.group(1)


async def test_core_team_sees_its_tambon_drills_down_and_exports(console: Harness) -> None:
    await console.start("1")
    for step in REPORT:
        await console.type(step)
    await console.type("/as 2")
    out = await console.type("สรุปผล")
    assert "ดูช่วงเวลาไหนครับ" in out
    out = await console.type("เดือนนี้")
    assert "📊 ต.ในเมือง อ.เมืองยโสธร จ.ยโสธร · 1 ม.ค. 2568 – 10 ม.ค. 2568" in out
    assert "ปัญหา 1 เรื่อง เดือดร้อน 45 ครัวเรือน" in out
    assert "🔼 ระดับบน" not in out  # the district is not the core team's to read

    out = await console.type("ผลกระทบ")
    assert "ภัยแล้ง/น้ำ: 1 เรื่อง 45 ครัวเรือน" in out

    out = await console.type("📈 กราฟผลกระทบ")
    chart = console.media_dir / _path(out, "🖼")
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size[0] >= 800

    out = await console.type("📥 Excel")
    xlsx = (console.media_dir / _path(out, "📎")).read_bytes()
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert len(workbook.sheetnames) == 5

    out = await console.type("📄 CSV")
    assert (console.media_dir / _path(out, "📎")).read_bytes().startswith(b"\xef\xbb\xbf")

    await console.type("🔽 พื้นที่ย่อย")
    out = await console.type("หมู่ที่ 1 บ้านโนนสูง")
    assert "📊 หมู่ที่ 1 บ้านโนนสูง" in out
    out = await console.type("🔼 ระดับบน")
    assert "📊 ต.ในเมือง" in out


async def test_a_village_committee_sees_only_its_village(console: Harness) -> None:
    await console.start("1")
    await console.type("สรุปผล")
    out = await console.type("3 เดือนล่าสุด")
    assert "📊 หมู่ที่ 1 บ้านโนนสูง" in out
    assert "พื้นที่ย่อย" not in out and "ระดับบน" not in out


async def test_a_province_viewer_drills_into_districts(console: Harness) -> None:
    await console.start("5")
    await console.type("สรุปผล")
    out = await console.type("กำหนดเอง")
    assert "เริ่มวันที่" in out
    await console.type("1/1/2568")
    out = await console.type("๓๑ ม.ค. ๖๘")
    assert "📊 จ.ยโสธร · 1 ม.ค. 2568 – 31 ม.ค. 2568" in out
    out = await console.type("🔽 พื้นที่ย่อย")
    assert "อ.เมืองยโสธร" in out
    out = await console.type("อ.เมืองยโสธร")
    assert "📊 อ.เมืองยโสธร" in out
    out = await console.type("🔼 ระดับบน")
    assert "📊 จ.ยโสธร" in out
    assert "ระดับบน" not in out.split("ดูอะไรต่อครับ")[-1]  # not above the province


async def test_a_forged_drill_down_outside_the_area_is_refused(console: Harness) -> None:
    await console.start("2")
    await console.type("สรุปผล")
    await console.type("เดือนนี้")
    await console.type("🔽 พื้นที่ย่อย")
    seq = await console.scalar(
        "SELECT c.seq FROM conversations c JOIN identities i ON i.id = c.identity_id"
        " WHERE i.platform_user_id = 'demo-core'")
    from handlers.messages import Incoming

    await console.engine.handle(Incoming(channel="console", user_id="demo-core",
                                         chat_id="demo-core", update_id="forged-area",
                                         payload=f"s{seq}:35020101"))
    await console.sender.deliver_due("console", "demo-core")
    out = console.take()
    assert "กรุณาเลือกจากปุ่ม" in out
    assert "📊" not in out
