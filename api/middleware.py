"""Pure ASGI middleware (safe for streaming responses): security headers and request metrics."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs_pages import DOCS_PATHS
from api.metrics import ApiMetrics

# The console is same-origin static files with no inline script or style.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
# The API reference pages (api/docs_pages.py): scripts still only from this origin, but Swagger UI and
# ReDoc inject their own style elements, and ReDoc draws its logo from a data: URL.
DOCS_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            b"connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
            b"form-action 'self'; object-src 'none'")


class SecurityAndMetricsMiddleware:
    """Adds security headers (and no-store on API answers) and times every request by route."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500
        path: str = scope.get("path", "")
        no_store = path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"server"]
                if path in DOCS_PATHS:
                    headers.extend((name, DOCS_CSP if name == b"content-security-policy" else value)
                                   for name, value in SECURITY_HEADERS)
                else:
                    headers.extend(SECURITY_HEADERS)
                if no_store and not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("static" if path.startswith("/console") else "unmatched")
            if template != "/api/alerts/stream":
                self.metrics.requests.labels(scope.get("method", ""), template, str(status_code)).observe(
                    time.perf_counter() - started)
