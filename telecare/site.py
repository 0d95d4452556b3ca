"""Site files: an organisation, its residents, their flats, hubs, devices and night windows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from telecare.care_plan import CarePlan, NightWindow, apply_care_plan
from telecare.vocabulary import DeviceType, Location

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


class SiteError(ValueError):
    """The site file is not valid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteOrganisation(_Strict):
    """The organisation (provider or scheme) that the residents belong to."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Europe/London"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class SiteDevice(_Strict):
    """One sensor on a hub, by the name the hub publishes it under."""

    friendly_name: str = Field(min_length=1, max_length=200)
    type: DeviceType
    location: Location = Location.OTHER
    model: str | None = None
    ieee_address: str | None = None


class SiteHub(_Strict):
    """One Zigbee2MQTT bridge or canonical telecare hub."""

    id: str = Field(pattern=_ID_PATTERN)
    protocol: Literal["z2m", "canonical"] = "z2m"
    devices: list[SiteDevice] = Field(default_factory=list)


class SiteResponse(_Strict):
    """What the control centre does for the resident, and how responders get in."""

    protocol: str = Field(default="", max_length=8000)
    access_notes: str = Field(default="", max_length=4000)
    medical_notes: str = Field(default="", max_length=4000)


class SiteContact(_Strict):
    """Someone to call for the resident; the list order is the calling order."""

    name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(default="", max_length=100)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 ()-]{4,30}$")
    keyholder: bool = False


class SiteResident(_Strict):
    """A resident, known in telemetry by a pseudonymous id."""

    id: str = Field(pattern=_ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    flat: str | None = None
    address: str | None = Field(default=None, max_length=500)
    # Absent means "leave what the database holds"; given, it replaces it (so a re-import is idempotent).
    response: SiteResponse | None = None
    contacts: list[SiteContact] | None = None
    timezone: str | None = None
    night_window: NightWindow = Field(default_factory=NightWindow)
    # In bed by, up by, out-of-bed limit, expected absences: what the care team decided (versioned).
    care_plan: CarePlan | None = None
    hubs: list[SiteHub] = Field(default_factory=list)


class SiteFile(_Strict):
    """The whole site: what `telecare site import` provisions."""

    organisation: SiteOrganisation
    residents: list[SiteResident] = Field(default_factory=list)


def device_id_for(*, hub_id: str, friendly_name: str) -> str:
    """The service's id for a device: stable for the hub and the name it publishes under."""
    return f"{hub_id}:{friendly_name}"


def load_site_file(*, path: Path) -> SiteFile:
    """Parse and validate a YAML or JSON site file."""
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return SiteFile.model_validate(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise SiteError(f"{path}: {exc}") from exc


async def provision_site(*, connection: asyncpg.Connection, site: SiteFile) -> dict[str, int]:
    """Create or update everything the site file declares; returns counts of what it touched."""
    org = site.organisation
    counts = {"residents": 0, "hubs": 0, "devices": 0, "care_plan_versions": 0}
    async with connection.transaction():
        await connection.execute(
            "INSERT INTO organisations (org_id, name, timezone) VALUES ($1, $2, $3)"
            " ON CONFLICT (org_id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone",
            org.id, org.name, org.timezone,
        )
        for resident in site.residents:
            await connection.execute(
                "INSERT INTO residents (resident_id, org_id, display_name, flat, timezone, night_start, night_end,"
                " address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (resident_id) DO UPDATE SET org_id = EXCLUDED.org_id,"
                " display_name = EXCLUDED.display_name, flat = EXCLUDED.flat, timezone = EXCLUDED.timezone,"
                " night_start = EXCLUDED.night_start, night_end = EXCLUDED.night_end,"
                " address = COALESCE(EXCLUDED.address, residents.address)",
                resident.id, org.id, resident.name, resident.flat, resident.timezone or org.timezone,
                resident.night_window.start, resident.night_window.end, resident.address,
            )
            counts["residents"] += 1
            if resident.care_plan is not None:
                version, _changes = await apply_care_plan(
                    connection=connection, resident_id=resident.id, plan=resident.care_plan,
                    changed_by="site-import", source="site_file")
                counts["care_plan_versions"] += version is not None
            await _provision_care_details(connection=connection, resident=resident)
            for hub in resident.hubs:
                await connection.execute(
                    "INSERT INTO hubs (hub_id, org_id, resident_id, protocol) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (hub_id) DO UPDATE SET org_id = EXCLUDED.org_id,"
                    " resident_id = EXCLUDED.resident_id, protocol = EXCLUDED.protocol",
                    hub.id, org.id, resident.id, hub.protocol,
                )
                counts["hubs"] += 1
                for device in hub.devices:
                    await connection.execute(
                        "INSERT INTO devices (device_id, hub_id, friendly_name, ieee_address, device_type,"
                        " location, model) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                        " ON CONFLICT (device_id) DO UPDATE SET device_type = EXCLUDED.device_type,"
                        " location = EXCLUDED.location, model = COALESCE(EXCLUDED.model, devices.model),"
                        " ieee_address = COALESCE(EXCLUDED.ieee_address, devices.ieee_address),"
                        " removed_at = NULL",
                        device_id_for(hub_id=hub.id, friendly_name=device.friendly_name), hub.id,
                        device.friendly_name, device.ieee_address, device.type.value, device.location.value,
                        device.model,
                    )
                    counts["devices"] += 1
    # Tell running ingest workers to reload their registry cache.
    await connection.execute("SELECT pg_notify('telecare_registry', $1)", org.id)
    return counts


async def _provision_care_details(*, connection: asyncpg.Connection, resident: SiteResident) -> None:
    """The response protocol and the contacts in calling order, when the site file gives them."""
    if resident.response is not None:
        await connection.execute(
            "INSERT INTO resident_protocols (resident_id, protocol, access_notes, medical_notes, updated_by)"
            " VALUES ($1, $2, $3, $4, 'site-import')"
            " ON CONFLICT (resident_id) DO UPDATE SET protocol = EXCLUDED.protocol,"
            " access_notes = EXCLUDED.access_notes, medical_notes = EXCLUDED.medical_notes,"
            " updated_by = EXCLUDED.updated_by, updated_at = now()",
            resident.id, resident.response.protocol, resident.response.access_notes,
            resident.response.medical_notes,
        )
    if resident.contacts is not None:
        await connection.execute("DELETE FROM resident_contacts WHERE resident_id = $1", resident.id)
        await connection.executemany(
            "INSERT INTO resident_contacts (resident_id, name, relationship, phone, call_order, keyholder)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(resident.id, contact.name, contact.relationship, contact.phone, order, contact.keyholder)
             for order, contact in enumerate(resident.contacts, start=1)],
        )


HUB_DEVICE_NAME = "$hub"  # MQTT topics cannot start with `$`, so no real device can be named like this


def hub_device_id(*, hub_id: str) -> str:
    """The device id under which a hub's own events (offline, mains) are stored."""
    return device_id_for(hub_id=hub_id, friendly_name=HUB_DEVICE_NAME)
