"""The web UI: one page, its script and style, and NiiVue (installed from npm by the set-up, not committed).

The page builds its form from the card (``GET /api/models/{id}``) — the same source the CLI's options come
from — and calls the same API as every other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

WEB = Path(__file__).resolve().parent / "web"
NIIVUE = WEB / "node_modules" / "@niivue" / "niivue" / "dist" / "niivue.umd.js"
ASSETS = {
    "app.js": (WEB / "app.js", "text/javascript"),
    "viewer.js": (WEB / "viewer.js", "text/javascript"),
    "app.css": (WEB / "app.css", "text/css"),
    "niivue.umd.js": (NIIVUE, "text/javascript"),
}
MISSING_NIIVUE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>deepinfer — viewer not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The web viewer is not installed</h1>
<p>The deepinfer web UI needs NiiVue, which comes from npm and is not part of the Python package.
Install it with <code>scripts/setup</code> (it runs <code>npm ci</code> in <code>src/deepinfer/server/web</code>),
then reload this page.</p>
<p>The API works without it: see <a href="/docs">/docs</a>.</p>
</body></html>
"""

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> Response:
    if not NIIVUE.is_file():
        return HTMLResponse(MISSING_NIIVUE, status_code=503)
    return FileResponse(WEB / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/ui/{asset}")
def asset(asset: str) -> Response:
    if asset not in ASSETS:
        return HTMLResponse("not found", status_code=404)
    path, media_type = ASSETS[asset]
    if not path.is_file():
        return HTMLResponse(MISSING_NIIVUE, status_code=503)
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)
