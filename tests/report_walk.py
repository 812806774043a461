"""The report flow as a simulated person walks it, typing the buttons' labels: shared by
the crash suite (tests/crash_suite.py) and the benchmarks (bench/common.py).

The walk is the shortest one (issue 13): the description typed at the menu starts the
report, "ใช่" confirms the category suggested, then households, severity, "ข้าม" at the
photo/location question, save: six messages. The other answers are for the questions a
person may meet on the way (the category question when no category is suggested, the
description question, the location question reached from the confirmation screen)."""

from __future__ import annotations

# (words of the question, the answer), the shortest walk's first.
ANSWERS = (
    ("ดูเหมือนเป็นปัญหา", "ใช่"),
    ("กี่ครัวเรือน", "12"),
    ("รุนแรงแค่ไหน", "ปานกลาง"),
    ("ส่งรูปถ่าย หรือแชร์ตำแหน่ง", "ข้าม"),
    ("ตรวจสอบก่อนบันทึก", "บันทึก"),
    ("ปัญหาเรื่องอะไร", "สุขภาพ"),
    ("เล่าปัญหาสั้น", "ไข้เลือดออกระบาดในหมู่บ้าน"),
    ("ส่งรูปถ่าย", "ข้าม"),
    ("ส่งตำแหน่ง", "ข้าม"),
)
# What a person at the menu types: the problem itself, which starts a report.
START_REPORT = "ไข้เลือดออกระบาดในหมู่บ้าน เด็กป่วยหลายคน"


def next_answer(last_text: str) -> str:
    """What a person answers to the last message seen: the step's answer, or, at the menu,
    a greeting or a confirmation, the start of a new report."""
    for words, answer in ANSWERS:
        if words in last_text:
            return answer
    return START_REPORT
