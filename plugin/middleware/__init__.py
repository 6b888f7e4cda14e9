"""Pure ASGI middleware, one module each, in the order `create_app` stacks them (outermost
first): `access_log` (one line per request, request id, no-store on private paths),
`fast_path` (the hot routes of the route table, answered before everything below), `cors`
(the widget API's CORS), `body_limit` (413 before a body is read).

Pure ASGI rather than `BaseHTTPMiddleware` so request bodies stream through untouched (the
webhook endpoint must verify the exact raw bytes) and no extra task is spawned per request.
Middleware imports no route handler: `create_app` hands the fast path its routes."""
