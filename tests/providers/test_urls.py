"""The query as a browser sends it, the SDK's msToken habit, and the signed-URL parser."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.typing import SignRequest
from providers.urls import (
    _NEEDS_ENCODING,
    _SAFE,
    SignedUrl,
    append_ms_token,
    browser_query,
    join_url,
    last_param,
    parse_signed,
    sdk_query,
    split_url,
    through_x_bogus,
)
from tests.support import load_vectors

BASE = "https://www.tiktok.com/api/x/"


def test_split_drops_fragment() -> None:
    """The fragment never reaches the server, so it is not signed."""
    assert split_url("https://h/p?a=1#frag") == ("https://h/p", "a=1")
    assert split_url("https://h/p") == ("https://h/p", "")


def test_browser_query_encodes_like_chromium() -> None:
    """Non-ASCII, spaces, quotes and angle brackets are percent-encoded; the rest stays."""
    assert browser_query("keyword=café") == "keyword=caf%C3%A9"
    assert browser_query('a=b c&d="<\'>"') == "a=b%20c&d=%22%3C%27%3E%22"
    assert browser_query("a=%2F/x?y=z+1|`") == "a=%2F/x?y=z+1|`"


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)))
def test_browser_query_is_idempotent(text: str) -> None:
    """Encoding an encoded query changes nothing (existing escapes are kept)."""
    once = browser_query(text)
    assert browser_query(once) == once


def test_last_param_takes_the_last() -> None:
    """With several msToken parameters, the last one counts."""
    assert last_param("a=1&msToken=x&msToken=y", "msToken") == "y"
    assert last_param("a=1&xmsToken=z", "msToken") is None


def test_append_ms_token_always_appends() -> None:
    """The SDK appends even when the query has one, and to an empty query."""
    assert append_ms_token("a=1&msToken=x", "") == "a=1&msToken=x&msToken="
    assert append_ms_token("", "t") == "msToken=t"


@given(st.text())
def test_browser_query_fast_path_agrees_with_the_full_rule(text: str) -> None:
    """Whatever the input, the result is what percent-encoding the special set gives."""
    expected = quote(text, safe=_SAFE) if _NEEDS_ENCODING.search(text) else text
    assert browser_query(text) == expected


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "msToken", "xmsToken", "b"]), st.text("xyz=", max_size=3))
    )
)
def test_last_param_agrees_with_a_plain_split(pairs: list[tuple[str, str]]) -> None:
    """The fast lookup finds what splitting on & and taking the last match finds."""
    query = "&".join(f"{name}={value}" for name, value in pairs)
    values = [p.split("=", 1)[1] for p in query.split("&") if p.startswith("msToken=")]
    assert last_param(query, "msToken") == (values[-1] if values else None)


def test_sign_request_holds_the_url_as_chromium_sends_it() -> None:
    """A request built from a URL carries its base and its percent-encoded query."""
    request = SignRequest(url=f"{BASE}?aid=1988&keyword=café#top", method="POST", body="{}")
    assert (request.base, request.query) == (BASE, "aid=1988&keyword=caf%C3%A9")


def test_sign_request_split_follows_a_replaced_url() -> None:
    """dataclasses.replace with another URL splits that URL, not the old one."""
    request = dataclasses.replace(SignRequest(url=f"{BASE}?a=1"), url=f"{BASE}?b=2")
    assert request.query == "b=2"


def test_join_url_leaves_out_an_empty_query() -> None:
    """No dangling ``?`` when there is no query."""
    assert (join_url(BASE, ""), join_url(BASE, "a=1")) == (BASE, f"{BASE}?a=1")


def test_parse_signed_splits_the_sdks_tokens() -> None:
    """Base, signed query, X-Bogus and X-Gnarly, nothing after."""
    url = f"{BASE}?aid=1&msToken=t&X-Bogus=DFSzB&X-Gnarly=M2x/y=="
    assert parse_signed(url) == SignedUrl(
        BASE, "aid=1&msToken=t", "DFSzB", "M2x/y==", "", None, "aid=1&msToken=t"
    )


def test_parse_signed_takes_the_last_x_bogus() -> None:
    """An X-Bogus the query already carried stays in the signed query: the last is the SDK's."""
    url = f"{BASE}?aid=1&X-Bogus=stale&msToken=&X-Bogus=fresh&X-Gnarly=g"
    signed = parse_signed(url)
    assert signed is not None
    assert (signed.signed_query, signed.x_bogus, signed.x_gnarly) == (
        "aid=1&X-Bogus=stale&msToken=",
        "fresh",
        "g",
    )


