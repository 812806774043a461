"""A real load balancer for the multi-instance tests: Debian's nginx running the README's
example, deploy/nginx.conf, with its placeholders filled in (where it listens, the
instances, a temporary folder for its files). Stopped at the end."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    return found


def render(listen: str, instance_ports: list[int], run: Path) -> str:
    servers = "\n        ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"
                               for port in instance_ports)
    return (CONFIG.read_text().replace("{{LISTEN}}", listen)
            .replace("{{INSTANCES}}", servers).replace("{{RUN}}", str(run)))


@contextlib.contextmanager
def balancer(port: int, instance_ports: list[int]) -> Iterator[str]:
    """nginx on 127.0.0.1:`port` in front of the instances; yields its origin."""
    with nginx(port, instance_ports) as (origin, _pid):
        yield origin


@contextlib.contextmanager
def nginx(port: int, instance_ports: list[int]) -> Iterator[tuple[str, int]]:
    """`balancer`, yielding nginx's master pid too (bench/instances.py reads its CPU)."""
    run = Path(tempfile.mkdtemp(prefix="cercap-nginx-"))
    conf = run / "nginx.conf"
    conf.write_text(render(f"127.0.0.1:{port}", instance_ports, run))
    process = subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(run)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"nginx did not start: {error}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                         timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("nginx did not listen")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(run, ignore_errors=True)
