"""The backend kit (docs/tokens.md, issue 23): the token-minting snippets in examples/tokens/
make tokens a running `uplift serve` accepts. Python and Node always run (the suite's own
toolchains); Ruby and Go run where they are installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from plugin.auth import verify_customer_token, verify_plain_token
from tests.conftest import Served
from tests.support import WIDGET_SECRET

pytestmark = pytest.mark.e2e

KIT = Path(__file__).resolve().parent.parent / "examples" / "tokens"
SNIPPETS = {
    "python": [sys.executable, str(KIT / "mint.py")],
    "node": ["node", str(KIT / "mint.mjs")],
    "ruby": ["ruby", str(KIT / "mint.rb")],
    "go": ["go", "run", str(KIT / "mint.go")],
}
ALWAYS = {"python", "node"}


def mint(language: str, tmp_path: Path, *args: str) -> str:
    command = SNIPPETS[language]
    if shutil.which(command[0]) is None:
        if language in ALWAYS:
            pytest.fail(f"{command[0]} is not installed, and the kit's {language} must run")
        pytest.skip(f"{command[0]} is not installed here")
    env = {**os.environ, "UPLIFT_WIDGET_SECRET": WIDGET_SECRET}
    env.setdefault("GOCACHE", str(tmp_path / "gocache"))  # go run needs somewhere to build
    done = subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_each_snippet_mints_a_token_uplift_accepts(
    language: str, tmp_path: Path, serve: Callable[..., Served]
) -> None:
    token = mint(language, tmp_path, "acme", "cus_kit")
    now = int(time.time())  # noqa: TID251 -- the snippets sign with the wall clock
    identity = verify_customer_token(token, secret=WIDGET_SECRET, now=now)
    assert (identity.customer_id, identity.stripe_customer) == ("acme", "cus_kit")
    assert identity.expires_at - now <= 900
    # The plain shape the server's fast path takes, not only the reference's.
    assert verify_plain_token(token, secret=WIDGET_SECRET.encode(), now=now) == identity
    served = serve(widget_secret=WIDGET_SECRET)
    answer = httpx.get(
        f"{served.url}/api/v1/widget/offers",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
