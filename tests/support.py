"""Constants and helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

# 2026-11-22T00:00:00Z: tests pin time; nothing reads the wall clock.
NOW = 1795305600
STRIPE_TEST_KEY = "sk_test_uplift_tests"
WIDGET_SECRET = "widget-secret-for-tests-" + "0123456789abcdef" * 3
ADMIN_KEY = "uplift_sk_bootstrap_admin_key_for_tests"
WEBHOOK_SECRET = "whsec_tests_0123456789abcdef"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uplift_env(**values: str) -> dict[str, str]:
    """The process environment minus any UPLIFT_* the developer has set, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPLIFT_")}
    env.update({f"UPLIFT_{k.upper()}": v for k, v in values.items()})
    return env


def run_uplift(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plugin", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_until_ready(url: str, process: subprocess.Popen[str], *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready after {timeout} s")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def sign_webhook(payload: bytes, secret: str | list[str], timestamp: int) -> str:
    """A `Stripe-Signature` header exactly as Stripe makes it (stripe-python's
    `WebhookSignature.generate_header`), one `v1` per secret. Written out here rather than
    borrowed from `webhooks.signature`, so the tests do not check the verifier against itself."""
    import hashlib
    import hmac

    secrets = [secret] if isinstance(secret, str) else secret
    signed = str(timestamp).encode() + b"." + payload
    signatures = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={sig}" for sig in signatures)])
