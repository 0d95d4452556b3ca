"""Mapping files: which recorded sensor becomes which simulated device, and which labels mean what."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from simulators.layout import MODELS, HomeLayout, device
from telecare.vocabulary import DeviceType, Location

Behaviour = Literal["motion", "pressure", "contact", "power", "vibration", "temperature"]


class MappingError(ValueError):
    """The mapping file is not valid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorMapping(_Strict):
    """One recorded sensor and the device that stands in for it."""

    friendly_name: str = Field(min_length=1, max_length=200)
    type: DeviceType
    location: Location = Location.OTHER
    behaviour: Behaviour
    model: str | None = None
    # For `power`: what the appliance draws while on.
    watts: int = Field(default=1000, ge=0, le=10_000)


class LabelMapping(_Strict):
    """Which recorded activity labels mean sleep, a toilet visit, and being out of the home."""

    sleep: list[str] = Field(default_factory=lambda: ["Sleeping", "Sleep"])
    toilet: list[str] = Field(default_factory=lambda: ["Toileting", "Toilet", "Bed_to_Toilet"])
    away: list[str] = Field(default_factory=lambda: ["Leaving", "Leave_Home"])
    # Sleep labels closer together than this belong to one night (the gap is a bed exit).
    same_night_gap_min: float = Field(default=180.0, ge=0)


class HomeMapping(_Strict):
    """Who and where the recorded home becomes."""

    organisation_id: str = "replay"
    organisation_name: str = "Replayed homes"
    hub_id: str
    resident_id: str
    resident_name: str = "Replayed resident"
    timezone: str = "Europe/London"
    night_start: time = time(22, 0)
    night_end: time = time(7, 0)


class Mapping(_Strict):
    """A whole mapping file."""

    schema_: Literal["telecare.mapping/1"] = Field(alias="schema")
    format: Literal["ordonez", "casas"]
    home: HomeMapping
    sensors: dict[str, SensorMapping]
    labels: LabelMapping = Field(default_factory=LabelMapping)
    # A PIR re-triggers about once a minute while someone is in view; Z2M clears it 90 s after the last.
    motion_repeat_s: float = Field(default=60.0, gt=0)
    clear_after_s: float = Field(default=90.0, ge=0)
    # Sensors in the log that the mapping leaves out are skipped (and counted) unless this is false.
    ignore_unknown_sensors: bool = True

    def layout(self, *, hub_id: str | None = None) -> HomeLayout:
        """The devices the replayed home has."""
        hub = hub_id or self.home.hub_id
        devices = []
        for sensor in self.sensors.values():
            if sensor.model is not None and sensor.model not in MODELS:
                raise MappingError(f"unknown model {sensor.model!r} for {sensor.friendly_name!r}")
            devices.append(
                device(
                    hub_id=hub,
                    friendly_name=sensor.friendly_name,
                    device_type=sensor.type,
                    location=sensor.location,
                    model=sensor.model,
                )
            )
        return HomeLayout(hub_id=hub, devices=tuple(devices))


def load_mapping(*, path: Path) -> Mapping:
    """Parse and validate a YAML mapping file."""
    try:
        return Mapping.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValueError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: {exc}") from exc
