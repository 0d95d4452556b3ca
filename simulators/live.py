"""A simulated scheme publishing in real time, as a part of `telecare run` (something to watch)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from telecare.cli import build_parser
from telecare.settings import Settings

# Long enough for any demo; the scenario is generated a day at a time, so this costs nothing up front.
_DEMO_HOURS = 30 * 24
DEMO_ORG = "demo-org"


async def run_live_scheme(*, settings: Settings, flats: int, seed: int, speed: float, stop: asyncio.Event,
                          demo_calls_per_hour: float = 0.0) -> None:
    """Provision and publish `flats` simulated flats until `stop` is set (same path as `simulate scheme`)."""
    pace = ["--realtime"] if speed == 1.0 else ["--speed", str(speed)]
    out = Path(tempfile.gettempdir()) / f"telecare-run-scheme-{seed}"
    args = build_parser().parse_args([
        "simulate", "scheme", "--flats", str(flats), *pace, "--provision", "--hours", str(_DEMO_HOURS),
        "--seed", str(seed), "--out", str(out), "--prefix", "demo", "--org", DEMO_ORG,
        "--demo-calls-per-hour", str(demo_calls_per_hour),
    ])
    scheme = asyncio.create_task(args.handler(args, settings), name="simulated-scheme-publisher")
    stopped = asyncio.create_task(stop.wait(), name="simulated-scheme-stop")
    await asyncio.wait({scheme, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (scheme, stopped):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
