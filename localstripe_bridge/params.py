"""Reading Stripe request parameters.

stripe-python form-encodes v1 requests (`items[0][price]=price_1`, `lookup_keys[0]=a`,
`metadata[k]=v`); localstripe's own decoder turns that into nested dicts and lists of strings, so
the bridge reuses it and then checks types the way Stripe does (`"true"` is a boolean, `"12"` an
integer), answering bad input with a Stripe-shaped 400 instead of letting localstripe crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from localstripe.server import get_post_data, unflatten_data

from localstripe_bridge.errors import invalid, missing, unknown

Params = dict[str, Any]


async def read(request: web.Request) -> Params:
    """The request's parameters: the query string for GET and DELETE, the body for POST."""
    if request.method == "POST":
        data = await get_post_data(request)
    else:
        data = unflatten_data(request.query)
    return dict(data) if data else {}


def only(params: Mapping[str, Any], allowed: Iterable[str], *, prefix: str = "") -> None:
    allowed = set(allowed)
    for name in params:
        if name not in allowed:
            raise unknown(f"{prefix}[{name}]" if prefix else name)


def text(params: Mapping[str, Any], name: str, *, param: str | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param=param or name)
    return value


def required_text(params: Mapping[str, Any], name: str, *, param: str | None = None) -> str:
    value = text(params, name, param=param)
    if not value:
        raise missing(param or name)
    return value


def integer(
    params: Mapping[str, Any], name: str, *, minimum: int | None = None, param: str | None = None
) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid(f"Invalid integer: {value!r}", param=param or name)
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"Invalid integer: {value}", param=param or name) from None
    if minimum is not None and number < minimum:
        raise invalid(
            f"This value must be greater than or equal to {minimum}.", param=param or name
        )
    return number


def boolean(params: Mapping[str, Any], name: str, *, param: str | None = None) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid(f"Invalid boolean: {value}", param=param or name)


def choice(
    params: Mapping[str, Any], name: str, choices: Iterable[str], *, param: str | None = None
) -> str | None:
    value = text(params, name, param=param)
    options = tuple(choices)
    if value is not None and value not in options:
        raise invalid(
            f"Invalid {param or name}: must be one of {', '.join(options)}", param=param or name
        )
    return value


def mapping(params: Mapping[str, Any], name: str, *, param: str | None = None) -> Params | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {value!r}", param=param or name)
    return value


def items_list(params: Mapping[str, Any], name: str, *, param: str | None = None) -> list[Params]:
    """An array of objects such as `items`: every element must be an object."""
    value = params.get(name)
    param = param or name
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid(f"Invalid array of objects: {param}", param=param)
    return value


def text_list(params: Mapping[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):  # `lookup_keys=a` without brackets
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"Invalid array: {name}", param=name)
    return value


def metadata(params: Mapping[str, Any], name: str = "metadata") -> dict[str, str] | None:
    """Stripe metadata: string keys and values; `metadata=""` means "clear all"."""
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid("Invalid metadata: values must be strings", param=name)
    return {str(k): v for k, v in value.items()}


def merge_metadata(current: Mapping[str, str], update: Mapping[str, str] | None) -> dict[str, str]:
    """Stripe's update rule: keys merge, an empty value deletes its key, `{}` (from "") clears."""
    if update is None:
        return dict(current)
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def expand(params: Params) -> list[str] | None:
    """Pop `expand[]` (localstripe's exporter takes it separately)."""
    value = params.pop("expand", None)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("Invalid array: expand", param="expand")
    return value
