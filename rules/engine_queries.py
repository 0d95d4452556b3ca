"""SQL for the engine's own tables: rule_timers, rule_cursors, rule_device_watch, rule_suppressions."""

from __future__ import annotations

EVENT_COLUMNS = (
    "ingest_seq, time, org_id, resident_id, hub_id, device_id, device_type, location, kind, is_restore, value"
)

EVENTS_AFTER_SEQ = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE ingest_seq > $1 ORDER BY ingest_seq LIMIT $2
"""

EVENTS_BY_TIME = f"""
SELECT {EVENT_COLUMNS} FROM events
WHERE time >= $1 AND time < $2 AND (time, ingest_seq) > ($3, $4)
  AND ($5::text[] IS NULL OR resident_id = ANY($5::text[]))
ORDER BY time, ingest_seq LIMIT $6
"""

SNAPSHOT = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin," \
           " pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax"

ENSURE_CURSOR = "INSERT INTO rule_cursors (run, last_seq) VALUES ($1, $2) ON CONFLICT (run) DO NOTHING"
CURSOR_FOR_UPDATE = "SELECT last_seq, event_clock FROM rule_cursors WHERE run = $1 FOR UPDATE"
CURSOR = "SELECT last_seq, event_clock FROM rule_cursors WHERE run = $1"
ADVANCE_CURSOR = """
UPDATE rule_cursors SET last_seq = $2, event_clock = GREATEST(event_clock, $3), updated_at = now() WHERE run = $1
"""
MAX_SEQ = "SELECT COALESCE(max(ingest_seq), 0) FROM events"

PENDING_TIMERS_FOR = """
SELECT timer_id, resident_id, rule, subject, armed_at, due_at, detail FROM rule_timers
WHERE run = $1 AND state = 'pending' AND resident_id = ANY($2::text[])
"""
DUE_TIMERS = """
SELECT timer_id, resident_id, rule, subject, armed_at, due_at, detail FROM rule_timers
WHERE run = $1 AND state = 'pending' AND due_at <= $2
ORDER BY due_at, timer_id
LIMIT $3
FOR UPDATE SKIP LOCKED
"""
NEXT_DUE = "SELECT min(due_at) FROM rule_timers WHERE run = $1 AND state = 'pending'"
INSERT_TIMER = """
INSERT INTO rule_timers (run, resident_id, rule, subject, armed_at, due_at, state, settled_at, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
ON CONFLICT DO NOTHING
"""
UPDATE_PENDING_TIMER = """
UPDATE rule_timers SET due_at = $2, detail = $3::jsonb WHERE timer_id = $1 AND state = 'pending'
"""
SETTLE_TIMER = """
UPDATE rule_timers SET state = $2, settled_at = $3 WHERE timer_id = $1 AND state = 'pending' RETURNING timer_id
"""

UPSERT_DEVICE_WATCH = """
INSERT INTO rule_device_watch (run, device_id, hub_id, resident_id, org_id, device_type, last_event_at)
SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
ON CONFLICT (run, device_id) DO UPDATE
SET last_event_at = GREATEST(rule_device_watch.last_event_at, EXCLUDED.last_event_at),
    hub_id = EXCLUDED.hub_id, resident_id = EXCLUDED.resident_id
"""

# Live runs also trust ingest's last_seen (heartbeats that produced no event); replays only see events.
WATCHED_DEVICES = """
-- A device is heard when it speaks; the hub when any of its devices or the bridge itself does (a live
-- bridge must not hide one dead sensor, so the hub's own last_seen is kept apart).
SELECT w.device_id, w.hub_id, w.resident_id, w.org_id, w.device_type,
       CASE WHEN $2 THEN GREATEST(w.last_event_at, d.last_seen) ELSE w.last_event_at END AS last_heard,
       CASE WHEN $2 THEN h.last_seen END AS hub_seen
FROM rule_device_watch w
LEFT JOIN devices d ON d.device_id = w.device_id
LEFT JOIN hubs h ON h.hub_id = w.hub_id
WHERE w.run = $1 AND (d.removed_at IS NULL)
"""
OPEN_NO_CONTACT = """
SELECT subject_key, condition, subject, alert_id, opened_at FROM open_conditions
WHERE run = $1 AND condition IN ('hub_offline', 'device_offline')
"""

ALL_RESIDENTS = "SELECT resident_id FROM residents"

SUPPRESSIONS_FOR = """
SELECT kind, resident_id, device_id, starts_at, ends_at, local_start, local_end, reason FROM rule_suppressions
WHERE (resident_id = ANY($1::text[]) OR device_id = ANY($2::text[]))
  AND (ends_at IS NULL OR ends_at > $3) AND (starts_at IS NULL OR starts_at <= $4)
"""
ADD_SUPPRESSION = """
INSERT INTO rule_suppressions (kind, resident_id, device_id, starts_at, ends_at, local_start, local_end, reason,
                               created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING suppression_id
"""
RECORD_SUPPRESSED = """
INSERT INTO rule_suppressed (run, at, resident_id, device_id, condition, reason) VALUES ($1, $2, $3, $4, $5, $6)
"""

# Fire-time checks for the daily timers.
KIND_EXISTS = """
SELECT EXISTS (SELECT 1 FROM events WHERE resident_id = $1 AND time >= $2 AND time <= $3
               AND kind = ANY($4::text[]))
"""
LAST_ACTIVITY = """
SELECT device_id, kind, time FROM events
WHERE resident_id = $1 AND time <= $2 AND time > $3 AND kind = ANY($4::text[])
ORDER BY time DESC LIMIT 1
"""
# The last front-door event in (since, until] and every sign of life after it, oldest first.
SIGNS_SINCE_LAST_DOOR = """
WITH door AS (
    SELECT max(time) AS at FROM events
    WHERE resident_id = $1 AND time <= $2 AND time > $3 AND device_id = ANY($5::text[]) AND kind = ANY($4::text[])
)
SELECT e.device_id, e.location, e.time FROM events e, door
WHERE e.resident_id = $1 AND e.time <= $2 AND e.time >= door.at AND e.kind = ANY($4::text[])
ORDER BY e.time, e.device_id = ANY($5::text[]) DESC
"""
LAST_EVENT_OF_KIND = """
SELECT kind, time FROM events
WHERE resident_id = $1 AND time <= $2 AND time > $3 AND kind = ANY($4::text[])
ORDER BY time DESC LIMIT 1
"""
# The bed mat's path going down or coming back in (since, until]: the hub it reports through, or the mat.
BED_PATH_OUTAGES = """
SELECT time, device_id, is_restore FROM events
WHERE resident_id = $1 AND time > $2 AND time <= $3
  AND hub_id IN (SELECT d.hub_id FROM devices d JOIN hubs h ON h.hub_id = d.hub_id
                 WHERE h.resident_id = $1 AND d.device_type = ANY($4::text[]) AND d.removed_at IS NULL)
  AND (kind = 'hub_offline' OR (kind = 'device_offline' AND device_type = ANY($4::text[])))
ORDER BY time
"""
# Any sign of life away from the bed and bedroom in (since, until].
SIGN_AWAY_FROM_BED = """
SELECT EXISTS (SELECT 1 FROM events WHERE resident_id = $1 AND time > $2 AND time <= $3
               AND kind = ANY($4::text[]) AND location IS DISTINCT FROM 'bedroom')
"""
LAST_KIND = """
SELECT kind FROM events
WHERE resident_id = $1 AND time <= $2 AND time > $3 AND kind = ANY($4::text[])
ORDER BY time DESC LIMIT 1
"""

# A resident's bed events over a span, for learning their usual bedtime and rise (rules/habits.py).
BED_EVENTS = """
SELECT time, kind FROM events
WHERE resident_id = $1 AND time >= $2 AND time < $3 AND kind = ANY($4::text[])
ORDER BY time
"""
# Signs of life with where they were seen, oldest first: what habits without a bed sensor are read from.
SIGNS_WITH_PLACE = """
SELECT time, kind, device_id, location FROM events
WHERE resident_id = $1 AND time >= $2 AND time < $3 AND kind = ANY($4::text[]) AND NOT is_restore
ORDER BY time
"""
LAST_EVENT_TIME_OF_KIND = """
SELECT max(time) FROM events WHERE resident_id = $1 AND time <= $2 AND time > $3 AND kind = ANY($4::text[])
"""
# Devices that left check-ins in a period: their silence can be judged from stored history.
DEVICES_CHECKING_IN = """
SELECT DISTINCT device_id FROM events
WHERE kind = 'check_in' AND time >= $1 AND time < $2 AND ($3::text[] IS NULL OR resident_id = ANY($3::text[]))
"""
