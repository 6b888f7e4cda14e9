"""A recording HTTP proxy between the Stripe gateway and the emulator, and a validator of what
it recorded against Stripe's request schemas (tests/data/stripe-spec/operations.json).

`RecordingProxy` is a loopback aiohttp server on a thread (and event loop) of its own, so it
outlives each test's event loop: every request is forwarded to the emulator as it came and
recorded (method, path, query, the form-encoded body, the headers that matter) before the
answer goes back. `decode_form` turns Stripe's form encoding (`items[0][price]=…`,
`expand[]=…`, `metadata[k]=v`) into nested dicts; `validate` checks one decoded request
against its operation's schema and Stripe's pending-update restrictions.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import ClientSession, ClientTimeout, web

SPEC_FILE = Path(__file__).parent / "data" / "stripe-spec" / "operations.json"
Schema = dict[str, Any]
Tree = dict[str, Any]  # decoded form: str leaves, dict branches (list indexes still as keys)

FORWARDED_HEADERS = ("authorization", "content-type", "idempotency-key", "stripe-version")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]
    status: int

    @property
    def params(self) -> Tree:
        return decode_form(self.query if self.method in ("GET", "DELETE") else self.body)

    def __str__(self) -> str:
        sent = self.query if self.method in ("GET", "DELETE") else self.body
        return f"{self.method} {self.path} {sent} -> {self.status}"


@dataclass
class RecordingProxy:
    upstream: str
    records: list[Recorded] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _session: ClientSession | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> RecordingProxy:
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()
                failed.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="stripe-recording-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failed:
            raise RuntimeError(f"the recording proxy did not start: {failed}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def since(self, mark: int) -> list[Recorded]:
        with self._lock:
            return list(self.records[mark:])

    def mark(self) -> int:
        with self._lock:
            return len(self.records)

    async def _serve(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body or None,
            headers=headers,
        ) as answer:
            content = await answer.read()
            status = answer.status
            content_type = answer.headers.get("Content-Type", "application/json")
        with self._lock:
            self.records.append(
                Recorded(
                    method=request.method,
                    path=request.path,
                    query=request.query_string,
                    body=body.decode(),
                    headers={k.lower(): v for k, v in headers.items()},
                    status=status,
                )
            )
        return web.Response(body=content, status=status, headers={"Content-Type": content_type})


# Stripe's form encoding ---------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(encoded: str) -> Tree:
    """`a[b][0][c]=x&e[]=y&e[]=z` -> {"a": {"b": {"0": {"c": "x"}}}, "e": {"0": "y", "1": "z"}}.
    List indexes stay keys ("0", "1", …): whether a level is a list is the schema's business."""
    tree: Tree = {}
    for raw_key, value in parse_qsl(encoded, keep_blank_values=True, strict_parsing=False):
        match = _KEY.match(raw_key)
        if match is None:
            raise ValueError(f"not a Stripe form key: {raw_key!r}")
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = tree
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":  # `e[]`: the next index
                part = str(len(node))
            if last:
                if part in node:
                    raise ValueError(f"{raw_key!r} sent twice")
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ValueError(f"{raw_key!r} is both a value and an object")
                node = child
    return tree


# Validation -----------------------------------------------------------------------------------


def load_spec(path: Path = SPEC_FILE) -> Schema:
    spec: Schema = json.loads(path.read_text(encoding="utf-8"))
    return spec


_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_TEMPLATE = re.compile(r"\{[^/{}]+\}")


def operation_for(spec: Schema, method: str, path: str) -> str | None:
    """The spec operation ("POST /v1/subscriptions/{subscription_exposed_id}") a request is
    for: same method, same segments, `{…}` matching any one segment; literal segments win."""
    segments = path.strip("/").split("/")
    best: tuple[int, str] | None = None
    for key in spec["operations"]:
        op_method, template = key.split(" ", 1)
        parts = template.strip("/").split("/")
        if op_method != method or len(parts) != len(segments):
            continue
        if all(p == s or _TEMPLATE.fullmatch(p) for p, s in zip(parts, segments, strict=True)):
            literal = sum(1 for p in parts if not _TEMPLATE.fullmatch(p))
            if best is None or literal > best[0]:
                best = (literal, key)
    return None if best is None else best[1]


