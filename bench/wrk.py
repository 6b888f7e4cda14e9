"""Driving HTTP benchmarks: start a server process, load it with wrk, read the numbers.

Shared by bench/offers_endpoint.py and bench/webhooks.py so both measure the same way: wrk with
2 threads on loopback, a Lua script that ends with RESULT_LUA (which prints one machine-readable
line), and the server's peak RSS from /proc.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx

# Appended to every wrk script: counts non-2xx answers and prints one parseable result line.
RESULT_LUA = """
local non2xx = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests,
           latency:percentile(50), latency:percentile(99),
           summary.errors.connect + summary.errors.read + summary.errors.write
             + summary.errors.timeout + summary.errors.status, non2xx))
end
"""


# Prepended to scripts that replay a file of requests split between wrk's two threads: `setup`
# numbers the threads (`tid`), `thread_lines(path)` is this thread's share of the file's lines
# (every other one), `threads` lists them for `done`, and `request` sends the script's `reqs`
# in turn (`counter` of them so far), starting over at the end.
THREADS_LUA = """
counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function thread_lines(path)
  local mine, n = {}, 0
  for line in io.lines(path) do
    if n % 2 == tid then table.insert(mine, line) end
    n = n + 1
  end
  return mine
end
request = function()
  counter = counter + 1
  return reqs[((counter - 1) % #reqs) + 1]
end
"""


def ensure_wrk() -> str:
    """Debian's wrk, installed here (never by the test suite) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607 -- Debian's apt
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)  # noqa: S607
    return shutil.which("wrk") or "wrk"


def start(command: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    """Start a server and wait until `url` answers at all (any status: some routes are
    POST-only)."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(re.findall(r"\d+", line)[0]) / 1024
    return 0.0


def run(
    wrk: str,
    url: str,
    script: Path,
    *,
    seconds: int,
    connections: int,
    script_args: tuple[str, ...] = (),
) -> dict[str, float]:
    """One wrk run; requests/s, p50/p99 latency (ms), socket errors and non-2xx answers. Two
    threads, one with a single connection (wrk needs a connection per thread)."""
    command = [
        wrk,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        str(script),
        url,
    ]
    if script_args:
        command += ["--", *script_args]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    return parse(out, seconds)


def parse(out: str, seconds: int) -> dict[str, float]:
    """The numbers in the RESULT line that RESULT_LUA (or a script like it) printed."""
    requests, p50, p99, errors, non2xx = map(int, re.findall(r"RESULT (.*)", out)[0].split())
    return {
        "rps": requests / seconds,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "errors": errors,
        "non2xx": non2xx,
        "requests": requests,
    }
