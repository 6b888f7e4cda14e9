"""Admin keys over the admin API: list, create (the key shown once) and revoke.

Keys are checked against the database on every request (plugin/auth.py), so a revocation holds
at once on every process and instance: the revoked key's next request is a 401. The bootstrap
key (`UPLIFT_ADMIN_KEY`) is not a stored key: it is not listed and cannot be revoked here (unset
it in the environment). Creating and revoking are written to the audit log.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from plugin import auth
from plugin.api.admin import require_admin
from plugin.api.answers import AdminKeyCreatedOut, AdminKeyListOut, AdminKeyOut
from plugin.api.bodies import read_model
from plugin.api.schemas import AdminKeyIn
from plugin.errors import NotFound
from plugin.services import services
from plugin.storage import admin_keys as key_store
from plugin.storage import audit as audit_store


def key_document(record: key_store.AdminKeyRecord) -> AdminKeyOut:
    return AdminKeyOut(
        object="admin_key",
        id=record.id,
        name=record.name,
        role=record.role,
        prefix=record.prefix,
        created=record.created_at,
        last_used=record.last_used_at,
        revoked=record.revoked_at,
    )


async def list_keys(request: Request) -> JSONResponse:
    """Every stored key, oldest first, revoked ones too (an operator's few: not paged)."""
    await require_admin(request)
    records = await key_store.list_all(services(request).db)
    answer = AdminKeyListOut(object="list", data=[key_document(r) for r in records], has_more=False)
    return JSONResponse(answer.document())


async def create_key(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    ctx = services(request)
    body = await read_model(request, AdminKeyIn)
    made = auth.make_admin_key()
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        record = await key_store.insert(
            conn,
            key_id=made.key_id,
            name=body.name.strip(),
            key_hash=made.key_hash,
            prefix=made.prefix,
            role=body.role,
            now=now,
        )
        await audit_store.record(
            conn,
            actor=admin.key_id,
            action="admin_key.create",
            target=record.id,
            detail={"name": record.name, "role": record.role},
            now=now,
        )
    created = AdminKeyCreatedOut(**key_document(record).model_dump(), key=made.key)
    return JSONResponse(created.document(), status_code=201, headers={"Cache-Control": "no-store"})


async def revoke_key(request: Request) -> JSONResponse:
    """Revoke a key; revoking a revoked key again changes nothing and answers the same."""
    admin = await require_admin(request)
    ctx = services(request)
    key_id = request.path_params["key_id"]
    now = ctx.clock.now()
    async with ctx.db.transaction() as conn:
        if await key_store.revoke_in(conn, key_id=key_id, now=now):
            await audit_store.record(
                conn,
                actor=admin.key_id,
                action="admin_key.revoke",
                target=key_id,
                detail={},
                now=now,
            )
        record = await key_store.get(conn, key_id)
    if record is None:
        raise NotFound(f"No admin key {key_id[:40]!r}.", code="admin_key_not_found")
    return JSONResponse(key_document(record).document())
