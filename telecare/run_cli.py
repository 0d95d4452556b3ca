"""`telecare run`: the whole service in one process (ingest, rules, evidence, API), optionally with a simulated
scheme.

The composition root: each part is the same code its own subcommand runs, each in a named task of
one TaskGroup, all stopped together by SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
import tempfile
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from telecare.db.migrate import ensure_database, migrate
from telecare.local_broker import BrokerError, LocalBroker
from telecare.settings import Settings
from telecare.signals import stop_on_signals

log = logging.getLogger(__name__)

PartRunner = Callable[..., Coroutine[Any, Any, None]]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `telecare run`."""
    run = subparsers.add_parser(
        "run", help="ingest, rules, evidence and API in one process, optionally with simulated homes")
    run.add_argument("--local-broker", action="store_true",
                     help="start a private Mosquitto from deploy/mosquitto (persistent, big queues) and use it")
    run.add_argument("--broker-port", type=int, default=18830, metavar="PORT",
                     help="port of the private broker started by --local-broker (default 18830)")
    run.add_argument("--simulate-flats", type=int, default=0, metavar="N",
                     help="simulate a scheme of N flats in real time (default 0: none)")
    run.add_argument("--seed", type=int, default=1, help="seed of the simulated scheme (default 1)")
    run.add_argument("--speed", type=float, default=1.0,
                     help="simulated seconds per real second (default 1: real time; 60 plays a night in 8 min)")
    run.add_argument("--demo-calls-per-hour", type=float, default=4.0, metavar="N",
                     help="with --simulate-flats: extra pendant presses per hour across the scheme, the first "
                          "20 s after start, so the console has something to handle (default 4; 0: off)")
    run.add_argument("--no-api", action="store_true", help="run without the API and console")
    run.set_defaults(handler=_run)


def _optional_part(module_name: str, attribute: str) -> PartRunner | None:
    """A part that may not be installed in this build (the API, the simulators)."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    part: PartRunner | None = getattr(module, attribute, None)
    return part


async def _announce_console(*, settings: Settings, org_id: str, stop: asyncio.Event) -> None:
    """Dev mode with a simulated scheme: issue an operator token for it and say where the console is."""
    try:
        auth: Any = importlib.import_module("api.auth")
    except ModuleNotFoundError:
        return
    connection = await asyncpg.connect(settings.database_url)
    try:
        for _ in range(120):  # the scheme provisions its organisation a moment after start
            if stop.is_set():
                return
            if await connection.fetchval("SELECT 1 FROM organisations WHERE org_id = $1", org_id):
                break
            await asyncio.sleep(0.5)
        else:
            log.warning("the simulated organisation %s never appeared; no console token issued", org_id)
            return
        token: str = await auth.issue_token(connection=connection, user_id="demo-operator", role=auth.Role.OPERATOR,
                                            org_ids=[org_id], resident_ids=[], label="telecare run (dev mode)",
                                            expires_at=datetime.now(UTC) + timedelta(days=1))
    finally:
        await connection.close()
    sys.stdout.write(
        f"\nConsole: http://{settings.api_host}:{settings.api_port}/console/\n"
        f"Operator token for {org_id} (dev mode only; paste it into the console): {token}\n\n"
    )
    sys.stdout.flush()


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    # The service's heavy imports are paid only by the command that runs it (every `telecare` call builds
    # the whole parser).
    from ingest.service import run_ingest  # noqa: PLC0415
    from rules.worker import WorkerOptions, run_worker  # noqa: PLC0415

    stop = stop_on_signals()
    broker: LocalBroker | None = None
    if args.local_broker:
        broker = LocalBroker(data_dir=Path(tempfile.gettempdir()) / f"telecare-run-mosquitto-{args.broker_port}",
                             port=args.broker_port)
        try:
            broker.start()
        except BrokerError as exc:
            sys.stderr.write(f"telecare run: local broker not started: {exc}\n")
            return 2
        settings = settings.model_copy(update={"mqtt_url": broker.url})
        log.info("private broker at %s", broker.url)
    try:
        await ensure_database(database_url=settings.database_url)
        await migrate(database_url=settings.database_url)
        async with asyncio.TaskGroup() as parts:
            parts.create_task(run_ingest(settings=settings, stop=stop), name="ingest")
            parts.create_task(run_worker(database_url=settings.database_url, options=WorkerOptions(), stop=stop),
                              name="rules")
            evidence = _optional_part("models.scheduler", "run_evidence_scheduler")
            if evidence is not None:
                parts.create_task(evidence(settings=settings, stop=stop), name="evidence-scheduler")
            serve_api = None if args.no_api else _optional_part("api.main", "serve_api")
            if serve_api is not None:
                parts.create_task(serve_api(settings=settings, stop=stop), name="api")
            if args.simulate_flats:
                simulate = _optional_part("simulators.live", "run_live_scheme")
                if simulate is None:
                    log.error("the simulators are not installed; running without a simulated scheme")
                else:
                    parts.create_task(simulate(settings=settings, flats=args.simulate_flats, seed=args.seed,
                                               speed=args.speed, stop=stop,
                                               demo_calls_per_hour=args.demo_calls_per_hour),
                                      name="simulated-scheme")
                    if settings.dev_mode and serve_api is not None:
                        parts.create_task(_announce_console(settings=settings, org_id="demo-org", stop=stop),
                                          name="console-announcement")
    finally:
        if broker is not None:
            broker.stop()
    return 0
