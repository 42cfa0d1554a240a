"""A real Redis server for the shared-state tests: Debian's ``redis-server``.

The server runs from a temporary directory on a free loopback port, without persistence; it
can be stopped and started again on the same port (a Redis restart: it comes back empty). It
is never skipped: without the binary (``scripts/setup`` installs it) the tests that need it
fail with the reason. Readiness is checked with a raw ``PING``: the tests do not import the
driver, which only ``signer/state/redis.py`` does.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Where Debian's package puts the server.
REDIS_SERVER = Path("/usr/bin/redis-server")
#: How long a server may take to answer PING after it is started.
START_TIMEOUT_S = 10.0


class RedisServer:
    """A throwaway server on ``127.0.0.1:port``; :meth:`stop` and :meth:`start` restart it."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """A ``redis://`` URL of database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    @staticmethod
    def prefix() -> str:
        """A key prefix no other test uses (tests share one server)."""
        return f"test-{uuid.uuid4().hex[:12]}"

    @property
    def running(self) -> bool:
        """Whether the server process is up."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.running:
            return
        binary = shutil.which(str(REDIS_SERVER)) or pytest.fail(
            f"redis-server is not installed ({REDIS_SERVER}): run scripts/setup"
        )
        log = self.directory / "server.log"
        self._process = subprocess.Popen(
            [
                binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.directory), "--logfile", str(log),
                "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server at once (it loses everything: no persistence)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def command(self, *args: str) -> str | None:
        """Send one command (RESP, a fresh connection); its simple, integer or bulk reply."""
        request = f"*{len(args)}\r\n" + "".join(
            f"${len(arg.encode())}\r\n{arg}\r\n" for arg in args
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(request.encode())
            reply = b""
            while not reply.endswith(b"\r\n") or (reply[:1] == b"$" and reply.count(b"\r\n") < 2):
                if reply == b"$-1\r\n":
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        kind, lines = reply[:1], reply[1:].decode().split("\r\n")
        if kind == b"-":
            raise RuntimeError(f"Redis refused {args[0]}: {lines[0]}")
        if kind == b"$":
            return None if lines[0] == "-1" else lines[1]
        return lines[0]

    def ping(self) -> bool:
        """Whether the server answers PING now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start and finally stop and delete a throwaway Redis server."""
    directory = Path(tempfile.mkdtemp(prefix="signer-redis-"))
    server = RedisServer(free_port(), directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
