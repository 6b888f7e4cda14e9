#!/usr/bin/env python3
"""The developer's entry point: a virtual environment with the pinned versions, then the demo,
the checks or the suite. Standard library only, so it runs on a fresh machine's `python3`.

    python3 dev.py demo [ARGS]   `uplift demo ARGS` with requirements/demo.txt installed
    python3 dev.py test [ARGS]   the suite on SQLite and on PostgreSQL, at once (ARGS go to both)
    python3 dev.py check         ruff check, ruff format --check, mypy --strict, the widget rebuild
    python3 dev.py widget [ARGS] rebuild static/widget/uplift.js from static/widget/src/
    python3 dev.py lock          refresh requirements/*.txt to today's newest allowed versions
    python3 dev.py env [SET]     only create or update the environment (SET: demo or test)

The environment is `.venv/` beside this file (or `$UPLIFT_VENV`), made with this interpreter's
`venv`; every package comes from a hash-checked lock in requirements/, then Uplift itself is
installed editable without build isolation (its build backend is pinned in the lock too), so
nothing is resolved at install time. It is reinstalled only when a lock or pyproject.toml
changed. CONTRIBUTING.md says when and how to refresh the pins.

The widget's build tool, esbuild, is pinned in package.json and package-lock.json; `test`,
`check` and `widget` run `npm ci` into node_modules/ when it is missing or either file changed.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements"
# Each lock is a superset of the one before it, at the same versions (`lock` compiles the
# smaller ones constrained by test.txt).
SETS = ("base", "demo", "test")
EXTRAS = {"base": [], "demo": ["demo"], "test": ["test"]}
TOOLS_LOCK = REQUIREMENTS / "tools.txt"  # uv, which compiles the locks (`lock` only)
PYTHON_FLOOR = "3.11"  # pyproject's requires-python: the locks are resolved from this version up
NODE_MODULES = ROOT / "node_modules"
NODE_LOCKS = ("package.json", "package-lock.json")  # esbuild, pinned (static/widget/README.md)
WIDGET = (
    ROOT / "static" / "widget"
)  # uplift.js and its parts; budgets: tests/widget/test_widget_size.py


def venv_dir() -> Path:
    return Path(os.environ.get("UPLIFT_VENV") or ROOT / ".venv")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def say(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)


def run(command: list[str | Path], **kwargs: object) -> int:
    say("$ " + shlex.join(str(part) for part in command))
    return subprocess.call([str(part) for part in command], **kwargs)  # type: ignore[arg-type]


def must(command: list[str | Path], **kwargs: object) -> None:
    code = run(command, **kwargs)
    if code != 0:
        raise SystemExit(code)


def make_venv(venv: Path) -> None:
    """A virtual environment with pip, from this interpreter. Debian and Ubuntu ship `venv`
    without `ensurepip` unless python3-venv is installed: say so instead of a traceback."""
    if venv_python(venv).exists():
        return
    try:
        import ensurepip  # noqa: F401
    except ImportError:
        raise SystemExit(
            f"dev.py: {sys.executable} cannot make a virtual environment with pip; on Debian or "
            "Ubuntu: apt-get install python3-venv"
        ) from None
    must([sys.executable, "-m", "venv", venv])


def fingerprint(name: str) -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS / f"{name}.txt", ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure(name: str) -> Path:
    """The environment with lock `name` and Uplift installed; its python."""
    venv = venv_dir()
    make_venv(venv)
    python = venv_python(venv)
    stamp = venv / "uplift-installed.txt"
    done = stamp.read_text().split() if stamp.exists() else []
    wanted = SETS.index(name)
    # A larger lock installed at the current versions covers the smaller ones.
    if any(f"{s}:{fingerprint(s)}" in done for s in SETS[wanted:]):
        return python
    pip: list[str | Path] = [python, "-m", "pip", "--disable-pip-version-check"]
    must([*pip, "install", "-q", "--require-hashes", "-r", REQUIREMENTS / f"{name}.txt"])
    must([*pip, "install", "-q", "--no-deps", "--no-build-isolation", "-e", ROOT])
    must([*pip, "check"])
    stamp.write_text(f"{name}:{fingerprint(name)}\n")
    return python


def node_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in NODE_LOCKS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_node() -> str | None:
    """node_modules/ with the locked esbuild, from `npm ci` (again only when package.json or
    package-lock.json changed, like the virtual environment); npm's path. Without npm, a note
    and None: the suite then skips the widget's rebuild test (under CI it fails)."""
    npm = shutil.which("npm")
    if npm is None:
        say(
            "npm is missing, so the widget cannot be rebuilt or checked; on Debian or Ubuntu: "
            "apt-get install nodejs npm"
        )
        return None
    stamp = NODE_MODULES / ".uplift-installed.txt"
    if stamp.exists() and stamp.read_text().strip() == node_fingerprint():
        return npm
    must([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT)
    stamp.write_text(node_fingerprint() + "\n")  # npm ci empties node_modules/ first
    return npm


def demo(args: list[str]) -> int:
    """`uplift demo` in place of this process (where the platform can), so that Ctrl-C and
    SIGTERM reach it directly and it cleans up what it started."""
    python = ensure("demo")
    command = [str(python), "-m", "plugin", "demo", *args]
    say("$ " + shlex.join(command))
    if os.name == "posix":
        os.execv(command[0], command)  # noqa: S606 -- our own interpreter, our own arguments
    return subprocess.call(command)


def check(args: list[str]) -> int:
    python = ensure("test")
    npm = ensure_node()
    failed = 0
    for tool in (["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy", *args]):
        failed |= run([python, "-m", *tool], cwd=ROOT) != 0
    if npm is not None:  # the committed uplift.js is what its source builds to
        failed |= run([npm, "run", "--silent", "build:widget", "--", "--check"], cwd=ROOT) != 0
    return 1 if failed else 0


def widget(args: list[str]) -> int:
    """Rebuild the served widget from its source (ARGS go to static/widget/build.mjs, e.g.
    `--check`), then say each file's gzipped size (budgets: tests/widget/test_widget_size.py)."""
    npm = ensure_node()
    if npm is None:
        return 1
    code = run([npm, "run", "--silent", "build:widget", "--", *args], cwd=ROOT)
    if code == 0:
        for path in sorted(WIDGET.glob("uplift*.js")):
            data = path.read_bytes()
            size = len(gzip.compress(data, 9))
            say(f"{path.relative_to(ROOT)}: {len(data)} bytes, {size} gzipped")
    return code


class Half:
    """One pytest run of the suite and what it counted (from its JUnit XML report)."""

    def __init__(self, label: str, env: dict[str, str], marks: list[str]) -> None:
        self.label, self.env, self.marks = label, env, marks
        self.code = -1
        self.passed = self.failed = self.skipped = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.report: Path | None = None
        self.log: Path | None = None

    def run(self, python: Path, args: list[str], report: Path, coverage: Path) -> None:
        """pytest under coverage (its data into `coverage`; the settings in pyproject.toml),
        its output on this terminal."""
        self.start(python, args, report, coverage)
        self.finish()

    def start(
        self, python: Path, args: list[str], report: Path, coverage: Path, log: Path | None = None
    ) -> None:
        """Start pytest under coverage; with `log`, its output goes there (shown by finish)."""
        env = {**os.environ, **self.env}
        measured: list[str | Path] = [
            python, "-m", "coverage", "run", f"--data-file={coverage}", "-m", "pytest"
        ]  # fmt: skip
        # The slowest tests are named at the end of each log, for keeping CI short.
        slowest = ["--durations=15", "--durations-min=5"]
        command = [
            str(part) for part in [*measured, *self.marks, *slowest, f"--junitxml={report}", *args]
        ]
        say(f"the suite on {self.label}: $ " + shlex.join(command))
        self.report, self.log = report, log
        sink = log.open("wb") if log is not None else None
        try:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT if sink else None
            )
        finally:
            if sink is not None:
                sink.close()

    def finish(self) -> None:
        """Wait for pytest, show its output if it went to a log, and count what it ran."""
        if self.process is None:
            raise RuntimeError("Half.finish() before Half.start()")
        self.code = self.process.wait()
        if self.log is not None:
            say(f"the suite on {self.label}, its output:")
            sys.stdout.flush()
            with self.log.open("rb") as shown:
                shutil.copyfileobj(shown, sys.stdout.buffer)
            sys.stdout.flush()
        if self.report is not None and self.report.exists():
            counted = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
            for suite in ET.parse(self.report).getroot().iter("testsuite"):
                for key in counted:
                    counted[key] += int(suite.get(key, "0"))
            self.failed = counted["failures"] + counted["errors"]
            self.skipped = counted["skipped"]
            self.passed = counted["tests"] - self.failed - self.skipped

    def summary(self) -> str:
        why = {
            0: "ok",
            1: "tests failed",
            2: "interrupted",
            3: "pytest internal error",
            4: "pytest usage error",
            5: "no test was collected",
        }.get(self.code, "stopped")
        counts = f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"
        return f"{self.label}: {counts} (pytest exit {self.code}: {why})"


