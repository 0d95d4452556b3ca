"""SQL for an organisation's priority table: the defaults (alert_priorities) with its own rows over them."""

from __future__ import annotations

EFFECTIVE = """
SELECT p.condition, p.category,
       COALESCE(o.priority, p.priority) AS priority, COALESCE(o.repeat_bump, p.repeat_bump) AS repeat_bump,
       COALESCE(o.escalate_after_s, p.escalate_after_s) AS escalate_after_s,
       p.priority AS default_priority, p.repeat_bump AS default_repeat_bump,
       p.escalate_after_s AS default_escalate_after_s,
       o.condition IS NOT NULL AS overridden, o.updated_by, o.updated_at
FROM alert_priorities p
LEFT JOIN alert_priority_overrides o ON o.condition = p.condition AND o.org_id = $1
WHERE ($2::text IS NULL OR p.condition = $2)
ORDER BY COALESCE(o.priority, p.priority), p.condition
"""

UPSERT = """
INSERT INTO alert_priority_overrides (org_id, condition, priority, repeat_bump, escalate_after_s, updated_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (org_id, condition) DO UPDATE SET priority = EXCLUDED.priority, repeat_bump = EXCLUDED.repeat_bump,
    escalate_after_s = EXCLUDED.escalate_after_s, updated_by = EXCLUDED.updated_by, updated_at = now()
"""

DELETE = "DELETE FROM alert_priority_overrides WHERE org_id = $1 AND condition = $2"
