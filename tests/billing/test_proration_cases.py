"""Every worked example in tests/data/proration-examples.jsonl (tests/data/README.md) reproduces
to the cent, through the engine and through `uplift prorate`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from plugin.api.schemas import ProrationIn, quote_document
from plugin.billing.proration import prorate
from plugin.cli import main

CASES_FILE = Path(__file__).resolve().parent.parent / "data" / "proration-examples.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line]
# Fields of `expected` the engine produces; the rest are notes for humans.
COMPARED = (
    "proration_factor",
    "lines",
    "net_proration_amount",
    "invoice_now",
    "invoice_total",
    "amount_due_now",
    "customer_balance_after",
    "pending_invoice_items_total",
    "next_renewal_invoice_total",
    "next_renewal_amount_due",
)


def _expected(case: dict[str, Any]) -> dict[str, Any]:
    return {key: case["expected"][key] for key in COMPARED if key in case["expected"]}


def _produced(document: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    return {key: document.get(key) for key in COMPARED if key in case["expected"]}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_engine_reproduces_example(case: dict[str, Any]) -> None:
    """Lines, descriptions, periods and totals match Stripe's numbers exactly."""
    change = ProrationIn.model_validate(case["inputs"]).to_domain()
    assert _produced(quote_document(prorate(change)), case) == _expected(case)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_prorate_command_reproduces_example(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`uplift prorate` reads the `inputs` document on stdin and prints the expected quote."""
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(case["inputs"])))
    assert main(["prorate"]) == 0
    assert _produced(json.loads(capsys.readouterr().out), case) == _expected(case)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("not json", "not a JSON document"),
        ("[]", "Input should be"),
        (json.dumps({**CASES[0]["inputs"], "change_time": CASES[0]["inputs"]["period_end"] + 1}),
         "change_time must fall inside"),
        (json.dumps({**CASES[0]["inputs"],
                     "old": {**CASES[0]["inputs"]["old"], "unit_amount": 10.5}}),
         "old.unit_amount"),
    ],
    ids=["not-json", "not-object", "change-after-period", "float-amount"],
)  # fmt: skip
def test_prorate_command_refuses_bad_documents(
    document: str,
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad change document is one line on stderr naming the problem, exit status 2."""
    monkeypatch.setattr("sys.stdin", io.StringIO(document))
    assert main(["prorate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert fragment in captured.err
    assert len(captured.err.strip().splitlines()) == 1
