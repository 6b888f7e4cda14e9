"""`GET /api/v1/admin/feedback`: what customers answered — the reasons given with declines,
dismisses and downgrades, and survey answers — newest first, for one offer, one customer or
all; JSON a page at a time, or with `Accept: text/csv` every answer the filters match (from
`starting_after` on; `limit` is a page's, not an export's) as CSV. Free text is a cell like any
other: a leading `= + - @` is neutralised there, as in every CSV Uplift writes."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import Response

from plugin.api.admin import require_admin
from plugin.api.answers import FeedbackListOut, FeedbackOut
from plugin.api.paging import limit_param, list_response
from plugin.api.revenue import csv_response, wants_csv
from plugin.errors import ValidationFailed
from plugin.offers.model import Offer
from plugin.services import offer_snapshot, services
from plugin.storage import feedback as store

EXPORT_BATCH = 1000  # rows per read of a CSV export
KINDS = ("decline", "dismiss", "survey", "downgrade")
CSV_HEADER = ("id", "at", "customer_id", "offer_id", "variant", "kind", "answer", "label",
              "score", "text")  # fmt: skip


async def list_feedback(request: Request) -> Response:
    await require_admin(request)
    ctx = services(request)
    params = request.query_params
    kind = params.get("kind")
    if kind is not None and kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}.", field="kind")
    limit = limit_param(params.get("limit"))
    before = None
    after = params.get("starting_after")
    if after is not None:
        digits = after.removeprefix("fb_")
        if (
            not after.startswith("fb_")
            or not digits.isascii()
            or not digits.isdigit()
            or len(digits) > 18
        ):
            raise ValidationFailed("starting_after must be a feedback id.", field="starting_after")
        before = int(digits)

    def read(before_seq: int | None, size: int) -> Awaitable[list[store.FeedbackRecord]]:
        return store.page(
            ctx.db,
            offer_id=(params.get("offer") or None),
            customer_id=(params.get("customer") or None),
            kind=kind,
            before_seq=before_seq,
            limit=size,
        )

    snapshot = await offer_snapshot(request).get()
    if wants_csv(request):  # an export: every answer the filters match, not one page
        rows = []
        while batch := await read(before, EXPORT_BATCH):
            rows.extend(batch)
            before = batch[-1].seq
        documents = [feedback_document(r, _label(snapshot.offer(r.offer_id), r)) for r in rows]
        return csv_response(CSV_HEADER, _rows(documents), "feedback")
    rows = await read(before, limit + 1)
    documents = [feedback_document(r, _label(snapshot.offer(r.offer_id), r)) for r in rows]
    return list_response(FeedbackListOut, documents, limit=limit)


def _rows(documents: list[FeedbackOut]) -> list[list[object]]:
    return [
        [d.id, d.at, d.customer_id, d.offer_id, d.variant, d.kind, d.answer, d.label, d.score,
         d.text]
        for d in documents
    ]  # fmt: skip


def _label(offer: Offer | None, record: store.FeedbackRecord) -> str | None:
    """The label the customer saw for the answer's key, as the offer says it now."""
    if offer is None or record.answer is None:
        return None
    choices = offer.survey.choices if offer.survey is not None else ()
    for option in (*offer.reasons, *choices):
        if option.key == record.answer:
            return option.label
    return None


def feedback_document(record: store.FeedbackRecord, label: str | None) -> FeedbackOut:
    return FeedbackOut(
        object="feedback",
        id=record.id,
        at=record.at,
        customer_id=record.customer_id,
        offer_id=record.offer_id,
        variant=record.variant,
        kind=record.kind,
        answer=record.answer,
        label=label,
        score=record.score,
        text=record.text,
    )
