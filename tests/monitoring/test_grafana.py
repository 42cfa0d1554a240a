"""The Grafana dashboard: every panel queries metrics the service or the monitor exports."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.config import MonitorConfig
from monitoring.probe import ProviderProbe
from monitoring.run import Report, write_textfile
from signer.metrics import Metrics
from tests.support import REPO

if TYPE_CHECKING:
    from pathlib import Path

    from prometheus_client import CollectorRegistry

DASHBOARD = REPO / "monitoring" / "grafana" / "tiktok-signer.json"
#: A metric name in a PromQL expression (functions and label names are not followed by
#: ``{``, ``[`` or an operator the way a selector is; the prefix keeps it to ours).
_NAME = re.compile(r"\b(signer_[a-z0-9_]+)")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can expose (whether or not a sample exists yet)."""
    names = set()
    for family in registry.collect():
        for suffix in _SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


@pytest.fixture
def monitor_names(tmp_path: Path) -> set[str]:
    """Every sample name of the textfile the monitor itself writes after a run."""
    textfile = tmp_path / "monitor.prom"
    config = MonitorConfig(service_url="http://127.0.0.1:9", data_dir=tmp_path, textfile=textfile)
    report = Report(service=config.service_url, started_at=1.0)
    report.providers["native"] = ProviderProbe("native", "ready", enabled=True, latency_s=0.001)
    write_textfile(config, report)
    text = textfile.read_text(encoding="utf-8")
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panel_names() -> list[tuple[str, str]]:
    """(panel title, metric name) for every metric every panel's queries name."""
    found: list[tuple[str, str]] = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            found.extend((panel["title"], name) for name in _NAME.findall(target["expr"]))
    return found


def test_the_dashboard_is_grafana_json() -> None:
    """It loads, has a uid, a Prometheus datasource variable and panels with queries."""
    data = dashboard()
    assert data["uid"] == "tiktok-signer"
    assert [v["type"] for v in data["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in data["panels"]:
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"])


@pytest.mark.parametrize(("title", "name"), panel_names())
def test_every_query_names_an_exported_metric(
    title: str, name: str, monitor_names: set[str]
) -> None:
    """A dashboard that queries a metric nobody exports shows nothing: each name is real."""
    service = exported(Metrics().registry)
    assert name in service | monitor_names, f"panel {title!r} queries {name}, not exported"


def test_the_dashboard_covers_the_service_and_the_monitor(monitor_names: set[str]) -> None:
    """Service, LIVE, partner webhooks and outbox, and monitor panels are all there."""
    names = {name for _, name in panel_names()}
    for family in (
        "signer_http_requests_total",
        "signer_sign_duration_seconds_bucket",
        "signer_provider_failures_total",
        "signer_breaker_state",
        "signer_browser_pages",
        "signer_sdk_signatures_total",
        "signer_sdk_unknown_build_seen",
        "signer_live_fetches_total",
        "signer_partner_webhooks_total",
        "signer_partner_outbox_deliveries_total",
        "signer_partner_outbox_undelivered",
    ):
        assert family in names
    assert names & monitor_names == monitor_names
