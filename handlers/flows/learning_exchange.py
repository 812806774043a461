"""The learning exchange in chat: `exchange.menu` (issue 15; the cabinet
resolution's learning networks, §8, made practical).

Published success stories only (public data: what the villages consented to publish),
from villages of the person's own learning network first, then the rest of the nation, by
problem category. Each shows what was done, the outcome, what worked (the village's own
lessons, as published) and whom to ask: the tambon core team of that tambon, never a
person."""

from __future__ import annotations

from handlers import area_names
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.permissions import Role
from handlers.turn import Answer, Invalid, Localized, Turn
from locales import category_label
from storage import areas, stories
from storage.stories import NATION_CODE, PublishedStory

SHOWN = 5  # examples shown for one category
WORKED_SHOWN = 400
DONE = "done"


async def _network(turn: Turn) -> str | None:
    """The learning network of the person's first area (None above the networks)."""
    for grant in turn.grants:
        for area in await areas.lineage(turn.conn, grant.area_code):
            if area.level == "network":
                return area.code
    return None


async def _categories(turn: Turn) -> list[tuple[str, int, int]]:
    """(category, stories in the network, stories in the nation), the nation's most first."""
    network = turn.data.get("network")
    near = dict(await stories.published_categories(turn.conn, network)) if network else {}
    return [(category, near.get(category, 0), count)
            for category, count in await stories.published_categories(turn.conn, NATION_CODE)]


async def begin(turn: Turn) -> str | None:
    if turn.person is None:
        return None
    turn.data["network"] = await _network(turn)
    if not await _categories(turn):
        turn.say("exchange.none")
        return None
    return "category"


async def ask_category(turn: Turn) -> None:
    network = turn.data.get("network")
    where = (Localized("exchange.where_network",
                       {"network": await area_names.bilingual_title(turn.conn, network)})
             if network else Localized("exchange.where_nation"))
    choices = [(turn.t("exchange.category", category=category_label(key, turn.language),
                       near=near, count=count), key)
               for key, near, count in await _categories(turn)]
    choices.append((turn.t("common.done"), DONE))
    turn.ask(turn.t("exchange.ask_category", where=where), choices)


async def _examples(turn: Turn, category: str) -> list[tuple[PublishedStory, bool]]:
    """Up to SHOWN stories: the network's first (True), then the nation's (False)."""
    network = turn.data.get("network")
    near = (await stories.published_stories(turn.conn, network, SHOWN, category=category)
            if network else [])
    seen = {s.id for s in near}
    far = [s for s in await stories.published_stories(turn.conn, NATION_CODE, SHOWN * 2,
                                                      category=category)
           if s.id not in seen]
    return [(s, True) for s in near] + [(s, False) for s in far][:SHOWN - len(near)]


def _worked(turn: Turn, text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        return turn.t("stories.none")
    return flat if len(flat) <= WORKED_SHOWN else flat[:WORKED_SHOWN - 1].rstrip() + "…"


async def _example_text(turn: Turn, story: PublishedStory, near: bool) -> str:
    return turn.t(
        "exchange.example",
        where=Localized("exchange.from_network" if near else "exchange.from_nation"),
        village=await area_names.bilingual_title(turn.conn, story.village_code),
        title=story.title, approach=Localized(f"plan.approach.{story.approach}")
        if story.approach else "-",
        outcome=Localized(f"progress.outcome.{story.outcome}"),
        households=f"{story.households_helped:,}", worked=_worked(turn, story.what_worked),
        ask=await area_names.bilingual_title(turn.conn, story.tambon_code, depth=3))


async def answer_category(turn: Turn, given: Answer) -> str:
    if given.choice == DONE:
        return END
    known = {key for key, _, _ in await _categories(turn)}
    if given.choice not in known:
        raise Invalid("input.use_buttons")
    shown = await _examples(turn, given.choice)
    turn.say("exchange.heading", category=category_label(given.choice, turn.language),
             count=len(shown))
    for story, near in shown:
        turn.say_text(await _example_text(turn, story, near))
    return "category"


FLOW = Flow(
    name="learning_exchange",
    title_key="exchange.title",
    menu=MenuEntry(frozenset(Role) - {Role.ADMIN}, "exchange.menu", 85),
    begin=begin,
    steps={"category": Step(ask_category, answer_category)},
)
