"""The baseline analyzer with TikTok's real SDK builds in real Chromium (issue 20, item 4).

Each build is snapshotted once per module (one Chromium launch per build); the acceptance
cases compare them: 5.1.3 → 1.0.0.417 is CRITICAL, 1.0.0.368 → 5.1.3 a version change, a
build against itself nothing above INFO.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from monitoring import baseline
from monitoring.findings import Severity, worst
from providers import sdk
from tests.support import CHROMIUM, REPO

if TYPE_CHECKING:
    from monitoring.findings import Finding

pytestmark = pytest.mark.chromium

BUILDS = ("1.0.0.368", "5.1.3", "1.0.0.417")
_SNAPSHOTS: dict[str, dict[str, Any]] = {}


def sdk_file_of(build: str) -> Any:
    """The pinned SDK file of ``build`` in the repo's data dir (skip when it is absent)."""
    path = REPO / "data" / "sdk" / sdk.PINS[build].name
    if not path.is_file():
        pytest.skip(f"{path} is missing: run `tiktok-signer sdk fetch`")
    return path


@pytest.fixture(scope="module")
def snapshots() -> dict[str, dict[str, Any]]:
    """Every build's snapshot, taken once for the module."""
    for build in BUILDS:
        if build not in _SNAPSHOTS:
            _SNAPSHOTS[build] = baseline.snapshot(sdk_file_of(build), CHROMIUM)
    return _SNAPSHOTS


def kinds(findings: list[Finding], severity: Severity | None = None) -> set[str]:
    return {f.kind for f in findings if severity is None or f.severity == severity}


def test_snapshot_keys_and_facts_of_the_2026_build(snapshots: dict[str, dict[str, Any]]) -> None:
    snap = snapshots["1.0.0.417"]
    for key in (
        "build",
        "file",
        "version_strings",
        "exports",
        "obfuscation",
        "signature",
        "socket_signer",
        "navigator_fields",
        "socket_params",
        "created_at",
    ):
        assert key in snap
    assert snap["build"] == "1.0.0.417"
    assert snap["file"]["size"] == sdk.PINS["1.0.0.417"].size
    assert snap["file"]["sha256"] == sdk.PINS["1.0.0.417"].sha256
    assert "1.0.0.417" in snap["version_strings"]["file"]
    assert snap["version_strings"]["tokens"]["x_gnarly_version"] == "5.3.2"
    assert snap["version_strings"]["tokens"]["x_dynosaur_build"] == "1.0.0.417"
    # sdk-2026.md: the ten keys, registerWsSigner among them before anything spends it.
    assert snap["exports"] == sorted(
        [
            "frontierSign",
            "getReferer",
            "init",
            "isWebmssdk",
            "registerWsSigner",
            "report",
            "setTTWebid",
            "setTTWebidV2",
            "setTTWid",
            "setUserMode",
        ]
    )
    assert snap["init_throws"] is False
    signature = snap["signature"]
    assert signature["appended"] == ["X-Dynosaur", "msToken", "X-Bogus", "X-Gnarly"]
    assert signature["post_appended"] == signature["appended"]
    assert signature["x_bogus"] == {"form": "literal", "length": 1, "literal": "1"}
    gnarly = signature["x_gnarly"]
    assert (gnarly["magic"], gnarly["field_count"], gnarly["length"]) == (75, 17, 332)
    assert (gnarly["version"], gnarly["build"]) == ("5.3.2", "1.0.0.417")
    assert signature["x_dynosaur"]["present"] is True
    # Its string records (time, nonces, counters) vary in length: 404 characters give or take.
    length = signature["x_dynosaur"]["length"]
    assert 396 <= length <= 416
    assert length % 4 == 0
    assert len(signature["x_dynosaur"]["record_tags"]) == 25
    assert snap["socket_signer"]["exists"] is True
    assert snap["socket_signer"]["x_gnarly"]["field_count"] == 17
    assert snap["navigator_fields"] == {"envcode": 65, "ubcode": 14, "canvas": 3666844619}
    assert snap["socket_params"][0] == snap["socket_params"][18] == "version_code"
    assert snap["socket_params"][-1] == "device_id"
    obfuscation = snap["obfuscation"]
    assert obfuscation["function_count"] > 100
    assert obfuscation["string_table_size"] > 100
    assert 0 < obfuscation["entropy_bits_per_byte"] <= 8


def test_snapshot_of_a_2025_build(snapshots: dict[str, dict[str, Any]]) -> None:
    snap = snapshots["5.1.3"]
    assert snap["build"] == "5.1.3"
    signature = snap["signature"]
    assert signature["appended"] == ["msToken", "X-Bogus", "X-Gnarly"]
    assert signature["x_bogus"]["form"] == "hash"
    assert signature["x_bogus"]["length"] == 28
    assert signature["x_gnarly"]["field_ids"] == list(range(16))
    assert (signature["x_gnarly"]["version"], signature["x_gnarly"]["build"]) == (
        "5.1.3",
        "1.0.0.328",
    )
    assert signature["x_dynosaur"]["present"] is False
    assert snap["socket_signer"] == {"exists": False, "x_gnarly": None}
    assert snap["socket_params"] == []
    assert "registerWsSigner" not in snap["exports"]
    assert snap["init_throws"] is True


