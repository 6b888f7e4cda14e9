"""Signatures a Standard Webhooks receiver verifies, through a rotation."""

from __future__ import annotations

import base64

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from plugin.clock import SystemClock
from plugin.outbound import signing


def test_new_secrets_are_whsec_and_random() -> None:
    a, b = signing.new_secret(), signing.new_secret()
    assert a.startswith("whsec_")
    assert a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32


def test_a_receiver_verifies_with_either_secret_during_a_rotation() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    now = SystemClock().now()  # standardwebhooks checks the timestamp against the wall clock
    body = '{"type":"offer.declined","timestamp":"2026-12-03T00:00:00Z","data":{}}'
    headers = signing.headers([new, old], msg_id="msg_1", at=now, body=body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers)["type"] == "offer.declined"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace("declined", "accepted"), headers)
