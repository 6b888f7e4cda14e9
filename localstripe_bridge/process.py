"""Run the emulator as a child process: `with EmulatorProcess() as emu: … emu.url …`.

Imported by Uplift's `uplift demo` and by the test fixtures, so it imports neither localstripe
nor aiohttp: the emulator runs in its own interpreter (`sys.executable -m localstripe_bridge`),
on a free loopback port it reports on its first stdout line, with its own in-memory state unless
a state file is given.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

READY = re.compile(r"^localstripe-bridge listening on (http://\S+)$")
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
STDERR_TAIL = 4000  # characters of the child's stderr quoted when it fails to start

# The directory that holds this package, for a child started from another working directory.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def _read_first_line(stream: IO[bytes], lines: queue.Queue[str]) -> None:
    # A thread, because a pipe read has no timeout that works on every platform.
    lines.put(stream.readline().decode("utf-8", "replace").strip())


class EmulatorProcess:
    """localstripe behind localstripe_bridge, as a subprocess on a free loopback port.

    `start()` returns once the emulator accepts requests (or raises RuntimeError with the tail of
    its stderr); `stop()` terminates it, waits, then kills, and may be called any number of
    times. The context manager calls both.
    """

    def __init__(
        self,
        state_file: str | os.PathLike[str] | None = None,
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.state_file = Path(state_file) if state_file is not None else None
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The base address for stripe-python, e.g. `http://127.0.0.1:43123`."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def pid(self) -> int:
        return self._running().pid

    def _running(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is None or self._url is None:
            raise RuntimeError("the emulator is not running")
        if process.poll() is not None:
            raise RuntimeError(
                f"the emulator exited with {process.returncode}: {self._stderr_tail()}"
            )
        return process

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "localstripe_bridge", "--port", "0"]
        command += ["--parent-pid", str(os.getpid())]
        if self.state_file is not None:
            command += ["--state-file", str(self.state_file)]
        return command

    def start(self) -> EmulatorProcess:
        if self._process is not None:
            raise RuntimeError("the emulator was already started")
        env = dict(os.environ)
        # The child runs the same copy of the package as this module, from any working directory.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        # stderr goes to a file, not a pipe: nobody reads it while the emulator runs, and a full
        # pipe would block it.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        self._process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        try:
            self._url = self._wait_until_ready(self._process)
            self._running()  # still alive after announcing itself
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None  # noqa: S101 -- stdout=PIPE above
        lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(
            target=_read_first_line, args=(process.stdout, lines), daemon=True
        )
        self._reader.start()
        try:
            line = lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            raise RuntimeError(
                f"the emulator did not report ready within {self.startup_timeout:g} s: "
                f"{self._stderr_tail()}"
            ) from None
        found = READY.match(line)
        if found is None:
            if not line:  # stdout closed: the process is exiting; let it finish its stderr
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(STOP_TIMEOUT)
            raise RuntimeError(
                f"the emulator failed to start (exit code {process.poll()}, "
                f"first line {line!r}): {self._stderr_tail()}"
            )
        return found.group(1)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return "(no stderr)"
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL))
        tail = self._stderr.read().decode("utf-8", "replace").strip()
        return tail or "(empty stderr)"

    def stop(self) -> None:
        process, self._process, self._url = self._process, None, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_TIMEOUT)
            if self._reader is not None:
                self._reader.join(STOP_TIMEOUT)  # it reads until the exited child's EOF
                self._reader = None
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
