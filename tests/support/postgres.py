"""A real PostgreSQL server for the store's contract tests: Debian's ``postgresql`` package.

The server runs from a temporary directory on a free loopback port, as an unprivileged user
(PostgreSQL refuses to run as root, and CI runs as root: the system user
``tiktok-signer-test`` is created then). It is never skipped: without Debian's binaries
(``scripts/setup`` installs them) the tests that need it fail with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The system user the server runs as when the tests run as root.
TEST_USER = "tiktok-signer-test"
_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _bin_dir() -> Path:
    """The newest installed server's bin directory; fail with the remedy when there is none."""
    found = sorted(
        (path for path in Path("/").glob(_BIN_GLOB.lstrip("/")) if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup"
        )
    return found[-1]


def _server_user() -> str | None:
    """None when the tests run unprivileged; else the system user, created when missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        useradd = shutil.which("useradd") or pytest.fail("useradd is missing: cannot add a user")
        subprocess.run(
            [
                useradd, "--system", "--no-create-home",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", TEST_USER,
            ],
            check=True, capture_output=True,
        )  # fmt: skip
    return TEST_USER


@dataclass(frozen=True)
class PostgresServer:
    """A running server: connect as ``postgres`` (trust auth on loopback) to ``port``."""

    port: int
    directory: Path

    def url(self, database: str = "postgres", *, schema: str | None = None) -> str:
        """A ``postgresql://`` URL of ``database``; ``schema`` first on the search path."""
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        return f"{url}?options=-csearch_path%3D{schema}" if schema else url


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Initialise, start and finally stop and delete a throwaway PostgreSQL server."""
    bin_dir = _bin_dir()
    user = _server_user()
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    runner = [runuser, "-u", user, "--"] if user else []
    # Directly under /tmp: pytest's own temporary dirs are closed to other users.
    directory = Path(tempfile.mkdtemp(prefix="signer-pg-"))
    data = directory / "data"
    if user:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    directory.chmod(0o700)
    port = free_port()

    def run(*command: str) -> None:
        result = subprocess.run(
            [*runner, *command], capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            log = directory / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(
                f"PostgreSQL: {' '.join(command[:1])} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}{tail}"
            )

    started = False
    try:
        run(
            str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {directory} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
            "-l", str(directory / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip
        started = True
        yield PostgresServer(port=port, directory=directory)
    finally:
        if started:
            subprocess.run(
                [*runner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True, check=False, timeout=60,
            )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)
