"""A real PostgreSQL server from this machine's binaries, in a temporary data directory.

Used by the PostgreSQL instance and shared-budget tests (fixtures `pg_server`, `pg_database`) and by the
benchmark's "two machines" variant (`LocalPostgres` directly). It listens on 127.0.0.1 at a free port
with its socket in its own folder, asks for a password (scram-sha-256, as a real deployment would, so
a password that does not reach the server fails the test) and is stopped and deleted at the end. initdb refuses to run as root: as root (containers, CI) the server runs as an
unprivileged user (`postgres` if the package created one, else `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

NO_SERVER = (
    "no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install PostgreSQL "
    "(e.g. apt-get install postgresql) to run the PostgreSQL tests"
)


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: pg_config's, the distribution's, or PATH's."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    # Debian/Ubuntu keep the server binaries outside PATH, one folder per major version (newest first).
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for folder in candidates:
        if (
            (folder / "initdb").is_file()
            and (folder / "pg_ctl").is_file()
            and (folder / "postgres").is_file()
        ):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """None when this process may run the server itself; otherwise the unprivileged user to run it as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


class LocalPostgres:
    """One throwaway server. `start()`, `create_database()`, `stop()` (stops and deletes everything)."""

    user = "rc"

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.base = Path(tempfile.mkdtemp(prefix="rc-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sockets"
        self.log = self.base / "server.log"
        self._run_as = _server_user()
        self.password = uuid.uuid4().hex

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self._run_as, "--", *cmd] if self._run_as else cmd

    def start(self) -> LocalPostgres:
        self.sockets.mkdir()
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password)
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (self.base, self.sockets, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            self._cmd(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ),  # fmt: skip
            check=True,
            capture_output=True,
            timeout=120,
        )
        pwfile.unlink()
        self.port = _free_port()
        # fsync off: a test server has nothing to keep after a crash, and it makes commits cheap.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        subprocess.run(
            self._cmd(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        return self

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        """A libpq connection URL (password=False: without it, for PGPASSWORD to supply)."""
        userinfo = f"{self.user}:{self.password}" if password else self.user
        return f"postgresql://{userinfo}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        import psycopg2

        name = name or f"rc_{uuid.uuid4().hex[:12]}"
        conn = psycopg2.connect(self.url())
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def stop(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """One PostgreSQL server for the session (each test gets its own database from `pg_database`)."""
    pytest.importorskip("psycopg2", reason="psycopg2 is the [postgres] extra: pip install -e '.[postgres]'")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(NO_SERVER)
    with LocalPostgres(bindir) as server:
        yield server


@pytest.fixture
def pg_database(pg_server: LocalPostgres) -> str:
    """A fresh, empty database on the session's server; returns its name."""
    return pg_server.create_database()
