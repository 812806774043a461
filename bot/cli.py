"""`cercap-bot`: the command line. run, chat, invite, areas.

Whatever the operator must fix (a bad setting, a rejected token, a port in use, a
database that cannot be written, a bot already running on the database) ends the command
with one line on stderr, `error: …`, and exit status 2; no secret is in it, nor in any
log line (`bot/log_scrub.py`). An unexpected failure is logged with its traceback and
exits with status 1; Ctrl+C exits with 130."""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

from bot import db_copy, demo, invite_sheet, log_format, log_scrub
from bot.app import App
from bot.config import ConfigError, Settings, StartupError
from bot.console import ConsoleSender, run_console
from bot.scheduler import Scheduler
from handlers import invites
from handlers.clock import SystemClock, local_date
from handlers.permissions import PermissionDenied, Role
from locales import format_date
from storage import areas, backup
from storage.copy import CopyError
from storage.db import Database, database_errors
from storage.instance_lock import InstanceLocked, instance_lock, is_file_database
from storage.migrations import SchemaIncompatible

log = logging.getLogger("cercap")


def _print(text: str) -> None:
    print(text, flush=True)


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _chat(settings: Settings) -> int:
    screen = ConsoleSender(_print)
    async with App(settings, [screen]) as app:
        async with app.db.transaction() as conn:
            if not await demo.has_people(conn):
                await demo.seed(conn, app.clock.now())
        scheduler = Scheduler(app.db, app.clock, on_enqueued=app.outbox.wake)
        from bot.web.site import start_demo_site

        web = await start_demo_site(settings, app.db, app.clock, _print)
        try:
            await run_console(app.db, app.engine, app.outbox, screen, scheduler)
        finally:
            if web is not None:
                await web.stop()
    return 0


async def _run(settings: Settings) -> int:
    if not settings.has_channel_tokens:
        log.info("no channel tokens set: opening the console chat on the demo tambon")
        return await _chat(settings)
    from bot.service import run_until_stopped

    # Only the start raises out of run_until_stopped: once running, it waits for a signal.
    try:
        await run_until_stopped(settings)
    except BaseException as exc:
        # A half-started channel leaves client sessions unclosed; the process is ending
        # anyway, and the operator needs the one line that says why, not these.
        asyncio.get_running_loop().set_exception_handler(_leftover_at_debug)
        explained = _telegram_start_error(exc, settings)
        if explained is None:
            raise
        raise explained from None
    return 0


def _telegram_start_error(exc: BaseException, settings: Settings) -> StartupError | None:
    from telegram.error import BadRequest, InvalidToken, NetworkError

    if isinstance(exc, InvalidToken):
        return StartupError("Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)")
    if isinstance(exc, BadRequest):
        return StartupError(f"Telegram refused the bot's start-up: {exc}")
    if isinstance(exc, NetworkError):
        where = settings.telegram_api_base_url or "https://api.telegram.org"
        return StartupError(f"cannot reach the Telegram Bot API at {where}: {exc} "
                            "(TELEGRAM_API_BASE_URL)")
    return None


