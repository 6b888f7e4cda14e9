"""Lifecycle email over HTTP: one-click unsubscribe, the email's link, and the admin's view.

- `POST /email/unsubscribe/{token}` is RFC 8058's one-click unsubscribe: a mail client posts
  `List-Unsubscribe=One-Click` to the URL of the email's `List-Unsubscribe` header, without
  cookies or credentials; the token alone (signed, purpose-bound, no expiry) names the
  customer. The same URL opened in a browser (`GET`) shows a page with one button that posts
  there: a GET changes nothing, since mail scanners follow every link they see.
- `GET /api/v1/widget/link?token=` (customer token): the offer an email's link names, for the
  widget to open its modal. The link only says which offer for which customer until when; the
  page's own customer token authenticates, and the two must name the same customer.
- `GET /api/v1/admin/email/sends`, `GET /api/v1/admin/email/suppressions`,
  `PUT|DELETE /api/v1/admin/email/suppressions/{customer_id}`.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from plugin.api.admin import require_admin
from plugin.api.answers import (
    EmailSendListOut,
    EmailSendOut,
    SuppressionListOut,
    SuppressionOut,
    WidgetOfferOut,
)
from plugin.api.paging import limit_param, list_response
from plugin.api.widget import require_customer, shown_document
from plugin.customers import view as customers
from plugin.email import links
from plugin.email.worker import link_key, unsubscribe_key
from plugin.errors import BadRequest, Gone, NotFound, NotReady
from plugin.offers import experiments
from plugin.offers.eligibility import Shown
from plugin.services import offer_snapshot, services
from plugin.storage import audit as audit_store
from plugin.storage import email as store

MAX_TOKEN = 2200  # the longest link a 64-character offer and customer id make (links.py)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; base-uri 'none';"
    " frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _secret(request: Request) -> str:
    secret = services(request).settings.widget_secret
    if secret is None:
        raise NotReady("Email links need UPLIFT_WIDGET_SECRET.", code="email_not_configured")
    return secret.get_secret_value()


def _page(title: str, text: str, *, form: bool = False, status: int = 200) -> HTMLResponse:
    button = (
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        if form
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p>{button}</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _customer(request: Request) -> str | None:
    token = request.path_params["token"]
    try:
        return links.read_unsubscribe(unsubscribe_key(_secret(request)), token)
    except links.BadLink:
        return None


async def unsubscribe_page(request: Request) -> Response:
    if _customer(request) is None:
        return _page("Link not valid", "This unsubscribe link is not valid.", status=404)
    return _page(
        "Unsubscribe", "Stop emails like this one? You can still use the product as before.",
        form=True,
    )  # fmt: skip


async def unsubscribe(request: Request) -> Response:
    """One click: suppressed at once (again: the same answer), every pending send dropped."""
    customer_id = _customer(request)
    if customer_id is None:
        return _page("Link not valid", "This unsubscribe link is not valid.", status=404)
    ctx = services(request)
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        if await store.suppress(conn, customer_id=customer_id, reason="unsubscribed", now=now):
            await audit_store.record(
                conn, actor="customer", action="email.unsubscribe", target=customer_id,
                detail={}, now=now,
            )  # fmt: skip
    return _page("Unsubscribed", "You will get no more of these emails.")


async def widget_link(request: Request) -> JSONResponse:
    """The offer an email's link opens, as the offers endpoint shows it; 404 when it is not
    this customer's link or the offer is not active; 410 when the link has expired."""
    identity = require_customer(request)
    ctx = services(request)
    token = request.query_params.get("token", "")[: MAX_TOKEN + 1]
    if len(token) > MAX_TOKEN:
        raise NotFound("No such link.", code="link_not_found")
    now = ctx.clock.now()
    try:
        link = links.read_offer_link(link_key(_secret(request)), token, now=now)
    except links.LinkExpired:
        raise Gone("This link has expired.", code="link_expired") from None
    except links.BadLink:
        raise NotFound("No such link.", code="link_not_found") from None
    snapshot = await offer_snapshot(request).get()
    offer = snapshot.offer(link.offer_id)
    if link.customer_id != identity.customer_id or offer is None or not offer.live(now):
        raise NotFound("No such link.", code="link_not_found")
    view = await customers.view(ctx.db, identity=identity, snapshot=snapshot, now=now)
    arm = view.offer_state.assignments.get(offer.id) or offer.arm_for(identity.customer_id)
    history = view.offer_state.histories.get(offer.id)
    if (
        arm == experiments.HOLDOUT
        or arm not in offer.by_key
        or (history is not None and history.accepted_at is not None)
    ):
        raise NotFound("No such link.", code="link_not_found")
    shown = Shown(offer, offer.by_key[arm], None)
    document = WidgetOfferOut.model_validate(shown_document(shown, snapshot, view.context))
    return JSONResponse(document.document())


async def list_sends(request: Request) -> JSONResponse:
    await require_admin(request)
    params = request.query_params
    limit = limit_param(params.get("limit"))
    rows = await store.sends(
        services(request).db,
        offer_id=params.get("offer") or None,
        customer_id=params.get("customer") or None,
        limit=limit + 1,
    )
    documents = [
        EmailSendOut(
            object="email_send", id=r.id, offer_id=r.offer_id, customer_id=r.customer_id,
            variant=r.variant, status=r.status, attempts=r.attempts, last_error=r.last_error,
            created=r.created_at, sent_at=r.sent_at,
        )
        for r in rows
    ]  # fmt: skip
    return list_response(EmailSendListOut, documents, limit=limit)


async def list_suppressions(request: Request) -> JSONResponse:
    await require_admin(request)
    params = request.query_params
    limit = limit_param(params.get("limit"))
    rows = await store.suppressions(
        services(request).db, after=params.get("starting_after"), limit=limit + 1
    )
    documents = [_suppression(r.customer_id, r.reason, r.at) for r in rows]
    return list_response(SuppressionListOut, documents, limit=limit)


def _suppression(customer_id: str, reason: store.Reason, at: int) -> SuppressionOut:
    return SuppressionOut(object="email_suppression", customer_id=customer_id, reason=reason, at=at)


def _customer_id(request: Request) -> str:
    customer_id = request.path_params["customer_id"]
    if not 1 <= len(customer_id) <= 64:
        raise BadRequest("A customer id is 1 to 64 characters.", code="bad_customer_id")
    return str(customer_id)


async def put_suppression(request: Request) -> JSONResponse:
    """No more email to this customer (an admin's say); again changes nothing."""
    admin = await require_admin(request)
    ctx = services(request)
    customer_id = _customer_id(request)
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        if await store.suppress(conn, customer_id=customer_id, reason="admin", now=now):
            await audit_store.record(
                conn, actor=admin.key_id, action="email.suppress", target=customer_id,
                detail={}, now=now,
            )  # fmt: skip
        row = await store.suppression(conn, customer_id=customer_id)
    assert row is not None  # noqa: S101 -- suppressed in this transaction
    return JSONResponse(_suppression(row.customer_id, row.reason, row.at).document())


async def delete_suppression(request: Request) -> JSONResponse:
    """Email this customer again (they asked to be back): 404 if they were not suppressed."""
    admin = await require_admin(request)
    ctx = services(request)
    customer_id = _customer_id(request)
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        if not await store.unsuppress(conn, customer_id=customer_id):
            raise NotFound(f"{customer_id!r} is not suppressed.", code="suppression_not_found")
        await audit_store.record(
            conn, actor=admin.key_id, action="email.unsuppress", target=customer_id, detail={},
            now=now,
        )  # fmt: skip
    return JSONResponse(_suppression(customer_id, "admin", now).document())