def test(args: list[str]) -> int:
    """Both halves always run, so a failure on SQLite still shows the PostgreSQL result. The
    PostgreSQL half runs only the tests that get a database from the fixtures (tests/conftest.py
    deselects the others, which do the same on either backend), and leaves out the browser
    tests, which would repeat the first half, but for those marked `postgres_half`: the
    widget's browser tests run there instead of in the SQLite half, against a server on
    PostgreSQL, so the halves take about as long (the widget's API runs on both by tests/api/)."""
    python = ensure("test")
    ensure_node()  # tests/widget/test_widget_build.py rebuilds the widget
    halves = [
        Half("SQLite", {"UPLIFT_TEST_DATABASE": "sqlite"}, ["-m", "not postgres_half"]),
        Half(
            "PostgreSQL",
            {"UPLIFT_TEST_DATABASE": "postgres"},
            ["-m", "not browser or postgres_half"],
        ),
    ]
    with (
        tempfile.TemporaryDirectory(prefix="uplift-test-") as reports,
        tempfile.TemporaryDirectory(prefix="uplift-test-files-", dir=_memory()) as files,
    ):
        # The SQLite half's files (each test's database, the served ones) go to a memory-backed
        # directory when there is one: real SQLite files, every fsync still made, but it costs
        # nothing there, as the PostgreSQL half's cluster runs with fsync=off. Both are the
        # suite's throwaway data; durability is tested by killing processes, not machines.
        halves[0].env["TMPDIR"] = files
        data = [Path(reports) / f".coverage.half{number}" for number in range(len(halves))]
        # The halves run at once: most of either one waits on fsync, sockets and subprocesses
        # (the emulator, `uplift serve`, Chromium), so together they take little more than the
        # longer one. Each writes to a log of its own, shown whole when it ends.
        for number, half in enumerate(halves):
            folder = Path(reports)
            half.start(
                python,
                args,
                folder / f"half{number}.xml",
                data[number],
                log=folder / f"half{number}.log",
            )
        for half in halves:
            half.finish()
        covered = coverage_report(python, data, Path(reports) / ".coverage", whole=not args)
    return verdict(halves, covered=covered)