def test_parse_signed_reads_x_bogus_first_in_the_query() -> None:
    """A URL with nothing else to sign has X-Bogus as its first parameter."""
    assert parse_signed(f"{BASE}?X-Bogus=tok") == SignedUrl(BASE, "", "tok", None, "", None, "")


def test_parse_signed_without_x_bogus_is_none() -> None:
    """No X-Bogus parameter (a name merely ending in X-Bogus does not count): None."""
    assert parse_signed(f"{BASE}?aid=1&msToken=t") is None
    assert parse_signed(f"{BASE}?aid=1&NotX-Bogus=t") is None


def test_parse_signed_keeps_what_follows_the_tokens() -> None:
    """Parameters after X-Bogus and X-Gnarly are handed back for the caller to refuse."""
    signed = parse_signed(f"{BASE}?a=1&X-Bogus=b&X-Gnarly=g&extra=1&X-Gnarly=h")
    assert signed is not None
    assert (signed.x_gnarly, signed.after) == ("g", "extra=1&X-Gnarly=h")
    other = parse_signed(f"{BASE}?a=1&X-Bogus=b&extra=1")
    assert other is not None
    assert (other.x_gnarly, other.after) == (None, "extra=1")


def test_parse_signed_decodes_percent_encoded_tokens() -> None:
    """An upstream that encodes ``/`` and ``=`` in the tokens is read as if it had not."""
    signed = parse_signed(f"{BASE}?a=1&X-Bogus=DFSz%2Fb&X-Gnarly=M2x%2Fy%3D%3D#frag")
    assert signed is not None
    assert (signed.x_bogus, signed.x_gnarly, signed.after) == ("DFSz/b", "M2x/y==", "")


def plain_parse(url: str) -> SignedUrl | None:
    """The parser's rule written the plain way: split, partition, decode."""
    base, query = split_url(url)
    head, found, rest = query.rpartition("&X-Bogus=")
    if not found:
        if not query.startswith("X-Bogus="):
            return None
        head, rest = "", query.removeprefix("X-Bogus=")
    x_bogus, _, after = rest.partition("&")
    x_gnarly = None
    if after.startswith("X-Gnarly="):
        x_gnarly, _, after = after.removeprefix("X-Gnarly=").partition("&")
        x_gnarly = unquote(x_gnarly)
    return SignedUrl(base, head, unquote(x_bogus), x_gnarly, after, None, head)


PIECES = ["a=1", "X-Bogus=b", "X-Gnarly=g%3D", "&", "?", "#", "X-Bogus=", "X-Gnarly=", "%2F", "="]


@given(st.lists(st.sampled_from(PIECES), max_size=10))
def test_parse_signed_agrees_with_a_plain_split(pieces: list[str]) -> None:
    """Whatever the URL, the index-based parser reads what the plain rule reads."""
    url = "https://www.tiktok.com/api/x/" + "".join(pieces)
    assert parse_signed(url) == plain_parse(url)


@given(st.lists(st.sampled_from(PIECES), max_size=10))
def test_through_x_bogus_ends_where_parse_signed_reads_x_bogus(pieces: list[str]) -> None:
    """A prefix of the query: the parsed signed query, then X-Bogus as it stands in the URL."""
    url = "https://www.tiktok.com/api/x/" + "".join(pieces)
    signed = parse_signed(url)
    through = through_x_bogus(url)
    if signed is None:
        assert through is None
        return
    assert through is not None
    query = split_url(url)[1]
    assert query.startswith(through)
    assert query[len(through) :][:1] in {"", "&"}
    name, _, raw = through.removeprefix(signed.signed_query).partition("X-Bogus=")
    assert name in {"", "&"}
    assert "&" not in raw
    assert unquote(raw) == signed.x_bogus


