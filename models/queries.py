"""SQL for the nightly features, kept in one place and always parameterised."""

from __future__ import annotations

RESIDENT = """
SELECT r.resident_id, r.org_id, r.display_name, r.flat, r.timezone, r.night_start, r.night_end
FROM residents r WHERE r.resident_id = $1
"""

RESIDENTS_OF_ORG = """
SELECT r.resident_id, r.org_id, r.display_name, r.flat, r.timezone, r.night_start, r.night_end
FROM residents r WHERE r.org_id = $1 ORDER BY r.resident_id
"""

# The devices that can see a resident, for choosing the method (bed pad or PIRs) and for coverage.
RESIDENT_DEVICES = """
SELECT d.device_id, d.hub_id, d.device_type, d.location
FROM devices d JOIN hubs h USING (hub_id)
WHERE h.resident_id = $1 AND d.removed_at IS NULL
ORDER BY d.device_id
"""

# Everything a night is read from, in one indexed range scan on (resident_id, time). Motion clears
# (is_restore) are the Z2M 90 s timer, not the resident, so they are left in the database.
NIGHT_EVENTS = """
SELECT time, kind, location, device_type, device_id, is_restore
FROM events
WHERE resident_id = $1 AND time >= $2 AND time < $3
  AND kind = ANY($4::text[])
  AND NOT (is_restore AND kind IN ('motion', 'presence', 'vibration'))
ORDER BY time, ingest_seq
"""

# Availability before a range starts: the last offline/online report of each device and hub.
AVAILABILITY_BEFORE = """
SELECT DISTINCT ON (device_id) time, kind, device_id, is_restore
FROM events
WHERE resident_id = $1 AND time < $2 AND time >= $2 - interval '60 days'
  AND kind IN ('device_offline', 'hub_offline')
ORDER BY device_id, time DESC
"""

# Hub silence the rules noticed. Device-level silence alerts are not used: a bed pad is silent all day by design.
WATCHDOG_GAPS = """
SELECT device_id, condition, raised_at, cleared_at, closed_at
FROM alerts
WHERE resident_id = $1 AND run = $2 AND condition = 'hub_offline'
  AND raised_at < $4 AND coalesce(cleared_at, closed_at, 'infinity') > $3
"""

# Alerts in a range with what the operators did: acknowledgement time and any attendance.
# `began_at` places an alert in the night its situation began: out of bed too long and left the flat
# begin at the exit (the timer's arming), which may be in the night even when the alert falls due
# after the window closes; every other alert begins when it is raised.
NIGHT_ALERTS = """
SELECT a.alert_id, a.condition, a.device_type, a.raised_at, a.queued_at, a.acknowledged_at,
       least(a.claimed_at, a.acknowledged_at, a.closed_at) AS first_action_at,
       a.outcome, p.category,
       CASE WHEN a.condition IN ('out_of_bed', 'left_flat') AND a.detail ? 'armed_at'
            THEN (a.detail->>'armed_at')::timestamptz ELSE a.raised_at END AS began_at,
       EXISTS (SELECT 1 FROM alert_history h WHERE h.alert_id = a.alert_id
               AND h.action IN ('action:responder_attended', 'action:contact_attended')) AS attended
FROM alerts a LEFT JOIN alert_priorities p USING (condition)
WHERE a.resident_id = $1 AND a.run = $2 AND a.raised_at >= $3 AND a.raised_at < $4
  AND a.condition <> 'care_review'
ORDER BY a.raised_at
"""

UPSERT_SUMMARY = """
INSERT INTO nightly_summary (
    resident_id, night_of, window_start, window_end, status, unknown_reason, method, coverage,
    coverage_detail, sleep_onset, wake, time_in_bed_min, bed_exits, minutes_out_of_bed, bathroom_visits,
    door_exits, minutes_out, alerts_total, alerts_by_type, responses, response_s, attendances, alerts_run,
    computed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19::jsonb,
        $20, $21, $22, $23, now())
ON CONFLICT (resident_id, night_of) DO UPDATE SET
    window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end, status = EXCLUDED.status,
    unknown_reason = EXCLUDED.unknown_reason, method = EXCLUDED.method, coverage = EXCLUDED.coverage,
    coverage_detail = EXCLUDED.coverage_detail, sleep_onset = EXCLUDED.sleep_onset, wake = EXCLUDED.wake,
    time_in_bed_min = EXCLUDED.time_in_bed_min, bed_exits = EXCLUDED.bed_exits,
    minutes_out_of_bed = EXCLUDED.minutes_out_of_bed, bathroom_visits = EXCLUDED.bathroom_visits,
    door_exits = EXCLUDED.door_exits, minutes_out = EXCLUDED.minutes_out, alerts_total = EXCLUDED.alerts_total,
    alerts_by_type = EXCLUDED.alerts_by_type, responses = EXCLUDED.responses, response_s = EXCLUDED.response_s,
    attendances = EXCLUDED.attendances, alerts_run = EXCLUDED.alerts_run, computed_at = now()
"""

SUMMARIES = """
SELECT * FROM nightly_summary
WHERE resident_id = $1 AND night_of >= $2 AND night_of <= $3
ORDER BY night_of
"""

# Nights already stored and computed after the night (plus the tail of the sleep search) was over.
FRESH_NIGHTS = """
SELECT night_of FROM nightly_summary
WHERE resident_id = $1 AND night_of >= $2 AND night_of <= $3 AND alerts_run = $4
  AND computed_at >= window_end + make_interval(hours => $5)
"""

# The day x time-of-day activity chart: activations per half hour (time_bucket in local time).
ACTIVITY_GRID = """
SELECT time_bucket('30 minutes', time, $4) AS bucket, count(*) AS activations,
       count(*) FILTER (WHERE location = 'bedroom' OR kind LIKE 'bed_%') AS bedroom,
       count(*) FILTER (WHERE kind LIKE 'door_%' AND location = 'front_door') AS door
FROM events
WHERE resident_id = $1 AND time >= $2 AND time < $3
  AND kind IN ('motion', 'presence', 'door_open', 'bed_occupied', 'bed_vacated', 'appliance_on', 'vibration')
  AND NOT is_restore
GROUP BY 1 ORDER BY 1
"""

# The pack's one list of alerts: every section (summary, timeline, by hour, by type) counts from it.
ALERTS_IN_RANGE = """
SELECT a.alert_id, a.condition, a.raised_at, a.status, a.outcome, a.priority, p.category,
       least(a.claimed_at, a.acknowledged_at, a.closed_at) AS first_action_at,
       CASE WHEN a.condition IN ('out_of_bed', 'left_flat') AND a.detail ? 'armed_at'
            THEN (a.detail->>'armed_at')::timestamptz ELSE a.raised_at END AS began_at
FROM alerts a LEFT JOIN alert_priorities p USING (condition)
WHERE a.resident_id = $1 AND a.run = $2 AND a.raised_at >= $3 AND a.raised_at < $4
ORDER BY a.raised_at
"""

# Every resident, or those of one organisation, for the morning run.
RESIDENTS_FOR_MORNING_RUN = """
SELECT r.resident_id, r.org_id, r.display_name, r.flat, r.timezone, r.night_start, r.night_end
FROM residents r WHERE ($1::text IS NULL OR r.org_id = $1) ORDER BY r.resident_id
"""
