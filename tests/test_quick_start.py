"""`python3 -m bot test`: the linter first (a finding fails at once and the tests do not
run), then pytest with the arguments passed through. Run on a small project of its own,
with the real ruff and pytest of this environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bot.__main__ as quick_start

TESTS = '''
from pathlib import Path


def test_chosen():
    Path("ran-chosen").write_text("yes")


def test_other():
    Path("ran-other").write_text("yes")
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "test_sample.py").write_text(TESTS)
    monkeypatch.setattr(quick_start, "ROOT", tmp_path)
    monkeypatch.setattr(quick_start, "ensure_installed", lambda extras: Path(sys.executable))
    return tmp_path


def test_a_lint_finding_fails_before_any_test_runs(project: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    (project / "sloppy.py").write_text("import os\n")  # F401: imported but unused
    assert quick_start.main(["test"]) != 0
    out = capfd.readouterr().out
    assert "F401" in out and "tests not run" in out
    assert not (project / "ran-chosen").exists() and not (project / "ran-other").exists()


def test_clean_code_runs_pytest_with_the_arguments(project: Path) -> None:
    assert quick_start.main(["test", "-q", "-k", "chosen", "-p", "no:cacheprovider"]) == 0
    assert (project / "ran-chosen").exists()
    assert not (project / "ran-other").exists()  # -k reached pytest


def test_a_failing_test_fails_the_command(project: Path) -> None:
    (project / "test_broken.py").write_text("def test_broken():\n    assert False\n")
    assert quick_start.main(["test", "-q", "-p", "no:cacheprovider"]) != 0
    assert (project / "ran-chosen").exists()  # lint passed, so the tests ran


def test_ruff_comes_with_the_test_extras() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(quick_start.__file__).parent.parent
                               / "pyproject.toml").read_text("utf-8"))
    test_extras = pyproject["project"]["optional-dependencies"]["test"]
    assert any(dep.split("=")[0].strip() == "ruff" for dep in test_extras)