def _memory() -> str | None:
    """The shared-memory directory when it is writable (a tmpfs on Linux), else the default."""
    shm = Path("/dev/shm")  # noqa: S108 -- a directory of our own is made inside it
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def coverage_report(python: Path, data: list[Path], combined: Path, *, whole: bool) -> bool:
    """Both halves' coverage combined, reported; for the whole suite (no ARGS), held to
    `fail_under` in pyproject.toml. True when it holds (or a part of the suite was run)."""
    found = [str(path) for path in data if path.exists()]
    if not found:
        say("no coverage data was written")
        return not whole
    must([python, "-m", "coverage", "combine", "-q", f"--data-file={combined}", *found], cwd=ROOT)
    limit = [] if whole else ["--fail-under=0"]  # a part of the suite covers a part
    code = run([python, "-m", "coverage", "report", f"--data-file={combined}", *limit], cwd=ROOT)
    return code == 0


def verdict(halves: list[Half], *, covered: bool = True) -> int:
    """Print each half's result and the plain closing line; 0 only when every half passed, at
    least one test ran (a run that executed no test, or a half that stopped, fails) and the
    coverage threshold held."""
    passed = sum(h.passed for h in halves)
    failed = sum(h.failed for h in halves)
    skipped = sum(h.skipped for h in halves)
    print("", *(h.summary() for h in halves), sep="\n")
    if not covered:
        print("coverage: below the threshold (fail_under in pyproject.toml)")
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    ok = passed > 0 and failed == 0 and all(h.code == 0 for h in halves) and covered
    return 0 if ok else 1


