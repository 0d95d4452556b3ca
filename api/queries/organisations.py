"""SQL for organisations as the API shows them."""

from __future__ import annotations

LIST = """
SELECT o.org_id, o.name, o.timezone,
    (SELECT count(*) FROM residents r WHERE r.org_id = o.org_id) AS residents,
    (SELECT count(*) FROM alerts a WHERE a.org_id = o.org_id AND a.run = 'live' AND a.status <> 'closed')
        AS open_alerts
FROM organisations o
WHERE ($1::text[] IS NULL OR o.org_id = ANY($1))
ORDER BY o.org_id
LIMIT $2
"""

ONE = """
SELECT o.org_id, o.name, o.timezone,
    (SELECT count(*) FROM residents r WHERE r.org_id = o.org_id) AS residents,
    (SELECT count(*) FROM alerts a WHERE a.org_id = o.org_id AND a.run = 'live' AND a.status <> 'closed')
        AS open_alerts
FROM organisations o
WHERE o.org_id = $2 AND ($1::text[] IS NULL OR o.org_id = ANY($1))
"""
