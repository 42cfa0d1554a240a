"""TikTok Shop request signs, the sign route's answer, OAuth URLs and the reply envelope."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.partner import shop
from tests.support import load_vectors

SIGN = load_vectors("partner/shop-sign.json")
CASES = {case["id"]: case for case in SIGN["cases"]}
APP_KEY = "test-app-key-0001"
SECRET = "test-app-secret-0001"


def _pairs(case: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, value) for key, value in case["query"]]


def _body(case: dict[str, Any]) -> bytes | None:
    return None if case["body"] is None else case["body"].encode()


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_every_sign_vector(case_id: str) -> None:
    """Each vector's string to sign and sign, byte for byte."""
    case = CASES[case_id]
    legacy = int(case["api_version"]) < 202309
    args = {"body": _body(case), "content_type": case["content_type"], "legacy": legacy}
    message = shop.string_to_sign(case["path"], _pairs(case), case["app_secret"], **args)
    assert message == case["string_to_sign"].encode()
    assert (
        shop.sign(case["path"], _pairs(case), case["app_secret"], **args) == (case["expected_sign"])
    )


@pytest.mark.parametrize("case_id", sorted(c for c in CASES if c != "ecomphp_published"))
def test_every_sign_vector_through_the_route_helper(case_id: str) -> None:
    """The sign route's helper reproduces each vector from its query (app_key, timestamp kept)."""
    case = CASES[case_id]
    signed = shop.sign_request(
        app_key=APP_KEY,
        app_secret=case["app_secret"],
        method=case["method"],
        path=case["path"],
        query=case["query"],
        content_type=case["content_type"],
        body=case["body"],
        clock=lambda: pytest.fail("the query's timestamp is kept"),
    )
    assert signed.sign == case["expected_sign"]
    assert signed.timestamp == 1700000000
    url = urlsplit(signed.signed_url)
    assert f"{url.scheme}://{url.netloc}" == shop.API_BASE_URL
    assert url.path == case["path"]
    sent = parse_qsl(url.query, keep_blank_values=True)
    assert sorted(sent) == sorted([*_pairs(case), ("sign", case["expected_sign"])])


def test_npm_disagreements_are_not_copied() -> None:
    """Where npm tiktok-shop 2.0.0 disagrees (byte order, ``{}`` body) we give the vector's sign."""
    for case_id in ("get_byte_order_keys", "post_empty_object_body", "ecomphp_published"):
        case = CASES[case_id]
        ours = shop.sign(
            case["path"], _pairs(case), case["app_secret"], body=_body(case), content_type=None
        )
        assert ours == case["expected_sign"] != case["npm_tiktok_shop_2_0_0"]["sign"]


def test_byte_order_sort() -> None:
    """Keys sort by code point: uppercase, then underscore, then lowercase."""
    message = shop.string_to_sign("/p", [("a", "1"), ("_x", "2"), ("Zeta", "3"), ("aB", "4")], "s")
    assert message == b"s/pZeta3_x2a1aB4s"


def test_excluded_keys_and_empty_values() -> None:
    """``sign`` and both token keys are not signed; an empty value adds its key."""
    query = [
        ("sign", "x"),
        ("access_token", "t"),
        ("x-tts-access-token", "t"),
        ("e", ""),
        ("k", "v"),
    ]
    assert shop.string_to_sign("/p", query, "s") == b"s/pekvs"


def test_body_rules() -> None:
    """202309 appends the body (``{}``: 2 bytes); multipart and legacy do not; empty adds none."""
    query = [("k", "v")]
    assert shop.string_to_sign("/p", query, "s", body=b"{}") == b"s/pkv{}s"
    assert shop.string_to_sign("/p", query, "s", body=b"") == b"s/pkvs"
    for content_type in ("multipart/form-data; boundary=xyz", "Multipart/Form-Data"):
        assert shop.string_to_sign("/p", query, "s", body=b"--xyz", content_type=content_type) == (
            b"s/pkvs"
        )
    assert shop.string_to_sign("/p", query, "s", body=b"{}", legacy=True) == b"s/pkvs"


