"""OpenAPI-driven fuzzing with Schemathesis (every check) as admin, operator, provider and reviewer, as JSON.

Usage: .venv/bin/python -m bench.api_fuzz [--max-examples 100] [--seed 13] [--out bench/results/api_fuzz.json]
Creates a scratch database and a private broker (removed afterwards), serves the real
API over real HTTP on a free port, and runs the `st` command line against /openapi.json once per role.
The truth is Schemathesis' own checks against the published document: nothing here is imported from
the routers it judges. The live stream (an endless response) is left out; tests/test_api_live.py covers it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from api.auth import Role, issue_token
from api.main import ApiOptions, serve_api
from bench.scratch import scratch_stack
from telecare.settings import Settings
from telecare.site import SiteFile, provision_site

ROLES = ("admin", "operator", "provider", "reviewer")
# An endless response: Schemathesis would wait for it to end.
EXCLUDED_OPERATIONS = ("streamAlerts",)
# The one documented allowance (rules across fields that JSON Schema cannot state) lives in this file.
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True, slots=True)
class FuzzWorld:
    """What the fuzzer is pointed at: a token per role and the ids that exist."""

    tokens: dict[str, str]
    resident_id: str
    org_id: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def seed_world(*, connection: asyncpg.Connection, unique: str) -> FuzzWorld:
    """Two organisations with a resident, devices and open alerts each; one token per role in the first."""
    org_ids = [f"fz{n}-{unique}" for n in (1, 2)]
    for org_id in org_ids:
        site = SiteFile.model_validate({
            "organisation": {"id": org_id, "name": f"Fuzz {org_id}"},
            "residents": [{"id": f"r-{org_id}", "name": f"Resident {org_id}", "flat": "1",
                           "hubs": [{"id": f"h-{org_id}", "devices": [
                               {"friendly_name": "pendant", "type": "personal_trigger", "location": "bedroom"},
                               {"friendly_name": "hall", "type": "pir", "location": "hallway"}]}]}],
        })
        await provision_site(connection=connection, site=site)
        for condition in ("fall", "pendant_press"):
            alert_id = await connection.fetchval(
                "INSERT INTO alerts (run, org_id, resident_id, subject_key, condition, priority, base_priority,"
                " raised_at, detected_at, last_event_at) VALUES ('live', $1, $2, $2, $3, 2, 2, now(), now(), now())"
                " RETURNING alert_id", org_id, f"r-{org_id}", condition)
            await connection.execute("INSERT INTO alert_history (alert_id, action, actor, to_status)"
                                     " VALUES ($1, 'raised', 'rules', 'raised')", alert_id)
    own, resident = org_ids[0], f"r-{org_ids[0]}"
    scopes = {"admin": (Role.ADMIN, [], []), "operator": (Role.OPERATOR, [own], []),
              "provider": (Role.PROVIDER, [own], []), "reviewer": (Role.REVIEWER, [own], [resident])}
    tokens = {name: await issue_token(connection=connection, user_id=f"fz-{name}-{unique}", role=role, org_ids=orgs,
                                      resident_ids=residents)
              for name, (role, orgs, residents) in scopes.items()}
    return FuzzWorld(tokens=tokens, resident_id=resident, org_id=own)


@contextlib.asynccontextmanager
async def served_api(*, settings: Settings) -> AsyncIterator[str]:
    """The real API on a free port for the length of the block; yields its base URL."""
    api_settings = settings.model_copy(update={"api_host": "127.0.0.1", "api_port": _free_port(),
                                               "log_level": "ERROR"})
    stop, started = asyncio.Event(), asyncio.Event()
    # Schemathesis' ignored_auth check sends many requests without a token from one address: the failed
    # sign-in limiter (tested on its own) would answer 429 to those, which is not what is judged here.
    task = asyncio.create_task(serve_api(settings=api_settings, stop=stop, started=started,
                                         options=ApiOptions(max_failed_sign_ins=1_000_000)), name="fuzz-api")
    await asyncio.wait_for(started.wait(), timeout=30)
    try:
        yield f"http://127.0.0.1:{api_settings.api_port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def run_schemathesis(*, base_url: str, token: str, max_examples: int, seed: int, report: Path,
                           phases: str | None = None) -> dict[str, Any]:
    """One `st run` with every check as the token's user; returns its exit code, counts and failures."""
    command = [str(Path(sys.executable).parent / "st"), "--config-file", str(CONFIG), "run", f"{base_url}/openapi.json",
               "--checks", "all",
               "--header", f"Authorization: Bearer {token}", "--max-examples", str(max_examples),
               "--seed", str(seed), "--workers", "1", "--request-timeout", "20", "--no-color",
               "--suppress-health-check", "all", "--report", "ndjson", "--report-ndjson-path", str(report)]
    if phases is not None:
        command += ["--phases", phases]
    for operation_id in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation_id]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    seconds = round(time.perf_counter() - started, 1)
    text = output.decode(errors="replace")
    await asyncio.to_thread(report.with_suffix(".txt").write_text, text)
    summary = await asyncio.to_thread(summarise_report, report=report)
    return {"exit_code": process.returncode, "seconds": seconds, **summary, "output_tail": text[-4000:]}


