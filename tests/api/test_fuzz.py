"""Property-based fuzzing of the whole documented API (schemathesis, from our OpenAPI):
whatever a client sends, the server never answers with a 500, and every answer is one the
document describes: a documented status (`status_code_conformance`), of a documented media type
(`content_type_conformance`), with the headers documented as required
(`response_headers_conformance`), and a body that validates against that status's schema
(`response_schema_conformance`: the answer models of plugin/api/answers.py and the error shape).

Hypothesis runs schemathesis' strategies directly (`@given` on `operation.as_strategy()`), not
through schemathesis' pytest integration: its 4.x `from_fixture` writes pytest's private
`Function._nodeid`, which pytest 9.2 removed. One test per operation of our OpenAPI document
(built in-process, so collection needs no server), each looked up in the served schema.
schemathesis' coverage phase (fixed boundary values and invalid inputs for every parameter and
body field) has no public strategy; it runs through schemathesis' command line, its public
interface for that phase."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Ok

from plugin.api import openapi
from plugin.auth import issue_customer_token
from plugin.clock import SystemClock
from tests.support import (
    ADMIN_KEY,
    STRIPE_TEST_KEY,
    WEBHOOK_SECRET,
    WIDGET_SECRET,
    free_port,
    stop,
    uplift_env,
    wait_until_ready,
)

pytestmark = pytest.mark.e2e

SCHEMA_PATH = "/api/v1/openapi.json"
Operation = schemathesis.APIOperation[Any, Any, Any, Any]  # its type parameters are its own

# What every answer is checked for, here and in the coverage phase's command line.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# The widget's operations get a customer token (valid by the server's clock, the real one), so
# their answers are more than 401s; the rest get the admin key (Stripe's intake ignores it: the
# signatures schemathesis makes up are 400s).
CUSTOMER_AUTH = {(op.method, op.path) for op in openapi.OPERATIONS if op.auth == "customer"}


def _authorization(method: str, path: str) -> str:
    if (method, path) not in CUSTOMER_AUTH:
        return f"Bearer {ADMIN_KEY}"
    # One customer per operation: each has its own rate limit (plugin/api/widget.py).
    token = issue_customer_token(
        secret=WIDGET_SECRET, customer_id=f"fuzz{method}{path}", now=SystemClock().now(), ttl=3600
    )
    return f"Bearer {token}"


# (METHOD, path) of every operation the served schema gives to fuzz: each one of the document
# /api/v1/openapi.json serves, but that GET itself, which a schema loaded from its URL leaves out.
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in openapi.document()["paths"].items()
    for method in item
    if path != SCHEMA_PATH
)


@pytest.fixture(scope="module")
def served_url(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[str]:
    """One `uplift serve` for the module: fuzzing is about the HTTP edge, not isolation."""
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = uplift_env(
        database_url=module_database_url,
        stripe_api_key=STRIPE_TEST_KEY,
        stripe_api_base="http://127.0.0.1:9",  # nothing listens: Stripe calls fail cleanly
        admin_key=ADMIN_KEY,
        widget_secret=WIDGET_SECRET,
        stripe_webhook_secrets=WEBHOOK_SECRET,
    )
    with (tmp / "serve.log").open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "plugin", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def api_schema(served_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(served_url + SCHEMA_PATH)


def _served(
    schema: schemathesis.BaseSchema,
) -> dict[tuple[str, str], Operation | InvalidSchema]:
    """The served schema's operations by (METHOD, path), and its schema errors by the same key
    ("*" for an error about a whole path)."""
    found: dict[tuple[str, str], Operation | InvalidSchema] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Ok):
            operation = result.ok()
            found[operation.method.upper(), operation.path] = operation
        else:
            error = result.err()
            found[(error.method or "*").upper(), error.path or "*"] = error
    return found


def test_every_served_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    """The tests below are one per operation of the in-process document; the served schema has
    exactly those operations (a schema error among them fails that operation's test), so none
    goes unfuzzed."""
    assert sorted(_served(api_schema)) == OPERATIONS


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_makes_a_server_error(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    """Valid or not, every answer is < 500 and the documented answer for its status."""
    served = _served(api_schema)
    operation = served.get((method, path), served.get(("*", path)))
    if operation is None:
        pytest.fail(f"{method} {path} is not in the served schema")
    if isinstance(operation, InvalidSchema):
        raise operation  # a schema error fails the operation's test
    # Schema-valid and schema-violating requests, as schemathesis' fuzzing phase draws them.
    strategy = st.one_of(
        [operation.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode]
    )
    authorization = _authorization(method, path)

    @given(case=strategy)
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def no_server_error(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers={"Authorization": authorization})
        case.validate_response(response, checks=CHECKS)

    no_server_error()


@pytest.mark.timeout(600)  # some 3,500 fixed cases, one request each
def test_no_boundary_or_invalid_case_makes_a_server_error(served_url: str, tmp_path: Path) -> None:
    """schemathesis' coverage phase over every operation: boundary values, wrong types, missing
    and extra fields, each answered below 500 with a documented answer."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "".join(
            f'[[operations]]\ninclude-name = "{method} {path}"\n'
            f'headers = {{ Authorization = "{_authorization(method, path)}" }}\n'
            for method, path in sorted(CUSTOMER_AUTH)
        )
    )
    done = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
            "run", served_url + SCHEMA_PATH,
            "--phases", "coverage", "--checks", ",".join(c.__name__ for c in CHECKS),
            "--workers", "1",
            "--header", f"Authorization: Bearer {ADMIN_KEY}",
            "--report", "junit", "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=570,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=tmp_path,  # its caches (.schemathesis/) stay out of the repository
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]
    [report] = tmp_path.glob("*.xml")
    cases = ET.parse(report).getroot().iter("testcase")  # noqa: S314 -- the report it just wrote
    ran = {case.get("name") for case in cases}
    assert ran == {f"{method} {path}" for method, path in OPERATIONS}
