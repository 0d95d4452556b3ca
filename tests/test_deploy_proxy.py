"""The shipped nginx config in front of two real `telecare api` processes: the live queue survives the
death of the process serving it, without losing an alert."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api_helpers import World, build_world, free_port, raise_alert

REPO = Path(__file__).resolve().parent.parent
NGINX_CONFIG = REPO / "deploy" / "nginx" / "telecare.conf"


def _nginx_binary() -> str:
    found = shutil.which("nginx") or str(REPO / ".nginx" / "usr" / "sbin" / "nginx")
    assert Path(found).exists(), "nginx is missing: run scripts/setup.sh"
    return found


def _render(*, work: Path, port: int, api_ports: tuple[int, int]) -> Path:
    """The shipped server block with this test's ports and certificates, inside a minimal main config."""
    server = NGINX_CONFIG.read_text(encoding="utf-8")
    for shipped, ours in (("listen 443 ssl", f"listen 127.0.0.1:{port} ssl"), ("/etc/telecare/tls/", f"{work}/tls/"),
                          ("127.0.0.1:8081", f"127.0.0.1:{api_ports[0]}"),
                          ("127.0.0.1:8082", f"127.0.0.1:{api_ports[1]}")):
        assert shipped in server, f"deploy/nginx/telecare.conf no longer has {shipped!r}"
        server = server.replace(shipped, ours)
    (work / "telecare.conf").write_text(server, encoding="utf-8")
    main = work / "nginx.conf"
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    # Temporary folders too: the packaged defaults (/var/lib/nginx) exist only where the package is installed.
    temp_paths = " ".join(f"{kind}_temp_path {work}/{kind};" for kind in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(f"{user}worker_processes 1;\nerror_log {work}/error.log;\npid {work}/nginx.pid;\n"
                    "events { worker_connections 256; }\n"
                    f"http {{ access_log {work}/access.log; {temp_paths} include {work}/telecare.conf; }}\n",
                    encoding="utf-8")
    return main


def _start_nginx(*, work: Path, config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([_nginx_binary(), "-p", str(work), "-c", str(config), "-g", "daemon off;"],
                            stderr=(work / "nginx.stderr").open("ab"))


def _start_api(*, database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TELECARE_DATABASE_URL": database_url, "TELECARE_DEV_MODE": "true",
           "TELECARE_API_PORT": str(port), "TELECARE_LOG_LEVEL": "WARNING"}
    with log.open("ab") as handle:
        return subprocess.Popen([str(Path(sys.executable).parent / "telecare"), "api"], env=env, stdout=handle,
                                stderr=handle)


async def _wait_healthy(url: str, *, ca: Path | None = None) -> None:
    verify = ssl.create_default_context(cafile=str(ca)) if ca else True
    async with httpx.AsyncClient(timeout=1, verify=verify) as http, asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(1.0)


@pytest.fixture
def proxy_work(tmp_path: Path) -> Iterator[Path]:
    """A folder with the site's certificates for nginx."""
    subprocess.run([str(REPO / "deploy/scripts/make_site_ca.sh"), str(tmp_path / "tls"), "127.0.0.1"], check=True,
                   capture_output=True, timeout=60)
    yield tmp_path


async def _read(response: httpx.Response, into: asyncio.Queue[dict[str, Any]]) -> None:
    event_id = None
    with contextlib.suppress(httpx.HTTPError):
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                await into.put({"id": event_id, **json.loads(line[6:]), "at": time.monotonic()})
    await into.put({"ended": True})


@contextlib.asynccontextmanager
async def _console(*, base_url: str, ca: Path, world: World,
                   last_event_id: int | None = None) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    headers = world.headers("operator_a") | ({"Last-Event-ID": str(last_event_id)} if last_event_id else {})
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    tls = ssl.create_default_context(cafile=str(ca))
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None), verify=tls) as http, \
            http.stream("GET", "/api/alerts/stream", headers=headers) as response:
        assert response.status_code == 200
        reader = asyncio.create_task(_read(response, events))
        await asyncio.sleep(0.3)
        try:
            yield events
        finally:
            reader.cancel()


async def test_live_queue_resumes_on_another_api_process(db: asyncpg.Connection, database_url: str, unique: str,
                                                         proxy_work: Path) -> None:
    """The console streams through nginx from API process A; A is SIGKILLed; an alarm is raised while
    the console is cut off; it reconnects through the same address with Last-Event-ID, is served by
    process B, and gets that alarm, then new ones live, each once."""
    world = await build_world(db=db, unique=unique)
    api_ports = (free_port(), free_port())
    proxy_port = free_port()
    config = _render(work=proxy_work, port=proxy_port, api_ports=api_ports)
    base_url, ca = f"https://127.0.0.1:{proxy_port}", proxy_work / "tls" / "ca.crt"
    api_a = _start_api(database_url=database_url, port=api_ports[0], log=proxy_work / "api-a.log")
    api_b: subprocess.Popen[bytes] | None = None
    nginx = _start_nginx(work=proxy_work, config=config)
    try:
        await _wait_healthy(f"http://127.0.0.1:{api_ports[0]}")
        await _wait_healthy(base_url, ca=ca)
        # Only A is up, so the console's stream is A's.
        async with _console(base_url=base_url, ca=ca, world=world) as events:
            first = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
            seen = await asyncio.wait_for(events.get(), timeout=5)
            assert (seen["alert"]["alert_id"], seen["change"]) == (first, "raised")
            api_b = _start_api(database_url=database_url, port=api_ports[1], log=proxy_work / "api-b.log")
            await _wait_healthy(f"http://127.0.0.1:{api_ports[1]}")
            api_a.send_signal(signal.SIGKILL)
            await asyncio.to_thread(api_a.wait, 10)
            assert (await asyncio.wait_for(events.get(), timeout=10)).get("ended"), "the stream should end with A"
        missed = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="smoke",
                                   priority=1)
        # The console retries each second (api/static/app.js) until the proxy has a live process again.
        await _wait_healthy(base_url, ca=ca)
        async with _console(base_url=base_url, ca=ca, world=world, last_event_id=seen["id"]) as events:
            caught_up = await asyncio.wait_for(events.get(), timeout=10)
            assert (caught_up["alert"]["alert_id"], caught_up["change"]) == (missed, "raised")
            raised_at = time.monotonic()
            live = await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a, condition="flood")
            event = await asyncio.wait_for(events.get(), timeout=5)
            assert (event["alert"]["alert_id"], event["change"]) == (live, "raised")
            # Through the proxy as it happens: nginx does not buffer the stream.
            assert event["at"] - raised_at < 1.0
            await asyncio.sleep(0.5)
            assert events.empty(), "nothing sent twice"
    finally:
        for process in (nginx, api_a, api_b):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
