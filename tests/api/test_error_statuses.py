"""The error tree's one status map (plugin/api/errors.py): every error a request may end with
has a status; the few that no request should end with are named here, and answer 500."""

from __future__ import annotations

import importlib
import pkgutil

import plugin
from plugin.api.errors import INTERNAL_ERROR_BODY, answer, status_of
from plugin.errors import NotReady, StripeUnavailable, UpliftError

# Errors for the operator or for internal control flow, never a request's answer.
NOT_FOR_REQUESTS = {
    "UpliftError",
    "OperatorError",
    "SettingsError",
    "SimulationError",
    "DatabaseError",
    "ReadWouldWait",
    "StripeError",
    "StripeRejected",
    # The SMTP relay's answers: the email worker's to handle (retry or fail the send).
    "MailError",
    "MailTemporarilyFailed",
    "MailRejected",
}


def _every_error() -> set[type[UpliftError]]:
    for module in pkgutil.walk_packages(plugin.__path__, "plugin."):
        if module.name != "plugin.__main__":  # `python -m plugin` runs the command
            importlib.import_module(module.name)
    found: set[type[UpliftError]] = set()
    pending: list[type[UpliftError]] = [UpliftError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_request_error_has_a_status_and_the_rest_are_named() -> None:
    unmapped = {cls.__name__ for cls in _every_error() if status_of(cls.__new__(cls)) is None}
    assert unmapped == NOT_FOR_REQUESTS


def test_an_unmapped_error_answers_as_an_internal_error() -> None:
    status, body, headers = answer(UpliftError("a bug"))
    assert (status, body, headers) == (500, INTERNAL_ERROR_BODY, {})


def test_stripe_outage_and_database_outage_have_their_own_codes() -> None:
    outage = answer(StripeUnavailable("Stripe is unreachable"))
    assert (outage[0], outage[1]["error"]["code"]) == (503, "stripe_unavailable")
    database = answer(NotReady("The database is not reachable."))
    assert (database[0], database[1]["error"]["code"]) == (503, "not_ready")
