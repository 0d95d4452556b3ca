"""Mapping files: which recorded sensor becomes which simulated device, and which labels mean what."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

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

    @model_validator(mode="after")
    def _one_device_per_sensor(self) -> Mapping:
        seen: dict[str, str] = {}
        for key, sensor in self.sensors.items():
            if sensor.friendly_name in seen:
                raise ValueError(f"sensors {seen[sensor.friendly_name]!r} and {key!r} both map to"
                                 f" {sensor.friendly_name!r}: they would merge into one device")
            seen[sensor.friendly_name] = key
        return self

    def sensor_for(self, recorded: str) -> SensorMapping | None:
        """The mapping for a recorded sensor id ("Name/Type/Place" or "Name"): the most specific key
        that the mapping has, of "Name/Type/Place", "Name/Place" and "Name"."""
        parts = recorded.split("/")
        for key in (recorded, f"{parts[0]}/{parts[-1]}", parts[0]):
            if key in self.sensors:
                return self.sensors[key]
        return None

    def check_recorded(self, *, sensor_ids: set[str]) -> None:
        """Refuse a mapping that would merge sensors: a name-only key used by one name in several places."""
        places: dict[str, set[str]] = {}
        for recorded in sensor_ids:
            name = recorded.split("/")[0]
            if name in self.sensors and f"{name}/{recorded.split('/')[-1]}" not in self.sensors \
                    and recorded not in self.sensors:
                places.setdefault(name, set()).add(recorded)
        for name, ids in places.items():
            if len(ids) > 1:
                raise MappingError(f"sensor name {name!r} is recorded as {sorted(ids)}: key the mapping by"
                                   f" place (e.g. {sorted(ids)[0]!r}) so they stay separate devices")

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
