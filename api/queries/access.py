"""SQL for api_users, api_tokens, user_organisations and reviewer_residents."""

from __future__ import annotations

# One round trip per request: the user behind a live token and everything they may see.
PRINCIPAL_BY_HASH = """
UPDATE api_tokens t SET last_used_at = now()
FROM api_users u
WHERE t.token_hash = $1 AND t.user_id = u.user_id AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL
RETURNING t.token_id, u.user_id, u.display_name, u.role,
    ARRAY(SELECT org_id FROM user_organisations o WHERE o.user_id = u.user_id ORDER BY org_id) AS org_ids,
    ARRAY(SELECT resident_id FROM reviewer_residents r WHERE r.user_id = u.user_id ORDER BY resident_id)
        AS resident_ids
"""

# Which of these tokens are still good, and the scope of their users now (an open stream re-checks this).
LIVE_TOKENS = """
SELECT t.token_id, u.role,
    ARRAY(SELECT org_id FROM user_organisations o WHERE o.user_id = u.user_id ORDER BY org_id) AS org_ids,
    ARRAY(SELECT resident_id FROM reviewer_residents r WHERE r.user_id = u.user_id ORDER BY resident_id)
        AS resident_ids
FROM api_tokens t JOIN api_users u USING (user_id)
WHERE t.token_id = ANY($1::bigint[]) AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND u.disabled_at IS NULL
"""

INSERT_USER = "INSERT INTO api_users (user_id, display_name, role) VALUES ($1, $2, $3)"

USER_SCOPE = """
SELECT u.role, u.disabled_at,
    ARRAY(SELECT org_id FROM user_organisations o WHERE o.user_id = u.user_id ORDER BY org_id) AS org_ids,
    ARRAY(SELECT resident_id FROM reviewer_residents r WHERE r.user_id = u.user_id ORDER BY resident_id)
        AS resident_ids
FROM api_users u WHERE u.user_id = $1
FOR UPDATE
"""

SET_ROLE = "UPDATE api_users SET role = $2 WHERE user_id = $1"

REMOVE_ORGANISATIONS_EXCEPT = "DELETE FROM user_organisations WHERE user_id = $1 AND NOT org_id = ANY($2::text[])"

REMOVE_RESIDENTS_EXCEPT = "DELETE FROM reviewer_residents WHERE user_id = $1 AND NOT resident_id = ANY($2::text[])"

ADD_ORGANISATION = """
INSERT INTO user_organisations (user_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""

ADD_RESIDENT = """
INSERT INTO reviewer_residents (user_id, resident_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""

INSERT_KEY_HASH = """
INSERT INTO api_tokens (token_hash, user_id, label, expires_at) VALUES ($1, $2, $3, $4) RETURNING token_id
"""

ORGANISATION_EXISTS = "SELECT EXISTS (SELECT 1 FROM organisations WHERE org_id = $1)"

RESIDENTS_OUTSIDE = """
SELECT resident_id FROM unnest($1::text[]) AS given(resident_id)
WHERE NOT EXISTS (SELECT 1 FROM residents r WHERE r.resident_id = given.resident_id AND r.org_id = $2)
"""

LIST_USERS = """
SELECT u.user_id, u.display_name, u.role, u.created_at, u.disabled_at,
    ARRAY(SELECT org_id FROM user_organisations o WHERE o.user_id = u.user_id ORDER BY org_id) AS org_ids,
    ARRAY(SELECT resident_id FROM reviewer_residents r WHERE r.user_id = u.user_id ORDER BY resident_id)
        AS resident_ids
FROM api_users u
WHERE ($1::text[] IS NULL OR EXISTS (
    SELECT 1 FROM user_organisations o WHERE o.user_id = u.user_id AND o.org_id = ANY($1)))
ORDER BY u.user_id
LIMIT $2
"""

LIST_TOKENS = """
SELECT t.token_id, t.user_id, u.role, t.label, t.created_at, t.expires_at, t.revoked_at, t.last_used_at
FROM api_tokens t JOIN api_users u USING (user_id)
WHERE ($1::text IS NULL OR t.user_id = $1)
ORDER BY t.token_id
"""

REVOKE_TOKENS = """
UPDATE api_tokens SET revoked_at = now()
WHERE revoked_at IS NULL AND (($1::bigint IS NOT NULL AND token_id = $1) OR ($2::text IS NOT NULL AND user_id = $2))
RETURNING token_id
"""
