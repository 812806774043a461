"""The report flow as a simulated person walks it, typing the buttons' labels: shared by
the crash suite (tests/crash_suite.py) and the benchmarks (bench/common.py)."""

from __future__ import annotations

# (words of the question, the answer)
ANSWERS = (
    ("ปัญหาเรื่องอะไร", "สุขภาพ"),
    ("เล่าปัญหาสั้น", "ไข้เลือดออกระบาดในหมู่บ้าน"),
    ("กี่ครัวเรือน", "12"),
    ("รุนแรงแค่ไหน", "ปานกลาง"),
    ("ส่งรูปถ่าย", "ข้าม"),
    ("ส่งตำแหน่ง", "ข้าม"),
    ("ตรวจสอบก่อนบันทึก", "บันทึก"),
)
START_REPORT = "รายงานปัญหา"  # the menu item: typed by someone at the menu


def next_answer(last_text: str) -> str:
    """What a person answers to the last message seen: the step's answer, or, at the menu,
    a greeting or a confirmation, the start of a new report."""
    for words, answer in ANSWERS:
        if words in last_text:
            return answer
    return START_REPORT
