"""SQL for one resident's events over a period (the events hypertable)."""

from __future__ import annotations

# Bounded by time on both sides so TimescaleDB can exclude chunks.
FOR_RESIDENT = """
SELECT time, device_id, device_type, location, kind, is_restore, value, source
FROM events
WHERE resident_id = $1 AND time >= $2 AND time < $3
ORDER BY time DESC
LIMIT $4
"""