def _leftover_at_debug(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    log.debug("after a failed start: %s", context.get("message"))


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    if args.role is None or args.area is None:
        raise ValueError("invite needs --role and --area "
                         "(or: invite sheet --tambon CODE --out FILE)")
    now = SystemClock().now()
    async with Database(settings.db_path) as db, db.transaction() as conn:
        invite = await invites.issue(
            conn, issuer_id=None, issuer_grants=[], role=Role(args.role), area_code=args.area,
            now=now, ttl=timedelta(days=args.days), max_uses=args.uses, is_admin_cli=True)
    _print(f"code: {invite.code}")
    _print(f"role: {invite.role}  area: {invite.area_code}  uses: {invite.max_uses}  "
           f"expires: {format_date(local_date(invite.expires_at), 'en')}")
    link = invites.deep_link(settings.telegram_bot_username, invite.code)
    if link:
        _print(f"telegram: {link}")
    return 0


async def _areas(settings: Settings, args: argparse.Namespace) -> int:
    async with Database(settings.db_path) as db:
        if args.areas_command == "list":
            async with db.read() as conn:
                for area in await areas.children(conn, args.code):
                    _print(f"{area.code}\t{area.level}\t{area.name_th}\t{area.name_en}")
        elif args.areas_command == "add-village":
            async with db.transaction() as conn:
                area = await areas.add_village(conn, args.tambon, args.number, args.name,
                                               args.name_en or "")
            _print(f"{area.code}\t{area.name_th}")
        elif args.areas_command == "import-villages":
            count = await _import_villages(db, Path(args.csv))
            _print(f"imported {count} villages")
    return 0


async def _import_villages(db: Database, path: Path) -> int:
    """CSV columns: tambon_code, village_no, name_th, name_en (optional). All or nothing."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    async with db.transaction() as conn:
        for line, row in enumerate(rows, start=2):
            try:
                await areas.add_village(conn, row["tambon_code"].strip(),
                                        int(row["village_no"]), row["name_th"].strip(),
                                        (row.get("name_en") or "").strip())
            except (KeyError, ValueError) as exc:
                raise SystemExit(f"{path}:{line}: {exc}") from None
    return len(rows)


async def _export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.export import csv_files, export_filename, workbook
    from bot.summary_renderer import join_csv
    from handlers.summaries import compute_summary
    from handlers.summary_model import Period
    from handlers.thai_input import parse_date

    today = local_date(SystemClock().now())
    start, end = parse_date(args.start, today), parse_date(args.end, today)
    if start is None or end is None or end < start:
        raise ValueError("--from and --to must be dates, --to not before --from")
    async with Database(settings.db_path) as db:
        if await _area_missing(db, args.area):
            raise ValueError(f"unknown area {args.area}")
        summary = await compute_summary(await db.reader(), args.area, Period(start, end),
                                        today)
    data = (workbook(summary, args.language) if args.format == "xlsx"
            else join_csv(csv_files(summary, args.language)))
    out = Path(args.out or export_filename(summary, args.format))
    out.write_bytes(data)
    _print(f"wrote {out} ({len(data):,} bytes)")
    return 0


async def _area_missing(db: Database, code: str) -> bool:
    async with db.read() as conn:
        return await areas.get(conn, code) is None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cercap-bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (the console chat when no tokens are set)")
    sub.add_parser("chat", help="chat in this terminal as the demo people")
    inv = sub.add_parser("invite", help="issue an invite code (admin); invite sheet: a tambon's"
                         " printable sheet of codes")
    inv.add_argument("--role", choices=[r.value for r in Role], help="required (not with sheet)")
    inv.add_argument("--area", help="required (not with sheet): area code: village (8 "
                     "digits), tambon (6), district (4), province (2), learning network "
                     "(LN01..LN14) or TH")
    inv.add_argument("--uses", type=int, default=1, help="how many people may use it (1)")
    inv.add_argument("--days", type=int, default=7, help="days until it expires (7)")
    invite_sheet.add_parser(inv)
    ar = sub.add_parser("areas", help="list areas, add villages")
    asub = ar.add_subparsers(dest="areas_command", required=True)
    ls = asub.add_parser("list", help="list the areas inside CODE")
    ls.add_argument("code", nargs="?", default="TH")
    add = asub.add_parser("add-village", help="add (or rename) a village of a tambon")
    add.add_argument("tambon", help="tambon code (6 digits)")
    add.add_argument("number", type=int, help="village number, moo (1-99)")
    add.add_argument("name", help="the Thai name of the village")
    add.add_argument("--name-en", default="")
    imp = asub.add_parser("import-villages", help="import villages from a CSV file")
    imp.add_argument("csv", help="columns: tambon_code,village_no,name_th,name_en")
    exp = sub.add_parser("export", help="export a summary as an Excel workbook or CSV")
    exp.add_argument("--area", required=True, help="area code (village, tambon, district,"
                     " province, LN01..LN14, TH)")
    exp.add_argument("--from", dest="start", required=True,
                     help="first day, e.g. 1/1/2568 or 2025-01-01 (Buddhist or Christian era)")
    exp.add_argument("--to", dest="end", required=True, help="last day (inclusive)")
    exp.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    exp.add_argument("--language", choices=["th", "en"], default="th")
    exp.add_argument("--out", help="file to write (default: a name from the area and dates)")
    bk = sub.add_parser("backup", help="copy the database to PATH (safe while the bot runs)")
    bk.add_argument("path")
    rs = sub.add_parser("restore", help="replace the database with the backup at PATH "
                        "(stop the bot first)")
    rs.add_argument("path")
    sub.add_parser("status", help="backlogs, failures of the last day, next reminders, "
                   "database size, last backup (read-only: also while the bot runs)")
    db_copy.add_parser(sub)
    ppl = sub.add_parser("people", help="personal data: erasure (PDPA s.33)")
    psub = ppl.add_subparsers(dest="people_command", required=True)
    er = psub.add_parser("erase", help="erase a person: name, identities, photos; the"
                         " village's records stay (lists what will happen, then asks)")
    er.add_argument("person_id", type=int)
    er.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    er.add_argument("--reason", help="why (kept in the audit log)")
    er.add_argument("--by", help="who erases (the audit log; default: your login name)")
    psub.add_parser("requests", help="erasure requests people made in the chat")
    line = sub.add_parser("line", help="LINE channel set-up")
    lsub = line.add_subparsers(dest="line_command", required=True)
    lsub.add_parser("setup-richmenu", help="install the Thai rich menus: one per role, and "
                    "the default (join, help) for people who have not joined")
    return p


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_folder(folder: Path, what: str) -> None:
    """`folder` exists and can be written, or can be created (what the start will do)."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise StartupError(f"cannot create the folder {folder} ({what}): "
                           f"{existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StartupError(f"cannot write in the folder {existing} ({what}): "
                           "permission denied or a read-only file system")