def summarise_report(*, report: Path) -> dict[str, Any]:
    """Requests, statuses, server errors and failed checks from Schemathesis' NDJSON event log."""
    statuses: dict[str, int] = {}
    failures: list[str] = []
    operations: set[str] = set()
    if not report.exists():
        return {"requests": 0, "statuses": statuses, "server_errors": 0, "failures": ["no report written"]}
    for line in report.read_text().splitlines():
        _collect(event=json.loads(line), statuses=statuses, failures=failures, operations=operations)
    server_errors = sum(count for status, count in statuses.items() if status.startswith("5"))
    return {"requests": sum(statuses.values()), "operations": len(operations),
            "statuses": dict(sorted(statuses.items())), "server_errors": server_errors,
            "failures": sorted(set(failures))}


def _collect(*, event: Any, statuses: dict[str, int], failures: list[str], operations: set[str]) -> None:
    """Walk one event: every response's status, every operation's label, every failed check's title."""
    if isinstance(event, dict):
        response = event.get("response")
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            key = str(response["status_code"])
            statuses[key] = statuses.get(key, 0) + 1
        label = event.get("label")
        if isinstance(label, str) and label.split(" ", 1)[0] in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            operations.add(label)
        if event.get("status") in ("FAILURE", "failure") and isinstance(event.get("name"), str):
            failures.append(f"{event.get('name')}: {str(event.get('failure_info') or '')[:300]}")
        for value in event.values():
            _collect(event=value, statuses=statuses, failures=failures, operations=operations)
    elif isinstance(event, list):
        for value in event:
            _collect(event=value, statuses=statuses, failures=failures, operations=operations)


async def fuzz_all_roles(*, settings: Settings, connection: asyncpg.Connection, max_examples: int, seed: int,
                         report_dir: Path, roles: tuple[str, ...] = ROLES,
                         phases: str | None = None) -> dict[str, Any]:
    """Seed a world, serve the API, run Schemathesis once per role; per-role results."""
    world = await seed_world(connection=connection, unique=secrets.token_hex(3))
    results: dict[str, Any] = {}
    async with served_api(settings=settings) as base_url:
        for role in roles:
            results[role] = await run_schemathesis(base_url=base_url, token=world.tokens[role],
                                                   max_examples=max_examples, seed=seed,
                                                   report=report_dir / f"schemathesis-{role}.ndjson",
                                                   phases=phases)
    return results


async def _main(*, max_examples: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    async with scratch_stack(prefix="fuzz") as stack:
        settings = Settings(database_url=stack.database_url, mqtt_url=stack.broker.url, dev_mode=True)
        connection = await asyncpg.connect(stack.database_url)
        try:
            results = await fuzz_all_roles(settings=settings, connection=connection, max_examples=max_examples,
                                           seed=seed, report_dir=Path("bench/results/schemathesis"))
        finally:
            await connection.close()
    for result in results.values():
        result.pop("output_tail", None) if result["exit_code"] == 0 else None
    summary = {
        "bench": "api_fuzz", "tool": "schemathesis --checks all", "max_examples_per_operation": max_examples,
        "seed": seed, "excluded_operations": list(EXCLUDED_OPERATIONS),
        "requests": sum(r["requests"] for r in results.values()),
        "server_errors": sum(r["server_errors"] for r in results.values()),
        "failed_checks": sum(len(r["failures"]) for r in results.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "note": "2 shared cores; other engineers' work was running on the machine at the same time",
        "roles": results,
    }
    return summary


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    Path("bench/results/schemathesis").mkdir(parents=True, exist_ok=True)
    summary = asyncio.run(_main(max_examples=args.max_examples, seed=args.seed))
    text = json.dumps(summary, indent=2, default=str)
    sys.stdout.write(text + "\n")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if summary["server_errors"] == 0 and summary["failed_checks"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
