"""The success board's consent (issue 15).

When a village confirms an outcome (handlers/flows/progress.py), the tambon core team can
propose it as a success story: from the outcome's notification (🏆 button) or from its
menu (`story_propose`). The village committee is then asked in chat (`story_consent`)
whether to publish it, showing exactly what would be public, and with which photo (one of
those it sent with the item's progress, or none). Only a "yes" publishes it
(storage.stories.publish); the village can withdraw its consent at any time from the same
menu entry, and the story leaves the Results Monitor and the feed at once.

Buttons that open one story (handlers/opening.py, `open:story:<what>:<id>`):
`propose:<item id>` (core team), `consent:<story id>` and `withdraw:<story id>` (village)."""

from __future__ import annotations

from typing import Any

from handlers import area_names
from handlers.flow import END, Flow, MenuEntry, Step
from handlers.messages import Reply
from handlers.opening import open_action
from handlers.permissions import Action, Role, areas_with_role, permitted
from handlers.steps import confirm_step
from handlers.turn import Answer, Invalid, Localized, Turn
from storage import audit, lessons, plans, stories
from storage.plans import PlanItem
from storage.stories import Story

PHOTOS_OFFERED = 3  # the latest photos of the item offered to publish
LIST_SHOWN = 12
LABEL_TITLE = 30
PREVIEW_TEXT = 300
STORY_PATH = "/stories/"  # a published story's page (bot/web/stories.py)
ID_DIGITS_MAX = 12


def _id(raw: Any) -> int | None:
    text = str(raw or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= ID_DIGITS_MAX else None


async def _permitted(turn: Turn, action: Action, village_code: str) -> bool:
    return await permitted(turn.conn, turn.grants, action, village_code)


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"


def story_url(turn: Turn, story_id: int) -> str | None:
    return f"{turn.public_url.rstrip('/')}{STORY_PATH}{story_id}" if turn.public_url else None


# --- the core team proposes -----------------------------------------------------------------

async def _proposable(turn: Turn, item_id: Any) -> PlanItem | None:
    """The item, while it is a confirmed success in the person's area, not yet proposed or
    published."""
    found = _id(item_id)
    item = await plans.get_item(turn.conn, found) if found is not None else None
    if item is None or item.status != "done" or item.outcome_solved not in (
            stories.PROPOSABLE_OUTCOMES):
        return None
    if not await _permitted(turn, Action.PROPOSE_STORY, item.village_code):
        return None
    story = await stories.of_item(turn.conn, item.id)
    return item if story is None or story.status in (stories.DECLINED,
                                                     stories.WITHDRAWN) else None


async def _candidates(turn: Turn) -> list[stories.Candidate]:
    found: list[stories.Candidate] = []
    for tambon in dict.fromkeys(areas_with_role(turn.grants, Role.CORE_TEAM)):
        for candidate in await stories.candidates(turn.conn, tambon):
            if candidate.story_id is None and await _permitted(
                    turn, Action.PROPOSE_STORY, candidate.village_code):
                found.append(candidate)
    return found


async def begin_propose(turn: Turn) -> str | None:
    if not areas_with_role(turn.grants, Role.CORE_TEAM):
        turn.say("stories.propose_not_allowed")
        return None
    if not await _candidates(turn):
        turn.say("stories.no_candidates")
        return None
    return "pick"


async def ask_pick(turn: Turn) -> None:
    choices = []
    for c in (await _candidates(turn))[:LIST_SHOWN]:
        village = await area_names.bilingual_title(turn.conn, c.village_code, depth=1)
        choices.append((turn.t("stories.candidate", id=c.item_id,
                               title=_short(c.title, LABEL_TITLE), village=village,
                               households=f"{c.households_helped:,}"), str(c.item_id)))
    turn.ask(turn.t("stories.ask_pick"), choices)


async def answer_pick(turn: Turn, given: Answer) -> str:
    item = await _proposable(turn, given.choice) if given.choice else None
    if item is None:
        raise Invalid("input.use_buttons")
    turn.data["item_id"] = item.id
    return "confirm"


async def _propose_summary(turn: Turn) -> str:
    item = await _proposable(turn, turn.data.get("item_id"))
    if item is None:
        return turn.t("stories.gone")
    return turn.t("stories.propose_summary", id=item.id, title=item.title,
                  village=await area_names.bilingual_title(turn.conn, item.village_code,
                                                           depth=2),
                  outcome=Localized(f"progress.outcome.{item.outcome_solved}"),
                  households=f"{item.households_helped or 0:,}")


async def _propose(turn: Turn) -> str:
    assert turn.person is not None
    item = await _proposable(turn, turn.data.get("item_id"))
    if item is None:
        turn.say("stories.gone")
        return END
    category = await stories.item_category(turn.conn, item.id)
    story_id = await stories.propose(turn.conn, item_id=item.id, village_code=item.village_code,
                                     category=category, person_id=turn.person.id, now=turn.now)
    if story_id is None:
        turn.say("stories.gone")
        return END
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id,
                       action="story.propose", entity="story", entity_id=story_id,
                       to_state=stories.PROPOSED, detail={"item_id": item.id})
    village = await area_names.bilingual_title(turn.conn, item.village_code, depth=2)
    reach = await turn.notify_holders(
        Role.VILLAGE_COMMITTEE, item.village_code, "stories.notify_proposed",
        actions=[("stories.button.consent", open_action("story", "consent", story_id))],
        id=item.id, title=item.title, village=village, proposer=turn.person.display_name)
    delivery = await turn.delivery([reach], village_code=item.village_code, kind="story",
                                   entity_id=story_id)
    turn.say_delivered(delivery, "stories.proposed", id=item.id)
    return END


