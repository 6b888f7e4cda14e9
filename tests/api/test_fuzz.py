"""Property-based fuzzing of the whole documented API (schemathesis, from our OpenAPI):
whatever a client sends, the server never answers with a 500."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

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
    return schemathesis.openapi.from_url(f"{served_url}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_makes_a_server_error(case: schemathesis.Case[Any]) -> None:
    """Valid or not, with or without the admin key, every answer is < 500 and JSON-shaped."""
    response = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    case.validate_response(response, checks=[not_a_server_error])
