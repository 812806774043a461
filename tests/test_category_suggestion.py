"""Suggesting a category from what a village leader types."""

from __future__ import annotations

import pytest

from handlers.category_suggestion import suggest


@pytest.mark.parametrize(("text", "expected"), [
    ("น้ำท่วมนาข้าวเสียหายหมดทั้งทุ่ง", "water"),
    ("ฝนทิ้งช่วง บ่อน้ำแห้ง ไม่มีน้ำใช้", "water"),
    ("ลูกหลานตกงานจากโรงงาน ต้องกลับบ้าน", "jobs"),
    ("ชาวบ้านเป็นหนี้นอกระบบ ดอกเบี้ยสูง", "debt"),
    ("ราคายางตกต่ำมาก ขายไม่ได้", "farm_prices"),
    ("ไข้เลือดออกระบาด เด็กป่วยหลายคน", "health"),
    ("เด็กออกกลางคันเพราะไม่มีค่าเทอม", "education"),
    ("วัยรุ่นติดยาบ้า มีการลักขโมย", "drugs_crime"),
    ("ผู้สูงอายุอยู่ลำพัง ถูกทอดทิ้ง", "vulnerable"),
    ("เด็กเล็กขาดอาหาร อดอยาก", "food"),
    ("Factory closed and many people lost their job", "jobs"),
    ("สวัสดีครับ", None),
    ("🙏🙏🙏", None),
    ("", None),
])
def test_suggestion(text: str, expected: str | None) -> None:
    assert suggest(text) == expected
