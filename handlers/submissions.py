"""A village's submission (a problem, a forum, a plan item, progress, a lesson) as the people
who review and answer it read it: its reference ("I#7 plan: title (village)"), its fields
from the stored row, the review thread with the village's answers, and what a correction
changed. Shared by the core team's review inbox, the village's answers, corrections and the
support desks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from handlers import area_names
from handlers.clock import local_date
from handlers.permissions import Action, PermissionDenied, check
from handlers.thai_input import format_baht
from handlers.turn import Bilingual, DateText, Localized, Turn, label_key, render
from locales import LANGUAGES, catalog, category_label, format_date
from storage import areas, plans, reviews
from storage.connection import Connection
from storage.reviews import Review, Submission

LABEL_TEXT_MAX = 24
HEADLINE_TEXT_MAX = 60
ID_DIGITS_MAX = 12

class Reads(Protocol):
    """Whoever a text is rendered for: a turn's person, or a notification's reader."""

    @property
    def language(self) -> str: ...

    def t(self, key: str, **params: Any) -> str: ...


@dataclass(frozen=True)
class Reader:
    """Renders in one language, for messages built for people other than the turn's."""

    language: str

    def t(self, key: str, **params: Any) -> str:
        return render(self.language, key, params)


# --- who may read it, and what people type for it ------------------------------------

async def permitted(turn: Turn, village_code: str, *actions: Action) -> bool:
    try:
        for action in actions:
            await check(turn.conn, turn.grants, action, village_code)
    except PermissionDenied:
        return False
    return True


def parse_id(raw: str | None) -> int | None:
    raw = raw or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= ID_DIGITS_MAX else None