def build_requires() -> list[str]:
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["build-system"]["requires"])


def lock(args: list[str]) -> int:
    """Re-resolve every lock from pyproject.toml's ranges (newest allowed versions, hashes of
    every file on the index, markers for every platform and Python from the floor up). uv
    compiles; pip installs. test.txt first, the smaller locks constrained by it."""
    with tempfile.TemporaryDirectory(prefix="uplift-lock-") as scratch:
        tools = Path(scratch) / "venv"
        make_venv(tools)
        tool_python = venv_python(tools)
        must([tool_python, "-m", "pip", "install", "-q", "--require-hashes", "-r", TOOLS_LOCK])
        uv = tools / ("Scripts" if os.name == "nt" else "bin") / "uv"
        build = Path(scratch) / "build.in"
        build.write_text("\n".join(build_requires()) + "\n")  # the editable install's backend
        common: list[str | Path] = [
            uv, "pip", "compile", "--quiet", "--universal", "--python-version", PYTHON_FLOOR,
            "--generate-hashes",
            "--custom-compile-command", "python3 dev.py lock", *args,
        ]  # fmt: skip
        for name in ("test", "demo", "base"):
            extras = [f"--extra={extra}" for extra in EXTRAS[name]]
            constrained: list[str | Path] = []
            if name != "test":
                constrained = ["--constraint", REQUIREMENTS / "test.txt"]
            must(
                [
                    *common,
                    *extras,
                    *constrained,
                    "pyproject.toml",
                    build,
                    "-o",
                    REQUIREMENTS / f"{name}.txt",
                ],
                cwd=ROOT,
                env={**os.environ, "UV_NO_CONFIG": "1"},
            )
            relative(REQUIREMENTS / f"{name}.txt", scratch)
        tools_in = Path(scratch) / "tools.in"
        tools_in.write_text("uv\n")
        must([*common, tools_in, "-o", TOOLS_LOCK], cwd=ROOT)
        relative(TOOLS_LOCK, scratch)
    say("locks written; run `python3 dev.py test` before committing them")
    return 0


def relative(lock_file: Path, scratch: str) -> None:
    """uv names its inputs in `# via` comments; the scratch file's path would change every run."""
    text = lock_file.read_text().replace(f"{scratch}/build.in", "build-system.requires")
    lock_file.write_text(text.replace(f"{scratch}/tools.in", "uv"))


def env(args: list[str]) -> int:
    ensure(args[0] if args else "test")
    say(f"ready: {venv_dir()} (activate with `. {venv_dir()}/bin/activate`)")
    return 0


COMMANDS = {
    "demo": demo,
    "test": test,
    "check": check,
    "widget": widget,
    "lock": lock,
    "env": env,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print((__doc__ or "").strip(), file=sys.stderr)
        return 2
    os.chdir(ROOT)
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
