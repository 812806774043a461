"""The fuzz tests' model of the engine (tests/fuzz.py `navigates`) agrees with the engine
itself: what it calls navigation (/start, a navigation word however typed, a navigation
button) is what the engine leaves the question for, and nothing else. And the hypothesis
profiles: the same examples on CI without an example database, new ones locally."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import Harness
from tests.fuzz import NAV, answers, navigates, put_in_step, throw

DRAFT = {"village": "35010101", "category": "water", "description": "บ่อน้ำแห้ง",
         "households": None, "severity": None, "photo": None, "location": None}

# Navigation words and /start as people type them: slashes, case, spaces, invisible
# characters around them, words run on.
typed_navigation = st.builds(
    lambda before, word, upper, after: {"text": before + (word.upper() if upper else word)
                                        + after},
    st.sampled_from(["", "/", "//", " ", "\u200b", "\t", "\x00", "\ufeff", "x"]),
    st.sampled_from([*sorted(NAV), "/start", "start", "/start ABCD2345"]),
    st.booleans(),
    st.sampled_from(["", " ", "\u200b", "\n", "\r\n", " x", "x", "\u200d", "!"]))
navigation_buttons = st.sampled_from(["n:cancel", "n:back", "n:help", "n:menu", "n:zz", "n:",
                                      "m:report", "/start"]).map(lambda p: {"payload": p})


def _spy(console: Harness) -> list[str]:
    """Which way the engine took each update: the start command, navigation, an answer."""
    engine = console.engine
    if not hasattr(engine, "_taken"):
        engine._taken = []  # type: ignore[attr-defined]
        for name, label in (("_start_command", "start"), ("_navigate", "navigate"),
                            ("_run_step", "answer")):
            original: Callable[..., Awaitable[Any]] = getattr(engine, name)

            async def wrapper(*args: Any, _original: Any = original, _label: str = label,
                              **kwargs: Any) -> Any:
                engine._taken.append(_label)  # type: ignore[attr-defined]
                return await _original(*args, **kwargs)

            setattr(engine, name, wrapper)
    return engine._taken  # type: ignore[attr-defined,no-any-return]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(answer=st.one_of(answers(), typed_navigation, typed_navigation, navigation_buttons))
@example(answer={"text": "/start"})
@example(answer={"text": "/start ABCD2345"})
@example(answer={"text": "/startover"})
@example(answer={"text": "\u200b/start"})
@example(answer={"text": "\u200bยกเลิก"})
@example(answer={"text": "ยกเลิก\u200b"})
@example(answer={"text": "/cancel"})
@example(answer={"text": "  HELP\t"})
@example(answer={"text": "กลับ"})
@example(answer={"text": "cancel please"})
@example(answer={"text": "//back"})
@example(answer={"payload": "n:menu"})
@example(answer={"payload": "n:start"})
@example(answer={"payload": "cancel"})
async def test_the_model_says_navigation_exactly_when_the_engine_navigates(
        console: Harness, answer: dict[str, Any]) -> None:
    taken = _spy(console)
    if console.chat.active is None:
        await console.start("1")
        await console.type("เมนู")
    await put_in_step(console.db, "problem_report", "households", DRAFT)
    taken.clear()
    await throw(console, answer)
    engine_navigated = bool(taken) and taken[0] in ("start", "navigate")
    assert navigates(answer) is engine_navigated, (answer, taken)


def test_ci_runs_the_same_examples_without_a_database() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None  # a failure stored by an earlier run is never replayed
    assert ci.print_blob is True
    dev = settings.get_profile("dev")
    assert dev.derandomize is False  # new random examples every local run


def test_the_loaded_profile_follows_the_environment() -> None:
    from tests import test_plan

    wanted = os.environ.get("HYPOTHESIS_PROFILE") or (
        "ci" if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
        else "dev")
    assert settings._current_profile == wanted
    # The fuzz tests' own @settings inherit it: derandomized exactly when the profile is.
    fuzz_settings = test_plan.test_random_input_at_every_step._hypothesis_internal_use_settings
    assert fuzz_settings.derandomize is settings.get_profile(wanted).derandomize
    assert (fuzz_settings.database is None) is (settings.get_profile(wanted).database is None)


@pytest.mark.parametrize("answer", [{"text": "\u200bยกเลิก"}, {"text": "/cancel"},
                                    {"text": "/start"}, {"text": "ย้อนกลับ\u200b"}])
def test_what_the_old_model_missed_is_navigation(answer: dict[str, Any]) -> None:
    """The old model (text.strip().casefold() in a fixed set) took these for answers."""
    assert navigates(answer)
