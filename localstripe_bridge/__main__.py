"""`python -m localstripe_bridge [--host 127.0.0.1] [--port 0] [--state-file PATH]`

Prints exactly one line to stdout once it accepts connections,
`localstripe-bridge listening on http://127.0.0.1:PORT`, which is how EmulatorProcess (and anyone
else starting it) learns the port. Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from localstripe_bridge import network

READY = "localstripe-bridge listening on {url}"
PARENT_POLL_SECONDS = 0.2


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localstripe_bridge",
        description="localstripe with the bridges Uplift needs, on loopback only.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the default)")
    parser.add_argument(
        "--state-file",
        type=Path,
        help="load state from and save it to this file (default: in memory, fresh every run)",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        help="exit once PID is no longer the parent process (EmulatorProcess passes its own pid)",
    )
    return parser.parse_args(argv)


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    # If the parent is killed without stopping us, we are re-parented: stop instead of lingering.
    # (Polling, because no event fires when a parent dies.)
    while True:
        if os.getppid() != pid:
            stop.set()
            return
        await asyncio.sleep(PARENT_POLL_SECONDS)


async def _run(args: argparse.Namespace, sock: socket.socket) -> None:
    from localstripe_bridge import server  # imports localstripe and aiohttp

    app = server.build_app(args.state_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = None
    if args.parent_pid is not None:
        watcher = asyncio.create_task(_watch_parent(args.parent_pid, stop))
    url = network.url_of(sock)
    try:
        await server.serve(
            sock,
            app,
            stop,
            ready=lambda: print(READY.format(url=url), flush=True),  # noqa: T201 -- ready line
        )
    finally:
        if watcher is not None:
            watcher.cancel()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        sock = network.listen(args.host, args.port)
    except network.NotLoopback:
        print(  # noqa: T201 -- the command's one-line error
            f"localstripe-bridge: refusing to listen on {args.host!r}: "
            "only loopback addresses (127.0.0.1, ::1, localhost) are allowed",
            file=sys.stderr,
        )
        return 2
    asyncio.run(_run(args, sock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