PROPOSE_FLOW = Flow(
    name="story_propose",
    title_key="stories.propose_title",
    menu=MenuEntry(frozenset({Role.CORE_TEAM}), "stories.propose_menu", 58,
                   then=("review_inbox", "summary")),
    begin=begin_propose,
    steps={
        "pick": Step(ask_pick, answer_pick),
        "confirm": confirm_step(_propose_summary, {}, _propose,
                                save_label="stories.propose_send"),
    },
)


# --- the village consents, declines or withdraws ----------------------------------------------

async def _story_of_village(turn: Turn, raw: Any, status: str) -> Story | None:
    found = _id(raw)
    story = await stories.get(turn.conn, found) if found is not None else None
    if story is None or story.status != status:
        return None
    return story if await _permitted(turn, Action.CONSENT_STORY, story.village_code) else None


async def begin_village(turn: Turn) -> str | None:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    if not villages:
        turn.say("stories.village_not_allowed")
        return None
    if not await _village_list(turn):
        turn.say("stories.village_none")
        return None
    return "list"


async def _village_list(turn: Turn) -> list[tuple[str, Story]]:
    villages = areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE)
    found = [("consent", s) for s in await stories.of_villages(turn.conn, villages,
                                                                 stories.PROPOSED)]
    found += [("withdraw", s) for s in await stories.of_villages(turn.conn, villages,
                                                                   stories.PUBLISHED)]
    return [(what, s) for what, s in found
            if await _permitted(turn, Action.CONSENT_STORY, s.village_code)][:LIST_SHOWN]


async def _item_title(turn: Turn, story: Story) -> str:
    item = await plans.get_item(turn.conn, story.item_id)
    return story.title or (item.title if item else "")


async def ask_list(turn: Turn) -> None:
    choices = [(turn.t(f"stories.list.{what}", id=s.item_id,
                       title=_short(await _item_title(turn, s), LABEL_TITLE)), f"{what}:{s.id}")
               for what, s in await _village_list(turn)]
    turn.ask(turn.t("stories.ask_list"), choices)


async def answer_list(turn: Turn, given: Answer) -> str:
    what, _, raw = (given.choice or "").partition(":")
    status = {"consent": stories.PROPOSED, "withdraw": stories.PUBLISHED}.get(what)
    story = await _story_of_village(turn, raw, status) if status else None
    if story is None:
        raise Invalid("input.use_buttons")
    turn.data["story_id"] = story.id
    return what


async def _what_worked(item: PlanItem, turn: Turn) -> str:
    found = await lessons.of_plan(turn.conn, item.plan_id)
    return found[-1].what_worked if found else ""


async def ask_consent(turn: Turn) -> None:
    story = await _story_of_village(turn, turn.data.get("story_id"), stories.PROPOSED)
    item = await plans.get_item(turn.conn, story.item_id) if story else None
    if story is None or item is None:
        turn.ask(turn.t("stories.gone"), [(turn.t("menu.home"), "done")])
        return
    photos = (await stories.photos_of_item(turn.conn, item.id))[:PHOTOS_OFFERED]
    for number, photo in enumerate(photos, 1):
        turn.say_reply(Reply(turn.t("stories.photo_caption", number=number), image=photo))
    worked = await _what_worked(item, turn)
    text = turn.t("stories.preview", title=item.title,
                  village=await area_names.bilingual_title(turn.conn, item.village_code),
                  outcome=Localized(f"progress.outcome.{item.outcome_solved}"),
                  households=f"{item.households_helped or 0:,}",
                  worked=_short(worked, PREVIEW_TEXT) if worked else turn.t("stories.none"))
    choices = [(turn.t("stories.consent.photo", number=n), f"photo:{n}")
               for n in range(1, len(photos) + 1)]
    choices += [(turn.t("stories.consent.no_photo"), "none"),
                (turn.t("stories.consent.decline"), "decline")]
    turn.ask(f"{text}\n\n{turn.t('stories.ask_consent')}", choices)