def test_pretty_and_escaped_bodies_sign_differently() -> None:
    """The body is signed as bytes: the same JSON written another way signs differently."""
    case = CASES["post_json_pretty_whitespace"]
    compact = shop.sign(case["path"], _pairs(case), SECRET, body=b'{"order_status":"UNPAID"}')
    assert compact != case["expected_sign"]


def test_legacy_request() -> None:
    """A legacy request: no body, shop_id and access_token in the query, access_token unsigned."""
    signed = shop.sign_request(
        app_key=APP_KEY,
        app_secret=SECRET,
        method="POST",
        path="/api/orders/search",
        query={"version": "202212"},
        body='{"page_size":10}',
        content_type="application/json",
        access_token="tok-1",
        shop_id="7494049642642441621",
        clock=lambda: 1700000000.9,
    )
    expected_message = (
        f"{SECRET}/api/orders/searchapp_key{APP_KEY}shop_id7494049642642441621"
        f"timestamp1700000000version202212{SECRET}"
    )
    expected = hmac.new(SECRET.encode(), expected_message.encode(), hashlib.sha256).hexdigest()
    assert signed.sign == expected
    assert signed.timestamp == 1700000000
    assert signed.headers == {}
    sent = dict(parse_qsl(urlsplit(signed.signed_url).query))
    assert sent == {
        "app_key": APP_KEY,
        "version": "202212",
        "timestamp": "1700000000",
        "shop_id": "7494049642642441621",
        "sign": expected,
        "access_token": "tok-1",
    }


def test_sign_request_adds_timestamp_app_key_cipher_and_token_header() -> None:
    """No timestamp: the clock's second; app_key from the integration; token in the header."""
    signed = shop.sign_request(
        app_key=APP_KEY,
        app_secret=SECRET,
        method="GET",
        path="/order/202309/orders",
        query=[["app_key", "someone-elses"], ["ids", 5], ["sign", "stale"]],
        access_token="tok-2",
        shop_cipher="ROW_c",
        base_url="http://127.0.0.1:9/",
        clock=lambda: 1700000123.7,
    )
    assert signed.timestamp == 1700000123
    assert signed.headers == {"x-tts-access-token": "tok-2"}
    assert signed.signed_url.startswith("http://127.0.0.1:9/order/202309/orders?")
    sent = parse_qsl(urlsplit(signed.signed_url).query)
    assert sent == [
        ("app_key", APP_KEY),
        ("ids", "5"),
        ("timestamp", "1700000123"),
        ("shop_cipher", "ROW_c"),
        ("sign", signed.sign),
    ]
    assert signed.sign == shop.sign("/order/202309/orders", sent[:-1], SECRET)
    assert signed.as_json() == {
        "sign": signed.sign,
        "timestamp": 1700000123,
        "signed_url": signed.signed_url,
        "headers": {"x-tts-access-token": "tok-2"},
    }


@pytest.mark.parametrize(
    ("method", "path", "sent"),
    [
        ("GET", "/authorization/202309/shops", False),
        ("GET", "/seller/202309/shops", False),
        ("POST", "/product/202309/global_products", False),
        ("POST", "/product/202309/compliance/manufacturers", False),
        ("POST", "/product/202309/files/upload", False),
        ("POST", "/product/202309/images/upload", False),
        ("POST", "/product/202309/brands", False),
        ("GET", "/product/202309/brands", True),
        ("POST", "/product/202309/products", True),
        ("GET", "/order/202309/orders", True),
    ],
)
def test_shop_cipher_exclusions(method: str, path: str, sent: bool) -> None:
    """``shop_cipher`` is dropped (even when given) for the APIs that refuse it."""
    assert shop.sends_shop_cipher(method, path) is sent
    signed = shop.sign_request(
        app_key=APP_KEY,
        app_secret=SECRET,
        method=method,
        path=path,
        query={"shop_cipher": "ROW_given"},
        shop_cipher="ROW_c",
        clock=lambda: 1700000000,
    )
    keys = dict(parse_qsl(urlsplit(signed.signed_url).query))
    assert ("shop_cipher" in keys) is sent
    if sent:
        assert keys["shop_cipher"] == "ROW_given"


