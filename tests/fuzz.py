"""Shared pieces of the property tests that throw random input at every step of a flow:
the strategy of things people send, which of them the engine takes as navigation rather
than an answer, putting a conversation at a step with a full draft, reading it back.

How many examples and which: tests/conftest.py loads a hypothesis profile, "ci" (the same
examples every run, no example database) when CI is set, "dev" (new random examples
every run) otherwise."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from handlers.engine import MAX_TEXT, NAV_WORDS
from handlers.messages import Incoming, Location
from handlers.thai_input import normalize_text
from handlers.turn import NAV_PREFIX
from locales import catalog
from storage.db import Database
from tests.conftest import Harness

# The navigation words of every language, as the engine matches them (locales nav.words.*).
NAV = frozenset(normalize_text(word).casefold() for language in ("th", "en")
                for nav in NAV_WORDS for word in catalog(language)[f"nav.words.{nav}"].split("|"))
BASE_PIECES = [*"กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอฮะาิีึืุูเแโใไ่้๊๋็์ ๐๑๒๓๔๕๖๗๘๙0123456789.,/-",
               "ล้าน", "หมื่น", "แสน", "ครัวเรือน", "ม.ค.", "๒๕๖๘", "ข้าม", "เสร็จแล้ว", "🙏",
               "\u200b", "\n", "'; DROP TABLE problems;--"]
_ids = itertools.count()
STEP_SEQ = 50  # the question number `put_in_step` leaves the conversation at


def answers(pieces: Iterable[str] = (), payload_values: Iterable[str] = ()
            ) -> st.SearchStrategy[dict[str, Any]]:
    """Anything a person can send: text (random, Thai-ish, huge), button payloads (random,
    of this or another question, with values the flow knows), photos, locations, stickers."""
    thaiish = st.lists(st.sampled_from([*BASE_PIECES, *pieces]), max_size=30).map("".join)
    values = st.one_of(st.text(max_size=20),
                       st.sampled_from(["done", "skip", "today", "save", "1", "99",
                                        "edit:x", *payload_values]))
    return st.one_of(
        st.builds(lambda t: {"text": t}, st.text(max_size=300)),
        st.builds(lambda t: {"text": t}, thaiish),
        st.builds(lambda n: {"text": "x" * n}, st.integers(0, 12_000)),
        st.builds(lambda p: {"payload": p}, st.text(max_size=80)),
        st.builds(lambda s, v: {"payload": f"s{s}:{v}"}, st.integers(-3, 100), values),
        st.builds(lambda p: {"photo": p}, st.text(min_size=1, max_size=50)),
        st.builds(lambda a, b: {"location": Location(a, b)},
                  st.floats(allow_nan=False), st.floats(allow_nan=False)),
        st.just({"unsupported": "sticker"}),
    )


def navigates(answer: dict[str, Any]) -> bool:
    """Whether the engine leaves the question for this instead of taking it as an answer,
    decided as handlers/engine.py `_dispatch` does: the text normalized
    (handlers.thai_input.normalize_text: zero-width and control characters dropped,
    spaces folded, stripped) and cut at MAX_TEXT; then anything that starts with /start is
    the start command (whatever follows, a payload too); a navigation button (n:<word>) or,
    for text without a payload, a navigation word of any language, case-folded, with or
    without a leading slash, navigates; so does a notification's button (m:open:…,
    handlers/opening.py), which opens its item. Checked against the engine itself in
    tests/test_fuzz_model.py."""
    text = normalize_text(answer.get("text") or "")[:MAX_TEXT]
    if text.startswith("/start"):
        return True
    payload = answer.get("payload")
    if payload:
        if payload.startswith("m:open:"):  # a notification's button: opens its item
            return True
        return payload.startswith(NAV_PREFIX) and payload.removeprefix(NAV_PREFIX) in NAV_WORDS
    return text.casefold().lstrip("/") in NAV


is_navigation = navigates  # the name the flow fuzz tests use


def presses_save(answer: dict[str, Any]) -> bool:
    """The current question's own "save" button (a confirmation step's): saving is then
    the right answer, not bad input."""
    return answer.get("payload") == f"s{STEP_SEQ}:save"


async def put_in_step(db: Database, flow: str, step: str, draft: dict[str, Any],
                      user: str = "demo-village") -> None:
    async with db.transaction() as conn:
        await conn.execute(
            f"UPDATE conversations SET flow = ?, step = ?, data = ?, seq = {STEP_SEQ},"
            " updated_at = '2025-01-10T03:00:00.000000+00:00', history = '[]'"
            " WHERE identity_id = (SELECT id FROM identities WHERE platform_user_id = ?)",
            (flow, step, json.dumps(draft, ensure_ascii=False), user))


async def conversation(db: Database, user: str = "demo-village"
                       ) -> tuple[str | None, str | None, dict[str, Any]]:
    async with db.read() as conn, conn.execute(
            "SELECT flow, step, data FROM conversations c JOIN identities i"
            " ON i.id = c.identity_id WHERE i.platform_user_id = ?", (user,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return row[0], row[1], json.loads(row[2])


async def throw(console: Harness, answer: dict[str, Any], user: str = "demo-village") -> None:
    """Send one random thing; it must not raise, and the person always gets an answer."""
    await console.engine.handle(Incoming(channel="console", user_id=user, chat_id=user,
                                         update_id=f"fuzz-{next(_ids)}", **answer))
    assert await console.sender.deliver_due("console", user) >= 1
    console.take()