def test_through_x_bogus_keeps_a_stale_x_bogus() -> None:
    """A caller's X-Bogus stays inside; the query ends after the last one's value."""
    url = f"{BASE}?a=1&X-Bogus=stale&msToken=&X-Bogus=fresh&X-Gnarly=g"
    assert through_x_bogus(url) == "a=1&X-Bogus=stale&msToken=&X-Bogus=fresh"


HTTP_417: list[dict[str, Any]] = load_vectors("sdk-1.0.0.417-http.json")["vectors"]


@pytest.mark.parametrize("vector", HTTP_417, ids=[v["id"] for v in HTTP_417])
def test_sdk_query_is_what_build_417_signs(vector: dict[str, Any]) -> None:
    """sdk_query(the page's query) is the query the SDK hashed (before X-Dynosaur)."""
    assert sdk_query(vector["request_query"]) == vector["base_query"]
    prefix = f"{vector['base_query']}&" if vector["base_query"] else ""
    assert vector["signed_query"].startswith(prefix + "X-Dynosaur=")


def test_the_vectors_cover_both_rewriting_rules() -> None:
    """Some vector was rewritten by the SDK, and some went out on the wire re-encoded."""
    assert any(v["sdk_rewrote_query"] for v in HTTP_417)
    assert not all(v["wire_equals_signed"] for v in HTTP_417)


@pytest.mark.parametrize(
    ("raw", "signed"),
    [
        ("a=1&b=two", "a=1&b=two"),
        ("", ""),
        (
            "q=a b\"c'd<e>f[g\\h]i^j`k{l|m}n",
            "q=a%20b%22c%27d%3Ce%3Ef%5Bg%5Ch%5Di%5Ej%60k%7Bl%7Cm%7Dn",
        ),
        ("tz=America/Sao_Paulo&x=(1;2,3)!*~@:$+=", "tz=America/Sao_Paulo&x=(1;2,3)!*~@:$+="),
        ("q=Größe 東京", "q=Gr%C3%B6%C3%9Fe%20%E6%9D%B1%E4%BA%AC"),
        ("q=\x01\x7f", "q=%01%7F"),
        ("q=%20a b'c é", "q=%20a b%27c é"),
        ("q=%7b%7D", "q=%7b%7D"),
    ],
)
def test_sdk_query_rules(raw: str, signed: str) -> None:
    """No '%': escape the SDK's set and non-ASCII; with one: raw, only ' becomes %27."""
    assert sdk_query(raw) == signed


@pytest.mark.parametrize("raw", ["q=%", "q=%2", "q=%zz", "a=1&b=50%&c", "q=%2g"])
def test_sdk_query_refuses_a_malformed_escape(raw: str) -> None:
    """A '%' that starts no escape of two hex digits makes the SDK throw."""
    with pytest.raises(ValueError, match="percent escape"):
        sdk_query(raw)


def test_sdk_query_refuses_a_lone_surrogate() -> None:
    """A string that is not Unicode text cannot be encoded (the SDK throws too)."""
    with pytest.raises(ValueError, match="surrogate"):
        sdk_query("q=\ud800")


@given(st.text(max_size=60))
def test_sdk_query_is_idempotent_and_leaves_no_character_it_escapes(text: str) -> None:
    """Once signed, a query signs as itself; nothing of the escaped set survives the rule."""
    try:
        signed = sdk_query(text)
    except ValueError:
        return
    assert sdk_query(signed) == signed
    if "%" not in text:
        assert not set(signed) & set(" \"'<>[\\]^`{|}")
        assert signed.isascii()