def test_token_in_query_moves_to_the_header() -> None:
    """An ``x-tts-access-token`` put in the query is neither signed nor sent in the URL."""
    signed = shop.sign_request(
        app_key=APP_KEY,
        app_secret=SECRET,
        method="GET",
        path="/order/202309/orders",
        query={"x-tts-access-token": "tok-3", "timestamp": "1700000000"},
    )
    assert signed.headers == {"x-tts-access-token": "tok-3"}
    assert "tok-3" not in signed.signed_url


@pytest.mark.parametrize(
    "query",
    [[["k"]], [[1, "v"]], {"k": None}, {"k": True}, {"k": 1.5}, [["", "v"]], "k=v"],
)
def test_malformed_query_refused(query: Any) -> None:
    """Queries that are not string/integer pairs are refused, not guessed at."""
    with pytest.raises(shop.ShopSignError):
        shop.sign_request(app_key="k", app_secret="s", method="GET", path="/p", query=query)


def test_bad_path_and_timestamp_refused() -> None:
    """A path with a query or no slash, or a non-numeric timestamp, is refused."""
    with pytest.raises(shop.ShopSignError, match="path"):
        shop.sign("/p?x=1", [], "s")
    with pytest.raises(shop.ShopSignError, match="path"):
        shop.sign("p", [], "s")
    with pytest.raises(shop.ShopSignError, match="timestamp"):
        shop.sign_request(
            app_key="k", app_secret="s", method="GET", path="/p", query={"timestamp": "soon"}
        )


def test_is_legacy() -> None:
    """Legacy: paths under /api/ or an explicit version before 202309."""
    assert shop.is_legacy("/api/products/search", [])
    assert shop.is_legacy("/x", [("version", "202212")])
    assert not shop.is_legacy("/x", [("version", "202309")])
    assert not shop.is_legacy("/order/202309/orders", [])


_KEYS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)


@given(st.dictionaries(_KEYS, st.text(max_size=8), max_size=6), st.randoms())
def test_sign_ignores_query_order(query: dict[str, str], rnd: Any) -> None:
    """Any order of the same pairs gives the same sign (keys sorted by code point)."""
    pairs = list(query.items())
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    assert shop.sign("/p", pairs, "s") == shop.sign("/p", shuffled, "s")
    signed = sorted(pair for pair in pairs if pair[0] not in shop.UNSIGNED_KEYS)
    by_bytes = sorted(signed, key=lambda pair: pair[0].encode())
    assert signed == by_bytes


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_body_bytes_change_the_sign(first: bytes, second: bytes) -> None:
    """Two different non-empty bodies never share a sign; multipart ignores the body."""
    if first and second and first != second:
        assert shop.sign("/p", [], "s", body=first) != shop.sign("/p", [], "s", body=second)
    multipart = "multipart/form-data"
    assert shop.sign("/p", [], "s", body=first, content_type=multipart) == shop.sign("/p", [], "s")


def test_authorize_urls() -> None:
    """Current (service_id) and legacy (app_key) authorize URLs, hosts as parameters."""
    assert shop.authorize_url("7001", "st/1") == (
        "https://services.tiktokshop.com/open/authorize?service_id=7001&state=st%2F1"
    )
    assert shop.authorize_url("7001", "s", base_url=shop.AUTHORIZE_URL_US) == (
        "https://services.us.tiktokshop.com/open/authorize?service_id=7001&state=s"
    )
    assert shop.legacy_authorize_url(APP_KEY, "s") == (
        f"https://auth.tiktok-shops.com/oauth/authorize?app_key={APP_KEY}&state=s"
    )


