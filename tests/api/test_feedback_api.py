"""Asking customers why, over the API: survey offers answered once, reasons given with a
decline, all of it read back by the admin (JSON and CSV) and announced."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest

from plugin.storage import Database
from plugin.storage import outbound as outbound_store
from tests.factories import ADMIN, customer_headers

EVENTS = "/api/v1/widget/events"


def _survey(**survey: Any) -> dict[str, Any]:
    return {
        "id": "offer_survey", "name": "Storage survey", "kind": "survey", "status": "active",
        "placements": ["storage_banner"],
        "survey": {"question": "What would you store with more room?", **survey},
        "variants": [{"key": "a", "copy": {"title": "Quick question"}}],
    }  # fmt: skip


STAY = {
    "id": "offer_stay", "name": "Stay", "kind": "retention", "status": "active",
    "placements": ["downgrade"], "reasons": [{"key": "price", "label": "Too expensive"}],
    "variants": [{"key": "a", "copy": {"title": "Before you go"}}],
}  # fmt: skip
CHOICES = [{"key": "video", "label": "Video"}, {"key": "backups", "label": "Backups"}]


async def _make(client: httpx.AsyncClient, offer: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/admin/offers", json=offer, headers=ADMIN)


async def test_a_survey_is_shown_answered_once_and_read_back(
    client: httpx.AsyncClient, db: Database
) -> None:
    made = await _make(client, _survey(choices=CHOICES, comment=True, display="modal"))
    assert made.status_code == 201, made.text
    shown = await client.get(
        "/api/v1/widget/offers?placement=storage_banner", headers=customer_headers("acme")
    )
    [offer] = shown.json()["data"]
    assert offer["kind"] == "survey"
    assert offer["survey"] == {
        "question": "What would you store with more room?", "type": "choice",
        "choices": CHOICES, "comment": True, "display": "modal",
    }  # fmt: skip
    typed = '=HYPERLINK("x") and <b>more</b>'
    answer = {"offer_id": "offer_survey", "variant": "a", "type": "answer",
              "answer": {"choice": "backups", "text": typed}}  # fmt: skip
    posted = await client.post(EVENTS, json=answer, headers=customer_headers("acme"))
    assert posted.status_code == 201, posted.text
    again = await client.post(EVENTS, json=answer, headers=customer_headers("acme"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_answered")
    after = await client.get(
        "/api/v1/widget/offers?placement=storage_banner", headers=customer_headers("acme")
    )
    assert after.json()["data"] == []  # answered: not asked again

    listed = (await client.get("/api/v1/admin/feedback?offer=offer_survey", headers=ADMIN)).json()
    [row] = listed["data"]
    assert (row["kind"], row["answer"], row["label"], row["customer_id"]) == (
        "survey", "backups", "Backups", "acme"
    )  # fmt: skip
    assert row["text"] == typed  # kept as typed; whatever shows it shows it as text
    as_csv = await client.get(
        "/api/v1/admin/feedback?customer=acme", headers={**ADMIN, "Accept": "text/csv"}
    )
    [cells] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert cells["text"].startswith("'=")  # a spreadsheet does not run it

    [announced] = await outbound_store.events_of(db, event_type="feedback.submitted")
    data = json.loads(announced.body)["data"]
    assert data["feedback"]["id"] == row["id"]
    assert data["feedback"]["label"] == "Backups"
    assert data["offer"] == {"id": "offer_survey", "variant": "a", "kind": "survey"}


@pytest.mark.parametrize(
    ("survey", "answer", "field"),
    [
        ({"type": "scale"}, {"score": 6}, "answer.score"),
        ({"type": "scale"}, {"choice": "video"}, "answer.score"),
        ({"type": "scale"}, {"score": 3, "text": "no comment box"}, "answer.text"),
        ({"choices": CHOICES}, {"choice": "nope"}, "answer.choice"),
        ({"choices": CHOICES}, {"score": 3}, "answer.choice"),
        ({"choices": CHOICES}, {}, "answer.choice"),
    ],
)
async def test_a_bad_answer_is_a_422_and_keeps_nothing(
    client: httpx.AsyncClient, db: Database, survey: dict[str, Any], answer: dict[str, Any],
    field: str,
) -> None:  # fmt: skip
    assert (await _make(client, _survey(**survey))).status_code == 201
    body = {"offer_id": "offer_survey", "variant": "a", "type": "answer", "answer": answer}
    posted = await client.post(EVENTS, json=body, headers=customer_headers("acme"))
    assert posted.status_code == 422, posted.text
    assert posted.json()["error"]["field"].startswith(field)
    assert (await client.get("/api/v1/admin/feedback", headers=ADMIN)).json()["data"] == []
    assert await outbound_store.events_of(db) == []


async def test_answer_events_need_a_survey_and_an_answer(client: httpx.AsyncClient) -> None:
    assert (await _make(client, _survey(type="scale"))).status_code == 201
    no_answer = {"offer_id": "offer_survey", "variant": "a", "type": "answer"}
    posted = await client.post(EVENTS, json=no_answer, headers=customer_headers("acme"))
    assert (posted.status_code, posted.json()["error"]["field"]) == (422, "answer")
    stray = {"offer_id": "offer_survey", "variant": "a", "type": "click", "answer": {"score": 1}}
    posted = await client.post(EVENTS, json=stray, headers=customer_headers("acme"))
    assert (posted.status_code, posted.json()["error"]["field"]) == (422, "answer")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"survey": None}, "survey"),
        ({"kind": "retention"}, "survey"),
        ({"survey": {"question": "Q?", "choices": CHOICES[:1]}}, "survey.choices"),
        ({"survey": {"question": "Q?", "type": "scale", "choices": CHOICES}}, "survey.choices"),
        ({"survey": {"question": "Q?", "choices": [CHOICES[0], CHOICES[0]]}}, "survey.choices"),
        ({"reasons": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}, "reasons"),
    ],
)
async def test_an_offer_that_cannot_ask_is_refused(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    answer = await _make(client, {**_survey(choices=CHOICES), **change})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"].startswith(field)


async def test_a_declines_reason_is_kept_with_its_label(client: httpx.AsyncClient) -> None:
    assert (await _make(client, STAY)).status_code == 201
    event = {"offer_id": "offer_stay", "variant": "a", "type": "dismiss",
             "reason": {"key": "price", "text": "  "}}  # fmt: skip
    posted = await client.post(EVENTS, json=event, headers=customer_headers("bo"))
    assert posted.status_code == 201, posted.text
    listed = await client.get("/api/v1/admin/feedback?kind=dismiss", headers=ADMIN)
    [row] = listed.json()["data"]
    assert (row["answer"], row["label"], row["text"], row["customer_id"]) == (
        "price", "Too expensive", None, "bo"
    )  # fmt: skip
    bad = await client.get("/api/v1/admin/feedback?starting_after=x", headers=ADMIN)
    assert bad.status_code == 422
    older = await client.get(f"/api/v1/admin/feedback?starting_after={row['id']}", headers=ADMIN)
    assert older.json()["data"] == []


async def test_an_answer_targets_the_offer_that_follows_it(client: httpx.AsyncClient) -> None:
    """`{"feedback": {"offer", "answer", "within_days"}}`: the customer who answered "backups"
    sees the follow-up at once (the facts the offers endpoint keeps are dropped by the
    answer's write); one who answered otherwise does not."""
    assert (await _make(client, _survey(choices=CHOICES))).status_code == 201
    follow_up = {
        "id": "offer_backup_addon", "name": "Backups", "kind": "retention", "status": "active",
        "placements": ["after_survey"],
        "targeting": {"feedback": {"offer": "offer_survey", "answer": "backups",
                                   "within_days": 30}},
        "variants": [{"key": "a", "copy": {"title": "Backups, automatic"}}],
    }  # fmt: skip
    assert (await _make(client, follow_up)).status_code == 201
    where = "/api/v1/widget/offers?placement=after_survey"
    for customer, choice, shown in (("ann", "backups", True), ("bob", "video", False)):
        assert (
            await client.put(f"/api/v1/customers/{customer}", json={}, headers=ADMIN)
        ).is_success
        before = await client.get(where, headers=customer_headers(customer))
        assert before.json()["data"] == []
        answer = {"offer_id": "offer_survey", "variant": "a", "type": "answer",
                  "answer": {"choice": choice}}  # fmt: skip
        assert (
            await client.post(EVENTS, json=answer, headers=customer_headers(customer))
        ).is_success
        after = (await client.get(where, headers=customer_headers(customer))).json()["data"]
        assert [o["offer_id"] for o in after] == (["offer_backup_addon"] if shown else [])
    explained = await client.get(
        "/api/v1/admin/offers/offer_backup_addon/explain?customer=bob", headers=ADMIN
    )
    assert explained.status_code == 200, explained.text
    gates = {g["gate"]: g for g in explained.json()["gates"]}
    assert gates["feedback"]["passed"] is False
    assert "'backups' to 'offer_survey' never" in gates["feedback"]["detail"]


async def test_the_csv_export_is_every_answer_not_one_page(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await _make(client, STAY)).status_code == 201
    event = {
        "offer_id": "offer_stay",
        "variant": "a",
        "type": "decline",
        "reason": {"key": "price"},
    }
    for n in range(23):
        posted = await client.post(EVENTS, json=event, headers=customer_headers(f"c{n}"))
        assert posted.status_code == 201, posted.text
    monkeypatch.setattr("plugin.api.feedback.EXPORT_BATCH", 5)  # several reads of the export
    as_csv = await client.get(
        "/api/v1/admin/feedback?limit=10", headers={**ADMIN, "Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["customer_id"] for r in rows] == [f"c{n}" for n in reversed(range(23))]
    assert {r["kind"] for r in rows} == {"downgrade"}  # a retention offer's decline
    page = await client.get("/api/v1/admin/feedback?limit=10", headers=ADMIN)
    assert (len(page.json()["data"]), page.json()["has_more"]) == (10, True)
