"""One running bot per SQLite database file.

The bot holds an exclusive `flock` on a sidecar file, `<database>.lock`, for as long as
it runs, and writes its pid there so that a second start can say who holds it. The
kernel drops an flock when its holder's file is closed, also by a crash or SIGKILL, so
a stale lock file never blocks a restart: only a live process holds the lock.

The lock file is never deleted: removing it while another process has it open would let
two processes each lock a different file under the same name.

A database that is not a file (`:memory:`, or later a server database given as a URL,
where several instances sharing it is the point) takes no lock: `instance_lock` is then a
no-op, so callers need not care which engine they run on.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

# A starting holder takes the lock, then writes its pid: a reader that comes in between
# sees an empty file for a moment.
_PID_WAIT_SECONDS = 0.5


class InstanceLocked(RuntimeError):
    """Another process holds the database's instance lock."""

    def __init__(self, db_path: Path, pid: int | None) -> None:
        self.db_path = db_path
        self.pid = pid
        who = f"another cercap-bot (pid {pid})" if pid else "another cercap-bot"
        super().__init__(f"{who} is already running on {db_path}; stop it first")


def is_file_database(db_path: Path | str) -> bool:
    text = str(db_path)
    return bool(text) and text != ":memory:" and "://" not in text


def lock_path(db_path: Path | str) -> Path:
    return Path(f"{db_path}.lock")


class InstanceLock:
    """`acquire()` raises `InstanceLocked` when another process holds the lock; `release()`
    gives it up (closing the file would too). Both are no-ops for a non-file database."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self.enabled = is_file_database(db_path)
        self.path = lock_path(db_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if not self.enabled or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)  # as the database's open does
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            pid = _read_pid(fd)
            os.close(fd)
            raise InstanceLocked(self.db_path, pid) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # drops the flock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def instance_lock(db_path: Path | str) -> Iterator[InstanceLock]:
    """Hold the database's instance lock for the block (a no-op for a non-file database)."""
    with InstanceLock(db_path) as lock:
        yield lock


def _read_pid(fd: int) -> int | None:
    deadline = time.monotonic() + _PID_WAIT_SECONDS
    while True:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)
