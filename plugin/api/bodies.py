"""Reading JSON request bodies: 415 for other media types, 400 for malformed JSON, 422 with the
offending field for JSON that does not fit the schema."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from plugin.errors import BadRequest, UnsupportedMediaType, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json(request: Request) -> object:
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType("Send the body as application/json.")
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from None


def field_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's location as a JSON path: `variants[0].copy.title`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_model(model: type[M], data: object) -> M:
    """Validate already-decoded JSON; the first problem becomes a 422 naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        path = field_path(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationFailed(
            f"{path}: {message}" if path else message, field=path or None
        ) from None


async def read_model(request: Request, model: type[M]) -> M:
    return parse_model(model, await read_json(request))
