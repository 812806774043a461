"""Random input at every step of the report flow: nothing escapes, nothing entered is
lost, and the conversation stays in a valid state."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.flows.problem_report import FLOW
from handlers.messages import Incoming, Location
from storage.db import Database
from tests.conftest import Harness

FULL_DRAFT = {"village": "35010101", "category": "water",
              "description": "บ่อน้ำแห้ง ไม่มีน้ำใช้", "households": 45, "severity": 3,
              "photo": None, "location": None}
# The fields each step may legitimately change.
OWN_FIELDS = {"category": {"category", "description", "_suggested"},
              "category_suggested": {"category", "_suggested"},
              "description": {"description"}, "households": {"households"},
              "severity": {"severity"}, "photo": {"photo"}, "location": {"location"},
              "confirm": set()}
NAV = {"ยกเลิก", "cancel", "ย้อนกลับ", "กลับ", "back", "ช่วยเหลือ", "help", "เมนู", "menu"}
_ids = itertools.count()

THAI_PIECES = [*"กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮะาิีึืุูเแโใไ่้๊๋็์ ๐๑๒๓๔๕๖๗๘๙0123456789.,/-",
               "ล้าน", "หมื่น", "แสน", "ครัวเรือน", "🙏", "\u200b", "\n",
               "'; DROP TABLE problems;--"]
thaiish = st.lists(st.sampled_from(THAI_PIECES), max_size=30).map("".join)
answers = st.one_of(
    st.builds(lambda t: {"text": t}, st.text(max_size=300)),
    st.builds(lambda t: {"text": t}, thaiish),
    st.builds(lambda n: {"text": "x" * n}, st.integers(0, 12_000)),
    st.builds(lambda p: {"payload": p}, st.text(max_size=80)),
    st.builds(lambda s, v: {"payload": f"s{s}:{v}"}, st.integers(-3, 100), st.text(max_size=20)),
    st.builds(lambda p: {"photo": p}, st.text(min_size=1, max_size=50)),
    st.builds(lambda a, b: {"location": Location(a, b)},
              st.floats(allow_nan=False), st.floats(allow_nan=False)),
    st.just({"unsupported": "sticker"}),
)


async def _put_in_step(db: Database, step: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE conversations SET flow = 'problem_report', step = ?, data = ?, seq = 50,"
            " updated_at = '2025-01-10T03:00:00.000000+00:00', history = '[]'"
            " WHERE identity_id = (SELECT id FROM identities WHERE platform_user_id = ?)",
            (step, json.dumps({**FULL_DRAFT, "_suggested": "water"}, ensure_ascii=False),
             "demo-village"))


async def _conversation(db: Database) -> tuple[str | None, str | None, dict]:  # type: ignore[type-arg]
    async with db.read() as conn, conn.execute(
            "SELECT flow, step, data FROM conversations c JOIN identities i"
            " ON i.id = c.identity_id WHERE i.platform_user_id = 'demo-village'") as cur:
        row = await cur.fetchone()
    return row[0], row[1], json.loads(row[2])


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(step=st.sampled_from(sorted(OWN_FIELDS)), answer=answers)
async def test_random_input_at_every_step(console: Harness, step: str, answer: dict) -> None:  # type: ignore[type-arg]
    if answer.get("text", "").strip().casefold() in NAV:
        return
    if console.chat.active is None:
        await console.start("1")
        await console.type("เมนู")
    await _put_in_step(console.db, step)
    update = Incoming(channel="console", user_id="demo-village", chat_id="demo-village",
                      update_id=f"fuzz-{next(_ids)}", **answer)
    await console.engine.handle(update)  # must not raise
    assert await console.sender.deliver_due("console", "demo-village") >= 1  # always answered
    console.take()

    flow, now_at, data = await _conversation(console.db)
    assert flow == "problem_report"
    assert now_at in FLOW.steps
    for key, value in FULL_DRAFT.items():
        if key not in OWN_FIELDS[step]:
            assert data.get(key) == value, (step, key)
    assert await console.scalar("SELECT COUNT(*) FROM problems") == 0