def _check(schema: Schema, value: Any, where: str) -> list[str]:
    """Problems with `value` (a decoded form node) against `schema`; [] if it fits."""
    if "anyOf" in schema:
        results = [_check(option, value, where) for option in schema["anyOf"]]
        if any(not r for r in results):
            return []
        best = min(results, key=len)
        return best if len(results) == 1 else [f"{where}: fits no alternative ({best[0]})"]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        problems: list[str] = []
        properties: Schema = schema.get("properties", {})
        extra = schema.get("additionalProperties", False)
        for key, sub in value.items():
            inner = f"{where}[{key}]" if where else key
            if key in properties:
                problems += _check(properties[key], sub, inner)
            elif isinstance(extra, dict):
                problems += _check(extra, sub, inner)
            elif not extra:
                problems.append(f"{inner}: unknown parameter")
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{f'{where}[{key}]' if where else key}: required, missing")
        return problems
    if kind == "array":
        if not isinstance(value, dict) or sorted(value, key=_index) != [
            str(i) for i in range(len(value))
        ]:
            return [f"{where}: expected a list (indexes 0..n), got {value!r}"]
        problems = []
        for index in range(len(value)):
            problems += _check(schema["items"], value[str(index)], f"{where}[{index}]")
        return problems
    if isinstance(value, dict):
        return [f"{where}: expected a {kind}, got an object {value!r}"]
    if "enum" in schema and value not in [_wire(v) for v in schema["enum"]]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    if kind == "integer" and not _INTEGER.match(value):
        return [f"{where}: {value!r} is not an integer"]
    if kind == "number" and not _NUMBER.match(value):
        return [f"{where}: {value!r} is not a number"]
    if kind == "boolean" and value not in ("true", "false"):
        return [f"{where}: {value!r} is not a boolean"]
    if schema.get("format") == "decimal" and not _NUMBER.match(value):
        return [f"{where}: {value!r} is not a decimal"]
    if kind == "string" and "maxLength" in schema and len(value) > schema["maxLength"]:
        return [f"{where}: {len(value)} characters, more than {schema['maxLength']}"]
    return []


def _index(key: str) -> int:
    return int(key) if key.isdigit() else -1


def _wire(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def pending_update_problems(spec: Schema, operation: str, params: Tree) -> list[str]:
    """Stripe's pending-update rule: with payment_behavior=pending_if_incomplete only the
    documented attributes may be sent (spec["pending_updates"])."""
    if params.get("payment_behavior") != "pending_if_incomplete":
        return []
    rule = spec["pending_updates"]["operations"].get(operation)
    if rule is None:
        return [f"{operation}: pending_if_incomplete is not a pending-update endpoint"]
    allowed = set(rule["allowed"]) | set(rule.get("selectors", []))
    problems = [
        f"{key}: not allowed with payment_behavior=pending_if_incomplete"
        for key in params
        if key not in allowed
    ]
    in_items = set(rule.get("allowed_in_items", [])) | set(rule.get("selectors_in_items", []))
    items = params.get("items")
    if isinstance(items, dict):
        for index, item in items.items():
            if isinstance(item, dict):
                problems += [
                    f"items[{index}][{key}]: not allowed with payment_behavior="
                    "pending_if_incomplete"
                    for key in item
                    if key not in in_items
                ]
    return problems


def validate(spec: Schema, method: str, path: str, params: Tree) -> list[str]:
    """Every problem Stripe's spec finds with one request ([] if none)."""
    operation = operation_for(spec, method, path)
    if operation is None:
        return [f"{method} {path}: not an operation in {SPEC_FILE.name}"]
    problems = _check(spec["operations"][operation], params, "")
    problems += pending_update_problems(spec, operation, params)
    return [f"{operation}: {p}" for p in problems]


def validate_recorded(spec: Schema, record: Recorded) -> list[str]:
    return validate(spec, record.method, record.path, record.params)
