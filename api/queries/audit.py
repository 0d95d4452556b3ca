"""SQL for the append-only audit_log."""

from __future__ import annotations

INSERT = """
INSERT INTO audit_log (user_id, role, action, resource_type, resource_id, org_id, resident_id, outcome, client,
                       detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
"""

LIST = """
SELECT audit_id, at, user_id, role, action, resource_type, resource_id, org_id, resident_id, outcome, client,
       detail
FROM audit_log
WHERE ($1::text IS NULL OR resident_id = $1) AND ($2::text IS NULL OR user_id = $2)
  AND ($3::bigint IS NULL OR audit_id < $3)
ORDER BY audit_id DESC
LIMIT $4
"""
