"""`cercap-bot people erase PERSON_ID` and `cercap-bot people requests`: erasure (PDPA
s.33) carried out by an administrator, after a confirmation listing what will happen
(`--yes` for scripts; without it the terminal asks), recorded in the audit log (who, when,
why: `--by`, default the login name, and `--reason`).

What erasure does is storage/erasure.py's; here: the listing, the confirmation, the files
(photos the person sent, their copies of their data in media/exports/), then the database
compacted (storage/erasure.compact: on SQLite VACUUM and the WAL emptied, on PostgreSQL
VACUUM FULL of the tables it touched) so the erased bytes are nowhere in its files, and a
last search of every text column of every table for the name and the platform ids, whose
result is printed."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from bot.config import Settings
from bot.my_data_export import exports_of
from handlers.clock import SystemClock
from handlers.permissions import Role
from handlers.privacy import former_name, name_titles
from storage import erasure, privacy
from storage.db import Database
from storage.erasure import ErasurePlan, UnknownPerson


def replacements() -> dict[str, str]:
    return {role.value: former_name(role.value) for role in Role} | {"": former_name(None)}


def describe(plan: ErasurePlan) -> list[str]:
    lines = [f"person {plan.person_id}: {plan.name or '(no name)'}"
             + (f" (erased before, at {plan.erased_before})" if plan.erased_before else "")]
    lines.append(f"  name replaced by: {plan.replacement}")
    if plan.terms:
        lines.append(f"  texts replaced: {', '.join(repr(t) for t in plan.terms)}")
    for _, channel, user, _ in plan.identities:
        lines.append(f"  identity removed: {channel} {user}")
    for role, area in plan.roles:
        lines.append(f"  role removed: {role} {area}")
    lines.append(f"  photos deleted: {len(plan.photos)}")
    for where, rows in sorted(plan.texts.items()):
        lines.append(f"  free text with the name: {where} ({rows} rows)")
    lines.append(f"  messages to or about them deleted: {plan.messages}; stored updates:"
                 f" {plan.stored_updates}; conversations: {plan.conversations}; drafts:"
                 f" {plan.drafts}; web sign-ins: {plan.sessions}")
    kept = ", ".join(f"{table} {n}" for table, n in plan.kept.items()) or "none"
    lines.append(f"  kept as the village's records, attributed to {plan.replacement!r}: {kept}")
    lines.append("  summaries do not change; the audit log records the erasure")
    return lines


async def erase(settings: Settings, person_id: int, *, yes: bool, reason: str | None,
                by: str | None, out: Callable[[str], None],
                ask: Callable[[str], str] = input, interactive: bool | None = None) -> int:
    who = by or getpass.getuser()
    async with Database(settings.db_path) as db:
        async with db.read() as conn:
            try:
                plan = await erasure.plan(conn, person_id, replacement_for=replacements(),
                                          titles=name_titles())
            except UnknownPerson:
                raise ValueError(f"no person {person_id} in {settings.db_path}") from None
        for line in describe(plan):
            out(line)
        if not yes:
            if not (sys.stdin.isatty() if interactive is None else interactive):
                raise ValueError("not confirmed: run it in a terminal, or add --yes")
            if ask(f"Erase person {person_id}? Type yes to go on: ").strip().lower() != "yes":
                out("nothing changed")
                return 1
        now = SystemClock().now()
        async with db.transaction() as conn:  # counted again: it may have changed since
            plan = await erasure.plan(conn, person_id, replacement_for=replacements(),
                                      titles=name_titles())
            unused = await erasure.erase(conn, plan, now=now, by=who, reason=reason)
        removed = _delete_files(settings.media_dir, unused, person_id)
        emptied = await erasure.compact(db, plan)
        async with db.read() as conn:
            left = await erasure.leftovers(conn, [*plan.terms, *plan.platform_ids])
    out(f"erased person {person_id}: {len(plan.identities)} identities, {removed} files"
        f" deleted; audit log: person.erase by {who}")
    if not emptied:
        out("note: a reader kept the WAL from being emptied; it is at the next checkpoint")
    for where, rows in sorted(left.items()):
        out(f"still found in {where}: {rows} rows (check them)")
    return 0


def _delete_files(media_dir: Path, photos: list[str], person_id: int) -> int:
    root = media_dir.resolve()
    targets = [media_dir / p for p in photos] + exports_of(media_dir, person_id)
    removed = 0
    for target in targets:
        resolved = target.resolve()
        if root in resolved.parents and resolved.is_file() and not resolved.is_symlink():
            resolved.unlink()
            removed += 1
    return removed


async def requests(settings: Settings, out: Callable[[str], None]) -> int:
    async with Database(settings.db_path) as db, db.read() as conn:
        waiting = await privacy.erasure_requests(conn)
    for request in waiting:
        out(f"#{request.id}\tperson {request.person_id}\t{request.channel}\t"
            f"{request.requested_at}")
    if not waiting:
        out("no erasure requests waiting")
    return 0
