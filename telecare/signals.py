"""How every long-running subcommand stops: SIGTERM or SIGINT sets one event the parts watch."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT; call from the running event loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Not available on every platform's loop; Ctrl-C then ends the process the default way.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop
