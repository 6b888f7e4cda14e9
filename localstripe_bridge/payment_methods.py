"""Stripe's magic test payment method for 3-D Secure, which localstripe does not know.

localstripe turns `pm_card_visa`, `pm_card_visa_chargeDeclined` and `pm_card_chargeCustomerFail`
into card objects on sight, as Stripe does, but not `pm_card_authenticationRequired` (card
4000002760003184: every payment needs authentication), so an off-session charge that needs
3-D Secure could not be tested. localstripe already treats that card number as one that requires
authentication; this only adds the name.
"""

from __future__ import annotations

from typing import Any

from localstripe.resources import PaymentMethod

MAGIC = {"pm_card_authenticationRequired": "4000002760003184"}


def install() -> None:
    if getattr(PaymentMethod, "_bridge_magic", False):
        return
    PaymentMethod._bridge_magic = True
    original = PaymentMethod._try_get_canonical_test_article.__func__

    def canonical(cls: Any, pm_id: str) -> Any:
        number = MAGIC.get(pm_id)
        if number is None:
            return original(cls, pm_id)
        card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
        return PaymentMethod(type="card", card=card)

    PaymentMethod._try_get_canonical_test_article = classmethod(canonical)