def shorten(text: Any, width: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"


def is_blank_or_skip(text: str) -> bool:
    """No letters or digits at all, or the word "skip" typed where an answer is required."""
    typed = label_key(text)
    return not typed or typed in {label_key(catalog(lang)["common.skip"]) for lang in LANGUAGES}


def verdict_label(verdict: Any) -> Localized:
    known = (*reviews.VERDICTS, reviews.NEW)
    return Localized(f"review.{verdict}") if verdict in known else Localized("review.none")


def _status(status: Any) -> Localized | str:
    return (Localized(f"review.item_status.{status}") if status in plans.ITEM_STATUSES
            else str(status))


def _day(iso: Any) -> DateText | str:
    try:
        return DateText(date.fromisoformat(str(iso)))
    except ValueError:
        return str(iso)


def _category(key: str) -> Bilingual:
    return Bilingual(category_label(key, "th"), category_label(key, "en"))


def _headline_params(sub: Submission, width: int) -> dict[str, Any]:
    h = sub.headline
    if sub.entity == "problem":
        return {"category": _category(h["category"]), "text": shorten(h["description"], width)}
    if sub.entity == "forum":
        return {"date": _day(h["held_on"]), "participants": f"{h['participants']:,}"}
    if sub.entity == "plan_item":
        return {"title": shorten(h["title"], width), "status": _status(h["status"])}
    if sub.entity == "progress":
        return {"title": shorten(h["title"], width), "status": _status(h["status"]),
                "percent": h["percent"]}
    return {"text": shorten(h["what_worked"], width)}


def ref(entity: str, entity_id: int) -> Localized:
    """The id as people see it, unique across kinds: "P#12" a problem, "I#3" a plan item."""
    return Localized(f"id.{entity}", {"id": entity_id})


def reference(sub: Submission, village: Any, *, short: bool = False) -> Localized:
    """"I#7 plan: title (village)": the item as people recognise it in lists and messages."""
    form, width = ("label", LABEL_TEXT_MAX) if short else ("headline", HEADLINE_TEXT_MAX)
    return Localized("review.reference", {
        "id": sub.id, "ref": ref(sub.entity, sub.id),
        "kind": Localized(f"review.kind.{sub.entity}"),
        "headline": Localized(f"review.{form}.{sub.entity}", _headline_params(sub, width)),
        "village": village})


async def full_reference(conn: Connection, sub: Submission) -> Localized:
    return reference(sub, await area_names.bilingual_title(conn, sub.village_code, depth=2))


async def short_village(turn: Turn, code: str, with_tambon: bool) -> Any:
    lineage = await areas.lineage(turn.conn, code)
    if not lineage or lineage[0].village_no is None:
        return code
    village_no = lineage[0].village_no
    if with_tambon and len(lineage) > 1:
        tambon = lineage[1]
        return Localized("review.village_short_tambon",
                         {"no": village_no, "tambon": Bilingual(tambon.name_th, tambon.name_en)})
    return Localized("review.village_short", {"no": village_no})


def _when(turn: Turn, moment: Any) -> str:
    return format_date(local_date(moment), turn.language)


def thread_lines(turn: Turn, thread: list[Review]) -> list[str]:
    """Each review with the village's answers under it."""
    lines: list[str] = []
    for review in thread:
        lines.append(turn.t("review.thread_review", date=_when(turn, review.created_at),
                            reviewer=review.reviewer_name, verdict=verdict_label(review.verdict),
                            comment=review.comment or turn.t("review.none")))
        lines += [turn.t("review.thread_reply", date=_when(turn, reply.created_at),
                         person=reply.person_name, text=reply.text) for reply in review.replies]
    return lines


# --- the details of each kind of submission, from its stored row ------------------------------

def _none(turn: Reads, value: Any) -> Any:
    return value if value not in (None, "") else turn.t("review.none")


def _date_text(turn: Reads, iso: Any) -> str:
    try:
        return format_date(date.fromisoformat(str(iso)), turn.language)
    except ValueError:
        return str(iso)


def _photo(turn: Reads, row: dict[str, Any]) -> str:
    shown = row.get("photo_ref") or row.get("photo_platform_id")
    return turn.t("review.field.photo", value=turn.t("common.yes" if shown else "common.no"))


def _problem_refs(turn: Reads, found: list[dict[str, Any]]) -> str:
    listed = ", ".join(f"{turn.t('id.problem', id=p['id'])} "
                       f"{category_label(p['category'], turn.language)}" for p in found)
    return listed or turn.t("review.none")


def _problem_fields(turn: Reads, row: dict[str, Any]) -> list[str]:
    severity = row["severity"]
    lines = [
        turn.t("review.field.category", value=category_label(row["category"], turn.language)),
        turn.t("review.field.description", value=row["description"]),
        turn.t("review.field.households", value=f"{row['households']:,}"),
        turn.t("review.field.severity", value=turn.t(f"severity.{severity}")
               if severity in (1, 2, 3, 4) else severity),
        _photo(turn, row),
    ]
    if row.get("latitude") is not None and row.get("longitude") is not None:
        lines.append(turn.t("review.field.location",
                            value=f"{row['latitude']:.5f}, {row['longitude']:.5f}"))
    return lines


def _group_label(turn: Reads, group: Any) -> str:
    # The forum flow owns the group vocabulary: use its label when it has one.
    key = f"forum.group.{group}"
    return turn.t(key) if key in catalog("th") else str(group)


def _groups(turn: Reads, row: dict[str, Any]) -> str:
    try:
        present = json.loads(row.get("groups_present") or "[]")
    except ValueError:
        present = []
    names = [_group_label(turn, g) for g in present if g] if isinstance(present, list) else []
    if row.get("other_groups"):
        names.append(str(row["other_groups"]))
    return ", ".join(names) or turn.t("review.none")


def _forum_fields(turn: Reads, row: dict[str, Any]) -> list[str]:
    return [
        turn.t("review.field.held_on", value=_date_text(turn, row["held_on"])),
        turn.t("review.field.participants", value=f"{row['participants']:,}"),
        turn.t("review.field.groups", value=_groups(turn, row)),
        turn.t("review.field.problems", value=_problem_refs(turn, row.get("problems", []))),
        turn.t("review.field.notes", value=_none(turn, row.get("notes"))),
        _photo(turn, row),
    ]


def _approach(turn: Reads, approach: Any) -> str:
    return (turn.t(f"review.approach.{approach}") if approach in plans.APPROACHES
            else str(approach))


def _plan_item_fields(turn: Reads, row: dict[str, Any]) -> list[str]:
    lines = [
        turn.t("review.field.title", value=row["title"]),
        turn.t("review.field.problems", value=_problem_refs(turn, row.get("problems", []))),
        turn.t("review.field.approach", value=_approach(turn, row["approach"])),
    ]
    if row.get("partner"):
        lines.append(turn.t("review.field.partner", value=row["partner"]))
    lines += [
        turn.t("review.field.budget_needed", value=format_baht(row["budget_needed"])),
        turn.t("review.field.own_money", value=format_baht(row["own_money"])),
        turn.t("review.field.own_labour", value=_none(turn, row.get("own_labour"))),
        turn.t("review.field.period", start=_date_text(turn, row["start_on"]),
               end=_date_text(turn, row["end_on"])),
        turn.t("review.field.responsible", value=row["responsible"]),
        turn.t("review.field.status", value=_status_str(turn, row["status"])),
        turn.t("review.field.percent", value=row["percent"]),
    ]
    for field in ("stalled_reason", "withdrawn_reason"):
        if row.get(field):
            lines.append(turn.t(f"review.field.{field}", value=row[field]))
    if row.get("outcome_solved"):
        lines.append(turn.t("review.field.outcome",
                            value=turn.t(f"review.outcome.{row['outcome_solved']}"),
                            households=f"{row.get('households_helped') or 0:,}"))
    if row.get("carried_from"):
        lines.append(turn.t("review.field.carried_from", value=row["carried_from"]))
    return lines


def _status_str(turn: Reads, status: Any) -> str:
    return (turn.t(f"review.item_status.{status}") if status in plans.ITEM_STATUSES
            else str(status))


def _progress_fields(turn: Reads, row: dict[str, Any]) -> list[str]:
    item = row.get("item") or {}
    lines = [
        turn.t("review.field.item", id=row["item_id"], title=item.get("title", "")),
        turn.t("review.field.status", value=_status_str(turn, row["status"])),
        turn.t("review.field.percent", value=row["percent"]),
    ]
    if row["status"] == "stalled" and item.get("stalled_reason"):
        lines.append(turn.t("review.field.stalled_reason", value=item["stalled_reason"]))
    lines += [turn.t("review.field.note", value=_none(turn, row.get("note"))), _photo(turn, row)]
    return lines


def _lesson_fields(turn: Reads, row: dict[str, Any]) -> list[str]:
    plan = row.get("plan") or {}
    lines = []
    if plan:
        lines.append(turn.t("review.field.plan_period",
                            start=_date_text(turn, plan["period_start"]),
                            end=_date_text(turn, plan["period_end"])))
    return lines + [turn.t(f"review.field.{field}", value=row[field])
                    for field in ("what_worked", "what_did_not", "next_steps")]


_FIELDS = {"problem": _problem_fields, "forum": _forum_fields, "plan_item": _plan_item_fields,
           "progress": _progress_fields, "lesson": _lesson_fields}


async def detail_text(turn: Turn, sub: Submission) -> str:
    """Everything the village submitted, its flags, and the earlier review thread."""
    village = await area_names.bilingual_title(turn.conn, sub.village_code, depth=2)
    lines = [turn.t("review.detail_header", kind=Localized(f"review.kind.{sub.entity}"),
                    id=sub.id, ref=ref(sub.entity, sub.id), village=village,
                    date=_when(turn, sub.created_at))]
    if sub.stalled:
        lines.append(turn.t("review.flag.stalled"))
    if sub.overdue and sub.due:
        lines.append(turn.t("review.flag.overdue", date=DateText(sub.due)))
    row = await reviews.details(turn.conn, sub.entity, sub.id)
    if row:
        lines += _FIELDS[sub.entity](turn, row)
    if sub.version > 1:
        lines += ["", *await changes_since(turn, sub)]
    thread = await reviews.thread(turn.conn, sub.entity, sub.id)
    if thread:
        lines += ["", turn.t("review.thread_title"), *thread_lines(turn, thread)]
    return "\n".join(lines)


# --- what a correction changed ----------------------------------------------------------------

def _by_label(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        label, sep, value = line.partition(": ")
        found[label if sep else line] = value if sep else ""
    return found


def change_lines(reader: Reads, entity: str, old: dict[str, Any], new: dict[str, Any]
                 ) -> list[str]:
    """Field by field as the reviewer reads them: "Households: 45 → 60"."""
    before = _by_label(_FIELDS[entity](reader, old))
    after = _by_label(_FIELDS[entity](reader, new))
    lines = []
    for label, value in after.items():
        if label not in before:
            lines.append(reader.t("review.change_added",
                                  line=f"{label}: {value}" if value else label))
        elif before[label] != value:
            lines.append(reader.t("review.change_line", label=label, old=before[label],
                                  new=value))
    lines += [reader.t("review.change_removed", line=f"{label}: {value}" if value else label)
              for label, value in before.items() if label not in after]
    return lines or [reader.t("review.no_field_changed")]


async def changes_since(turn: Turn, sub: Submission) -> list[str]:
    """What the village changed in its latest correction, from the audit log."""
    found = await reviews.correction(turn.conn, sub.entity, sub.id, sub.version)
    if not found or not isinstance(found.get("old"), dict):
        return []
    current = await reviews.details(turn.conn, sub.entity, sub.id) or {}
    return [turn.t("review.changes_title", version=sub.version,
                   previous=found.get("version", sub.version - 1)),
            *change_lines(turn, sub.entity, found["old"], current)]
