"""SQL for residents, resident_contacts, resident_protocols and away periods (rule_suppressions)."""

from __future__ import annotations

_SCOPE = "($1::text[] IS NULL OR r.org_id = ANY($1)) AND ($2::text[] IS NULL OR r.resident_id = ANY($2))"

LIST = f"""
SELECT r.resident_id, r.org_id, r.display_name, r.flat, r.timezone, r.night_start, r.night_end, r.address,
    (SELECT count(*) FROM alerts a WHERE a.run = 'live' AND a.resident_id = r.resident_id
        AND a.status <> 'closed') AS open_alerts
FROM residents r
WHERE {_SCOPE} AND ($3::text IS NULL OR r.org_id = $3)
ORDER BY r.org_id, r.resident_id
LIMIT $4
"""

ONE = f"""
SELECT r.resident_id, r.org_id, r.display_name, r.flat, r.timezone, r.night_start, r.night_end, r.address
FROM residents r WHERE r.resident_id = $3 AND {_SCOPE}
"""

PROTOCOL = """
SELECT protocol, access_notes, medical_notes, updated_by, updated_at FROM resident_protocols WHERE resident_id = $1
"""

UPSERT_PROTOCOL = """
INSERT INTO resident_protocols (resident_id, protocol, access_notes, medical_notes, updated_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (resident_id) DO UPDATE SET protocol = EXCLUDED.protocol, access_notes = EXCLUDED.access_notes,
    medical_notes = EXCLUDED.medical_notes, updated_by = EXCLUDED.updated_by, updated_at = now()
RETURNING protocol, access_notes, medical_notes, updated_by, updated_at
"""

CONTACTS = """
SELECT contact_id, name, relationship, phone, call_order, keyholder FROM resident_contacts
WHERE resident_id = $1 ORDER BY call_order, contact_id
"""

INSERT_CONTACT = """
INSERT INTO resident_contacts (resident_id, name, relationship, phone, call_order, keyholder)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING contact_id, name, relationship, phone, call_order, keyholder
"""

AWAY_PERIODS = """
SELECT suppression_id AS away_id, starts_at, ends_at, reason, created_by, created_at FROM rule_suppressions
WHERE resident_id = $1 AND kind = 'away' AND (ends_at IS NULL OR ends_at > now() - interval '30 days')
ORDER BY starts_at DESC
"""

INSERT_AWAY = """
INSERT INTO rule_suppressions (kind, resident_id, starts_at, ends_at, reason, created_by)
VALUES ('away', $1, $2, $3, $4, $5)
RETURNING suppression_id AS away_id, starts_at, ends_at, reason, created_by, created_at
"""

OPEN_CONDITIONS = """
SELECT o.condition, o.subject, o.opened_at, o.alert_id, a.status AS alert_status FROM open_conditions o
JOIN alerts a USING (alert_id)
WHERE o.run = 'live' AND a.resident_id = $1
ORDER BY o.opened_at
"""

DEVICES = """
SELECT d.device_id, d.hub_id, d.friendly_name, d.device_type, d.location, d.model, d.last_seen, d.battery,
       d.battery_low, d.availability, d.availability_at, d.power_source, d.created_at AS registered_at
FROM devices d JOIN hubs h USING (hub_id)
WHERE h.resident_id = $1 AND d.removed_at IS NULL
ORDER BY d.device_type, d.friendly_name
"""
