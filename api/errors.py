"""Error answers: validation problems described without echoing input, and no stack trace or SQL ever."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def _safe_loc_part(part: object) -> object:
    """A location step as sent back: an unknown field's name is the caller's text, echoed only if it looks
    like a field name (no SQL, markup or control characters reflected into an answer or a log)."""
    if isinstance(part, int) or (isinstance(part, str) and _FIELD_NAME.match(part)):
        return part
    return "<field>"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    # Location and message only: the rejected input itself is not sent back.
    detail = [{"loc": [_safe_loc_part(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "invalid")),
               "type": str(error.get("type", "value_error"))} for error in errors[:20]]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def _documented_methods(*, app: FastAPI, path: str) -> set[str]:
    matching = [(template.count("{"), operations) for template, operations in app.openapi().get("paths", {}).items()
                if re.match("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$", path)]
    # The most literal template wins, as in routing: /api/alerts/stream before /api/alerts/{alert_id}.
    return {method.upper() for method in min(matching, key=lambda match: match[0])[1]} if matching else set()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; a path served by several routes
        # (GET and PUT care-plan) must list them all, as the OpenAPI document does: read them from it.
        methods = _documented_methods(app=request.app, path=request.url.path)
        if methods:
            exc = StarletteHTTPException(405, detail=exc.detail,
                                         headers={**(exc.headers or {}), "Allow": ", ".join(sorted(methods))})
    return await http_exception_handler(request, exc)


def install_error_handlers(*, app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
