"""The shared self-check: signatures must cover exactly the signed query, body and UA."""

from __future__ import annotations

import dataclasses
import random

import pytest

from providers import selfcheck
from providers.native import NativeProvider
from providers.typing import Persona, PersonaStore, SignRequest, SignResult
from signer.settings import Settings
from signer.wiring import persona_from

BODY = '{"a":1}'


def persona_2025() -> Persona:
    """The configured persona imitating a 2025 build (X-Bogus hash, 5.1.3 X-Gnarly)."""
    return dataclasses.replace(persona_from(Settings()), sdk_build="1.0.0.368")


@pytest.fixture
def good() -> SignResult:
    """A genuine native signature of a POST."""
    store = PersonaStore(persona_2025())
    provider = NativeProvider(store, rng=random.Random(3))
    request = SignRequest(url="https://www.tiktok.com/api/x/?aid=1988", method="POST", body=BODY)
    return provider.sign_now(request)


def test_a_genuine_signature_passes(good: SignResult) -> None:
    """Nothing to report on the native provider's own output."""
    assert selfcheck.problem(good, BODY) is None


def test_other_body_fails(good: SignResult) -> None:
    """A signature of another body is caught by X-Bogus."""
    assert "X-Bogus does not re-encode" in str(selfcheck.problem(good, "{}"))


def test_missing_x_bogus_fails(good: SignResult) -> None:
    """A URL without X-Bogus cannot be trusted."""
    bare = dataclasses.replace(good, signed_url=good.signed_url.split("&X-Bogus=")[0])
    assert selfcheck.problem(bare, BODY) == "the signed URL carries no X-Bogus"


def test_undecodable_x_bogus_fails(good: SignResult) -> None:
    """Garbage in place of X-Bogus is reported as such."""
    broken = dataclasses.replace(good, x_bogus="DFSznotatoken")
    assert "X-Bogus does not decode" in str(selfcheck.problem(broken, BODY))


def test_undecodable_x_gnarly_fails(good: SignResult) -> None:
    """Garbage in place of X-Gnarly is reported as such."""
    broken = dataclasses.replace(good, x_gnarly="Mnotatoken")
    assert "X-Gnarly does not decode" in str(selfcheck.problem(broken, BODY))


def test_x_gnarly_of_another_request_fails(good: SignResult) -> None:
    """An X-Gnarly hashing another user agent is caught."""
    other = dataclasses.replace(good, user_agent="Mozilla/5.0 other")
    store = PersonaStore(dataclasses.replace(persona_2025(), user_agent=other.user_agent))
    foreign = NativeProvider(store).sign_now(
        SignRequest(url="https://www.tiktok.com/api/x/?aid=1988", method="POST", body=BODY)
    )
    mixed = dataclasses.replace(good, x_gnarly=foreign.x_gnarly)
    assert selfcheck.problem(mixed, BODY) == (
        "X-Gnarly does not hash the signed query, body and UA"
    )


def test_query_carrying_an_x_bogus_is_checked_as_signed() -> None:
    """A caller's stale X-Bogus is part of the signed query; the last X-Bogus is checked."""
    provider = NativeProvider(PersonaStore(persona_2025()), rng=random.Random(5))
    url = "https://www.tiktok.com/api/x/?aid=1988&X-Bogus=stale"
    result = provider.sign_now(SignRequest(url=url))
    assert "?aid=1988&X-Bogus=stale&msToken=&X-Bogus=" in result.signed_url
    assert selfcheck.problem(result, "") is None
