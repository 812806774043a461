"""The admin command line: invites and villages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import Database


@pytest.fixture
def cli_db(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CERCAP_DB", str(db_path))
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "@cercap_demo_bot")
    return db_path


async def _query(path: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    async with Database(path) as db, db.read() as conn, conn.execute(sql) as cur:
        return [tuple(r) for r in await cur.fetchall()]


def test_add_village_and_import_csv(cli_db: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["areas", "add-village", "350101", "4", "บ้านหนองแวง",
                 "--name-en", "Ban Nong Waeng"]) == 0
    villages = tmp_path / "villages.csv"
    villages.write_text("tambon_code,village_no,name_th,name_en\n"
                        "350102,1,บ้านสามแยก,Ban Sam Yaek\n350102,2,บ้านท่าม่วง,\n",
                        encoding="utf-8-sig")
    assert main(["areas", "import-villages", str(villages)]) == 0
    assert "imported 2 villages" in capsys.readouterr().out
    assert main(["areas", "list", "350102"]) == 0
    assert "35010201\tvillage\tบ้านสามแยก" in capsys.readouterr().out


def test_a_bad_csv_imports_nothing(cli_db: Path, tmp_path: Path) -> None:
    villages = tmp_path / "bad.csv"
    villages.write_text("tambon_code,village_no,name_th\n350102,1,บ้านสามแยก\n999999,1,ไม่มี\n",
                        encoding="utf-8")
    with pytest.raises(SystemExit, match=r"bad\.csv:3"):
        main(["areas", "import-villages", str(villages)])


def test_invite_prints_code_and_deep_link(cli_db: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "--role", "core_team", "--area", "350101"]) == 0
    out = capsys.readouterr().out
    code = out.split("code: ")[1].split()[0]
    assert f"https://t.me/cercap_demo_bot?start={code}" in out
    rows = asyncio.run(_query(cli_db, "SELECT role, area_code, max_uses FROM invites"))
    assert rows == [("core_team", "350101", 1)]


def test_invite_for_a_role_on_the_wrong_level_is_refused(
        cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "--role", "village_committee", "--area", "350101"]) == 2
    assert "may not invite" in capsys.readouterr().err
