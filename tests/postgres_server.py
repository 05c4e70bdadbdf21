"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, in a
temporary folder, for the fleet tests and ``benchmarks/fleet.py``.

initdb refuses to run as root, so as root the server runs as ``nobody``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server on 127.0.0.1 with trust authentication for its superuser
    ``postgres`` and a database ``kiosk``; ``stop()``/``start()`` simulate
    an outage."""

    def __init__(self, root: Path | None = None):
        self.bin = server_binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (Debian package 'postgresql')")
        self.root = Path(root or tempfile.mkdtemp(prefix="kiosk-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            os.chmod(self.root, 0o755)
            self.data.mkdir()
            shutil.chown(self.data, "nobody", "nogroup")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "kiosk")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, capture_output=True, cwd="/")

    def url(self, user: str = "postgres", password: str | None = None) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/kiosk"

    def start(self) -> None:
        # fsync stays on: the tests check what survives; the socket lives in the data folder, not /run.
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.data / "server.log"),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c max_connections=100",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def sql(self, statement: str, user: str = "postgres"):
        import psycopg

        with psycopg.connect(self.url(user), autocommit=True) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else None

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(check, timeout: float, every: float = 0.02) -> bool:
    """Poll ``check()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return bool(check())
