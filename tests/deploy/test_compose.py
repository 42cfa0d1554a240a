"""deploy/compose.yaml: three replicas behind HAProxy, with Redis and PostgreSQL, drained."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from signer.settings import Settings, env_values
from tests.deploy.support import DEPLOY, load_yaml, not_settings, seconds
from tests.support import REPO

COMPOSE = load_yaml(DEPLOY / "compose.yaml")
SERVICES: dict[str, Any] = COMPOSE["services"]
SIGNER: dict[str, Any] = SERVICES["signer"]
ENV: dict[str, str] = SIGNER["environment"]
#: ``${VAR:?message}``: compose refuses to start while VAR is unset.
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z_]+):\?[^}]*\}")


def test_three_replicas_of_the_image_built_from_this_repo() -> None:
    """One service, three replicas, built from the repo's Dockerfile as ``tiktok-signer``."""
    assert SIGNER["deploy"]["replicas"] == 3
    assert SIGNER["image"] == "tiktok-signer"
    context = (DEPLOY / SIGNER["build"]["context"]).resolve()
    assert context == REPO
    assert (context / SIGNER["build"]["dockerfile"]).is_file()


def test_haproxy_redis_and_postgres_come_from_public_images() -> None:
    """HAProxy 2.6 with this directory's config, Redis 7, PostgreSQL 15 on a named volume."""
    assert {name: service.get("image") for name, service in SERVICES.items()} == {
        "signer": "tiktok-signer",
        "haproxy": "haproxy:2.6",
        "redis": "redis:7",
        "postgres": "postgres:15",
    }
    source, target, _mode = SERVICES["haproxy"]["volumes"][0].split(":")
    assert (DEPLOY / source).resolve() == DEPLOY / "haproxy.cfg"
    assert target == "/usr/local/etc/haproxy/haproxy.cfg"
    volume, _path = SERVICES["postgres"]["volumes"][0].split(":")
    assert volume in COMPOSE["volumes"]


def test_only_haproxy_publishes_ports() -> None:
    """The replicas, Redis and PostgreSQL are reachable only inside compose's networks."""
    assert [name for name, service in SERVICES.items() if service.get("ports")] == ["haproxy"]
    assert "8080:8080" in SERVICES["haproxy"]["ports"]


def test_replicas_listen_on_all_interfaces_and_check_health() -> None:
    """HOST is 0.0.0.0 (HAProxy reaches them) and the healthcheck opens /health on PORT."""
    assert ENV["HOST"] == "0.0.0.0"
    command = " ".join(SIGNER["healthcheck"]["test"])
    assert f"http://127.0.0.1:{ENV['PORT']}/health" in command


def test_stop_grace_period_outlasts_drain_and_shutdown() -> None:
    """Compose waits longer than the drain delay plus the shutdown deadline before SIGKILL."""
    drain = float(ENV["SIGNER_DRAIN_DELAY_S"])
    shutdown = float(ENV["SIGNER_SHUTDOWN_TIMEOUT_S"])
    assert seconds(SIGNER["stop_grace_period"]) > drain + shutdown


def test_drain_delay_outlasts_haproxy_noticing_it() -> None:
    """HAProxy's check interval times its fall count is shorter than the drain delay."""
    config = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    server = re.search(r"^\s*default-server .*\binter (\S+) fall (\d+)", config, re.MULTILINE)
    assert server, "no default-server line with inter and fall"
    assert seconds(server[1]) * int(server[2]) < float(ENV["SIGNER_DRAIN_DELAY_S"])


def test_secrets_come_from_the_environment() -> None:
    """Every secret is a required ``${VAR:?...}`` variable; none is written in the file."""
    for name in (
        "SIGNER_REDIS_URL",
        "SIGNER_DATABASE_URL",
        "SIGNER_SECRET_KEY",
        "SIGNER_ADMIN_KEY",
    ):
        assert REQUIRED_VARIABLE.search(ENV[name]), name
    assert ENV["SIGNER_DATABASE_URL"].startswith("postgresql://")
    assert REQUIRED_VARIABLE.fullmatch(SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"])


def test_every_variable_the_replicas_get_is_a_setting() -> None:
    """Each env name maps to a field of Settings (``SIGNER_*`` or an alias such as HOST)."""
    assert not_settings(ENV) == []


def test_the_replicas_settings_are_valid() -> None:
    """With the secrets filled in, the replicas' environment builds valid Settings."""
    filled = {
        name: REQUIRED_VARIABLE.sub("fake-value-0123456789", value) for name, value in ENV.items()
    }
    settings = Settings.model_validate(env_values(filled)[0])
    assert settings.host == "0.0.0.0"
    assert settings.drain_delay_s > 0


def test_trusted_proxies_are_the_network_only_haproxy_and_the_replicas_share() -> None:
    """SIGNER_TRUSTED_PROXIES is the edge subnet; Redis and PostgreSQL are not on it."""
    networks = COMPOSE["networks"]
    subnet = ipaddress.ip_network(networks["edge"]["ipam"]["config"][0]["subnet"])
    assert [ipaddress.ip_network(cidr) for cidr in ENV["SIGNER_TRUSTED_PROXIES"].split(",")] == [
        subnet
    ]
    on_edge = sorted(name for name, service in SERVICES.items() if "edge" in service["networks"])
    assert on_edge == ["haproxy", "signer"]
    assert networks["backend"]["internal"] is True
