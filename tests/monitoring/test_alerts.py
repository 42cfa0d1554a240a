"""Alerts: once per condition, a recovery notice, retried after a failed delivery, no secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from monitoring import alerts
from monitoring.config import MonitorConfig
from monitoring.findings import Finding, Severity
from monitoring.history import History
from monitoring.probe import Observation
from tests.fakes.alert_sink import SLACK, WEBHOOK
from tests.monitoring.conftest import SMTP_PASSWORD
from tests.support import free_port

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.alert_sink import AlertSink
    from tests.monitoring.conftest import Loop, Mailbox

BROKEN = Observation(Finding(Severity.HIGH, "sign_failed", "503 all_failed", "restart it"), "one")
SLOW = Observation(Finding(Severity.MEDIUM, "slow_signing", "80 ms", "check the load"), "two")
NOTE = Observation(Finding(Severity.INFO, "note", "nothing wrong", "none"))


def notify(loop: Loop, config: MonitorConfig, found: list[Observation]) -> list[str]:
    async def send() -> list[str]:
        async with aiohttp.ClientSession() as session:
            return await alerts.notify(config, session, History(config.history_path), found)

    result: list[str] = loop.run(send())
    return result


def test_conditions_are_keyed_by_kind_and_provider(
    loop: Loop, sink: AlertSink, tmp_path: Path
) -> None:
    config = MonitorConfig("http://127.0.0.1:1", tmp_path, webhook_url=sink.url(WEBHOOK))
    assert notify(loop, config, [NOTE]) == []  # INFO raises nothing
    assert notify(loop, config, [BROKEN]) == ["alert via webhook: sent"]
    assert notify(loop, config, [BROKEN, SLOW]) == ["alert via webhook: sent"]
    assert notify(loop, config, [SLOW]) == ["recovery via webhook: sent"]
    bodies = sink.received(WEBHOOK)
    assert [[c.get("kind") or c["key"] for c in b["conditions"]] for b in bodies] == [
        ["sign_failed"],
        ["slow_signing"],
        ["sign_failed:one"],
    ]
    assert History(config.history_path).active_alerts().keys() == {"slow_signing:two"}


def test_an_undelivered_alert_is_sent_again_next_run(
    loop: Loop, sink: AlertSink, tmp_path: Path
) -> None:
    config = MonitorConfig("http://127.0.0.1:1", tmp_path, slack_url=sink.url(SLACK))
    sink.failing = True
    lines = notify(loop, config, [BROKEN])
    assert lines == ["alert via slack: failed (ClientResponseError)"]
    sink.failing = False
    assert notify(loop, config, [BROKEN]) == ["alert via slack: sent"]
    assert notify(loop, config, [BROKEN]) == []
    assert "sign_failed [one]: 503 all_failed" in sink.received(SLACK)[-1]["text"]


def test_email_through_a_real_smtp_receiver_with_login(
    loop: Loop, mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    box, port = mailbox
    config = MonitorConfig(
        "http://127.0.0.1:1",
        tmp_path,
        smtp_url=f"smtp://monitor%40example.com:{SMTP_PASSWORD}@127.0.0.1:{port}",
        email_to=("ops@example.com", "oncall@example.com"),
    )
    assert notify(loop, config, [BROKEN]) == ["alert via email: sent"]
    (message,) = box.messages
    assert message.mail_from == "monitor@example.com"
    assert message.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    content = message.content
    content = content.decode() if isinstance(content, bytes) else str(content)
    assert "Subject: tiktok-signer monitor: 1 new problem(s)" in content
    assert "sign_failed [one]" in content
    assert SMTP_PASSWORD not in content


def test_an_smtp_failure_is_reported_without_the_password(loop: Loop, tmp_path: Path) -> None:
    config = MonitorConfig(
        "http://127.0.0.1:1",
        tmp_path,
        smtp_url=f"smtp://monitor:{SMTP_PASSWORD}@127.0.0.1:{free_port()}",
        email_to=("ops@example.com",),
    )
    assert SMTP_PASSWORD not in repr(config)
    assert notify(loop, config, [BROKEN]) == ["alert via email: failed (ConnectionRefusedError)"]
    assert History(config.history_path).active_alerts() == {}
