"""SQL for the device health board (devices joined to hubs and residents)."""

from __future__ import annotations

LIST = """
SELECT d.device_id, d.hub_id, h.org_id, h.resident_id, r.display_name AS resident_name, d.friendly_name,
       d.device_type, d.location, d.model, d.last_seen, d.battery, d.battery_low, d.availability,
       d.availability_at, h.last_seen AS hub_last_seen, h.bridge_state, d.power_source,
       d.created_at AS registered_at
FROM devices d JOIN hubs h USING (hub_id) LEFT JOIN residents r ON r.resident_id = h.resident_id
WHERE d.removed_at IS NULL
  AND ($1::text[] IS NULL OR h.org_id = ANY($1)) AND ($2::text[] IS NULL OR h.resident_id = ANY($2))
  AND ($3::text IS NULL OR h.org_id = $3) AND ($4::text IS NULL OR h.resident_id = $4)
ORDER BY (d.availability = 'offline') DESC NULLS LAST, d.battery_low DESC NULLS LAST, d.last_seen NULLS FIRST,
         d.device_id
LIMIT $5
"""

ONE = """
SELECT d.device_id, d.hub_id, h.org_id, h.resident_id, r.display_name AS resident_name, d.friendly_name,
       d.device_type, d.location, d.model, d.last_seen, d.battery, d.battery_low, d.availability,
       d.availability_at, h.last_seen AS hub_last_seen, h.bridge_state, d.power_source,
       d.created_at AS registered_at
FROM devices d JOIN hubs h USING (hub_id) LEFT JOIN residents r ON r.resident_id = h.resident_id
WHERE d.device_id = $3
  AND ($1::text[] IS NULL OR h.org_id = ANY($1)) AND ($2::text[] IS NULL OR h.resident_id = ANY($2))
"""
