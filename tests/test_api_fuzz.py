"""Schema-driven fuzzing: requests generated from the OpenAPI document never get a 500 or a leaked internal."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from api.main import create_app
from bench.api_fuzz import EXCLUDED_OPERATIONS, fuzz_all_roles
from telecare.settings import Settings
from tests.api_helpers import World, build_world, free_port, raise_alert

pytestmark = pytest.mark.slow

SKIPPED = {"streamAlerts"}  # an endless response; covered by tests/test_api_live.py
LEAKS = ("Traceback", "asyncpg", "SELECT ", "INSERT ", "psycopg", 'File "', "Exception")


class _ThreadedApi:
    """The API on its own event loop in a thread, so a synchronous Hypothesis test can call it."""

    def __init__(self, *, settings: Settings) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={"api_port": self.port, "log_level": "ERROR"})
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fuzz-api", daemon=True)

    def _run(self) -> None:
        from api.main import ApiOptions, serve_api  # noqa: PLC0415

        async def main() -> None:
            started = asyncio.Event()
            serving = asyncio.create_task(serve_api(settings=self.settings, stop=self.stop, started=started,
                                                    options=ApiOptions(max_failed_sign_ins=100_000)))
            await started.wait()
            self.ready.set()
            await serving

        self.loop.run_until_complete(main())

    def __enter__(self) -> str:
        self.thread.start()
        assert self.ready.wait(20), "API did not start"
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)


@pytest.fixture
async def fuzz_world(db: asyncpg.Connection, unique: str) -> World:
    """Data for the fuzzer to find: two organisations, alerts in each."""
    world = await build_world(db=db, unique=unique)
    await raise_alert(db=db, org_id=world.org_a, resident_id=world.resident_a)
    await raise_alert(db=db, org_id=world.org_b, resident_id=world.resident_b)
    return world


@pytest.fixture
def fuzz_api(settings: Settings, fuzz_world: World) -> Iterator[tuple[str, World]]:
    """The base URL of a threaded API and the world it serves."""
    with _ThreadedApi(settings=settings) as base_url:
        yield base_url, fuzz_world


def _resolve(schema: Any, components: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _resolve(components[schema["$ref"].rsplit("/", 1)[1]], components)
        return {k: _resolve(v, components) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_resolve(v, components) for v in schema]
    return schema


def _body(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects built property by property (this hypothesis-jsonschema cannot draw objects with this Hypothesis)."""
    properties = {name: _property(prop) for name, prop in schema.get("properties", {}).items()}
    required = set(schema.get("required", []))
    return st.fixed_dictionaries({k: v for k, v in properties.items() if k in required},
                                 optional={k: v for k, v in properties.items() if k not in required})


def _property(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A property's values; nested objects (a care plan's night window, its absences) are drawn as any
    small JSON shape instead, which this hypothesis-jsonschema cannot draw from the schema either."""
    if '"object"' in json.dumps(schema):
        shapes = st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)), max_size=3)
        return st.one_of(st.none(), shapes, st.lists(shapes, max_size=2))
    return from_schema(schema)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if operation["operationId"] not in SKIPPED:
                found.append((method.upper(), path, operation))
    return found


def test_generated_requests_never_fail_the_server(fuzz_api: tuple[str, World]) -> None:
    base_url, world = fuzz_api
    with httpx.Client(base_url=base_url, timeout=10) as http:
        spec = http.get("/openapi.json").json()
    components = spec.get("components", {}).get("schemas", {})
    operations = _operations(spec)
    known_ids = [world.resident_a, world.resident_b, world.org_a, world.org_b, f"{world.hub_a}:pendant"]
    tokens = [world.tokens["admin"], world.tokens["operator_a"], world.tokens["reviewer_a"], "tc_forged", ""]
    seen_statuses: dict[int, int] = {}

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        method, template, operation = data.draw(st.sampled_from(operations))
        path, query, headers = template, {}, {}
        for parameter in operation.get("parameters", []):
            schema = _resolve(parameter["schema"], components)
            wild = data.draw(st.integers(0, 9)) == 0
            if parameter["in"] == "path":
                value = data.draw(st.one_of(from_schema(schema), st.sampled_from(known_ids), st.integers(0, 10**6))
                                  if not wild else st.text(max_size=30))
                path = path.replace("{" + parameter["name"] + "}", quote(str(value), safe="") or "x")
            elif data.draw(st.booleans()):
                value = data.draw(from_schema(schema) if not wild else st.text(max_size=30))
                if value is not None:
                    target = query if parameter["in"] == "query" else headers
                    target[parameter["name"]] = value if isinstance(value, str) else str(value).lower()
        body = None
        if "requestBody" in operation:
            schema = _resolve(operation["requestBody"]["content"]["application/json"]["schema"], components)
            body = data.draw(st.one_of(_body(schema), st.dictionaries(st.text(max_size=8), st.integers())))
        token = data.draw(st.sampled_from(tokens))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = session.request(method, path, params=query, json=body, headers=headers)
        seen_statuses[response.status_code] = seen_statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{method} {path} {query} {body} -> {response.status_code} {response.text}"
        if response.status_code >= 400:
            assert not any(marker in response.text for marker in LEAKS), response.text

    with httpx.Client(base_url=base_url, timeout=10) as session:
        one_request()
    # The fuzzer reached past the front door: successes and each kind of refusal were all exercised.
    assert {200, 401, 403, 404, 422} <= set(seen_statuses), seen_statuses


async def test_schemathesis_every_check_every_operation_every_role(
    db: asyncpg.Connection, settings: Settings, tmp_path: Path,
) -> None:
    # The bounded version (examples and fuzzing, 2 cases per operation and mode); bench/api_fuzz.py runs
    # every phase, including Schemathesis' coverage phase, with far more cases.
    results = await fuzz_all_roles(settings=settings, connection=db, max_examples=2, seed=13, report_dir=tmp_path,
                                   phases="examples,fuzzing")
    spec = create_app(settings=settings).openapi()
    documented = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    for role, result in results.items():
        assert result["exit_code"] == 0 and result["failures"] == [], (role, result["output_tail"])
        assert result["server_errors"] == 0, (role, result["statuses"])
        # Every operation but the endless stream was exercised, past the front door.
        assert result["operations"] == len(documented) - len(EXCLUDED_OPERATIONS), (role, result["operations"])
        assert {"200", "422"} <= set(result["statuses"]), (role, result["statuses"])
