"""Throwaway PostgreSQL cluster for integration tests.

``initdb`` creates a cluster in a temporary folder; ``pg_ctl`` starts it on a free port of
127.0.0.1 with scram-sha-256 password auth over TCP (trust on the private unix socket).
initdb refuses to run as root, so as root every server binary runs as the ``postgres``
system user through ``runuser -u postgres --`` and the folder is chowned to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg2  # type: ignore[import-untyped]
from psycopg2 import sql

_SERVICE_USER = "postgres"
_START_TIMEOUT_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/local/bin:/usr/lib/postgresql/bin")
    if path is None:
        raise RuntimeError(f"PostgreSQL binary {name!r} not found on PATH")
    return path


class PostgresServer:
    """A real PostgreSQL server bound to 127.0.0.1 on a free port.

    ``stop()`` keeps the data so ``start()`` brings the same cluster back on the same port;
    ``close()`` (or leaving the ``with`` block) stops it and deletes the folder.
    """

    def __init__(self, user: str = "floe", password: str | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.user = user
        self.password = password or secrets.token_hex(16)
        self.root: Path | None = None
        self._running = False
        self._as_root = os.geteuid() == 0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server was never started"
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "server was never started"
        return self.root / "server.log"

    def start(self) -> None:
        """Create the cluster on first call, then start it and wait until it accepts logins."""
        if self._running:
            return
        if self.root is None:
            self._init_cluster()
        result = self._run(
            [
                *(_binary("pg_ctl"), "start", "-w", "-t", str(int(_START_TIMEOUT_S))),
                *("-D", str(self.data_dir), "-l", str(self.log_file)),
            ],
            check=False,
        )
        self._running = True  # from here on stop() must try to clean up
        if result.returncode != 0:
            self.stop()
            raise RuntimeError(
                f"pg_ctl start failed (rc={result.returncode}): {result.stderr.strip()}\n"
                f"--- server log tail ---\n{self.log_tail()}"
            )
        self._wait_ready()

    def stop(self) -> None:
        """Fast shutdown; kills the postmaster process group if pg_ctl cannot stop it."""
        if not self._running or self.root is None:
            return
        self._running = False
        result = self._run(
            [_binary("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "20"],
            check=False,
        )
        if result.returncode != 0:
            self._kill_postmaster()

    def close(self) -> None:
        """Stop the server and delete the cluster folder."""
        try:
            self.stop()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    # ------------------------------------------------------------------ client helpers
    def dsn(self, database: str = "postgres") -> str:
        """SQLAlchemy URL for ``database``."""
        return (
            f"postgresql+psycopg2://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )

    def connect(self, database: str = "postgres") -> Any:
        """A new psycopg2 connection (autocommit) over TCP with password auth."""
        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn

    def execute(
        self, statement: str, params: Any = None, database: str = "postgres"
    ) -> list[tuple[Any, ...]] | None:
        """Run one statement in autocommit mode; return the rows if it produced any."""
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return list(cur.fetchall()) if cur.description is not None else None
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                stmt = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                cur.execute(stmt.format(sql.Identifier(name)))
        finally:
            conn.close()

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None or not self.log_file.exists():
            return "<no server log>"
        text = self.log_file.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    # ------------------------------------------------------------------ internals
    def _service_ids(self) -> tuple[int, int]:
        try:
            entry = pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            created = subprocess.run(
                ["useradd", "--system", "--no-create-home", _SERVICE_USER],
                capture_output=True,
                text=True,
                check=False,
            )
            if created.returncode != 0:
                raise RuntimeError(
                    f"running as root but there is no {_SERVICE_USER!r} system user and "
                    f"useradd failed: {created.stderr.strip()}"
                ) from None
            entry = pwd.getpwnam(_SERVICE_USER)
        return entry.pw_uid, entry.pw_gid

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", _SERVICE_USER, "--"] if self._as_root else []
        result = subprocess.run(
            prefix + cmd,
            capture_output=True,
            text=True,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed (rc={result.returncode}):\n"
                f"{result.stdout.strip()}\n{result.stderr.strip()}"
            )
        return result

    def _init_cluster(self) -> None:
        # As root, /tmp (mode 1777) is the parent: the postgres user can always traverse it.
        root = Path(tempfile.mkdtemp(prefix="floe-pg-", dir="/tmp" if self._as_root else None))
        self.root = root
        try:
            pwfile = root / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._as_root:
                uid, gid = self._service_ids()
                os.chown(root, uid, gid)
                os.chown(pwfile, uid, gid)
            pwfile.chmod(0o600)
            self._run(
                [
                    *(_binary("initdb"), "-D", str(self.data_dir), "-U", self.user),
                    *(f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust"),
                    *("-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"),
                ]
            )
            pwfile.unlink()
            self.port = free_port(self.host)
            settings = {
                "port": str(self.port),
                "listen_addresses": f"'{self.host}'",
                "unix_socket_directories": f"'{root}'",
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "100",
                "password_encryption": "'scram-sha-256'",
            }
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\n# floe test settings\n")
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            self.root = None
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError as exc:
                last_error = exc
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"PostgreSQL on {self.host}:{self.port} did not accept logins within "
            f"{_START_TIMEOUT_S:.0f}s: {last_error}\n--- server log tail ---\n{self.log_tail()}"
        )

    def _kill_postmaster(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        # pg_ctl starts the postmaster in its own session: its pid is the process group id.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)
