"""A bounded fuzz run: mutated and random bodies never get a 5xx or a non-JSON answer."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

SEEDS = [
    b"https://www.tiktok.com/api/post/item_list/?aid=1988&count=35&cursor=0",
    b'{"url": "https://www.tiktok.com/api/x/?a=1", "userAgent": "Mozilla/5.0"}',
    b'{"url": "https://www.tiktok.com/api/x/?a=1", "method": "POST", "body": "{}"}',
    b'{"room_url": "https://webcast.tiktok.com/webcast/room/info/?room_id=1"}',
]
CONTENT_TYPES = ["text/plain", "application/json", "", "text/plain; charset=latin-1", "x/y"]
JSON_VALUES: list[Any] = [None, True, 0, -1, 1e308, "", "é", [], {}, "a" * 3000, {"url": []}]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Flip, insert or delete a few bytes."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        action = rng.random()
        at = rng.randrange(len(buffer) + 1)
        if action < 0.4 and buffer:
            buffer[min(at, len(buffer) - 1)] = rng.randrange(256)
        elif action < 0.7:
            buffer[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif buffer:
            del buffer[at : at + rng.randint(1, 8)]
    return bytes(buffer)


def random_json(rng: random.Random) -> bytes:
    """A JSON object with the right or wrong keys and any kind of value."""
    keys = ["url", "room_url", "method", "body", "user_agent", "ms_token", "provider", "x"]
    obj = {rng.choice(keys): rng.choice(JSON_VALUES) for _ in range(rng.randint(0, 4))}
    if rng.random() < 0.5:
        obj["url"] = "https://www.tiktok.com/api/x/?q=" + "".join(
            chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randint(0, 20))
        )
    return json.dumps(obj).encode()


async def test_no_5xx_and_always_json(client: TestClient[Any, Any]) -> None:
    """400 random requests to the sign routes: each gets a 2xx or a 4xx JSON answer."""
    rng = random.Random(20261124)
    for _ in range(400):
        route = rng.choice(["/signature", "/sign"])
        body = mutate(rng, rng.choice(SEEDS)) if rng.random() < 0.6 else random_json(rng)
        headers = {"Content-Type": rng.choice(CONTENT_TYPES)}
        response = await client.post(route, data=body, headers=headers)
        assert response.status < 500, (route, body, headers)
        payload = await response.json()
        assert payload["status"] in {"ok", "error"}
        if payload["status"] == "error":
            assert payload["error"]["code"]
            assert "Traceback" not in payload["error"]["message"]
