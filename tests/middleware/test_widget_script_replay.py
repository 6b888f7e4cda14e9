"""`GET /widget/uplift.js` replayed from memory answers exactly as its handler does."""

from __future__ import annotations

import httpx

from plugin.api.static import ScriptReplay
from tests.support import same_answer

VARIANTS = [
    {"Accept-Encoding": "gzip"},
    {"Accept-Encoding": "identity"},
    {},
]


async def test_a_replayed_answer_is_the_handlers_answer(client: httpx.AsyncClient) -> None:
    for headers in VARIANTS:
        first = await client.get("/widget/uplift.js", headers=headers)
        assert first.status_code == 200
        same_answer(first, await client.get("/widget/uplift.js", headers=headers))
        tag = {**headers, "If-None-Match": first.headers["etag"]}
        not_modified = await client.get("/widget/uplift.js", headers=tag)
        assert not_modified.status_code == 304
        same_answer(not_modified, await client.get("/widget/uplift.js", headers=tag))


async def test_many_query_strings_are_still_answered_by_the_handler(
    client: httpx.AsyncClient,
) -> None:
    """Past the combinations kept, each request is answered afresh, the same way."""
    version = (await client.get("/widget/uplift.js")).headers["etag"]
    assert version
    for n in range(ScriptReplay.KEPT + 5):
        response = await client.get(f"/widget/uplift.js?v=x{n}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=300"


async def test_other_methods_still_get_the_stacks_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/widget/uplift.js", content=b"{}")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
