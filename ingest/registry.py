"""The ingest worker's cache of hubs and devices, loaded from the database and kept in step with it.

The cache is only ever ahead of the database by one uncommitted batch; when a batch fails the cache is
thrown away and reloaded, so edge detection can never run on state that was not committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson


@dataclass(slots=True)
class HubRecord:
    """A registered hub and what the ingest knows of it."""

    hub_id: str
    org_id: str
    resident_id: str | None
    protocol: str
    bridge_state: str | None
    last_seen: datetime | None
    dirty: bool = False


@dataclass(slots=True)
class DeviceRecord:
    """A registered device with the state used for edge detection."""

    device_id: str
    hub_id: str
    friendly_name: str
    ieee_address: str | None
    device_type: str
    location: str
    model: str | None
    last_state: dict[str, Any]
    last_seen: datetime | None
    battery: int | None
    battery_low: bool | None
    availability: str | None
    removed: bool = False
    is_new: bool = False
    dirty: bool = False
    vendor: str | None = None
    power_source: str | None = None


@dataclass(slots=True)
class Registry:
    """Hubs by id and devices by (hub, friendly name), for topic routing and event enrichment."""

    hubs: dict[str, HubRecord] = field(default_factory=dict)
    devices: dict[tuple[str, str], DeviceRecord] = field(default_factory=dict)
    devices_by_id: dict[str, DeviceRecord] = field(default_factory=dict)

    def device(self, *, hub_id: str, friendly_name: str) -> DeviceRecord | None:
        """The live device a hub publishes under this name, if any."""
        record = self.devices.get((hub_id, friendly_name))
        return None if record is None or record.removed else record

    def add_device(self, record: DeviceRecord) -> None:
        """Register or re-key a device under its current friendly name."""
        self.devices[(record.hub_id, record.friendly_name)] = record
        self.devices_by_id[record.device_id] = record

    def rename_device(self, *, record: DeviceRecord, new_name: str) -> None:
        """Move a device to a new friendly name (a rename in Zigbee2MQTT)."""
        old_key = (record.hub_id, record.friendly_name)
        # In a swap the other device may already have taken this name: leave its entry alone.
        if self.devices.get(old_key) is record:
            del self.devices[old_key]
        record.friendly_name = new_name
        record.dirty = True
        self.add_device(record)

    def dirty_devices(self) -> list[DeviceRecord]:
        """Devices changed since the last commit."""
        return [record for record in self.devices.values() if record.dirty]

    def dirty_hubs(self) -> list[HubRecord]:
        """Hubs changed since the last commit."""
        return [record for record in self.hubs.values() if record.dirty]

    def mark_committed(self) -> None:
        """Everything in the cache is now in the database."""
        for device in self.devices.values():
            device.dirty = False
            device.is_new = False
        for hub in self.hubs.values():
            hub.dirty = False


async def load_registry(*, connection: asyncpg.Connection) -> Registry:
    """Read every hub and device from the database."""
    registry = Registry()
    for row in await connection.fetch(
        "SELECT hub_id, org_id, resident_id, protocol, bridge_state, last_seen FROM hubs"
    ):
        registry.hubs[row["hub_id"]] = HubRecord(
            hub_id=row["hub_id"],
            org_id=row["org_id"],
            resident_id=row["resident_id"],
            protocol=row["protocol"],
            bridge_state=row["bridge_state"],
            last_seen=row["last_seen"],
        )
    for row in await connection.fetch(
        "SELECT device_id, hub_id, friendly_name, ieee_address, device_type, location, model, vendor,"
        " power_source, last_state::text AS last_state, last_seen, battery, battery_low, availability,"
        " removed_at IS NOT NULL AS removed FROM devices"
    ):
        registry.add_device(
            DeviceRecord(
                device_id=row["device_id"],
                hub_id=row["hub_id"],
                friendly_name=row["friendly_name"],
                ieee_address=row["ieee_address"],
                device_type=row["device_type"],
                location=row["location"],
                model=row["model"],
                vendor=row["vendor"],
                power_source=row["power_source"],
                last_state=orjson.loads(row["last_state"]),
                last_seen=row["last_seen"],
                battery=row["battery"],
                battery_low=row["battery_low"],
                availability=row["availability"],
                removed=row["removed"],
            )
        )
    return registry
