"""Several replies of one turn go out as few messages as possible."""

from __future__ import annotations

from handlers.messages import Choice, Reply, joined


def test_a_note_goes_on_top_of_the_question_after_it() -> None:
    question = Reply("กี่ครัวเรือน", choices=(Choice("ข้าม", "s:1:skip"),))
    (one,) = joined([Reply("กรุณาพิมพ์ตัวเลข"), question])
    assert one.text == "กรุณาพิมพ์ตัวเลข\n\nกี่ครัวเรือน"
    assert one.choices == question.choices


def test_pictures_files_and_buttons_keep_their_own_message() -> None:
    chart = Reply("กราฟ", image="charts/1.png")
    menu = Reply("ต้องการทำอะไรต่อ", choices=(Choice("รายงานปัญหา", "m:report"),))
    replies = [Reply("สรุปผล"), chart, menu, Reply("ขอบคุณครับ")]
    # A note never goes under a picture (the picture would come first); a message with
    # buttons keeps them, so nothing is joined below it.
    assert joined(replies) == replies


def test_several_notes_and_a_question_become_one_message() -> None:
    (one,) = joined([Reply("บันทึกแล้ว #3"), Reply("ส่งถึงทีมแกนแล้ว"), Reply("เมนู")])
    assert one.text == "บันทึกแล้ว #3\n\nส่งถึงทีมแกนแล้ว\n\nเมนู"
