"""The query as a browser sends it, and the SDK's msToken habit."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from providers.urls import (
    _NEEDS_ENCODING,
    _SAFE,
    append_ms_token,
    browser_query,
    last_param,
    split_url,
)


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
