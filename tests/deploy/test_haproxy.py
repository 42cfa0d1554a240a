"""deploy/haproxy.cfg: HAProxy accepts it, and it drains replicas without losing requests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, load_yaml, seconds

CONFIG = DEPLOY / "haproxy.cfg"


def _sections() -> dict[str, list[str]]:
    """Each section (``"backend signer"``) with its lines, comments and blank lines left out."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for raw in CONFIG.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = sections.setdefault(" ".join(line.split()), [])
        else:
            current.append(" ".join(line.split()))
    return sections


def _one(lines: list[str], keyword: str) -> list[str]:
    """The words after ``keyword`` on the one line that starts with it."""
    found = [
        line.split()[len(keyword.split()) :] for line in lines if line.startswith(keyword + " ")
    ]
    assert len(found) == 1, f"{keyword!r}: {len(found)} lines"
    return found[0]


def _haproxy() -> str:
    """Debian's haproxy: scripts/setup installs it, so its absence is a failure."""
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").is_file() else None
    )
    if found is None:
        pytest.fail("haproxy is not installed: run scripts/setup (it installs Debian's haproxy)")
    return found


def test_haproxy_accepts_the_config_without_warnings() -> None:
    """``haproxy -c -f deploy/haproxy.cfg`` exits 0 outside compose and warns about nothing."""
    result = subprocess.run(
        [_haproxy(), "-c", "-f", str(CONFIG)], capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert "ALERT" not in output, output


def test_frontend_listens_on_8080_and_forwards_the_client_address() -> None:
    """The public frontend binds :8080, replaces X-Forwarded-For and sends to the backend."""
    frontend = _sections()["frontend http"]
    assert _one(frontend, "bind") == [":8080"]
    assert "option forwardfor" in frontend
    assert "http-request del-header X-Forwarded-For" in frontend
    assert _one(frontend, "default_backend") == ["signer"]


def test_backend_checks_health_often_enough_to_drop_a_draining_replica() -> None:
    """GET /health must answer 200; one failed check, at most 2 s apart, takes a replica out."""
    backend = _sections()["backend signer"]
    assert "option httpchk GET /health" in backend
    assert "http-check expect status 200" in backend
    server = _one(backend, "default-server")
    options = dict(zip(server[1::2], server[2::2], strict=False))
    assert server[0] == "check"
    assert seconds(options["inter"]) <= 2
    assert options["fall"] == "1"
    assert options["init-addr"] == "none"
    assert options["resolvers"] in {
        name.split()[1] for name in _sections() if name.startswith("resolvers ")
    }


def test_failed_and_503_answers_are_retried_on_another_replica() -> None:
    """Three retries of a refused, empty, late or 503 answer, each on another replica."""
    defaults = _sections()["defaults"]
    assert _one(defaults, "retries") == ["3"]
    assert set(_one(defaults, "retry-on")) >= {
        "conn-failure",
        "empty-response",
        "response-timeout",
        "503",
    }
    assert _one(defaults, "option redispatch") == ["1"]
    timeouts = {
        line.split()[1]: seconds(line.split()[2])
        for line in defaults
        if line.startswith("timeout ")
    }
    assert set(timeouts) >= {"connect", "client", "server", "http-request", "check"}
    assert timeouts["server"] > 10  # SIGNER_SIGN_TIMEOUT_S: the service answers first


def test_backend_names_the_compose_replicas_on_their_port() -> None:
    """The server template has a slot per compose replica, at the port the replicas listen on."""
    _name, slots, address = _one(_sections()["backend signer"], "server-template")
    compose = load_yaml(DEPLOY / "compose.yaml")["services"]["signer"]
    host, port = address.split(":")
    assert int(slots) == compose["deploy"]["replicas"]
    assert host == "signer"
    assert port == compose["environment"]["PORT"]


def test_stats_and_prometheus_metrics_are_on_their_own_port() -> None:
    """A second frontend serves HAProxy's Prometheus metrics and stats, not on :8080."""
    stats = _sections()["frontend stats"]
    assert _one(stats, "bind") != [":8080"]
    assert "http-request use-service prometheus-exporter if { path /metrics }" in stats
    assert "stats enable" in stats
