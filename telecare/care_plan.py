"""The care plan: what the care team decided for one resident's nights, versioned with who changed it.

Written in the site file (`care_plan:` under a resident) or through the API; stored as the settings
the rules read (`residents` night window, `rule_config`) plus an append-only `care_plan_versions`
row per change, holding the whole plan and what changed. Whatever is left out runs on defaults, and
learnt habits may fill it in; what is written here is never relaxed by learning (docs/rules.md).
"""

from __future__ import annotations

import json
from datetime import time
from enum import StrEnum
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator


def _whole_minutes(value: time) -> time:
    if value.second or value.microsecond or value.tzinfo is not None:
        raise ValueError("a care-plan time is a local wall-clock time in whole minutes, HH:MM")
    return value


# What a care team writes ("in bed by 23:30"): local, whole minutes. Seconds or an offset would be read
# back and shown as something nobody entered; the document says so, so clients and fuzzers know it.
PlanTime = Annotated[time, AfterValidator(_whole_minutes),
                     WithJsonSchema({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:00)?$",
                                     "examples": ["23:30"]})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NightWindow(_Strict):
    """The resident's night, in their local time; it may cross midnight."""

    start: PlanTime = time(22, 0)
    end: PlanTime = time(7, 0)


class Weekday(StrEnum):
    """Days of the week, as care plans write them."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = list(Weekday)


class ExpectedAbsence(_Strict):
    """A regular time out of the flat ("out most weekday mornings from 08:30"): not a night departure."""

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: PlanTime
    end: PlanTime
    # No control characters: the note is shown to operators and written into packs.
    note: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")

    @model_validator(mode="after")
    def _ends_after_start(self) -> ExpectedAbsence:
        if self.end == self.start:
            raise ValueError("an expected absence needs an end different from its start")
        return self


class CarePlan(_Strict):
    """The settings a care team enters for one resident; None leaves a setting to defaults and learning."""

    night_window: NightWindow | None = None
    in_bed_by: PlanTime | None = None
    up_by: PlanTime | None = None
    out_of_bed_min: int | None = Field(default=None, ge=5, le=240)
    out_of_bed_limit_min: int | None = Field(default=None, ge=5, le=600)
    left_flat_min: int | None = Field(default=None, ge=5, le=240)
    expected_absences: list[ExpectedAbsence] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _limit_not_below_timer(self) -> CarePlan:
        if self.out_of_bed_min is not None and self.out_of_bed_limit_min is not None \
                and self.out_of_bed_limit_min < self.out_of_bed_min:
            raise ValueError("out_of_bed_limit_min must be at least out_of_bed_min")
        return self


class CarePlanError(ValueError):
    """The care plan cannot be applied (unknown resident)."""


_CURRENT_SQL = """
SELECT r.night_start, r.night_end, c.bed_by, c.up_by, c.out_of_bed_min, c.out_of_bed_max_min, c.left_flat_min,
       COALESCE(c.expected_absences, '[]'::jsonb) AS expected_absences, c.care_plan_version
FROM residents r LEFT JOIN rule_config c USING (resident_id)
WHERE r.resident_id = $1
"""

_LATEST_VERSION_SQL = "SELECT plan FROM care_plan_versions WHERE resident_id = $1 ORDER BY version DESC LIMIT 1"

_UPSERT_RULE_CONFIG_SQL = """
INSERT INTO rule_config (resident_id, bed_by, up_by, out_of_bed_min, out_of_bed_max_min, left_flat_min,
                         expected_absences, care_plan_version, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, now())
ON CONFLICT (resident_id) DO UPDATE SET bed_by = EXCLUDED.bed_by, up_by = EXCLUDED.up_by,
    out_of_bed_min = EXCLUDED.out_of_bed_min, out_of_bed_max_min = EXCLUDED.out_of_bed_max_min,
    left_flat_min = EXCLUDED.left_flat_min, expected_absences = EXCLUDED.expected_absences,
    care_plan_version = EXCLUDED.care_plan_version, updated_at = now()
"""

_INSERT_VERSION_SQL = """
INSERT INTO care_plan_versions (resident_id, version, plan, changes, changed_by, source)
VALUES ($1, COALESCE((SELECT max(version) FROM care_plan_versions WHERE resident_id = $1), 0) + 1,
        $2::jsonb, $3::jsonb, $4, $5)
RETURNING version, changed_at
"""

HISTORY_SQL = """
SELECT version, plan, changes, changed_by, source, changed_at FROM care_plan_versions
WHERE resident_id = $1 ORDER BY version DESC LIMIT $2
"""


def plan_document(*, plan: CarePlan) -> dict[str, Any]:
    """The plan as stored and compared (JSON types)."""
    document: dict[str, Any] = json.loads(plan.model_dump_json())
    return document


def plan_changes(*, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, list[Any]]:
    """Setting -> [old, new] for every setting that differs (everything, for a first version)."""
    previous = before or {}
    return {key: [previous.get(key), value] for key, value in after.items() if previous.get(key) != value}


async def current_plan(*, connection: asyncpg.Connection, resident_id: str) -> CarePlan:
    """The plan in force for a resident, read back from the settings the rules use."""
    row = await connection.fetchrow(_CURRENT_SQL, resident_id)
    if row is None:
        raise CarePlanError(f"unknown resident {resident_id!r}")
    absences = row["expected_absences"]
    return CarePlan(
        night_window=NightWindow(start=row["night_start"], end=row["night_end"]),
        in_bed_by=row["bed_by"], up_by=row["up_by"], out_of_bed_min=row["out_of_bed_min"],
        out_of_bed_limit_min=row["out_of_bed_max_min"], left_flat_min=row["left_flat_min"],
        expected_absences=json.loads(absences) if isinstance(absences, str) else absences,
    )


async def apply_care_plan(
    *, connection: asyncpg.Connection, resident_id: str, plan: CarePlan, changed_by: str,
    source: Literal["site_file", "api"],
) -> tuple[int | None, dict[str, list[Any]]]:
    """Store `plan` as the resident's care plan; a new version only when something changed.

    Returns the new version (None when nothing changed) and what changed. A plan without a night
    window keeps the resident's current one (the site file's `night_window`).
    """
    async with connection.transaction():
        existing = await connection.fetchrow(_CURRENT_SQL, resident_id)
        if existing is None:
            raise CarePlanError(f"unknown resident {resident_id!r}")
        if plan.night_window is None:
            plan = plan.model_copy(update={"night_window": NightWindow(start=existing["night_start"],
                                                                       end=existing["night_end"])})
        document = plan_document(plan=plan)
        latest = await connection.fetchval(_LATEST_VERSION_SQL, resident_id)
        before = json.loads(latest) if isinstance(latest, str) else latest
        changes = plan_changes(before=before, after=document)
        if before is not None and not changes:
            return None, {}
        version_row = await connection.fetchrow(_INSERT_VERSION_SQL, resident_id, json.dumps(document),
                                                json.dumps(changes), changed_by, source)
        version = int(version_row["version"]) if version_row is not None else 0
        window = plan.night_window or NightWindow()
        await connection.execute("UPDATE residents SET night_start = $2, night_end = $3 WHERE resident_id = $1",
                                 resident_id, window.start, window.end)
        await connection.execute(
            _UPSERT_RULE_CONFIG_SQL, resident_id, plan.in_bed_by, plan.up_by, plan.out_of_bed_min,
            plan.out_of_bed_limit_min, plan.left_flat_min, json.dumps(document["expected_absences"]), version)
    return version, changes