def test_token_urls() -> None:
    """token/get and token/refresh: unsigned GETs with the secret in the query."""
    got = urlsplit(shop.token_get_url(APP_KEY, SECRET, "code 1", base_url="http://127.0.0.1:5/"))
    assert (got.netloc, got.path) == ("127.0.0.1:5", "/api/v2/token/get")
    assert dict(parse_qsl(got.query)) == {
        "app_key": APP_KEY,
        "app_secret": SECRET,
        "auth_code": "code 1",
        "grant_type": "authorized_code",
    }
    refresh = urlsplit(shop.token_refresh_url(APP_KEY, SECRET, "r+1"))
    assert refresh.netloc == "auth.tiktok-shops.com"
    assert refresh.path == "/api/v2/token/refresh"
    assert dict(parse_qsl(refresh.query)) == {
        "app_key": APP_KEY,
        "app_secret": SECRET,
        "refresh_token": "r+1",
        "grant_type": "refresh_token",
    }


TOKEN_REPLY = (
    b'{"code":0,"message":"success","request_id":"r1","data":{"access_token":"AT",'
    b'"access_token_expire_in":1700086400,"refresh_token":"RT","refresh_token_expire_in":'
    b'1715000000,"open_id":"o1","seller_name":"Shop","seller_base_region":"US","user_type":0,'
    b'"granted_scopes":["seller.order.info"]}}'
)


def test_token_reply_parsed() -> None:
    """Expiries are absolute timestamps; tokens stay out of the repr."""
    tokens = shop.parse_token_reply(TOKEN_REPLY)
    assert tokens == shop.TokenSet(
        access_token="AT",
        access_token_expires_at=1700086400,
        refresh_token="RT",
        refresh_token_expires_at=1715000000,
        open_id="o1",
        seller_name="Shop",
        seller_base_region="US",
        user_type=0,
        granted_scopes=("seller.order.info",),
    )
    assert "AT" not in repr(tokens)
    assert "RT" not in repr(tokens)


@pytest.mark.parametrize(
    ("reply", "code", "reauthorize"),
    [
        (b'{"code":105002,"message":"expired","request_id":"r"}', 105002, True),
        (b'{"code":360001,"message":"bad grant","request_id":"r"}', 360001, True),
        (b'{"code":36009004,"message":"other"}', 36009004, False),
        (b'{"code":1,"message":"x"}', 1, False),
        (b"<html>bad gateway</html>", -1, False),
        (b"[1]", -1, False),
        (b'{"code":"0"}', -1, False),
        (b'{"code":true}', -1, False),
        (b'{"code":0,"data":{"access_token":"AT"}}', -1, False),
        (
            (
                b'{"code":0,"data":{"access_token":"A","refresh_token":"R",'
                b'"access_token_expire_in":"1","refresh_token_expire_in":2}}'
            ),
            -1,
            False,
        ),
    ],
)
def test_error_replies(reply: bytes, code: int, reauthorize: bool) -> None:
    """``code != 0`` is an error (even on HTTP 200); 105xxx/360xxx need re-authorization."""
    with pytest.raises(shop.ShopApiError) as caught:
        shop.parse_token_reply(reply)
    assert caught.value.code == code
    assert caught.value.needs_reauthorization is reauthorize


def test_envelope_data() -> None:
    """The ``data`` of a success; a missing ``data`` is an empty object."""
    assert shop.parse_envelope('{"code":0,"data":{"a":1}}') == {"a": 1}
    assert shop.parse_envelope(b'{"code":0,"message":"success"}') == {}
    with pytest.raises(shop.ShopApiError) as caught:
        shop.parse_envelope(b'{"code":105001,"message":"m","request_id":"rq"}')
    assert (caught.value.request_id, caught.value.message) == ("rq", "m")
    assert str(caught.value) == "TikTok Shop error 105001: m"
