"""What the emulator's tests share besides fixtures (those are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

# stripe-python 16's async HTTPXClient hands httpx the form body as `data=bytes`, which httpx
# 0.28 deprecates; under `filterwarnings = error` the warning becomes an exception that
# stripe-python reports as a network error. Test modules that use stripe-python set
# `pytestmark = STRIPE_PYTHON_HTTPX_WARNING`.
STRIPE_PYTHON_HTTPX_WARNING = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


@dataclass(frozen=True)
class Catalog:
    product: str
    monthly: str  # 1000 per month
    annual: str  # 10000 per year
    premium: str  # 3000 per month
