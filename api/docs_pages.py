"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from installed package assets: they work with the network off.

FastAPI's own pages load their scripts from a CDN and start them with an inline script; here the assets
come from the `fastapi-standalone-docs` package (Swagger UI, Apache-2.0; ReDoc, MIT; licence files ship
beside them) and the start-up script is a file of ours, so the pages need no external request and no
inline script. Only their style rules are relaxed (see api/middleware.py): both renderers inject styles.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
DOCS_PATHS = ("/docs", "/redoc")

_SWAGGER_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Telecare control-centre API</title>
<link rel="stylesheet" href="{ASSETS}/swagger/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/fastapi/favicon.png"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger/swagger-ui-bundle.js"></script>
<script src="/docs/init/swagger-init.js"></script></body></html>
"""

_REDOC_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Telecare control-centre API</title>
<link rel="icon" type="image/png" href="{ASSETS}/fastapi/favicon.png"></head>
<body><redoc spec-url="/openapi.json" disable-search="true"></redoc>
<script src="{ASSETS}/redoc/redoc.standalone.js"></script></body></html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """The interactive reference."""
    return HTMLResponse(_SWAGGER_PAGE)


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """The reading reference."""
    return HTMLResponse(_REDOC_PAGE)


def mount_docs(*, app: FastAPI) -> None:
    """Serve both pages and their assets on the app (built with docs_url and redoc_url off)."""
    app.include_router(router)
    app.mount(ASSETS, StaticFiles(directory=str(resources.files("fastapi_standalone_docs") / "static")),
              name="docs-assets")
    app.mount("/docs/init", StaticFiles(directory=str(resources.files("api") / "docs_static")), name="docs-init")
