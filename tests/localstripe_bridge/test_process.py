"""The emulator as a process: loopback only, one ready line, isolated state, clean stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from localstripe_bridge.process import EmulatorProcess
from tests.support import STRIPE_TEST_KEY

AUTH = {"Authorization": f"Bearer {STRIPE_TEST_KEY}"}
READY = re.compile(r"^localstripe-bridge listening on http://127\.0\.0\.1:(\d+)\n$")


def _alive(pid: int) -> bool:
    """Running, and not merely a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return False
    else:
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    try:  # no /proc (macOS): signal 0 only checks that the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_is_all_it_prints_and_a_signal_stops_it(signum: signal.Signals) -> None:
    """stdout is exactly the ready line; SIGTERM and SIGINT end it with status 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "localstripe_bridge", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        found = READY.match(process.stdout.readline())
        assert found is not None
        port = int(found.group(1))
        assert httpx.get(f"http://127.0.0.1:{port}/v1/customers", headers=AUTH).status_code == 200
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (process.returncode, stdout, stderr) == (0, "", "")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])  # noqa: S104
def test_binding_refuses_a_non_loopback_host(host: str) -> None:
    """Any key works on the emulator, so it only ever listens on loopback: exit 2, one line."""
    result = subprocess.run(
        [sys.executable, "-m", "localstripe_bridge", "--host", host, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "loopback" in result.stderr


def test_loopback_names_are_accepted() -> None:
    """`localhost` and `::1` are loopback too."""
    for host, url in (("localhost", "http://127.0.0.1:"), ("::1", "http://[::1]:")):
        process = subprocess.Popen(
            [sys.executable, "-m", "localstripe_bridge", "--host", host],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(f"localstripe-bridge listening on {url}")
        finally:
            process.terminate()
            process.communicate(timeout=10)


def test_two_emulators_at_once_do_not_share_state() -> None:
    """Each run has its own in-memory store, and neither touches localstripe's /tmp pickle."""
    shared = Path("/tmp/localstripe.pickle")  # noqa: S108 -- the path stock localstripe uses
    before = shared.stat().st_mtime_ns if shared.exists() else None
    with EmulatorProcess() as first, EmulatorProcess() as second:
        assert first.url != second.url
        assert first.pid != second.pid
        created = httpx.post(f"{first.url}/v1/customers", headers=AUTH, data={"name": "One"})
        customer = created.json()["id"]
        assert httpx.get(f"{first.url}/v1/customers/{customer}", headers=AUTH).status_code == 200
        assert httpx.get(f"{second.url}/v1/customers/{customer}", headers=AUTH).status_code == 404
    after = shared.stat().st_mtime_ns if shared.exists() else None
    assert after == before


def test_state_file_keeps_objects_across_restarts(tmp_path: Path) -> None:
    """With a state file, customers, prices and webhook endpoints survive a restart."""
    state = tmp_path / "emulator.pickle"
    with EmulatorProcess(state_file=state) as emu:
        customer = httpx.post(f"{emu.url}/v1/customers", headers=AUTH, data={"name": "Kept"})
        price = httpx.post(
            f"{emu.url}/v1/prices",
            headers=AUTH,
            data={"currency": "usd", "unit_amount": "700", "product_data[name]": "Kept",
                  "recurring[interval]": "month", "lookup_key": "kept_monthly"},
        )  # fmt: skip
        endpoint = httpx.post(
            f"{emu.url}/v1/webhook_endpoints",
            headers=AUTH,
            data={"url": "http://127.0.0.1:9/hook", "enabled_events[0]": "*"},
        )
    assert state.exists()
    with EmulatorProcess(state_file=state) as emu:
        again = httpx.get(f"{emu.url}/v1/customers/{customer.json()['id']}", headers=AUTH)
        assert again.json()["name"] == "Kept"
        price_again = httpx.get(f"{emu.url}/v1/prices/{price.json()['id']}", headers=AUTH)
        assert price_again.json()["lookup_key"] == "kept_monthly"
        endpoints = httpx.get(f"{emu.url}/v1/webhook_endpoints", headers=AUTH).json()
        assert [e["id"] for e in endpoints["data"]] == [endpoint.json()["id"]]


def test_startup_failure_raises_with_the_emulators_stderr(tmp_path: Path) -> None:
    """If the emulator dies before it is ready, start() says why, quoting its stderr."""
    broken = tmp_path / "broken.pickle"
    broken.write_bytes(b"not a pickle")
    with pytest.raises(RuntimeError, match="UnpicklingError"), EmulatorProcess(state_file=broken):
        pass


def test_stop_ends_the_process_and_the_url(tmp_path: Path) -> None:
    """After the context exits the process is gone and `.url` refuses to answer."""
    emulator = EmulatorProcess()
    with emulator:
        pid = emulator.pid
        assert _alive(pid)
    assert not _alive(pid)
    with pytest.raises(RuntimeError):
        _ = emulator.url
    emulator.stop()  # idempotent


def test_emulator_exits_when_its_parent_dies() -> None:
    """A parent killed without stopping it does not leave the emulator running."""
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from localstripe_bridge.process import EmulatorProcess\n"
            "emu = EmulatorProcess().start(); print(emu.pid, flush=True); os._exit(0)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(parent.stdout)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_process_module_imports_neither_localstripe_nor_aiohttp() -> None:
    """Uplift's demo and fixtures import EmulatorProcess; the emulator stays in its process."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, localstripe_bridge.process\n"
            "print(sorted(m for m in ('localstripe', 'aiohttp') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == "[]"
