"""`GET /widget/uplift.js`: the embeddable widget, gzipped when the client accepts it, with a
strong `ETag` (304 on `If-None-Match`) and a long, immutable cache only on a versioned URL.

The file is found by `static_dir`: beside the package in a checkout or an editable install
(`<repo>/static/widget/uplift.js`), else where a wheel puts it (`static/` is not inside a
package, so pyproject.toml ships it as data files, installed under `<prefix>/share/uplift/`).
It is read and compressed once per app, on the first request, never at import.
"""

from __future__ import annotations

import gzip
import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import plugin
from plugin.errors import NotFound

REPO_STATIC = Path(plugin.__file__).resolve().parent.parent / "static"


def static_dir(name: str) -> Path:
    """`static/<name>/` (widget, demo, admin): the repository's, else a wheel's data files in
    the environment's prefix or the user's (`pip install --user`)."""
    candidates = [REPO_STATIC]
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        candidates.append(Path(sysconfig.get_path("data", scheme)) / "share" / "uplift" / "static")
    found = next((base / name for base in candidates if (base / name).is_dir()), None)
    return found or REPO_STATIC / name  # absent everywhere: reading it names the expected path


WIDGET_PATH = static_dir("widget") / "uplift.js"
SHORT_CACHE = "public, max-age=300"
LONG_CACHE = "public, max-age=31536000, immutable"
CONTENT_TYPE = "text/javascript; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str  # quoted, strong: a hash of the uncompressed bytes
    version: str  # what `?v=` must equal for the immutable cache

    @property
    def gzip_etag(self) -> str:
        # A strong validator names one representation (RFC 9110 §8.8.1), and the gzipped bytes
        # are another one, so they get their own tag (as Apache's `-gzip` suffix does).
        return self.etag[:-1] + '-gzip"'

    @classmethod
    def load(cls, path: Path) -> Asset:
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        # mtime=0: the same file always compresses to the same bytes.
        return cls(body, gzip.compress(body, 9, mtime=0), f'"{digest[:32]}"', digest[:12])


def _asset(request: Request) -> Asset:
    asset: Asset | None = getattr(request.app.state, "widget_asset", None)
    if asset is None:
        asset = Asset.load(WIDGET_PATH)
        request.app.state.widget_asset = asset
    return asset


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
    return False


def _matches(if_none_match: str, asset: Asset) -> bool:
    # Weak comparison, as RFC 9110 §13.1.2 asks for If-None-Match: a proxy may add `W/`.
    # Either representation's tag revalidates: both are the same file.
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return bool(tags & {"*", asset.etag, asset.gzip_etag})


async def widget_script(request: Request) -> Response:
    return _serve(request, _asset(request), CONTENT_TYPE)


PARTS_DIR = static_dir("widget")


def _assets(request: Request, kept: str, folder: Path, pattern: str) -> dict[str, Asset]:
    """The files matching `pattern` in `folder` by name (what `*` matched), read once per app
    and kept in `app.state.<kept>`."""
    found: dict[str, Asset] | None = getattr(request.app.state, kept, None)
    if found is None:
        paths = sorted(folder.glob(pattern)) if folder.is_dir() else []
        prefix, _, suffix = pattern.partition("*")
        found = {p.name.removeprefix(prefix).removesuffix(suffix): Asset.load(p) for p in paths}
        setattr(request.app.state, kept, found)
    return found


async def widget_part(request: Request) -> Response:
    """`GET /widget/uplift-{part}.js`: a part of the widget the script loads on first use (the
    dialog, the upgrade modal, the retention screen, the pricing table) with `import()`, at
    `?v=<hash>` (immutable). A module script from another origin is read only with CORS, so it
    is readable from any origin: it is the same public file as uplift.js, sent without
    credentials."""
    parts = _assets(request, "widget_parts", PARTS_DIR, "uplift-*.js")
    asset = parts.get(request.path_params["part"])
    if asset is None:
        raise NotFound(
            f"No widget part {request.path_params['part'][:20]!r}; there are"
            f" {', '.join(sorted(parts))}.",
            code="unknown_part",
        )
    response = _serve(request, asset, CONTENT_TYPE)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


LOCALES_PATH = static_dir("widget") / "locales"
LOCALE_TYPE = "application/json"


async def widget_locale(request: Request) -> Response:
    """`GET /api/v1/widget/locales/{locale}`: the widget's words in a language it ships
    (English is built in), fetched by the widget when the page or `init({locale})` asks for
    that language. Public (no token), under the widget API for its CORS."""
    locales = _assets(request, "widget_locales", LOCALES_PATH, "*.json")
    asset = locales.get(request.path_params["locale"])
    if asset is None:
        raise NotFound(
            f"No widget catalogue for {request.path_params['locale'][:20]!r}; the widget ships"
            f" en (built in) and {', '.join(sorted(locales))}.",
            code="unknown_locale",
        )
    return _serve(request, asset, LOCALE_TYPE)


def _serve(request: Request, asset: Asset, content_type: str) -> Response:
    versioned = request.query_params.get("v") == asset.version
    gzipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    headers = {
        "ETag": asset.gzip_etag if gzipped else asset.etag,
        "Cache-Control": LONG_CACHE if versioned else SHORT_CACHE,
        "Vary": "Accept-Encoding",
    }  # X-Content-Type-Options: nosniff comes with every response (AccessLogMiddleware)
    if _matches(request.headers.get("if-none-match", ""), asset):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = asset.gzipped if gzipped else asset.body
    return Response(body, headers=headers, media_type=content_type)


class ScriptReplay:
    """The fast answer of `GET /widget/uplift.js` (plugin/middleware/fast_path.py): every page of
    the SaaS loads the script. `widget_script` depends on nothing but the file (read once per
    app) and three request values: the query string (`?v=`), `Accept-Encoding` and
    `If-None-Match`; so its response messages are kept per combination of those (the first
    `KEPT`; others call the handler each time) and replayed. It skips what the script never
    needs: CORS (not under /api/v1/widget/), the body limit (a GET), the router and the
    exception layer (the handler raises nothing). One per app, made by `create_app`."""

    KEPT = 64

    def __init__(self) -> None:
        self._answers: dict[tuple[bytes, bytes, bytes], tuple[Message, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send, rest: ASGIApp) -> None:
        encoding = match = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding" and encoding is None:
                encoding = value
            elif name == b"if-none-match" and match is None:
                match = value
        key = (scope.get("query_string", b""), encoding or b"", match or b"")
        answer = self._answers.get(key)
        if answer is None:
            messages: list[Message] = []

            async def keep(message: Message) -> None:
                messages.append(message)

            response = await widget_script(Request(scope, receive))
            await response(scope, receive, keep)
            answer = tuple(messages)
            if len(self._answers) < self.KEPT:
                self._answers[key] = answer
        for message in answer:
            # Copies: a layer outside may change a message or its header list in place.
            if "headers" in message:
                message = {**message, "headers": list(message["headers"])}
            else:
                message = dict(message)
            await send(message)
