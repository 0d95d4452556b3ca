"""Queue under load: 500 open alerts, 20 live consoles; list latency and stream delay, printed as JSON.

Usage: .venv/bin/python -m bench.api_queue_load [--alerts 500] [--consoles 20] [--changes 100]
Creates a scratch database next to TELECARE_DATABASE_URL's server and drops it afterwards. Server and
consoles share this process (and the 2 cores), so the delays are an upper bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import time
from typing import Any

import asyncpg
import httpx

from api.auth import Role, issue_token
from api.main import serve_api
from rules import lifecycle
from telecare.db.migrate import migrate
from telecare.settings import load_settings


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _seed(*, url: str, alerts: int) -> str:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("INSERT INTO organisations (org_id, name) VALUES ('bench', 'Bench')")
        residents = max(1, alerts // 10)
        await connection.execute(
            "INSERT INTO residents (resident_id, org_id, display_name) SELECT 'r' || i, 'bench', 'Resident ' || i"
            " FROM generate_series(1, $1) i", residents)
        await connection.execute(
            "INSERT INTO alerts (run, org_id, resident_id, subject_key, condition, priority, base_priority, raised_at,"
            " detected_at, last_event_at, queued_at) SELECT 'live', 'bench', 'r' || (i % $2 + 1), 'r' || (i % $2 + 1),"
            " 'c' || (i / $2), 1 + i % 8, 1 + i % 8, now(), now(), now(), now() - i * interval '1 second'"
            " FROM generate_series(0, $1 - 1) i", alerts, residents)
        await connection.execute("INSERT INTO alert_history (alert_id, action, actor, to_status)"
                                 " SELECT alert_id, 'raised', 'bench', 'raised' FROM alerts")
        return await issue_token(connection=connection, user_id="bench-operator", role=Role.OPERATOR,
                                 org_ids=["bench"], resident_ids=[])
    finally:
        await connection.close()


async def _console(*, base_url: str, token: str, received: dict[tuple[int, str], float],
                   ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=None) as http, http.stream(
            "GET", "/api/alerts/stream", headers={"Authorization": f"Bearer {token}"}) as response:
        ready.set()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                now = time.monotonic()
                body = json.loads(line[6:])
                key = (body["alert"]["alert_id"], body["change"])
                received.setdefault(key, now)


async def run(*, alerts: int, consoles: int, changes: int, list_requests: int) -> dict[str, Any]:
    """Run the benchmark against a scratch database; returns the figures."""
    base = load_settings(dev_mode=True)
    name = f"telecare_bench_{secrets.token_hex(4)}"
    server_url, _, _ = base.database_url.rpartition("/")
    admin = await asyncpg.connect(f"{server_url}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server_url}/{name}"
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        await migrate(database_url=url)
        token = await _seed(url=url, alerts=alerts)
        with contextlib.closing(__import__("socket").socket()) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings = base.model_copy(update={"database_url": url, "api_port": port, "log_level": "WARNING"})
        started = asyncio.Event()
        tasks.append(asyncio.create_task(serve_api(settings=settings, stop=stop, started=started)))
        await asyncio.wait_for(started.wait(), timeout=20)
        base_url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
            baseline, listing = [], []
            for _ in range(list_requests):
                t0 = time.perf_counter()
                (await http.get("/healthz")).raise_for_status()
                baseline.append(time.perf_counter() - t0)
            for _ in range(list_requests):
                t0 = time.perf_counter()
                response = await http.get("/api/alerts", params={"limit": 1000})
                listing.append(time.perf_counter() - t0)
                assert len(response.json()["alerts"]) == alerts
        # Each console keeps its own received map (per-client delays).
        per_console: list[dict[tuple[int, str], float]] = [{} for _ in range(consoles)]
        readies = [asyncio.Event() for _ in range(consoles)]
        for received, ready in zip(per_console, readies, strict=True):
            tasks.append(asyncio.create_task(_console(base_url=base_url, token=token, received=received,
                                                      ready=ready)))
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), timeout=20)
        await asyncio.sleep(0.5)
        sent: dict[tuple[int, str], float] = {}
        connection = await asyncpg.connect(url)
        try:
            ids = [row["alert_id"] for row in await connection.fetch(
                "SELECT alert_id FROM alerts ORDER BY alert_id LIMIT $1", changes // 2 + 1)]
            for n in range(changes):
                alert_id = ids[n // 2]
                change = "claim" if n % 2 == 0 else "release"
                sent[(alert_id, change)] = time.monotonic()
                step = lifecycle.claim if change == "claim" else lifecycle.release
                await step(connection=connection, alert_id=alert_id, user_id="bench-operator")
                await asyncio.sleep(0.05)
        finally:
            await connection.close()
        await asyncio.sleep(1.5)
        delays = [received[key] - at for received in per_console for key, at in sent.items() if key in received]
        missing = sum(1 for received in per_console for key in sent if key not in received)
        return {
            "alerts": alerts, "consoles": consoles, "changes": changes,
            "list_ms": {"p50": round(statistics.median(listing) * 1000, 2),
                        "p95": round(_percentile(listing, 0.95) * 1000, 2),
                        "baseline_healthz_p50": round(statistics.median(baseline) * 1000, 2),
                        "ratio_p50_to_baseline": round(statistics.median(listing) / statistics.median(baseline), 1)},
            "stream_delay_ms": {"p50": round(statistics.median(delays) * 1000, 1),
                                "p99": round(_percentile(delays, 0.99) * 1000, 1),
                                "max": round(max(delays) * 1000, 1)},
            "deliveries": len(delays), "missing_deliveries": missing,
            "targets_met": {"list_p95_under_100ms": _percentile(listing, 0.95) < 0.1,
                            "stream_p99_under_1s": _percentile(delays, 0.99) < 1.0 and missing == 0},
        }
    finally:
        stop.set()
        # Consoles first, then let the server finish its graceful shutdown rather than cancelling it.
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tasks[0], timeout=15)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> int:
    """Entry point: print the figures as one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--consoles", type=int, default=20)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--list-requests", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(run(alerts=args.alerts, consoles=args.consoles, changes=args.changes,
                             list_requests=args.list_requests))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
