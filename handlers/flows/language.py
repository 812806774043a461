"""Choosing the language the bot speaks to a person."""

from __future__ import annotations

from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Role
from handlers.turn import Answer, Invalid, Turn
from locales import LANGUAGES
from storage import people


async def begin(turn: Turn) -> str | None:
    return "choose"


async def ask_language(turn: Turn) -> None:
    turn.ask(turn.t("language.ask"), [(turn.t(f"language.name.{lang}"), lang)
                                      for lang in LANGUAGES])


async def answer_language(turn: Turn, answer: Answer) -> str:
    if answer.choice not in LANGUAGES or turn.person is None:
        raise Invalid("input.use_buttons")
    await people.set_language(turn.conn, turn.person.id, answer.choice)
    turn.person = await people.person(turn.conn, turn.person.id)
    turn.say("language.changed")
    return END


FLOW = Flow(name="language", title_key="flow.language", begin=begin,
            menu=MenuEntry(frozenset(Role), "menu.language", 95, menu_after=True),
            steps={"choose": Step(ask_language, answer_language)})