def test_2025_to_2026_is_critical_with_actions(snapshots: dict[str, dict[str, Any]]) -> None:
    findings = baseline.analyze(snapshots["5.1.3"], snapshots["1.0.0.417"])
    assert worst(findings) == Severity.CRITICAL
    critical = kinds(findings, Severity.CRITICAL)
    assert {
        "x_bogus_form_changed",
        "x_dynosaur_appeared",
        "socket_signer_appeared",
        "x_gnarly_fields_changed",
        "appended_order_changed",
    } <= critical
    assert {"x_gnarly_version_changed", "x_gnarly_build_changed", "build_changed"} <= kinds(
        findings
    )
    assert "exports_changed" in kinds(findings, Severity.HIGH)
    by_kind = {f.kind: f for f in findings}
    assert "SIGNER_SDK_VERSION=1.0.0.417" in by_kind["x_bogus_form_changed"].action
    assert "/admin/providers" in by_kind["x_dynosaur_appeared"].action
    assert "16 (0-15) -> 17 (0-16)" in by_kind["x_gnarly_fields_changed"].detail
    assert "5.1.3 -> 5.3.2" in by_kind["x_gnarly_version_changed"].detail
    assert "added registerWsSigner" in by_kind["exports_changed"].detail
    # Worst first; every finding has an action.
    assert [f.severity for f in findings] == sorted((f.severity for f in findings), reverse=True)
    assert all(f.action for f in findings)


def test_2026_back_to_2025_reports_disappearances(snapshots: dict[str, dict[str, Any]]) -> None:
    findings = baseline.analyze(snapshots["1.0.0.417"], snapshots["5.1.3"])
    assert {"x_dynosaur_disappeared", "socket_signer_disappeared"} <= kinds(
        findings, Severity.CRITICAL
    )


def test_368_to_513_is_a_version_change(snapshots: dict[str, dict[str, Any]]) -> None:
    findings = baseline.analyze(snapshots["1.0.0.368"], snapshots["5.1.3"])
    assert worst(findings) >= Severity.MEDIUM
    assert {"x_gnarly_version_changed", "x_gnarly_build_changed", "build_changed"} <= kinds(
        findings
    )
    # Same line: the signature's form is unchanged.
    assert not {"x_bogus_form_changed", "x_gnarly_fields_changed", "appended_order_changed"} & (
        kinds(findings)
    )
    by_kind = {f.kind: f for f in findings}
    assert "5.1.3-ZTCA -> 5.1.3" in by_kind["x_gnarly_version_changed"].detail
    assert "SIGNER_SDK_VERSION=5.1.3" in by_kind["build_changed"].action


@pytest.mark.parametrize("build", BUILDS)
def test_a_build_against_itself_is_info_only(
    snapshots: dict[str, dict[str, Any]], build: str
) -> None:
    findings = baseline.analyze(snapshots[build], snapshots[build])
    assert [f.kind for f in findings] == ["no_change"]
    assert worst(findings) == Severity.INFO


def test_a_new_snapshot_of_the_same_build_is_unchanged(
    snapshots: dict[str, dict[str, Any]],
) -> None:
    """Observed facts are stable across launches (nonces and times are not recorded)."""
    again = baseline.snapshot(sdk_file_of("5.1.3"), CHROMIUM)
    assert worst(baseline.analyze(snapshots["5.1.3"], again)) == Severity.INFO


# -- the rules, without Chromium (a copy of a real snapshot, edited)


@pytest.fixture
def snap(snapshots: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(snapshots["1.0.0.417"])


def test_file_drift_alone_is_info(snap: dict[str, Any]) -> None:
    changed = copy.deepcopy(snap)
    changed["file"]["sha256"] = "0" * 64
    changed["file"]["size"] += 10
    changed["obfuscation"]["function_count"] += 3
    findings = baseline.analyze(snap, changed)
    assert worst(findings) == Severity.INFO
    assert kinds(findings) == {"file_changed", "file_size_changed", "obfuscation_functions_drift"}


def test_large_obfuscation_drift_is_medium(snap: dict[str, Any]) -> None:
    changed = copy.deepcopy(snap)
    changed["obfuscation"]["string_table_size"] *= 2
    assert kinds(baseline.analyze(snap, changed), Severity.MEDIUM) == {"obfuscation_strings_drift"}


def test_an_unknown_build_is_high_and_asks_for_a_profile(snap: dict[str, Any]) -> None:
    changed = copy.deepcopy(snap)
    changed["build"] = "2.0.0.561"
    changed["version_strings"]["tokens"]["x_gnarly_build"] = "2.0.0.561"
    findings = baseline.analyze(snap, changed)
    by_kind = {f.kind: f for f in findings}
    assert by_kind["unknown_build"].severity == Severity.HIGH
    assert by_kind["build_changed"].severity == Severity.HIGH
    assert "providers/profiles.py" in by_kind["unknown_build"].action
    assert "vectors" in by_kind["unknown_build"].action


def test_x_gnarly_field_ids_and_socket_fields(snap: dict[str, Any]) -> None:
    changed = copy.deepcopy(snap)
    changed["signature"]["x_gnarly"]["field_ids"] = list(range(18))
    changed["socket_signer"]["x_gnarly"]["field_ids"] = list(range(18))
    changed["exports"] = [*snap["exports"], "newThing"]
    findings = baseline.analyze(snap, changed)
    assert "x_gnarly_fields_changed" in kinds(findings, Severity.CRITICAL)
    assert {"socket_gnarly_fields_changed", "exports_changed"} <= kinds(findings, Severity.HIGH)


def test_every_rule_names_a_fact_of_a_snapshot(snapshots: dict[str, dict[str, Any]]) -> None:
    for rule in baseline.RULES:
        assert any(
            baseline._get(s, rule.path) is not None  # noqa: SLF001 - the rules' own lookup
            for s in snapshots.values()
        ), rule.path
        assert rule.action


def test_a_missing_baseline_says_how_to_create_one(tmp_path: Any) -> None:
    with pytest.raises(baseline.BaselineError, match="baseline create") as caught:
        baseline.load(tmp_path / "baseline.json")
    assert caught.value.usage
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(baseline.BaselineError, match="not a baseline"):
        baseline.load(tmp_path / "bad.json")
