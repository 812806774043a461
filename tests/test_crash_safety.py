"""The bot killed with SIGKILL at random moments while people report on Telegram and
LINE: nothing confirmed is lost or doubled, no reply is lost, every conversation goes on.
CI runs a small count (CERCAP_CRASH_KILLS, default 12); bench/crash.py runs 200."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import crash_suite


@pytest.mark.timeout(600)
async def test_sigkill_loses_and_doubles_nothing(tmp_path: Path) -> None:
    kills = int(os.environ.get("CERCAP_CRASH_KILLS", "12"))
    report = await crash_suite.run(kills, tmp_path)
    assert report.kills == kills and report.starts == kills + 1
    assert report.acknowledged > 0
    assert report.acknowledged_unhandled == 0  # nothing the platform was told of is lost
    assert report.inbox_left == 0 and report.stuck == 0
    for person, confirmed in report.confirmed.items():
        stored = report.stored[person]
        assert len(stored) == len(set(stored))
        # Every report the person saw confirmed exists; every stored report was confirmed.
        assert confirmed == set(stored), person
        assert confirmed, f"{person} never completed a report"
    assert report.pending_outbox == 0  # every reply was delivered in the end
    assert report.failed_outbox == 0
