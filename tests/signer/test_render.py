"""The answer of the sign routes, rendered from a provider's result."""

from __future__ import annotations

import dataclasses
import random

import pytest

from providers import xttparams
from providers.native import NativeProvider
from providers.typing import Navigator, PersonaStore, SignRequest, SignResult
from signer import render
from signer.render import _RENDERED, _RENDERED_MAX
from signer.settings import Settings
from signer.wiring import persona_from

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0"


@pytest.fixture
def result() -> SignResult:
    """A genuine native signature."""
    provider = NativeProvider(PersonaStore(persona_from(Settings())), rng=random.Random(11))
    return provider.sign_now(SignRequest(url="https://www.tiktok.com/api/x/?aid=1988"))


def test_navigator_object_has_signtoks_keys() -> None:
    """Every field under SignTok's and carcabot's key, name and version from the UA."""
    navigator = Navigator(
        user_agent=UA,
        language="de-DE",
        platform="Linux x86_64",
        os="linux",
        screen_width=1280,
        screen_height=720,
        device_scale_factor=1.25,
    )
    assert render.navigator_object(navigator) == {
        "deviceScaleFactor": 1.25,
        "user_agent": UA,
        "browser_language": "de-DE",
        "browser_platform": "Linux x86_64",
        "browser_name": "Mozilla",
        "browser_version": UA.removeprefix("Mozilla/"),
        "os": "linux",
        "screen_width": 1280,
        "screen_height": 720,
    }


def test_renderings_kept_are_bounded() -> None:
    """Rendering a new navigator per request (browser, remote) keeps a bounded few."""
    persona = persona_from(Settings())
    rendered = [render.navigator_object(persona.navigator(f"UA {n}")) for n in range(600)]
    assert [entry["user_agent"] for entry in rendered] == [f"UA {n}" for n in range(600)]
    assert len(_RENDERED) <= _RENDERED_MAX


def test_x_tt_params_covers_the_query_up_to_x_bogus(result: SignResult) -> None:
    """The signed query to X-Bogus (X-Dynosaur, msToken), then is_encryption; never X-Gnarly."""
    token = render.x_tt_params(result)
    assert token is not None
    assert result.x_bogus == "1"
    assert xttparams.decrypt(token) == (
        f"aid=1988&X-Dynosaur={result.x_dynosaur}&msToken=&X-Bogus=1&is_encryption=1"
    )


def test_x_tt_params_of_a_url_signed_with_x_bogus_alone(result: SignResult) -> None:
    """With X-Bogus the only parameter, x-tt-params starts with it (no leading ``&``)."""
    bare = dataclasses.replace(
        result, signed_url=f"https://www.tiktok.com/api/x/?X-Bogus={result.x_bogus}"
    )
    token = render.x_tt_params(bare)
    assert token is not None
    assert xttparams.decrypt(token) == f"X-Bogus={result.x_bogus}&is_encryption=1"


def test_x_tt_params_of_a_url_without_x_bogus_is_null(result: SignResult) -> None:
    """Nothing to encrypt when the URL has no X-Bogus (no checked result is like that)."""
    unsigned = dataclasses.replace(result, signed_url="https://www.tiktok.com/api/x/?aid=1988")
    assert render.x_tt_params(unsigned) is None


def test_answer_carries_both_spellings(result: SignResult) -> None:
    """SignTok's and carcabot's spellings of each token are the same value."""
    answer = render.signature_answer(result, 0.0)
    data = answer["data"]
    assert answer["status"] == "ok"
    assert (data["X-Bogus"], data["X-Gnarly"]) == (result.x_bogus, result.x_gnarly)
    assert (data["x-bogus"], data["x-gnarly"]) == (result.x_bogus, result.x_gnarly)
    assert result.x_dynosaur is not None
    assert data["X-Dynosaur"] == data["x-dynosaur"] == result.x_dynosaur
    assert data["sdk_version"] == "1.0.0.417"
