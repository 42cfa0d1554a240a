"""Browser and native agree on envcode and canvas, and on the build in ``file`` mode."""

from __future__ import annotations

from monitoring.probe import ProviderProbe, _agreement


def probes(build: str, envcode: int) -> dict[str, ProviderProbe]:
    browser = ProviderProbe("browser", "ready", enabled=True, build=build, envcode=envcode)
    native = ProviderProbe("native", "ready", enabled=True, build="1.0.0.417", envcode=65)
    return {"browser": browser, "native": native}


def test_the_same_environment_and_build_agree() -> None:
    assert _agreement(probes("1.0.0.417", 65), compare_builds=True) == []


def test_another_build_disagrees_in_file_mode_only() -> None:
    (found,) = _agreement(probes("1.0.0.999", 65), compare_builds=True)
    assert found.finding.kind == "providers_disagree"
    assert "build 1.0.0.999 (browser) vs 1.0.0.417 (native)" in found.finding.detail
    assert _agreement(probes("1.0.0.999", 65), compare_builds=False) == []


def test_another_envcode_disagrees_in_live_mode_too() -> None:
    (found,) = _agreement(probes("1.0.0.999", 1089), compare_builds=False)
    assert "envcode 1089 (browser) vs 65 (native)" in found.finding.detail
