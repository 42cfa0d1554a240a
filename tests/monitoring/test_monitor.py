"""``tiktok-signer monitor`` against a running service, alert receivers on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from signer.cli import main
from tests.fakes.alert_sink import SLACK, WEBHOOK
from tests.monitoring.conftest import ADMIN_KEY, SMTP_PASSWORD
from tests.support import REPO, free_port

if TYPE_CHECKING:
    from pathlib import Path

    from tests.fakes.alert_sink import AlertSink
    from tests.monitoring.conftest import Mailbox, Service

pytestmark = pytest.mark.usefixtures("alerting")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the command in-process; its exit code and its output (stdout and stderr)."""
    capsys.readouterr()
    code = main(["monitor", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def report(output: str) -> dict[str, Any]:
    """The ``--json`` line of the output (the service's log lines may surround it)."""
    line = next(line for line in output.splitlines() if line.startswith('{"verdict"'))
    result: dict[str, Any] = json.loads(line)
    return result


def sent(sink: AlertSink, mailbox: tuple[Mailbox, int]) -> tuple[int, int, int]:
    """Messages so far on each channel: Slack, webhook, e-mail."""
    return len(sink.received(SLACK)), len(sink.received(WEBHOOK)), len(mailbox[0].messages)


def test_healthy_service_exits_0_and_alerts_nobody(
    capsys: pytest.CaptureFixture[str], sink: AlertSink, mailbox: tuple[Mailbox, int]
) -> None:
    code, output = run(capsys)
    assert code == 0, output
    assert "monitor: HEALTHY" in output
    assert "one" in output
    assert "two" in output
    assert sent(sink, mailbox) == (0, 0, 0)


def test_bad_signatures_alert_once_per_channel_then_recover_once(
    capsys: pytest.CaptureFixture[str],
    service: Service,
    sink: AlertSink,
    mailbox: tuple[Mailbox, int],
    tmp_path: Path,
) -> None:
    assert run(capsys)[0] == 0
    service.two.behaviour = "garbage"
    code, output = run(capsys)
    assert code == 1
    assert "bad_signature [two]" in output
    assert sent(sink, mailbox) == (1, 1, 1)
    slack = sink.received(SLACK)[0]["text"]
    assert "bad_signature" in slack
    assert "two" in slack
    hook = sink.received(WEBHOOK)[0]
    assert hook["event"] == "alert"
    assert [(c["kind"], c["provider"]) for c in hook["conditions"]] == [("bad_signature", "two")]
    mail = mailbox[0].messages[0]
    assert mail.rcpt_tos == ["ops@example.com"]
    textfile = (tmp_path / "textfile" / "signer_monitor.prom").read_text()
    assert "signer_monitor_verdict 1.0" in textfile
    assert 'signer_monitor_provider_ok{provider="two"} 0.0' in textfile
    assert 'signer_monitor_findings{severity="CRITICAL"} 1.0' in textfile

    assert run(capsys)[0] == 1  # still broken: no second alert
    assert sent(sink, mailbox) == (1, 1, 1)

    service.two.behaviour = "ok"
    code, output = run(capsys)
    assert code == 0
    assert sent(sink, mailbox) == (2, 2, 2)
    assert sink.received(WEBHOOK)[1]["event"] == "recovery"
    assert "recovered" in sink.received(SLACK)[1]["text"]
    assert run(capsys)[0] == 0
    assert sent(sink, mailbox) == (2, 2, 2)
    for secret in (ADMIN_KEY, SMTP_PASSWORD, SLACK, WEBHOOK, "secret-token"):
        assert secret not in output


def test_a_failing_channel_is_reported_without_its_url_and_retried(
    capsys: pytest.CaptureFixture[str], service: Service, sink: AlertSink
) -> None:
    service.one.behaviour = "garbage"
    sink.failing = True
    code, output = run(capsys, "--json")
    assert code == 1
    assert "alert via slack: failed (ClientResponseError)" in report(output)["alerts"]
    assert "secret-token" not in output
    assert ADMIN_KEY not in output


def test_json_shape(capsys: pytest.CaptureFixture[str], service: Service) -> None:
    service.one.behaviour = "garbage"
    code, output = run(capsys, "--json")
    answer = report(output)
    assert code == 1
    assert answer["verdict"] == "degraded"
    assert {"verdict", "findings", "providers", "service", "status", "alerts"} <= set(answer)
    assert answer["providers"]["two"]["ok"] is True
    assert answer["providers"]["two"]["latency_s"] > 0
    assert answer["providers"]["one"]["ok"] is False
    (finding,) = answer["findings"]
    assert set(finding) == {"severity", "kind", "detail", "action", "provider"}
    assert (finding["severity"], finding["kind"], finding["provider"]) == (
        "CRITICAL",
        "bad_signature",
        "one",
    )


def test_simulate_prints_the_step_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    service: Service,
    sink: AlertSink,
    mailbox: tuple[Mailbox, int],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SIGNER_MONITOR_EMERGENCY", "true")
    service.one.behaviour = "garbage"
    code, output = run(capsys, "--simulate")
    assert code == 1
    assert "would POST /admin/providers {'order': ['two']}" in output
    assert service.order() == ["one", "two"]
    assert sent(sink, mailbox) == (0, 0, 0)
    assert not (tmp_path / "textfile").exists()
    assert "No monitor runs" in run(capsys, "history")[1]


def test_emergency_moves_a_working_provider_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, service: Service
) -> None:
    monkeypatch.setenv("SIGNER_MONITOR_EMERGENCY", "true")
    service.one.behaviour = "garbage"
    code, output = run(capsys)
    assert code == 1
    assert "took the emergency step: POST /admin/providers" in output
    assert service.order() == ["two", "one"]
    assert run(capsys)[0] == 1  # one is still broken, but no longer first: no step
    assert service.order() == ["two", "one"]


def test_emergency_enters_maintenance_when_nothing_works(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, service: Service
) -> None:
    monkeypatch.setenv("SIGNER_MONITOR_EMERGENCY", "true")
    service.one.behaviour = service.two.behaviour = "garbage"
    assert run(capsys)[0] == 1
    maintenance = service.state()["maintenance"]
    assert maintenance["enabled"] is True
    # The admin key sees through maintenance: the monitor still probes every provider.
    service.one.behaviour = service.two.behaviour = "ok"
    code, output = run(capsys, "--json")
    assert code == 1
    assert [f["kind"] for f in report(output)["findings"]] == ["maintenance"]


def test_emergency_without_the_admin_key_is_a_finding(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, service: Service
) -> None:
    monkeypatch.setenv("SIGNER_MONITOR_EMERGENCY", "true")
    monkeypatch.delenv("SIGNER_ADMIN_KEY")
    service.one.behaviour = "garbage"
    code, output = run(capsys, "--json")
    assert code == 1
    kinds = [f["kind"] for f in report(output)["findings"]]
    assert "emergency_needs_admin_key" in kinds
    assert service.order() == ["one", "two"]


def test_cron_runs_write_history(capsys: pytest.CaptureFixture[str], service: Service) -> None:
    assert run(capsys)[0] == 0
    service.one.behaviour = "garbage"
    assert run(capsys)[0] == 1
    code, output = run(capsys, "history")
    assert code == 0
    lines = [line for line in output.splitlines() if "exit " in line]
    assert len(lines) == 2
    assert "exit 1" in lines[0]
    assert "bad_signature" in lines[0]
    assert "exit 0" in lines[1]


def test_much_slower_signing_is_a_finding(
    capsys: pytest.CaptureFixture[str], service: Service
) -> None:
    for _ in range(3):
        assert run(capsys)[0] == 0
    service.two.delay_s = 0.08
    code, output = run(capsys, "--json")
    assert code == 1
    assert [(f["kind"], f["provider"]) for f in report(output)["findings"]] == [
        ("slow_signing", "two")
    ]


def test_exit_3_when_the_service_is_down(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, output = run(capsys, "--service", f"http://127.0.0.1:{free_port()}", "--json")
    assert code == 3
    assert report(output)["verdict"] == "could_not_run"
    textfile = (tmp_path / "textfile" / "signer_monitor.prom").read_text()
    assert "signer_monitor_verdict 3.0" in textfile


@pytest.mark.parametrize(
    "args", [("--interval", "5"), ("--continuous",), ("--service", "ftp://x"), ("bogus",)]
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    try:
        code, _ = run(capsys, *args)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(str(exc.code))
    assert code == 2


def test_continuous_runs_in_a_process_until_stopped(service: Service, tmp_path: Path) -> None:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SIGNER_")},
        "PYTHONPATH": str(REPO),
        "SIGNER_DATA_DIR": str(tmp_path),
        "SIGNER_SERVICE_URL": service.url,
        "SIGNER_ADMIN_KEY": ADMIN_KEY,
    }
    command = [sys.executable, "-m", "signer", "monitor", "--continuous", "--interval", "0.1"]
    with subprocess.Popen(
        [*command, "--json"], stdout=subprocess.PIPE, env=environment, text=True
    ) as process:
        assert process.stdout is not None
        runs = [json.loads(process.stdout.readline()) for _ in range(2)]
        process.terminate()
    assert [r["verdict"] for r in runs] == ["healthy", "healthy"]
    assert ADMIN_KEY not in json.dumps(runs)
