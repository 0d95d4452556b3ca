"""The care plan through the site file and the API: versioned, role-checked, who changed what audited."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from telecare.site import SiteError, load_site_file, provision_site
from tests.api_helpers import ApiServer, api_server, build_world, client  # noqa: F401 - fixture

PLAN = {"in_bed_by": "23:30", "up_by": "09:30", "out_of_bed_limit_min": 90,
        "expected_absences": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:30", "end": "12:00",
                               "note": "day centre"}]}


async def test_site_file_care_plan_is_versioned_only_when_it_changes(db: asyncpg.Connection, unique: str,
                                                                     tmp_path: Path) -> None:
    def site(plan: dict[str, object]) -> Path:
        path = tmp_path / "site.json"
        path.write_text(json.dumps({"organisation": {"id": f"o-{unique}", "name": "Org"}, "residents": [
            {"id": f"r-{unique}", "name": "R", "night_window": {"start": "21:30", "end": "06:30"},
             "care_plan": plan}]}), encoding="utf-8")
        return path

    for _ in range(2):  # importing the same file twice makes one version
        await provision_site(connection=db, site=load_site_file(path=site(PLAN)))
    await provision_site(connection=db, site=load_site_file(path=site({**PLAN, "in_bed_by": "23:00"})))
    versions = await db.fetch("SELECT version, changes, changed_by, source FROM care_plan_versions"
                              " WHERE resident_id = $1 ORDER BY version", f"r-{unique}")
    assert [v["version"] for v in versions] == [1, 2]
    assert '"in_bed_by": ["23:30:00", "23:00:00"]' in versions[1]["changes"]
    assert versions[1]["changed_by"] == "site-import" and versions[1]["source"] == "site_file"
    config = await db.fetchrow("SELECT bed_by, up_by, out_of_bed_max_min FROM rule_config WHERE resident_id = $1",
                               f"r-{unique}")
    assert str(config["bed_by"]) == "23:00:00" and config["out_of_bed_max_min"] == 90
    with pytest.raises(SiteError, match="out_of_bed_limit_min must be at least"):
        load_site_file(path=site({"out_of_bed_min": 40, "out_of_bed_limit_min": 30}))


async def test_care_plan_api_roles_versions_audit_and_habits(db: asyncpg.Connection, unique: str,
                                                             api_server: ApiServer) -> None:  # noqa: F811
    world = await build_world(db=db, unique=unique)
    path = f"/api/residents/{world.resident_a}/care-plan"
    async with client(api_server, world, "operator_a") as http:
        assert (await http.put(path, json=PLAN)).status_code == 403
        assert (await http.get(path)).status_code == 200
    async with client(api_server, world, "operator_b") as http:
        assert (await http.get(path)).status_code == 404
    async with client(api_server, world, "provider_a") as http:
        response = await http.put(path, json=PLAN)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["version"] == 1 and body["plan"]["in_bed_by"] == "23:30:00"
        assert body["plan"]["expected_absences"][0]["days"] == ["mon", "tue", "wed", "thu", "fri"]
        second = (await http.put(path, json={**PLAN, "up_by": "10:00"})).json()
        assert second["version"] == 2 and second["history"][0]["changes"] == {"up_by": ["09:30:00", "10:00:00"]}
        assert (await http.put(path, json={**PLAN, "in_bed_by": "25:00"})).status_code == 422
    async with client(api_server, world, "reviewer_a") as http:
        habits = await http.get(f"/api/residents/{world.resident_a}/habits")
        assert habits.status_code == 200 and habits.json()["habits"]["confidence"] == "none"
        assert "nothing learnt yet" in habits.json()["habits"]["summary"]
    audit = await db.fetch("SELECT user_id, outcome, detail FROM audit_log WHERE resident_id = $1"
                           " AND action = 'residents.care_plan.set' ORDER BY audit_id", world.resident_a)
    assert [a["outcome"] for a in audit] == ["allowed", "allowed"]
    assert '"up_by": ["09:30:00", "10:00:00"]' in audit[1]["detail"] and audit[1]["user_id"] == f"pra-{unique}"
    denied = await db.fetchval("SELECT count(*) FROM audit_log WHERE user_id = $1 AND outcome = 'denied'"
                               " AND action = 'residents.care_plan.set'", f"opa-{unique}")
    assert denied == 1