async def answer_consent(turn: Turn, given: Answer) -> str:
    assert turn.person is not None
    if given.choice == "done":
        return END
    story = await _story_of_village(turn, turn.data.get("story_id"), stories.PROPOSED)
    item = await plans.get_item(turn.conn, story.item_id) if story else None
    if story is None or item is None:
        turn.say("stories.gone")
        return END
    photos = (await stories.photos_of_item(turn.conn, item.id))[:PHOTOS_OFFERED]
    choice = given.choice or ""
    if choice == "decline":
        await stories.decline(turn.conn, story.id, person_id=turn.person.id, now=turn.now)
        await _record(turn, story, "story.decline", stories.DECLINED)
        await _tell_core_team(turn, story, item, "stories.notify_declined")
        turn.say("stories.declined")
        return END
    number = _id(choice.removeprefix("photo:")) if choice.startswith("photo:") else None
    if choice != "none" and (number is None or not 1 <= number <= len(photos)):
        raise Invalid("input.use_buttons")
    photo = photos[number - 1] if number else None
    await stories.publish(turn.conn, story.id, person_id=turn.person.id, title=item.title,
                          approach=item.approach, outcome=item.outcome_solved or "",
                          households_helped=item.households_helped or 0,
                          what_worked=await _what_worked(item, turn), photo_ref=photo,
                          now=turn.now)
    await _record(turn, story, "story.consent", stories.PUBLISHED, photo=bool(photo))
    await _tell_core_team(turn, story, item, "stories.notify_published")
    url = story_url(turn, story.id)
    turn.say("stories.published_at" if url else "stories.published", url=url or "")
    return END


async def _record(turn: Turn, story: Story, action: str, to_state: str, **detail: Any) -> None:
    assert turn.person is not None
    await audit.record(turn.conn, now=turn.now, person_id=turn.person.id, action=action,
                       entity="story", entity_id=story.id, from_state=story.status,
                       to_state=to_state, detail={"item_id": story.item_id, **detail})


async def _tell_core_team(turn: Turn, story: Story, item: PlanItem, key: str) -> None:
    await turn.notify_holders(Role.CORE_TEAM, story.village_code[:6], key, id=item.id,
                              title=item.title,
                              village=await area_names.bilingual_title(
                                  turn.conn, story.village_code, depth=2))


async def _withdraw_summary(turn: Turn) -> str:
    story = await _story_of_village(turn, turn.data.get("story_id"), stories.PUBLISHED)
    if story is None:
        return turn.t("stories.gone")
    return turn.t("stories.withdraw_summary", id=story.item_id, title=story.title)


async def _withdraw(turn: Turn) -> str:
    assert turn.person is not None
    story = await _story_of_village(turn, turn.data.get("story_id"), stories.PUBLISHED)
    item = await plans.get_item(turn.conn, story.item_id) if story else None
    if story is None or item is None:
        turn.say("stories.gone")
        return END
    await stories.withdraw(turn.conn, story.id, person_id=turn.person.id, now=turn.now)
    await _record(turn, story, "story.withdraw", stories.WITHDRAWN)
    await _tell_core_team(turn, story, item, "stories.notify_withdrawn")
    turn.say("stories.withdrawn", id=item.id)
    return END


VILLAGE_FLOW = Flow(
    name="story_consent",
    title_key="stories.village_title",
    menu=MenuEntry(frozenset({Role.VILLAGE_COMMITTEE}), "stories.village_menu", 45),
    begin=begin_village,
    steps={
        "list": Step(ask_list, answer_list),
        "consent": Step(ask_consent, answer_consent),
        "withdraw": confirm_step(_withdraw_summary, {}, _withdraw,
                                 save_label="stories.withdraw_send"),
    },
)

FLOWS = (PROPOSE_FLOW, VILLAGE_FLOW)


# --- opened from a notification's button ------------------------------------------------------

async def open_story(turn: Turn, what: str, raw_id: str) -> tuple[str, str | None] | None:
    """`open:story:<what>:<id>`: (flow, step) with the item in the conversation, or None
    having said why."""
    if what == "propose":
        if not areas_with_role(turn.grants, Role.CORE_TEAM):
            turn.say("stories.propose_not_allowed")
            return None
        item = await _proposable(turn, raw_id)
        if item is None:
            turn.say("stories.gone")
            return None
        turn.data["item_id"] = item.id
        return PROPOSE_FLOW.name, "confirm"
    status = {"consent": stories.PROPOSED, "withdraw": stories.PUBLISHED}.get(what)
    if status is None:
        turn.say("open.gone")
        return None
    if not areas_with_role(turn.grants, Role.VILLAGE_COMMITTEE):
        turn.say("stories.village_not_allowed")
        return None
    story = await _story_of_village(turn, raw_id, status)
    if story is None:
        turn.say("stories.gone")
        return None
    turn.data["story_id"] = story.id
    return VILLAGE_FLOW.name, what
