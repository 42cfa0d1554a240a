"""The SDK build profiles: consistent with each other and with the shared vectors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from providers import profiles, xgnarly
from tests.support import load_vectors

GNARLY_2025: list[dict[str, Any]] = load_vectors("xgnarly-sdk.json")["vectors"]
HTTP_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-http.json")["vectors"]
WS_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-ws.json")["vectors"]


def _versions(token: str) -> tuple[object, object, list[int]]:
    decoded = xgnarly.decode(token)
    return decoded.get(9), decoded.get(10), sorted(f.id for f in decoded.fields)


@pytest.mark.parametrize("build", ["1.0.0.368", "2.0.0.485", "5.1.3"])
def test_2025_profiles_match_their_sdk_tokens(build: str) -> None:
    """Each 2025 build's version strings and field set are what its SDK file wrote."""
    profile = profiles.get(build)
    seen = {_versions(v["x_gnarly"])[:2] for v in GNARLY_2025 if v["sdk_version"] == build}
    assert seen == {(profile.gnarly_version, profile.gnarly_build)}
    for vector in GNARLY_2025:
        if vector["sdk_version"] == build:
            assert _versions(vector["x_gnarly"])[2] == sorted(profile.gnarly_fields)
    assert (profile.line, profile.x_bogus, profile.x_dynosaur, profile.socket_signer) == (
        2025,
        "hash",
        False,
        False,
    )


@pytest.mark.parametrize("vector", [*HTTP_417, *WS_417], ids=lambda v: v["id"])
def test_the_2026_profile_matches_every_417_token(vector: dict[str, Any]) -> None:
    """1.0.0.417's version strings and 17 fields are those of every vector's X-Gnarly."""
    profile = profiles.get("1.0.0.417")
    version, build, fields = _versions(vector["expected_x_gnarly"])
    assert (version, build) == (profile.gnarly_version, profile.gnarly_build)
    assert fields == sorted(profile.gnarly_fields)
    assert profiles.by_gnarly_version(version, build) is profile


def test_the_2026_profile_describes_what_the_sdk_appends() -> None:
    """X-Dynosaur, msToken, X-Bogus=1, X-Gnarly in that order, as in every signed query."""
    profile = profiles.get("1.0.0.417")
    for vector in HTTP_417:
        suffix = vector["signed_query"][len(vector["base_query"]) :].lstrip("&")
        names = [part.split("=", 1)[0] for part in suffix.split("&")]
        assert tuple(names) == profile.appended
        assert vector["x_bogus"] == profile.x_bogus_literal
    assert (profile.x_bogus, profile.x_dynosaur, profile.socket_signer) == ("literal", True, True)


def test_the_2026_profile_does_not_sign_the_live_fetch() -> None:
    """TikTok's pages do not sign /webcast/im/fetch/ with 1.0.0.417; the rest of the list is."""
    profile = profiles.get("1.0.0.417")
    assert not profile.signs_path("/webcast/im/fetch/")
    assert profile.signs_path("/webcast/room/enter/")
    assert profile.signs_path("/api/post/item_list/")
    assert not profile.signs_path("/foo/")
    assert profiles.get("1.0.0.368").signs_path("/webcast/im/fetch/")


def test_every_vector_path_is_one_the_profile_signs() -> None:
    """Every page request of the vectors goes to a path on 1.0.0.417's list."""
    profile = profiles.get("1.0.0.417")
    for vector in HTTP_417:
        assert profile.signs_path(urlsplit(vector["request_url"]).path)


def test_the_envcode_of_the_profile_is_what_the_consistent_platform_wrote() -> None:
    """With navigator.platform agreeing (Linux UA) the SDK wrote the profile's envcode."""
    profile = profiles.get("1.0.0.417")
    for vector in HTTP_417:
        envcode = xgnarly.decode(vector["expected_x_gnarly"]).get(1)
        if vector["ua_label"] == "linux_chrome":
            assert envcode == profile.envcode == profiles.envcode(profile.flags)
        else:
            assert envcode == profile.envcode | profile.platform_mismatch_bit


def test_get_of_an_unknown_build_names_the_known_ones() -> None:
    """A build without a profile is a KeyError that lists every known build."""
    with pytest.raises(KeyError, match=r"9\.9\.9") as caught:
        profiles.get("9.9.9")
    for build in profiles.PROFILES:
        assert build in str(caught.value)


def test_the_default_and_newest_builds() -> None:
    """The service imitates 1.0.0.417 unless told otherwise; it is also the newest."""
    assert profiles.DEFAULT_BUILD == "1.0.0.417"
    assert profiles.newest() is profiles.get(profiles.DEFAULT_BUILD)


def test_version_strings_name_one_profile_each() -> None:
    """No two builds write the same X-Gnarly version strings (recognition is unambiguous)."""
    strings = [(p.gnarly_version, p.gnarly_build) for p in profiles.PROFILES.values()]
    assert len(set(strings)) == len(strings)
    assert profiles.by_gnarly_version("5.3.2", "9.9.9") is None
