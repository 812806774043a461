"""Random input at every step of the report flow: nothing escapes, nothing entered is
lost, and the conversation stays in a valid state."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers.flows.problem_report import FLOW
from tests.conftest import Harness
from tests.fuzz import answers, conversation, navigates, put_in_step, throw

FULL_DRAFT = {"village": "35010101", "category": "water",
              "description": "บ่อน้ำแห้ง ไม่มีน้ำใช้", "households": 45, "severity": 3,
              "photo": None, "location": None}
# The fields each step may legitimately change.
OWN_FIELDS = {"category": {"category", "description", "_suggested"},
              "category_suggested": {"category", "_suggested"},
              "description": {"description"}, "households": {"households"},
              "severity": {"severity"}, "photo": {"photo"}, "location": {"location"},
              "confirm": set()}


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(step=st.sampled_from(sorted(OWN_FIELDS)), answer=answers(payload_values=["water", "3"]))
@example(step="households", answer={"text": "/start"})
@example(step="households", answer={"text": "\u200bยกเลิก"})
@example(step="households", answer={"text": "/cancel"})
@example(step="households", answer={"text": "/start ABCD2345"})
async def test_random_input_at_every_step(console: Harness, step: str, answer: dict) -> None:  # type: ignore[type-arg]
    if navigates(answer):
        return
    if console.chat.active is None:
        await console.start("1")
        await console.type("เมนู")
    await put_in_step(console.db, "problem_report", step, {**FULL_DRAFT, "_suggested": "water"})
    await throw(console, answer)

    flow, now_at, data = await conversation(console.db)
    assert flow == "problem_report"
    assert now_at in FLOW.steps
    for key, value in FULL_DRAFT.items():
        if key not in OWN_FIELDS[step]:
            assert data.get(key) == value, (step, key)
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 0
