"""The site file that matches what a simulator simulates, ready for `telecare site import`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml

from simulators.layout import HomeLayout
from telecare.site import SiteFile


@dataclass(frozen=True, slots=True)
class SiteResidentSpec:
    """One resident and the hub in their flat."""

    resident_id: str
    name: str
    flat: str
    home: HomeLayout
    night_window: tuple[time, time]
    protocol: Literal["z2m", "canonical"] = "z2m"
    # Address, response protocol and contacts, as the site file spells them (see telecare.site).
    details: dict[str, Any] = field(default_factory=dict)


def site_document(
    *, org_id: str, org_name: str, timezone: str, residents: Sequence[SiteResidentSpec]
) -> dict[str, Any]:
    """The site file as plain data (validated against the service's own model before it is returned)."""
    document: dict[str, Any] = {
        "organisation": {"id": org_id, "name": org_name, "timezone": timezone},
        "residents": [
            {
                "id": spec.resident_id,
                "name": spec.name,
                "flat": spec.flat,
                **spec.details,
                "night_window": {
                    "start": spec.night_window[0].strftime("%H:%M"),
                    "end": spec.night_window[1].strftime("%H:%M"),
                },
                "hubs": [
                    {
                        "id": spec.home.hub_id,
                        "protocol": spec.protocol,
                        "devices": [
                            {
                                "friendly_name": device.friendly_name
                                if spec.protocol == "z2m"
                                else device.friendly_name.replace(" ", "_"),
                                "type": device.type.value,
                                "location": device.location.value,
                                "model": device.model,
                                "ieee_address": device.ieee_address,
                            }
                            for device in spec.home.devices
                        ],
                    }
                ],
            }
            for spec in residents
        ],
    }
    SiteFile.model_validate(document)
    return document


def write_site_file(*, path: Path, document: dict[str, Any]) -> Path:
    """Write the site file as YAML (or JSON when the name ends in .json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