def _check_database(path: Path, *, write: bool) -> None:
    if not is_file_database(path):
        return
    if path.is_dir():
        raise StartupError(f"CERCAP_DB is a directory, not a database file: {path}")
    if not write:
        return
    # SQLite also writes its -wal and -shm files, and the bot its .lock file, beside it.
    _check_folder(path.parent, f"the folder of CERCAP_DB={path}")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StartupError(f"cannot write the database file {path} (CERCAP_DB): "
                           "permission denied")


def _check_paths(command: str, settings: Settings) -> None:
    if command in ("run", "chat"):
        _check_database(settings.db_path, write=True)
        _check_folder(settings.media_dir, f"CERCAP_MEDIA_DIR={settings.media_dir}")
    elif command in ("invite", "areas", "export", "restore", "line", "people"):
        _check_database(settings.db_path, write=True)
    elif command in ("backup", "status"):
        _check_database(settings.db_path, write=False)


def _restore(settings: Settings, source: Path) -> int:
    if not source.is_file():
        raise StartupError(f"no backup file at {source}")
    # The lock, held while restoring, also keeps a bot from starting meanwhile.
    try:
        with instance_lock(settings.db_path):
            version = backup.restore(source, settings.db_path)
    except InstanceLocked as exc:
        who = f"a cercap-bot (pid {exc.pid})" if exc.pid else "a cercap-bot"
        raise StartupError(f"{who} is running on {settings.db_path}; "
                           "stop it before restoring") from None
    _print(f"restored {source} into {settings.db_path} (schema {version})")
    return 0


def _command(args: argparse.Namespace, settings: Settings) -> int:
    _check_paths(args.command, settings)
    if args.command == "run":
        return asyncio.run(_run(settings))
    if args.command == "chat":
        return asyncio.run(_chat(settings))
    if args.command == "invite" and args.invite_command == "sheet":
        return asyncio.run(invite_sheet.run_cli(settings, args, _print, _warn))
    if args.command == "invite":
        return asyncio.run(_invite(settings, args))
    if args.command == "backup":
        version = backup.backup(settings.db_path, Path(args.path))
        _print(f"backed up {settings.db_path} to {args.path} (schema {version})")
        return 0
    if args.command == "restore":
        return _restore(settings, Path(args.path))
    if args.command == "db":
        return db_copy.run(args, _print)
    if args.command == "status":
        from bot.status import status_text

        _print(asyncio.run(status_text(settings)))
        return 0
    if args.command == "export":
        return asyncio.run(_export(settings, args))
    if args.command == "people":
        from bot import people_erase

        if args.people_command == "requests":
            return asyncio.run(people_erase.requests(settings, _print))
        return asyncio.run(people_erase.erase(settings, args.person_id, yes=args.yes,
                                              reason=args.reason, by=args.by, out=_print))
    if args.command == "line":
        from bot.line_setup import install_rich_menus

        installed = asyncio.run(install_rich_menus(settings))
        for key, menu_id in installed.menus.items():
            _print(f"rich menu {key}: {menu_id}")
        _print(f"{installed.linked} LINE users to be linked to their role's menu (sent by the"
               f" running bot); {installed.deleted} earlier menus deleted")
        return 0
    return asyncio.run(_areas(settings, args))


def _error(text: object) -> int:
    """One line on stderr, secrets masked; exit status 2."""
    line = " ".join(str(text).split("\n")).strip()
    print(f"error: {log_scrub.scrub(line)}", file=sys.stderr, flush=True)
    return 2


OPERATOR_ERRORS = (ValueError, PermissionDenied, backup.BackupError, StartupError,
                   InstanceLocked, CopyError, SchemaIncompatible)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(serving=args.command == "run")
    except ConfigError as exc:
        return _error(exc)
    log_format.configure(settings.log_level if args.command != "chat" else "WARNING",
                         settings.log_format)
    log_scrub.install()
    try:
        return _command(args, settings)
    except KeyboardInterrupt:
        return 130
    except OPERATOR_ERRORS as exc:
        return _error(exc)
    except database_errors() as exc:
        if not isinstance(exc, sqlite3.Error):
            return _error(f"the database of CERCAP_DB cannot be used: {exc}")
        if args.command in ("backup", "restore"):
            return _error(f"SQLite: {exc} ({settings.db_path} or {args.path})")
        return _error(f"SQLite cannot use {settings.db_path} (CERCAP_DB): {exc}")
    except OSError as exc:
        if exc.filename is None or not exc.errno:
            log.critical("cercap-bot stopped by an unexpected error", exc_info=True)
            return 1
        return _error(f"cannot use {exc.filename}: {os.strerror(exc.errno).lower()}")
    except Exception:
        log.critical("cercap-bot stopped by an unexpected error", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
