"""The quick start: `python3 -m bot run` and `python3 -m bot test`.

Needs only Python 3.11+: creates `.venv` beside the project, installs the pinned
dependencies (again only when pyproject.toml changes), then runs `cercap-bot` or the
tests inside it. Standard library only, because it runs before anything is installed.

`test` first runs the linter (`ruff check .`, installed by the test extras, configured in
pyproject.toml) and stops there on a finding, so a lint error fails in seconds instead of
after the whole suite; then pytest, with every argument after `test` passed to it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_installed(extras: str) -> Path:
    python = venv_python()
    if not python.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".bootstrap-stamp-{extras or 'run'}"
    if not stamp.exists() or stamp.read_text() != wanted:
        print("installing dependencies …", flush=True)
        target = f".[{extras}]" if extras else "."
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-e", target], cwd=ROOT, check=True)
        stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if argv[:1] == ["test"]:
        python = ensure_installed("test")
        commands = [[str(python), "-m", "ruff", "check", "."],
                    [str(python), "-m", "pytest", *argv[1:]]]
    else:
        python = ensure_installed("")
        commands = [[str(python), "-m", "bot.cli", *(argv or ["run"])]]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        for command in commands:
            code = subprocess.run(command, cwd=ROOT, env=env).returncode
            if code != 0:
                if command[2] == "ruff":
                    print("lint found problems (ruff check .): tests not run", flush=True)
                return code
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
