"""Admin keys over the admin API: list, create (shown once), revoke (at once), read-only keys."""

from __future__ import annotations

import httpx
import pytest

from plugin.clock import FixedClock
from plugin.storage import Database
from tests.factories import ADMIN, seed_catalog, seed_plans

KEYS = "/api/v1/admin/keys"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_created_key_is_shown_once_listed_without_it_and_works(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post(KEYS, json={"name": "ci deploys"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    made = created.json()
    assert (made["object"], made["name"], made["role"], made["revoked"]) == (
        "admin_key",
        "ci deploys",
        "admin",
        None,
    )
    assert made["key"].startswith(made["prefix"])
    listed = (await client.get(KEYS, headers=ADMIN)).json()
    [shown] = [k for k in listed["data"] if k["id"] == made["id"]]
    assert "key" not in shown
    assert made["key"] not in str(listed)
    assert (await client.get(KEYS, headers=_bearer(made["key"]))).status_code == 200
    audit = (await client.get("/api/v1/admin/audit", headers=ADMIN)).json()["data"][0]
    assert (audit["action"], audit["target"]) == ("admin_key.create", made["id"])
    assert made["key"] not in str(audit)


async def test_a_revoked_key_is_refused_on_its_next_request(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Revocation holds at once (keys are checked against the database on every request): the
    key's next request is a 401 `admin_key_revoked`; revoking it again changes nothing."""
    made = (await client.post(KEYS, json={"name": "leaked"}, headers=ADMIN)).json()
    leaked = _bearer(made["key"])
    assert (await client.get(KEYS, headers=leaked)).status_code == 200
    clock.set(clock.now() + 60)
    revoked = await client.delete(f"{KEYS}/{made['id']}", headers=ADMIN)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] == clock.now()
    refused = await client.get(KEYS, headers=leaked)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "admin_key_revoked")
    clock.set(clock.now() + 60)
    again = await client.delete(f"{KEYS}/{made['id']}", headers=ADMIN)
    assert again.json()["revoked"] == revoked.json()["revoked"]
    actions = [
        e["action"] for e in (await client.get("/api/v1/admin/audit", headers=ADMIN)).json()["data"]
    ]
    assert actions.count("admin_key.revoke") == 1


async def test_a_read_only_key_reads_and_cannot_write(
    client: httpx.AsyncClient, db: Database
) -> None:
    await seed_catalog(db)
    await seed_plans(client)
    made = (
        await client.post(KEYS, json={"name": "dashboard", "role": "read_only"}, headers=ADMIN)
    ).json()
    reader = _bearer(made["key"])
    assert (await client.get("/api/v1/admin/plans", headers=reader)).status_code == 200
    assert (await client.get("/api/v1/admin/metrics", headers=reader)).status_code == 200
    for method, path, body in (
        ("PUT", "/api/v1/admin/plans", {"plans": []}),
        ("POST", KEYS, {"name": "escalate"}),
        ("DELETE", f"{KEYS}/{made['id']}", None),
        ("PUT", "/api/v1/customers/acme", {}),
    ):
        refused = await client.request(method, path, json=body, headers=reader)
        assert (refused.status_code, refused.json()["error"]["code"]) == (
            403,
            "admin_key_read_only",
        ), (method, path)
    keys = (await client.get(KEYS, headers=ADMIN)).json()["data"]
    assert [k["name"] for k in keys] == ["dashboard"]
    assert (await client.get("/api/v1/admin/plans", headers=ADMIN)).json()["data"] != []


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": " "}, "name"), ({"name": "x", "role": "owner"}, "role")],
    ids=["no name", "blank name", "unknown role"],
)
async def test_bad_key_requests_are_refused_and_make_nothing(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    refused = await client.post(KEYS, json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == field
    assert (await client.get(KEYS, headers=ADMIN)).json()["data"] == []


async def test_revoking_an_unknown_key_is_404(client: httpx.AsyncClient) -> None:
    missing = await client.delete(f"{KEYS}/ak_nothing", headers=ADMIN)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "admin_key_not_found")
